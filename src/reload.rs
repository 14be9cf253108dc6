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

/// The interfaces `ndbgpctl interface add` and `remove` changed, laid over
/// every reload's file list so that a reload does not undo them: the last
/// runtime word on a name wins over the file until the opposite command.
/// Kept in `main` only: lost at restart (never written to the file).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InterfaceOverlay {
    /// Run on these too, after the file's.
    added: Vec<String>,
    /// Not on these, whatever the file says.
    removed: Vec<String>,
}

/// What an `interface add` or `remove` does.
#[derive(Debug, PartialEq, Eq)]
pub enum InterfaceEdit {
    /// The running list already is what was asked: the message says so.
    Unchanged(String),
    /// The new running list.
    Changed(Vec<String>),
}

impl InterfaceOverlay {
    /// The running interface list: the file's, minus those removed at
    /// runtime, plus those added.
    pub fn apply(&self, file: &[String]) -> Vec<String> {
        let kept = file.iter().filter(|name| !self.removed.contains(name));
        let added = self.added.iter().filter(|name| !file.contains(name));
        kept.chain(added).cloned().collect()
    }

    /// `interface add name`, with `running` the interfaces now.
    /// One running already is left as it is, the overlay too.
    pub fn add(&mut self, running: &[String], name: &str) -> InterfaceEdit {
        if running.iter().any(|n| n == name) {
            return InterfaceEdit::Unchanged(format!("{name} is configured already; nothing changed"));
        }
        self.removed.retain(|n| n != name);
        if !self.added.iter().any(|n| n == name) {
            self.added.push(name.to_string());
        }
        let mut new = running.to_vec();
        new.push(name.to_string());
        InterfaceEdit::Changed(new)
    }

    /// `interface remove name`: refused for one not running, and for the
    /// last one (as the config file must name one).
    pub fn remove(&mut self, running: &[String], name: &str) -> Result<InterfaceEdit, String> {
        if !running.iter().any(|n| n == name) {
            return Err(format!(
                "{name} is not a configured interface (running on: {})",
                running.join(" ")
            ));
        }
        if running.len() == 1 {
            return Err(format!("{name} is the only interface; ndbgpd needs at least one"));
        }
        self.added.retain(|n| n != name);
        if !self.removed.iter().any(|n| n == name) {
            self.removed.push(name.to_string());
        }
        Ok(InterfaceEdit::Changed(
            running.iter().filter(|n| *n != name).cloned().collect(),
        ))
    }

    /// "added at runtime: a b; removed at runtime: c", or None.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("added at runtime: {}", self.added.join(" ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("removed at runtime: {}", self.removed.join(" ")));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
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

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn interfaces_added_at_runtime_stay_across_reloads() {
        let mut overlay = InterfaceOverlay::default();
        let file = names(&["eth0", "eth1"]);
        assert_eq!(overlay.apply(&file), file);
        let running = match overlay.add(&file, "eth2") {
            InterfaceEdit::Changed(new) => new,
            other => panic!("{other:?}"),
        };
        assert_eq!(running, names(&["eth0", "eth1", "eth2"]));
        let running = match overlay.remove(&running, "eth0") {
            Ok(InterfaceEdit::Changed(new)) => new,
            other => panic!("{other:?}"),
        };
        assert_eq!(running, names(&["eth1", "eth2"]));
        // A reload of the same file, then of one that changed.
        assert_eq!(overlay.apply(&file), running);
        assert_eq!(overlay.apply(&names(&["eth0", "eth3"])), names(&["eth3", "eth2"]));
        // The file names eth2 too: once, in the file's place.
        assert_eq!(overlay.apply(&names(&["eth2", "eth1"])), names(&["eth2", "eth1"]));
        assert_eq!(
            overlay.describe().as_deref(),
            Some("added at runtime: eth2; removed at runtime: eth0")
        );
        // The last word on a name wins, whatever the file says of it.
        assert!(matches!(overlay.add(&running, "eth0"), InterfaceEdit::Changed(_)));
        let running = overlay.apply(&file);
        assert_eq!(running, names(&["eth0", "eth1", "eth2"]));
        assert!(matches!(
            overlay.remove(&running, "eth2"),
            Ok(InterfaceEdit::Changed(_))
        ));
        assert_eq!(overlay.apply(&file), file);
        assert_eq!(overlay.apply(&names(&["eth1", "eth2"])), names(&["eth1", "eth0"]));
        assert_eq!(
            overlay.describe().as_deref(),
            Some("added at runtime: eth0; removed at runtime: eth2")
        );
    }

    #[test]
    fn adding_one_running_says_so_and_removing_one_not_running_is_refused() {
        let mut overlay = InterfaceOverlay::default();
        let running = names(&["eth0", "eth1"]);
        assert_eq!(
            overlay.add(&running, "eth1"),
            InterfaceEdit::Unchanged("eth1 is configured already; nothing changed".into())
        );
        assert_eq!(overlay, InterfaceOverlay::default());
        assert_eq!(
            overlay.remove(&running, "eth9"),
            Err("eth9 is not a configured interface (running on: eth0 eth1)".into())
        );
        assert_eq!(overlay, InterfaceOverlay::default());
        let last = overlay.remove(&names(&["eth0"]), "eth0").unwrap_err();
        assert!(last.contains("only interface"), "{last}");
        assert_eq!(overlay, InterfaceOverlay::default());
    }
}
