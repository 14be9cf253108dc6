//! The process's own figures from /proc/self, under the names every
//! Prometheus client library uses (`process_resident_memory_bytes`, ...).
//! The parsing is pure and tested on sample text; [`read`] does the I/O.

use std::path::Path;

use nix::unistd::SysconfVar;

/// What [`read`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    pub open_fds: u64,
    /// The soft limit on open files; None if unlimited or unreadable.
    pub max_fds: Option<u64>,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Since the Unix epoch; None without /proc/stat's boot time.
    pub start_time_seconds: Option<f64>,
}

/// The fields of /proc/self/stat we use (proc(5)), in clock ticks and pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    /// Since boot.
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

/// /proc/self/stat: the fields after the command name, which is in
/// parentheses and may itself hold spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The boot time (`btime`) of /proc/stat, seconds since the epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft "Max open files" of /proc/self/limits; None if unlimited.
fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// The figures from a stat line, the clock tick rate and the page size.
fn stats_from(stat: Stat, ticks_per_second: u64, page_size: u64, boot_time: Option<u64>) -> ProcessStats {
    let ticks = ticks_per_second.max(1) as f64;
    ProcessStats {
        resident_memory_bytes: stat.rss_pages.saturating_mul(page_size),
        virtual_memory_bytes: stat.vsize,
        open_fds: 0,
        max_fds: None,
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        start_time_seconds: boot_time.map(|boot| boot as f64 + stat.starttime as f64 / ticks),
    }
}

/// Read the process's figures; None if /proc/self/stat cannot be read.
/// A few small files and one directory listing: blocking, but brief.
pub fn read() -> Option<ProcessStats> {
    let proc = Path::new("/proc");
    let stat = parse_stat(&std::fs::read_to_string(proc.join("self/stat")).ok()?)?;
    let boot_time = std::fs::read_to_string(proc.join("stat"))
        .ok()
        .and_then(|t| parse_boot_time(&t));
    let mut stats = stats_from(
        stat,
        sysconf(SysconfVar::CLK_TCK),
        sysconf(SysconfVar::PAGE_SIZE),
        boot_time,
    );
    // Under the unit's ProcSubset=pid /proc/stat is hidden: the time main
    // noted at start is as good.
    stats.start_time_seconds = stats.start_time_seconds.or_else(|| STARTED.get().copied());
    stats.open_fds = std::fs::read_dir(proc.join("self/fd")).map_or(0, |d| d.count() as u64);
    stats.max_fds = std::fs::read_to_string(proc.join("self/limits"))
        .ok()
        .and_then(|t| parse_max_fds(&t));
    Some(stats)
}

/// When the process started, noted by [`note_start`].
static STARTED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

/// Notes now as the process's start (seconds since the epoch), for
/// `process_start_time_seconds` where /proc/stat cannot be read. Call it
/// first thing in main; later calls change nothing.
pub fn note_start() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let _ = STARTED.set(now);
}

/// A sysconf value; 0 if unknown.
fn sysconf(name: SysconfVar) -> u64 {
    match nix::unistd::sysconf(name) {
        Ok(Some(value)) => u64::try_from(value).unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name holding a space and a parenthesis.
    const STAT: &str = "4242 (nd bgpd)) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 50 0 0 20 0 4 0 \
                        360000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 17664 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = parse_stat(STAT).expect("parses");
        assert_eq!(
            stat,
            Stat {
                utime: 250,
                stime: 50,
                starttime: 360000,
                vsize: 123456789,
                rss_pages: 2048,
            }
        );
        let stats = stats_from(stat, 100, 4096, Some(1_700_000_000));
        assert_eq!(stats.resident_memory_bytes, 2048 * 4096);
        assert_eq!(stats.virtual_memory_bytes, 123456789);
        assert_eq!(stats.cpu_seconds, 3.0);
        assert_eq!(stats.start_time_seconds, Some(1_700_003_600.0));
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn boot_time_and_fd_limit() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_boot_time("cpu  1 2 3\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_max_fds("Max open files            unlimited            unlimited            files\n"),
            None
        );
    }

    #[test]
    fn this_process_can_be_read() {
        let stats = read().expect("/proc/self");
        assert!(stats.resident_memory_bytes > 0, "{stats:?}");
        assert!(stats.open_fds >= 3, "{stats:?}");
        assert!(
            stats.start_time_seconds.is_some_and(|s| s > 1_000_000_000.0),
            "{stats:?}"
        );
    }
}
