//! RFC 4429 optimistic DAD on the interfaces ndbgpd manages: the kernel's
//! per-interface `optimistic_dad` and `use_optimistic` settings, written
//! through /proc/sys (IPv6 device settings have no netlink setter).
//!
//! Why: a new link-local is unusable while the kernel's duplicate address
//! detection runs (about 1 s), and nothing can peer before it is usable.
//! An optimistic address is usable at once (RFC 4429). The settings apply
//! to addresses created after they are written, and the link-local is
//! created when the link comes up, so the links watcher writes them when a
//! configured interface appears (at start, when it is created later, and
//! when `interface add` or a reload adds it). See docs/ARCHITECTURE.md,
//! "Optimistic DAD".
//!
//! The path and decision logic is pure and unit-tested; `apply` does the
//! reads and writes. A failure is a warning naming the file and the fix,
//! never fatal: sessions then simply wait for DAD, as without it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::iface::LinkState;

/// The kernel's per-interface IPv6 settings.
pub const CONF_DIR: &str = "/proc/sys/net/ipv6/conf";

/// `optimistic_dad`: new addresses are optimistic while DAD runs.
/// `use_optimistic`: source address selection does not rank them as
/// deprecated.
pub const KEYS: [&str; 2] = ["optimistic_dad", "use_optimistic"];

/// The file of `key` for interface `ifname` under `conf`; None for a name
/// that is not one path component (configured names are checked, but a
/// path is never built from anything else).
pub fn path(conf: &Path, ifname: &str, key: &str) -> Option<PathBuf> {
    let one_component = !ifname.is_empty() && ifname != "." && ifname != ".." && !ifname.contains('/');
    one_component.then(|| conf.join(ifname).join(key))
}

/// What to write to a setting that reads `current` so that it says `on`;
/// None when it already does (nothing to write, so a read-only /proc/sys
/// with the right values set by sysctl.d is no failure).
pub fn to_write(current: &str, on: bool) -> Option<&'static str> {
    let want = if on { "1" } else { "0" };
    (current.trim() != want).then_some(want)
}

/// Whether the link already has the link-local it will keep until it goes
/// down, made before the settings said `on`: the change then applies only
/// from the next link up (ndbgpd does not flap a link for it).
pub fn applies_from_next_link_up(link: &LinkState, on: bool) -> bool {
    link.up && link.link_locals.iter().any(|ll| ll.optimistic != on)
}

/// `conf/all/forwarding` reads 1: the kernel makes no link-local optimistic
/// on a forwarding host (addrconf_add_linklocal), whatever the settings say.
pub fn forwarding_blocks(all_forwarding: &str) -> bool {
    all_forwarding.trim() == "1"
}

/// A setting that could not be read or written.
#[derive(Debug)]
pub struct Failure {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot set {}: {}; link-locals will wait for DAD (about 1 s after link up). \
             Fix: make it writable (systemd: ReadWritePaths=/proc/sys/net/ipv6/conf, as systemd/ndbgpd.service \
             has; CAP_NET_ADMIN), or set it before the link comes up (sysctl.d), or --no-optimistic-dad",
            self.path.display(),
            self.error
        )
    }
}

/// What `apply` did on one interface.
#[derive(Debug, Default)]
pub struct Applied {
    /// At least one setting was written.
    pub changed: bool,
    pub failures: Vec<Failure>,
}

/// Set both settings of `ifname` under `conf` to `on` (1) or off (0),
/// writing only those that differ.
pub fn apply(conf: &Path, ifname: &str, on: bool) -> Applied {
    let mut applied = Applied::default();
    for key in KEYS {
        let Some(path) = path(conf, ifname, key) else {
            continue;
        };
        let written = std::fs::read_to_string(&path).and_then(|current| match to_write(&current, on) {
            None => Ok(false),
            Some(value) => std::fs::write(&path, value).map(|()| true),
        });
        match written {
            Ok(changed) => applied.changed |= changed,
            Err(error) => applied.failures.push(Failure { path, error }),
        }
    }
    applied
}

