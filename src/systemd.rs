//! systemd integration: sd_notify(3) readiness, reload, status and watchdog.
//!
//! Every call is a no-op when NOTIFY_SOCKET is not set (not started by
//! systemd with Type=notify); failures are logged at debug and ignored: the
//! daemon must not stop because the service manager went away.

use std::future::Future;
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

use crate::actor::{Stopped, Supervisor};
use crate::api::{NeighborView, SessionState};

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!("sd_notify: {e}");
    }
}

/// READY=1 with a first STATUS=.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// RELOADING=1 (with MONOTONIC_USEC, as systemd >= 253 wants).
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify(&states);
}

/// READY=1 again after a reload.
pub fn reloaded() {
    notify(&[NotifyState::Ready]);
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

pub fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

pub fn watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// WATCHDOG=1 only if every stage answers its liveness probe within
/// `deadline`; otherwise a warning naming those that did not, and false.
/// A stage that stays silent thus gets the daemon restarted.
pub async fn watchdog_if_alive(stages: &Supervisor, deadline: Duration) -> bool {
    let silent = stages.silent(deadline).await;
    if !silent.is_empty() {
        warn!(
            "not feeding the watchdog: no answer within {deadline:?} from {}",
            silent.join(", ")
        );
        return false;
    }
    watchdog();
    true
}

/// How often the main loop refreshes STATUS= and pings the watchdog: every
/// `STATUS_INTERVAL`, or at half the watchdog timeout if that is shorter.
pub fn tick_interval() -> Duration {
    const STATUS_INTERVAL: Duration = Duration::from_secs(2);
    match sd_notify::watchdog_enabled() {
        Some(timeout) => (timeout / 2).clamp(Duration::from_millis(100), STATUS_INTERVAL),
        None => STATUS_INTERVAL,
    }
}

/// The STATUS= line for the sessions `neighbors` answers within
/// `deadline`, or why there is none: the main loop never waits longer on
/// a stuck BGP manager (a signal must still be served).
pub async fn status_within(
    deadline: Duration,
    neighbors: impl Future<Output = Result<Vec<NeighborView>, Stopped>>,
) -> Result<String, String> {
    match tokio::time::timeout(deadline, neighbors).await {
        Ok(Ok(neighbors)) => Ok(status_line(&neighbors)),
        Ok(Err(stopped)) => Err(stopped.to_string()),
        Err(_) => Err(format!("no answer from the sessions within {deadline:?}")),
    }
}

/// "3 neighbours, 2 Established".
pub fn status_line(neighbors: &[NeighborView]) -> String {
    let established = neighbors
        .iter()
        .filter(|n| n.state == SessionState::Established)
        .count();
    let noun = if neighbors.len() == 1 {
        "neighbour"
    } else {
        "neighbours"
    };
    format!("{} {noun}, {established} Established", neighbors.len())
}

/// Whether our stderr is the journal: systemd sets JOURNAL_STREAM to the
/// `DEV:INO` of the stream it connects stderr to (systemd.exec(5)); if a
/// child inherited the variable but not the stream, they differ. The
/// journal stamps each line itself, so we then log without a time.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let stderr = std::io::stderr().as_fd().try_clone_to_owned().map(std::fs::File::from);
    match stderr.and_then(|f| f.metadata()) {
        Ok(meta) => journal_stream_is(&stream.to_string_lossy(), meta.dev(), meta.ino()),
        Err(_) => false,
    }
}

/// Whether a JOURNAL_STREAM value names the stream `dev`:`ino`.
fn journal_stream_is(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: SessionState) -> NeighborView {
        NeighborView {
            state,
            ..NeighborView::idle("eth0".into(), 2, "fe80::1".parse().unwrap(), 9)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_fed_only_while_every_stage_answers() {
        let deadline = Duration::from_secs(1);
        let mut stages = Supervisor::new();
        let (answering, mut inbox) = crate::actor::channel::<()>("answering", 1);
        stages.hold(answering.spawn(async move { while inbox.recv().await.is_some() {} }));
        assert!(watchdog_if_alive(&stages, deadline).await);

        // A loop that no longer reads its inbox.
        let (stuck, inbox) = crate::actor::channel::<()>("stuck", 1);
        stages.hold(stuck.spawn(async move {
            let _inbox = inbox;
            std::future::pending::<()>().await
        }));
        let start = tokio::time::Instant::now();
        assert!(!watchdog_if_alive(&stages, deadline).await);
        assert_eq!(start.elapsed(), deadline);
        drop((answering, stuck));
    }

    #[tokio::test(start_paused = true)]
    async fn status_waits_no_longer_than_its_deadline() {
        let deadline = Duration::from_secs(1);
        let answered = status_within(deadline, async { Ok(vec![view(SessionState::Established)]) }).await;
        assert_eq!(answered, Ok("1 neighbour, 1 Established".to_string()));
        let stopped = Stopped { stage: "BGP manager" };
        let gone = status_within(deadline, async move { Err(stopped) }).await;
        assert_eq!(gone, Err("the BGP manager task has stopped".to_string()));

        let start = tokio::time::Instant::now();
        let stuck = status_within(deadline, std::future::pending()).await;
        assert_eq!(stuck, Err("no answer from the sessions within 1s".to_string()));
        assert_eq!(start.elapsed(), deadline);
    }

    #[test]
    fn status_counts_sessions_and_established() {
        assert_eq!(status_line(&[]), "0 neighbours, 0 Established");
        use SessionState::{Connect, Established};
        assert_eq!(status_line(&[view(Established)]), "1 neighbour, 1 Established");
        let three = [view(Established), view(Connect), view(Established)];
        assert_eq!(status_line(&three), "3 neighbours, 2 Established");
    }

    #[test]
    fn the_journal_is_recognised_by_its_device_and_inode() {
        assert!(journal_stream_is("8:1234567", 8, 1_234_567));
        assert!(journal_stream_is("8:1234567\n", 8, 1_234_567));
        // Inherited from a parent whose stderr was the journal, ours is not.
        assert!(!journal_stream_is("8:1234567", 8, 7_654_321));
        assert!(!journal_stream_is("9:1234567", 8, 1_234_567));
        for bad in ["", "8", "8:", ":1234567", "x:y", "8:1234567:1"] {
            assert!(!journal_stream_is(bad, 8, 1_234_567), "{bad:?}");
        }
    }
}
