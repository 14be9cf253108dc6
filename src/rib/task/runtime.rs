//! The prefixes `ndbgpctl announce` added: which are announced, and what
//! an `announce` or `withdraw` does to them (pure; the routes task
//! originates or withdraws the local path). They live until withdrawn or
//! until ndbgpd stops; a reload does not touch them.

use std::collections::BTreeSet;

use ipnet::IpNet;

/// The most prefixes announced at runtime: a health check announces a few
/// service addresses; thousands mean a script gone wrong, which would
/// otherwise grow the RIB and every peer's table without bound.
pub const MAX_RUNTIME_ROUTES: usize = 10_000;

/// What the RIB must do after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Originate the prefix as a local route.
    Originate,
    /// Take our local path away (or give it back to what else originates it).
    Withdraw,
    /// Nothing changes; the message says why.
    Nothing,
}

#[derive(Debug, Default)]
pub struct RuntimeRoutes {
    prefixes: BTreeSet<IpNet>,
}

impl RuntimeRoutes {
    pub fn contains(&self, prefix: &IpNet) -> bool {
        self.prefixes.contains(prefix)
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// `announce prefix`; `networks` are the configured ones. Announcing
    /// again what is announced is a success that changes nothing, so that a
    /// health check may repeat itself.
    pub fn announce(&mut self, prefix: IpNet, networks: &[IpNet], max: usize) -> Result<(Step, String), String> {
        exact(prefix)?;
        if networks.contains(&prefix) {
            return Ok((
                Step::Nothing,
                format!("{prefix} is a configured network, announced already; nothing changed"),
            ));
        }
        if self.prefixes.contains(&prefix) {
            return Ok((Step::Nothing, format!("{prefix} is announced already; nothing changed")));
        }
        if self.prefixes.len() >= max {
            return Err(format!(
                "cannot announce {prefix}: {max} prefixes are announced at runtime, the most ndbgpd takes; \
                 withdraw some first"
            ));
        }
        self.prefixes.insert(prefix);
        Ok((
            Step::Originate,
            format!("announcing {prefix} to every peer (until withdrawn or ndbgpd stops; not in the config file)"),
        ))
    }

    /// `withdraw prefix`: only what `announce` added.
    pub fn withdraw(&mut self, prefix: IpNet, networks: &[IpNet]) -> Result<(Step, String), String> {
        exact(prefix)?;
        if self.prefixes.remove(&prefix) {
            return Ok((Step::Withdraw, format!("withdrew {prefix}")));
        }
        match networks.contains(&prefix) {
            true => Err(format!(
                "{prefix} is a configured network, not announced at runtime: remove it from the config file"
            )),
            false => Err(format!("{prefix} is not announced at runtime (ndbgpctl announce)")),
        }
    }
}

/// A prefix with host bits set is refused, not truncated: the client
/// (ndbgpctl truncates; a script writing to the socket may not) says
/// exactly what it wants announced.
fn exact(prefix: IpNet) -> Result<(), String> {
    match prefix.trunc() == prefix {
        true => Ok(()),
        false => Err(format!("{prefix} has host bits set: did you mean {}?", prefix.trunc())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    #[test]
    fn announce_is_idempotent_and_withdraw_takes_only_what_was_announced() {
        let mut runtime = RuntimeRoutes::default();
        let networks = [net("10.0.1.0/24")];
        let (step, message) = runtime.announce(net("192.0.2.10/32"), &networks, 10).unwrap();
        assert_eq!(step, Step::Originate);
        assert!(message.contains("announcing 192.0.2.10/32"), "{message}");
        let (step, message) = runtime.announce(net("192.0.2.10/32"), &networks, 10).unwrap();
        assert_eq!(step, Step::Nothing);
        assert!(message.contains("announced already"), "{message}");
        let (step, message) = runtime.announce(net("10.0.1.0/24"), &networks, 10).unwrap();
        assert_eq!(step, Step::Nothing);
        assert!(message.contains("configured network"), "{message}");
        assert_eq!(runtime.len(), 1);

        assert_eq!(
            runtime.withdraw(net("192.0.2.10/32"), &networks).unwrap().0,
            Step::Withdraw
        );
        assert!(runtime.is_empty());
        let again = runtime.withdraw(net("192.0.2.10/32"), &networks).unwrap_err();
        assert!(again.contains("192.0.2.10/32 is not announced at runtime"), "{again}");
        let network = runtime.withdraw(net("10.0.1.0/24"), &networks).unwrap_err();
        assert!(network.contains("configured network"), "{network}");
        assert!(!again.contains('\n') && !network.contains('\n'));
    }

    #[test]
    fn host_bits_are_refused_naming_the_prefix_meant() {
        let mut runtime = RuntimeRoutes::default();
        let e = runtime.announce(net("192.0.2.10/24"), &[], 10).unwrap_err();
        assert_eq!(e, "192.0.2.10/24 has host bits set: did you mean 192.0.2.0/24?");
        let e = runtime.withdraw(net("2001:db8::1/64"), &[]).unwrap_err();
        assert!(e.contains("2001:db8::/64"), "{e}");
        assert!(runtime.is_empty());
    }

    #[test]
    fn past_the_limit_nothing_more_is_announced() {
        let mut runtime = RuntimeRoutes::default();
        for last in 0..3u8 {
            let prefix = IpNet::from(std::net::IpAddr::from([192, 0, 2, last]));
            assert_eq!(runtime.announce(prefix, &[], 3).unwrap().0, Step::Originate);
        }
        let e = runtime.announce(net("2001:db8::1/128"), &[], 3).unwrap_err();
        assert!(e.contains("3 prefixes are announced at runtime"), "{e}");
        assert!(!runtime.contains(&net("2001:db8::1/128")));
        // Already announced: still fine at the limit.
        assert_eq!(runtime.announce(net("192.0.2.0/32"), &[], 3).unwrap().0, Step::Nothing);
        runtime.withdraw(net("192.0.2.0/32"), &[]).unwrap();
        assert_eq!(
            runtime.announce(net("2001:db8::1/128"), &[], 3).unwrap().0,
            Step::Originate
        );
    }
}
