//! SIGHUP: what a re-read configuration changes.
//!
//! The configured interfaces are applied live (the links watcher, the ND
//! service and the BGP manager follow a `watch` of their names), and so are
//! the policies (filters, limits, authentication: the routes task and the
//! sessions follow a `watch` of them), `teardown_on_loss` (told to the BGP
//! manager) and the log level; every other setting is only read at start, so a change to
//! it is reported as needing a restart and otherwise ignored.

use crate::config::Config;

/// The difference between the running configuration and a re-read one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Interfaces to start on, in the new file's order.
    pub added: Vec<String>,
    /// Interfaces to stop on (their sessions get Cease / Peer De-configured).
    pub removed: Vec<String>,
    /// The new log level, if it changed.
    pub log_level: Option<String>,
    /// Filters, limits or authentication changed.
    pub policies_changed: bool,
    /// The new `teardown_on_loss`, if it changed.
    pub teardown_on_loss: Option<bool>,
    /// Changed settings that only a restart applies.
    pub needs_restart: Vec<&'static str>,
}

impl Plan {
    pub fn new(running: &Config, new: &Config) -> Plan {
        Plan {
            added: new
                .interfaces
                .iter()
                .filter(|n| !running.interfaces.contains(n))
                .cloned()
                .collect(),
            removed: running
                .interfaces
                .iter()
                .filter(|n| !new.interfaces.contains(n))
                .cloned()
                .collect(),
            log_level: (new.log_level != running.log_level).then(|| new.log_level.clone()),
            policies_changed: new.policies != running.policies,
            teardown_on_loss: (new.teardown_on_loss != running.teardown_on_loss).then_some(new.teardown_on_loss),
            needs_restart: running.needs_restart(new),
        }
    }

    /// The interface set changes (a new order alone does not).
    pub fn changes_interfaces(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

/// Apply what a reload can apply to the running configuration: the
/// interfaces, the policies and the log level. Everything else keeps its running value,
/// so that the next reload still reports it.
pub fn apply(running: &mut Config, new: &Config) {
    running.interfaces = new.interfaces.clone();
    running.log_level = new.log_level.clone();
    running.policies = new.policies.clone();
    running.teardown_on_loss = new.teardown_on_loss;
    running.overridden = new.overridden.clone();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Parsed, parse};

    fn config(args: &[&str]) -> Config {
        let mut all = vec!["ndbgpd", "--asn", "65001"];
        all.extend_from_slice(args);
        match parse(all) {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn interfaces_added_and_removed() {
        let running = config(&["--iface", "eth0", "--iface", "eth1"]);
        let new = config(&["--iface", "eth1", "--iface", "eth2", "--iface", "eth3"]);
        let plan = Plan::new(&running, &new);
        assert_eq!(plan.added, vec!["eth2", "eth3"]);
        assert_eq!(plan.removed, vec!["eth0"]);
        assert!(plan.needs_restart.is_empty());
        assert!(plan.changes_interfaces());
    }

    #[test]
    fn policies_apply_without_a_restart() {
        let mut running = config(&["--iface", "eth0"]);
        let new = config(&["--iface", "eth0", "--import", "deny 0.0.0.0/0", "--max-prefix", "100"]);
        let plan = Plan::new(&running, &new);
        assert!(plan.policies_changed);
        assert!(plan.needs_restart.is_empty());
        apply(&mut running, &new);
        assert_eq!(running.policies, new.policies);
        assert_eq!(Plan::new(&running, &new), Plan::default());
    }

    #[test]
    fn teardown_on_loss_applies_without_a_restart() {
        let mut running = config(&["--iface", "eth0"]);
        let new = config(&["--iface", "eth0", "--teardown-on-loss"]);
        let plan = Plan::new(&running, &new);
        assert_eq!(plan.teardown_on_loss, Some(true));
        assert!(plan.needs_restart.is_empty());
        apply(&mut running, &new);
        assert!(running.teardown_on_loss);
        assert_eq!(Plan::new(&running, &new), Plan::default());
        assert_eq!(
            Plan::new(&new, &config(&["--iface", "eth0"])).teardown_on_loss,
            Some(false)
        );
    }

    #[test]
    fn a_new_order_is_no_change() {
        let running = config(&["--iface", "eth0", "--iface", "eth1"]);
        let new = config(&["--iface", "eth1", "--iface", "eth0"]);
        assert!(!Plan::new(&running, &new).changes_interfaces());
    }

    #[test]
    fn the_log_level_is_applied_once() {
        let mut running = config(&["--iface", "eth0"]);
        let new = config(&["--iface", "eth0", "--log-level", "debug"]);
        let plan = Plan::new(&running, &new);
        assert_eq!(plan.log_level.as_deref(), Some("debug"));
        assert!(plan.needs_restart.is_empty());
        apply(&mut running, &new);
        assert_eq!(running.log_level, "debug");
        assert_eq!(Plan::new(&running, &new), Plan::default());
    }

    #[test]
    fn other_settings_need_a_restart_and_stay_reported() {
        let mut running = config(&["--iface", "eth0"]);
        let new = config(&[
            "--iface",
            "eth0",
            "--iface",
            "eth1",
            "--ra-interval",
            "5",
            "--port",
            "1179",
        ]);
        let plan = Plan::new(&running, &new);
        // The RA lifetime and the probe interval follow the RA interval by default.
        let changed = vec!["port", "ra_interval", "ra_lifetime", "probe_interval"];
        assert_eq!(plan.needs_restart, changed);
        apply(&mut running, &new);
        assert_eq!(running.interfaces, vec!["eth0", "eth1"]);
        // Not applied: the next reload of the same file says so again.
        assert_eq!(running.ra_interval.as_secs(), 10);
        assert_eq!(Plan::new(&running, &new).needs_restart, changed);
    }
}
