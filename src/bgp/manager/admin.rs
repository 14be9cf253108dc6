//! `neighbor shutdown|enable|clear`: what the operator asks of the sessions
//! of a target, and the one line that says what was done (pure wording;
//! the manager does the work).

use std::net::Ipv6Addr;

use crate::bgp::session::Cleared;
use crate::msg::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};

/// What `neighbor shutdown|enable|clear` asks of a target's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    /// Cease / Administrative Shutdown with this RFC 9003 text; held down
    /// until `Enable`.
    Shutdown {
        message: Option<String>,
    },
    Enable,
    /// Hard: Cease / Administrative Reset. Soft: ROUTE-REFRESH and our
    /// routes again.
    Clear {
        soft: bool,
    },
}

/// The target as the operator named it: an interface, or one neighbour on it.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub interface: String,
    pub neighbor: Option<Ipv6Addr>,
}

impl Target {
    /// "2 sessions on eth0", or "fe80::1%eth0".
    fn subject(&self, n: usize) -> String {
        match self.neighbor {
            Some(addr) => format!("{addr}%{}", self.interface),
            None => format!("{n} session{} on {}", plural(n), self.interface),
        }
    }

    fn name(&self) -> String {
        match self.neighbor {
            Some(addr) => format!("{addr}%{}", self.interface),
            None => self.interface.clone(),
        }
    }

