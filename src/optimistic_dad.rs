//! RFC 4429 optimistic DAD on the interfaces ndbgpd manages: the kernel's
//! per-interface `optimistic_dad` and `use_optimistic` settings, and with
//! `--no-dad` its `accept_dad` (0: no DAD at all), written through
//! /proc/sys (IPv6 device settings have no netlink setter).
//!
//! Why: a new link-local is unusable while the kernel's duplicate address
//! detection runs (about 1 s), and nothing can peer before it is usable.
//! An optimistic address is usable at once (RFC 4429), but the kernel makes
//! no link-local optimistic on a forwarding host, i.e. on every router:
//! `--no-dad` (opt-in, it gives up duplicate detection) skips DAD instead,
//! forwarding or not. The settings apply
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

/// `accept_dad`: 0 skips DAD on new addresses (the kernel runs it with the
/// larger of `all` and the interface's value).
pub const ACCEPT_DAD: &str = "accept_dad";

/// What ndbgpd gives each interface it manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DadSettings {
    /// `optimistic_dad` and `use_optimistic` (not `--no-optimistic-dad`).
    pub optimistic: bool,
    /// `--no-dad`: `accept_dad` 0. When false `accept_dad` is left as the
    /// kernel (or sysctl.d) has it.
    pub no_dad: bool,
}

impl DadSettings {
    /// Each setting to give and whether it should read 1.
    pub fn wanted(self) -> Vec<(&'static str, bool)> {
        let mut wanted: Vec<_> = KEYS.iter().map(|&key| (key, self.optimistic)).collect();
        if self.no_dad {
            wanted.push((ACCEPT_DAD, false));
        }
        wanted
    }
}

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

/// `--no-dad` changes the link when it is up with a link-local still in
/// DAD: that one finishes its DAD, the next link up makes one without.
pub fn no_dad_applies_from_next_link_up(link: &LinkState) -> bool {
    link.up && link.link_locals.iter().any(|ll| ll.tentative || ll.optimistic)
}

/// `conf/all/forwarding` reads 1: the kernel makes no link-local optimistic
/// on a forwarding host (addrconf_add_linklocal), whatever the settings say.
pub fn forwarding_blocks(all_forwarding: &str) -> bool {
    all_forwarding.trim() == "1"
}

/// A host-wide setting that defeats what ndbgpd set, worth one warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostWarning {
    /// all.forwarding is 1 with optimistic DAD wanted and `--no-dad` not
    /// set: link-locals wait for DAD.
    ForwardingBlocksOptimistic,
    /// `--no-dad` with all.accept_dad (this value) above 0: the kernel
    /// takes the larger value, so DAD still runs.
    AllAcceptDad(String),
}

/// The warning the host's `all.forwarding` and `all.accept_dad` (as read;
/// None when unreadable) call for with `settings`, if any.
pub fn host_warning(settings: DadSettings, all_forwarding: &str, all_accept_dad: Option<&str>) -> Option<HostWarning> {
    if settings.no_dad {
        // Anything but a number 0 or below leaves DAD running.
        let value = all_accept_dad?.trim();
        let runs_dad = value.parse::<i32>().map_or(true, |v| v > 0);
        return runs_dad.then(|| HostWarning::AllAcceptDad(value.to_string()));
    }
    (settings.optimistic && forwarding_blocks(all_forwarding)).then_some(HostWarning::ForwardingBlocksOptimistic)
}

impl fmt::Display for HostWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ForwardingBlocksOptimistic => write!(
                f,
                "net.ipv6.conf.all.forwarding is 1: the kernel makes no link-local optimistic on a forwarding \
                 host, so sessions wait for DAD (about 1 s after link up). Fix, on point-to-point links whose \
                 link-locals come from unique MACs: --no-dad; see README, \"Optimistic DAD\""
            ),
            Self::AllAcceptDad(value) => write!(
                f,
                "--no-dad: net.ipv6.conf.all.accept_dad is {value} and the kernel runs DAD with the larger of \
                 all and the interface's value, so link-locals still wait for DAD. Fix: \
                 sysctl net.ipv6.conf.all.accept_dad=0"
            ),
        }
    }
}

/// A setting that could not be read or written.
#[derive(Debug)]
pub struct Failure {
    pub path: PathBuf,
    pub error: std::io::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = if self.path.ends_with(ACCEPT_DAD) {
            "drop --no-dad"
        } else {
            "--no-optimistic-dad"
        };
        write!(
            f,
            "cannot set {}: {}; link-locals will wait for DAD (about 1 s after link up). \
             Fix: make it writable (systemd: ReadWritePaths=/proc/sys/net/ipv6/conf, as systemd/ndbgpd.service \
             has; CAP_NET_ADMIN), or set it before the link comes up (sysctl.d), or {flag}",
            self.path.display(),
            self.error
        )
    }
}

/// What `apply` did on one interface.
#[derive(Debug, Default)]
pub struct Applied {
    /// The settings written.
    pub changed: Vec<&'static str>,
    pub failures: Vec<Failure>,
}

impl Applied {
    /// Whether any of `keys` was written.
    pub fn changed_any(&self, keys: &[&str]) -> bool {
        self.changed.iter().any(|k| keys.contains(k))
    }
}

