//! The events `ndbgpctl monitor` streams: one [`MonitorEvent`] per JSON
//! line, `{"time_ms":...,"event":"session_up",...}`.
//!
//! The keys are what scripts read (`ndbgpctl monitor --json`): renaming one
//! breaks them, and the tests below pin every one. New events and new keys
//! may be added; a reader should skip an `event` it does not know.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::Direction;

/// Prefixes a `prefixes` event names of each kind; the counts say how
/// many there were in all.
pub const PREFIXES_NAMED: usize = 4;

/// One event, as ndbgpd saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorEvent {
    /// When ndbgpd saw it: milliseconds since the Unix epoch.
    pub time_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened. `interface` is the interface's name when the event was
/// seen (empty if the link was already gone), `ifindex` its index, `peer`
/// the neighbour's link-local address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A BGP session became Established.
    SessionUp {
        interface: String,
        ifindex: u32,
        peer: Ipv6Addr,
        remote_asn: u32,
        remote_id: Ipv4Addr,
        /// Who opened the TCP connection: "outbound" we did.
        direction: Direction,
    },
    /// An Established session ended; `reason` as `neighbors` shows it in
    /// `last_down` (`received Cease/Administrative Shutdown: "text"`,
    /// `hold timer expired`, `link down`).
    SessionDown {
        interface: String,
        ifindex: u32,
        peer: Ipv6Addr,
        reason: String,
    },
    /// Discovery found a usable neighbour (it may be dialled).
    NeighborDiscovered {
        interface: String,
        ifindex: u32,
        peer: Ipv6Addr,
        /// What it was heard by: "ra", "ns", "na", "kernel", "tcp", "echo".
        sources: Vec<String>,
    },
    /// Discovery lost a neighbour ("link down", "silent for 30s", ...).
    NeighborLost {
        interface: String,
        ifindex: u32,
        peer: Ipv6Addr,
        reason: String,
    },
    /// Prefixes a peer announced and withdrew in its UPDATEs, added up
    /// over at most a second per peer (a full table is a few lines, not a
    /// line per prefix); the first [`PREFIXES_NAMED`] of each are named.
    Prefixes {
        interface: String,
        ifindex: u32,
        peer: Ipv6Addr,
        announced: u64,
        withdrawn: u64,
        first_announced: Vec<IpNet>,
        first_withdrawn: Vec<IpNet>,
    },
    /// The kernel refused route requests (`count` of them with the same
    /// error; `error` describes the first), or the route socket failed.
    FibError { count: u64, error: String },
    /// This client read too slowly: `count` events were dropped for it.
    Missed { count: u64 },
}

impl Event {
    /// The `event` key's value.
    pub fn name(&self) -> &'static str {
        match self {
            Event::SessionUp { .. } => "session_up",
            Event::SessionDown { .. } => "session_down",
            Event::NeighborDiscovered { .. } => "neighbor_discovered",
            Event::NeighborLost { .. } => "neighbor_lost",
            Event::Prefixes { .. } => "prefixes",
            Event::FibError { .. } => "fib_error",
            Event::Missed { .. } => "missed",
        }
    }
}

/// The readable line `ndbgpctl monitor` prints: the time in UTC, the
/// event's name, then what it says.
impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", Utc(self.time_ms), self.event.name())?;
        let at = |interface: &str, ifindex: u32| match interface {
            "" => format!("ifindex {ifindex}"),
            name => name.to_string(),
        };
        match &self.event {
            Event::SessionUp {
                interface,
                ifindex,
                peer,
                remote_asn,
                remote_id,
                direction,
            } => {
                let direction = match direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                };
                let at = at(interface, *ifindex);
                write!(f, " {at} {peer}: AS {remote_asn}, router ID {remote_id}, {direction}")
            }
            Event::SessionDown {
                interface,
                ifindex,
                peer,
                reason,
            }
            | Event::NeighborLost {
                interface,
                ifindex,
                peer,
                reason,
            } => write!(f, " {} {peer}: {reason}", at(interface, *ifindex)),
            Event::NeighborDiscovered {
                interface,
                ifindex,
                peer,
                sources,
            } => write!(f, " {} {peer} ({})", at(interface, *ifindex), sources.join(",")),
            Event::Prefixes {
                interface,
                ifindex,
                peer,
                announced,
                withdrawn,
                first_announced,
                first_withdrawn,
            } => {
                write!(f, " {} {peer}: +{announced} -{withdrawn}", at(interface, *ifindex))?;
                for (sign, count, named) in [("+", announced, first_announced), ("-", withdrawn, first_withdrawn)] {
                    if named.is_empty() {
                        continue;
                    }
                    let list: Vec<String> = named.iter().map(|p| format!("{sign}{p}")).collect();
                    let more = match *count as usize > named.len() {
                        true => " ...",
                        false => "",
                    };
                    write!(f, " {}{more}", list.join(" "))?;
                }
                Ok(())
            }
            Event::FibError { count, error } => write!(f, " {count} refused: {error}"),
            Event::Missed { count } => write!(f, " {count} events (read too slowly)"),
        }
    }
}