    /// The error when nothing matches.
    pub(super) fn nothing(&self) -> String {
        match self.neighbor {
            Some(addr) => format!("no neighbour {addr}%{}", self.interface),
            None => format!("no session on {}", self.interface),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `neighbor shutdown`: `newly` sessions held down now, `sent` of them had
/// a connection to send the Cease on, `already` were held down before.
pub(super) fn shut_down(target: &Target, newly: usize, sent: usize, already: usize) -> String {
    if newly == 0 {
        return format!(
            "{} already shut down; `ndbgpctl neighbor enable {}` lifts it",
            target.subject(already),
            target.name()
        );
    }
    let mut line = if sent == newly {
        format!("sent Cease/Administrative Shutdown to {}", target.subject(newly))
    } else if sent == 0 {
        format!("shut down {} (no connection to send a Cease on)", target.subject(newly))
    } else {
        format!(
            "shut down {} (Cease/Administrative Shutdown sent to the {sent} with a connection)",
            target.subject(newly)
        )
    };
    if already > 0 {
        line.push_str(&format!("; {already} already shut down"));
    }
    line.push_str(&format!(
        "; no session until `ndbgpctl neighbor enable {}`",
        target.name()
    ));
    line
}

/// `neighbor enable`: `enabled` were held down and are released.
pub(super) fn enabled(target: &Target, enabled: usize) -> String {
    match enabled {
        0 => format!("{} not shut down: nothing to enable", target.name()),
        n => format!("enabled {}: dialing again", target.subject(n)),
    }
}

/// `neighbor clear [--soft]`: the line, or the error when nothing could be
/// done to any session.
pub(super) fn cleared(target: &Target, soft: bool, outcomes: &[Cleared]) -> Result<String, String> {
    let count = |want: fn(&Cleared) -> bool| outcomes.iter().filter(|c| want(c)).count();
    let down = count(|c| *c == Cleared::Down);
    let mut parts = Vec::new();
    if soft {
        let refreshed = count(|c| matches!(c, Cleared::Refreshed(_)));
        let without = count(|c| *c == Cleared::NoRouteRefresh);
        let mut families: Vec<(u16, u8)> = outcomes
            .iter()
            .filter_map(|c| match c {
                Cleared::Refreshed(f) => Some(f.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        families.sort_unstable();
        families.dedup();
        if refreshed > 0 {
            let names: Vec<String> = families.iter().map(|&(afi, safi)| family(afi, safi)).collect();
            parts.push(format!(
                "sent ROUTE-REFRESH ({}) to {} and re-sent our routes",
                names.join(", "),
                target.subject(refreshed)
            ));
        }
        if without > 0 {
            let who = match (target.neighbor, refreshed) {
                (Some(_), _) => target.name(),
                (None, 0) => target.subject(without),
                (None, _) => without.to_string(),
            };
            let verb = if without == 1 || target.neighbor.is_some() {
                "does"
            } else {
                "do"
            };
            parts.push(format!(
                "{who} {verb} not advertise ROUTE-REFRESH: only our routes re-sent"
            ));
        }
        if parts.is_empty() {
            return Err(format!("{}: not Established, nothing to refresh", target.subject(down)));
        }
        if down > 0 {
            parts.push(format!("{down} not Established, not refreshed"));
        }
    } else {
        let reset = count(|c| *c == Cleared::Reset);
        let redialing = count(|c| *c == Cleared::Redialing);
        if reset > 0 {
            parts.push(format!(
                "sent Cease/Administrative Reset to {}; redialing",
                target.subject(reset)
            ));
        }
        if redialing > 0 {
            let who = match (target.neighbor, reset) {
                (Some(_), _) => target.name(),
                (None, 0) => target.subject(redialing),
                (None, _) => format!("{redialing} not Established"),
            };
            parts.push(format!("{who}: connection attempt dropped, dialing again now"));
        }
        if parts.is_empty() {
            return Err(format!(
                "{}: held down (neighbor shutdown or max-prefix) or ending: not cleared",
                target.subject(down)
            ));
        }
        if down > 0 {
            parts.push(format!("{down} held down, not cleared"));
        }
    }
    Ok(parts.join("; "))
}

fn family(afi: u16, safi: u8) -> String {
    match (afi, safi) {
        (AFI_IPV4, SAFI_UNICAST) => "IPv4 unicast".to_string(),
        (AFI_IPV6, SAFI_UNICAST) => "IPv6 unicast".to_string(),
        (afi, safi) => format!("AFI {afi} SAFI {safi}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth0() -> Target {
        Target {
            interface: "eth0".into(),
            neighbor: None,
        }
    }

    fn one() -> Target {
        Target {
            interface: "eth0".into(),
            neighbor: Some("fe80::1".parse().expect("address")),
        }
    }

    #[test]
    fn shutdown_says_how_many_and_how_to_lift_it() {
        assert_eq!(
            shut_down(&eth0(), 2, 2, 0),
            "sent Cease/Administrative Shutdown to 2 sessions on eth0; no session until `ndbgpctl neighbor enable eth0`"
        );
        assert_eq!(
            shut_down(&one(), 1, 0, 0),
            "shut down fe80::1%eth0 (no connection to send a Cease on); no session until `ndbgpctl neighbor enable fe80::1%eth0`"
        );
        assert_eq!(
            shut_down(&eth0(), 2, 1, 1),
            "shut down 2 sessions on eth0 (Cease/Administrative Shutdown sent to the 1 with a connection); 1 already shut down; no session until `ndbgpctl neighbor enable eth0`"
        );
        assert_eq!(
            shut_down(&one(), 0, 0, 1),
            "fe80::1%eth0 already shut down; `ndbgpctl neighbor enable fe80::1%eth0` lifts it"
        );
    }

    #[test]
    fn enable_and_errors_name_the_target() {
        assert_eq!(enabled(&eth0(), 1), "enabled 1 session on eth0: dialing again");
        assert_eq!(enabled(&one(), 0), "fe80::1%eth0 not shut down: nothing to enable");
        assert_eq!(one().nothing(), "no neighbour fe80::1%eth0");
        assert_eq!(eth0().nothing(), "no session on eth0");
    }

    #[test]
    fn clear_says_what_was_done_to_each_kind_of_session() {
        let both = vec![(AFI_IPV4, SAFI_UNICAST), (AFI_IPV6, SAFI_UNICAST)];
        assert_eq!(
            cleared(
                &eth0(),
                true,
                &[Cleared::Refreshed(both.clone()), Cleared::Refreshed(both)]
            ),
            Ok("sent ROUTE-REFRESH (IPv4 unicast, IPv6 unicast) to 2 sessions on eth0 and re-sent our routes".into())
        );
        assert_eq!(
            cleared(&one(), true, &[Cleared::NoRouteRefresh]),
            Ok("fe80::1%eth0 does not advertise ROUTE-REFRESH: only our routes re-sent".into())
        );
        assert_eq!(
            cleared(&eth0(), true, &[Cleared::Down]),
            Err("1 session on eth0: not Established, nothing to refresh".into())
        );
        assert_eq!(
            cleared(&eth0(), false, &[Cleared::Reset, Cleared::Redialing, Cleared::Down]),
            Ok("sent Cease/Administrative Reset to 1 session on eth0; redialing; 1 not Established: connection attempt dropped, dialing again now; 1 held down, not cleared".into())
        );
        assert_eq!(
            cleared(&one(), false, &[Cleared::Down]),
            Err("fe80::1%eth0: held down (neighbor shutdown or max-prefix) or ending: not cleared".into())
        );
    }
}