/// Read `conf/all/forwarding`: true when it blocks optimistic DAD.
pub fn forwarding_on(conf: &Path) -> bool {
    std::fs::read_to_string(conf.join("all").join("forwarding")).is_ok_and(|v| forwarding_blocks(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::LinkLocal;

    fn link(up: bool, link_locals: &[bool]) -> LinkState {
        LinkState {
            name: "eth0".into(),
            ifindex: 3,
            up,
            mac: None,
            link_locals: link_locals
                .iter()
                .map(|&optimistic| LinkLocal {
                    addr: "fe80::1".parse().expect("address"),
                    tentative: false,
                    optimistic,
                })
                .collect(),
        }
    }

    #[test]
    fn paths_are_per_interface_files_under_conf() {
        let conf = Path::new(CONF_DIR);
        assert_eq!(
            path(conf, "eth0", "optimistic_dad"),
            Some(PathBuf::from("/proc/sys/net/ipv6/conf/eth0/optimistic_dad"))
        );
        // A VLAN's dot stays: the file is named by the interface itself.
        assert_eq!(
            path(conf, "eth0.10", "use_optimistic"),
            Some(PathBuf::from("/proc/sys/net/ipv6/conf/eth0.10/use_optimistic"))
        );
        for bad in ["", ".", "..", "a/b", "../all"] {
            assert_eq!(path(conf, bad, "optimistic_dad"), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_only_what_differs() {
        assert_eq!(to_write("0\n", true), Some("1"));
        assert_eq!(to_write("1\n", true), None);
        assert_eq!(to_write("1\n", false), Some("0"));
        assert_eq!(to_write("0\n", false), None);
        // Anything else the kernel might say is rewritten.
        assert_eq!(to_write("", true), Some("1"));
    }

    #[test]
    fn a_link_up_with_its_link_local_changes_at_the_next_link_up() {
        // Down, or up before its link-local exists: the settings apply now.
        assert!(!applies_from_next_link_up(&link(false, &[false]), true));
        assert!(!applies_from_next_link_up(&link(true, &[]), true));
        // Up with a link-local made without optimistic DAD.
        assert!(applies_from_next_link_up(&link(true, &[false]), true));
        // Already as wanted.
        assert!(!applies_from_next_link_up(&link(true, &[true]), true));
        assert!(!applies_from_next_link_up(&link(true, &[false]), false));
        // Turning it off: the optimistic link-local stays so until DAD ends.
        assert!(applies_from_next_link_up(&link(true, &[true]), false));
    }

    #[test]
    fn forwarding_blocks_optimistic_dad() {
        assert!(forwarding_blocks("1\n"));
        assert!(!forwarding_blocks("0\n"));
    }

    /// `apply` on files standing in for /proc/sys (no root needed): writes
    /// what differs, reports a missing file with its path and the fix.
    #[test]
    fn apply_writes_the_files_and_names_a_failure() {
        let conf = std::env::temp_dir().join(format!("ndbgp-optimistic-{}", std::process::id()));
        let dir = conf.join("eth0");
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("optimistic_dad"), "0\n").expect("write");
        std::fs::write(dir.join("use_optimistic"), "1\n").expect("write");
        let applied = apply(&conf, "eth0", true);
        assert!(applied.changed);
        assert!(applied.failures.is_empty(), "{:?}", applied.failures);
        assert_eq!(std::fs::read_to_string(dir.join("optimistic_dad")).expect("read"), "1");
        // Nothing left to write.
        assert!(!apply(&conf, "eth0", true).changed);
        let missing = apply(&conf, "eth9", true);
        assert_eq!(missing.failures.len(), 2);
        let text = missing.failures[0].to_string();
        assert!(text.contains("eth9/optimistic_dad"), "{text}");
        assert!(text.contains("ReadWritePaths=/proc/sys/net/ipv6/conf"), "{text}");
        assert!(text.contains("--no-optimistic-dad"), "{text}");
        std::fs::remove_dir_all(&conf).expect("cleanup");
    }
}