/// Unix milliseconds as `2024-05-06T07:08:09.010Z`.
struct Utc(u64);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, ms) = (self.0 / 1000, self.0 % 1000);
        let (days, day_s) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        let (h, min, s) = (day_s / 3600, day_s / 60 % 60, day_s % 60);
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{ms:03}Z")
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time_ms: u64, event: Event) -> MonitorEvent {
        MonitorEvent { time_ms, event }
    }

    const T: u64 = 1_700_000_000_123;

    fn events() -> Vec<MonitorEvent> {
        let peer: Ipv6Addr = "fe80::2".parse().unwrap();
        vec![
            at(
                T,
                Event::SessionUp {
                    interface: "eth0".into(),
                    ifindex: 2,
                    peer,
                    remote_asn: 65002,
                    remote_id: Ipv4Addr::new(10, 0, 0, 2),
                    direction: Direction::Outbound,
                },
            ),
            at(
                T,
                Event::SessionDown {
                    interface: "eth0".into(),
                    ifindex: 2,
                    peer,
                    reason: "hold timer expired".into(),
                },
            ),
            at(
                T,
                Event::NeighborDiscovered {
                    interface: "eth0".into(),
                    ifindex: 2,
                    peer,
                    sources: vec!["ra".into(), "kernel".into()],
                },
            ),
            at(
                T,
                Event::NeighborLost {
                    interface: String::new(),
                    ifindex: 2,
                    peer,
                    reason: "link deleted".into(),
                },
            ),
            at(
                T,
                Event::Prefixes {
                    interface: "eth0".into(),
                    ifindex: 2,
                    peer,
                    announced: 5,
                    withdrawn: 1,
                    first_announced: ["10.0.0.0/24", "10.0.1.0/24", "2001:db8::/32", "10.0.2.0/24"]
                        .iter()
                        .map(|p| p.parse().unwrap())
                        .collect(),
                    first_withdrawn: vec!["192.0.2.0/24".parse().unwrap()],
                },
            ),
            at(
                T,
                Event::FibError {
                    count: 3,
                    error: "installing 10.0.0.0/24: File exists".into(),
                },
            ),
            at(T, Event::Missed { count: 12 }),
        ]
    }

    /// The keys scripts read: a rename fails here first.
    #[test]
    fn events_on_the_wire() {
        let json = [
            r#"{"time_ms":1700000000123,"event":"session_up","interface":"eth0","ifindex":2,"peer":"fe80::2","remote_asn":65002,"remote_id":"10.0.0.2","direction":"outbound"}"#,
            r#"{"time_ms":1700000000123,"event":"session_down","interface":"eth0","ifindex":2,"peer":"fe80::2","reason":"hold timer expired"}"#,
            r#"{"time_ms":1700000000123,"event":"neighbor_discovered","interface":"eth0","ifindex":2,"peer":"fe80::2","sources":["ra","kernel"]}"#,
            r#"{"time_ms":1700000000123,"event":"neighbor_lost","interface":"","ifindex":2,"peer":"fe80::2","reason":"link deleted"}"#,
            r#"{"time_ms":1700000000123,"event":"prefixes","interface":"eth0","ifindex":2,"peer":"fe80::2","announced":5,"withdrawn":1,"first_announced":["10.0.0.0/24","10.0.1.0/24","2001:db8::/32","10.0.2.0/24"],"first_withdrawn":["192.0.2.0/24"]}"#,
            r#"{"time_ms":1700000000123,"event":"fib_error","count":3,"error":"installing 10.0.0.0/24: File exists"}"#,
            r#"{"time_ms":1700000000123,"event":"missed","count":12}"#,
        ];
        for (event, json) in events().into_iter().zip(json) {
            assert_eq!(serde_json::to_string(&event).unwrap(), json);
            assert_eq!(serde_json::from_str::<MonitorEvent>(json).unwrap(), event);
            assert!(json.contains(&format!(r#""event":"{}""#, event.event.name())), "{json}");
        }
    }

    #[test]
    fn events_as_lines() {
        let lines: Vec<String> = events().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            [
                "2023-11-14T22:13:20.123Z session_up eth0 fe80::2: AS 65002, router ID 10.0.0.2, outbound",
                "2023-11-14T22:13:20.123Z session_down eth0 fe80::2: hold timer expired",
                "2023-11-14T22:13:20.123Z neighbor_discovered eth0 fe80::2 (ra,kernel)",
                "2023-11-14T22:13:20.123Z neighbor_lost ifindex 2 fe80::2: link deleted",
                "2023-11-14T22:13:20.123Z prefixes eth0 fe80::2: +5 -1 +10.0.0.0/24 +10.0.1.0/24 +2001:db8::/32 +10.0.2.0/24 ... -192.0.2.0/24",
                "2023-11-14T22:13:20.123Z fib_error 3 refused: installing 10.0.0.0/24: File exists",
                "2023-11-14T22:13:20.123Z missed 12 events (read too slowly)",
            ]
        );
    }

    #[test]
    fn utc_dates_across_leap_years_and_centuries() {
        assert_eq!(Utc(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Utc(951_782_400_000).to_string(), "2000-02-29T00:00:00.000Z");
        assert_eq!(Utc(4_107_542_399_999).to_string(), "2100-02-28T23:59:59.999Z");
        assert_eq!(Utc(4_107_542_400_000).to_string(), "2100-03-01T00:00:00.000Z");
        assert_eq!(Utc(1_704_067_199_000).to_string(), "2023-12-31T23:59:59.000Z");
    }
}