/// Give `ifname` under `conf` the `settings`, writing only what differs.
pub fn apply(conf: &Path, ifname: &str, settings: DadSettings) -> Applied {
    let mut applied = Applied::default();
    for (key, on) in settings.wanted() {
        let Some(path) = path(conf, ifname, key) else {
            continue;
        };
        let written = std::fs::read_to_string(&path).and_then(|current| match to_write(&current, on) {
            None => Ok(false),
            Some(value) => std::fs::write(&path, value).map(|()| true),
        });
        match written {
            Ok(true) => applied.changed.push(key),
            Ok(false) => {}
            Err(error) => applied.failures.push(Failure { path, error }),
        }
    }
    applied
}

/// Read `conf/all/forwarding` and `conf/all/accept_dad` for [`host_warning`].
pub fn check_host(conf: &Path, settings: DadSettings) -> Option<HostWarning> {
    let read = |key: &str| std::fs::read_to_string(conf.join("all").join(key)).ok();
    host_warning(
        settings,
        &read("forwarding").unwrap_or_default(),
        read(ACCEPT_DAD).as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::LinkLocal;

    const OPTIMISTIC: DadSettings = DadSettings {
        optimistic: true,
        no_dad: false,
    };
    const NO_DAD: DadSettings = DadSettings {
        optimistic: true,
        no_dad: true,
    };

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

    #[test]
    fn accept_dad_is_written_only_with_no_dad() {
        assert_eq!(
            OPTIMISTIC.wanted(),
            [("optimistic_dad", true), ("use_optimistic", true)]
        );
        let off = DadSettings {
            optimistic: false,
            no_dad: false,
        };
        assert!(off.wanted().iter().all(|&(key, on)| key != ACCEPT_DAD && !on));
        assert_eq!(NO_DAD.wanted().last(), Some(&(ACCEPT_DAD, false)));
    }

    #[test]
    fn forwarding_warns_and_names_no_dad_unless_it_is_set() {
        let warning = host_warning(OPTIMISTIC, "1\n", Some("0\n"));
        assert_eq!(warning, Some(HostWarning::ForwardingBlocksOptimistic));
        assert!(warning.expect("warning").to_string().contains("--no-dad"));
        assert_eq!(host_warning(OPTIMISTIC, "0\n", Some("0\n")), None);
        // No optimistic DAD asked for: nothing it could block.
        let off = DadSettings {
            optimistic: false,
            no_dad: false,
        };
        assert_eq!(host_warning(off, "1\n", Some("0\n")), None);
        // --no-dad: link-locals are usable at once, forwarding or not.
        assert_eq!(host_warning(NO_DAD, "1\n", Some("0\n")), None);
        assert_eq!(host_warning(NO_DAD, "1\n", None), None);
    }

    #[test]
    fn no_dad_warns_when_all_accept_dad_keeps_dad_on() {
        assert_eq!(
            host_warning(NO_DAD, "1\n", Some("1\n")),
            Some(HostWarning::AllAcceptDad("1".into()))
        );
        assert_eq!(
            host_warning(NO_DAD, "0\n", Some("2\n")),
            Some(HostWarning::AllAcceptDad("2".into()))
        );
        assert_eq!(host_warning(NO_DAD, "0\n", Some("-1\n")), None);
        // Without --no-dad, all.accept_dad is the kernel's business.
        assert_eq!(host_warning(OPTIMISTIC, "0\n", Some("1\n")), None);
    }

    #[test]
    fn no_dad_on_a_link_in_dad_changes_at_the_next_link_up() {
        let mut in_dad = link(true, &[false]);
        in_dad.link_locals[0].tentative = true;
        assert!(no_dad_applies_from_next_link_up(&in_dad));
        assert!(no_dad_applies_from_next_link_up(&link(true, &[true])));
        // Out of DAD already, or down: nothing waits.
        assert!(!no_dad_applies_from_next_link_up(&link(true, &[false])));
        assert!(!no_dad_applies_from_next_link_up(&link(false, &[true])));
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
        std::fs::write(dir.join(ACCEPT_DAD), "1\n").expect("write");
        let applied = apply(&conf, "eth0", OPTIMISTIC);
        assert_eq!(applied.changed, ["optimistic_dad"]);
        assert!(applied.failures.is_empty(), "{:?}", applied.failures);
        assert_eq!(std::fs::read_to_string(dir.join("optimistic_dad")).expect("read"), "1");
        // accept_dad untouched without --no-dad.
        assert_eq!(std::fs::read_to_string(dir.join(ACCEPT_DAD)).expect("read"), "1\n");
        // Nothing left to write.
        assert!(apply(&conf, "eth0", OPTIMISTIC).changed.is_empty());
        let applied = apply(&conf, "eth0", NO_DAD);
        assert_eq!(applied.changed, [ACCEPT_DAD]);
        assert!(applied.changed_any(&[ACCEPT_DAD]) && !applied.changed_any(&KEYS));
        assert_eq!(std::fs::read_to_string(dir.join(ACCEPT_DAD)).expect("read"), "0");
        let missing = apply(&conf, "eth9", NO_DAD);
        assert_eq!(missing.failures.len(), 3);
        let text = missing.failures[0].to_string();
        assert!(text.contains("eth9/optimistic_dad"), "{text}");
        assert!(text.contains("ReadWritePaths=/proc/sys/net/ipv6/conf"), "{text}");
        assert!(text.contains("--no-optimistic-dad"), "{text}");
        let text = missing.failures[2].to_string();
        assert!(
            text.contains("eth9/accept_dad") && text.contains("drop --no-dad"),
            "{text}"
        );
        std::fs::remove_dir_all(&conf).expect("cleanup");
    }
}
