//! Checks of the host before the daemon starts, and the words for what they
//! find: configured interfaces that do not exist (a typo like `eht0`), the
//! capabilities ndbgpd needs, a kernel neighbour table too small for the
//! neighbours we may keep, and what a socket's permission error means.
//! Config parsing stays pure; these read the host (/proc, the kernel's
//! interface names) and live here.

use std::io;

/// The capabilities every start needs (CAP_NET_BIND_SERVICE only for a port
/// below the kernel's unprivileged range: its bind error names it).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const REQUIRED: [(u32, &str, &str); 2] = [
    (
        CAP_NET_RAW,
        "CAP_NET_RAW",
        "to open the raw ICMPv6 socket for Neighbor Discovery",
    ),
    (CAP_NET_ADMIN, "CAP_NET_ADMIN", "to install routes"),
];

/// The configured interfaces the kernel does not know (now).
pub fn missing_interfaces(names: &[String]) -> Vec<&str> {
    names
        .iter()
        .filter(|name| nix::net::if_::if_nametoindex(name.as_str()).is_err())
        .map(String::as_str)
        .collect()
}

/// The warning for an interface that does not exist: the daemon waits for
/// it, but a typo would wait forever.
pub fn missing_interface_warning(name: &str) -> String {
    format!("interface {name} does not exist (yet)")
}

/// The kernel's hard limit on IPv6 neighbour entries. One table serves every
/// namespace of the kernel; the file is only in the initial namespace, so
/// in another one this is None and nothing is checked.
const GC_THRESH3: &str = "/proc/sys/net/ipv6/neigh/default/gc_thresh3";

/// The warning for `interfaces` x `--max-neighbors` neighbours that could
/// outgrow the kernel's IPv6 neighbour table (now), if they could.
pub fn neighbour_table_check(interfaces: usize, max_neighbors: usize) -> Option<String> {
    let limit = std::fs::read_to_string(GC_THRESH3).ok()?.trim().parse().ok()?;
    neighbour_table_warning(interfaces, max_neighbors, limit)
}

/// Past gc_thresh3 the kernel refuses new neighbour entries and our sends
/// to a neighbour without one fail (EINVAL): sessions and ND break on some
/// interfaces. Each neighbour is one entry per interface (the multicast
/// groups and the peers' own entries, in a shared kernel, come on top).
fn neighbour_table_warning(interfaces: usize, max_neighbors: usize, gc_thresh3: u64) -> Option<String> {
    let most = u64::try_from(interfaces.saturating_mul(max_neighbors)).unwrap_or(u64::MAX);
    (most > gc_thresh3).then(|| {
        format!(
            "{interfaces} interfaces x --max-neighbors {max_neighbors} = {most} neighbours could exceed the \
             kernel's IPv6 neighbour table (net.ipv6.neigh.default.gc_thresh3 = {gc_thresh3}, shared by every \
             namespace); past it sends fail with \"Invalid argument\": raise \
             net.ipv6.neigh.default.gc_thresh3 (and gc_thresh1/2) with sysctl, or lower --max-neighbors"
        )
    })
}

/// Fails, naming each one, when our effective set lacks a capability every
/// start needs, so that a daemon that cannot work says so before "ready".
/// When /proc cannot tell, the sockets' own errors will.
/// Raises the soft limit on open files to the hard one, as a server with a
/// socket per session must: systemd and most shells start it at 1024, and
/// 1000 interfaces need a TCP socket each (two with BFD) plus the rest.
/// Returns the limit in force and the one before when it changed.
pub fn raise_open_files_limit() -> io::Result<Option<(u64, u64)>> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let Some(wanted) = open_files_target(soft, hard) else {
        return Ok(None);
    };
    setrlimit(Resource::RLIMIT_NOFILE, wanted, hard)?;
    Ok(Some((wanted, soft)))
}

/// The soft limit to ask for: the hard limit, kept below what select(2)-era
/// code could mistake for unlimited; None when the soft one is already there.
fn open_files_target(soft: u64, hard: u64) -> Option<u64> {
    const CEILING: u64 = 1 << 20;
    let wanted = hard.min(CEILING);
    (wanted > soft).then_some(wanted)
}

pub fn require_capabilities() -> anyhow::Result<()> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Ok(());
    };
    let Some(effective) = effective_capabilities(&status) else {
        return Ok(());
    };
    let missing = missing_capabilities(effective);
    if missing.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "missing {} {}: run ndbgpd as root or grant {} (as systemd/ndbgpd.service does: \
         CAP_NET_RAW CAP_NET_ADMIN CAP_NET_BIND_SERVICE)",
        if missing.len() == 1 {
            "capability"
        } else {
            "capabilities"
        },
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" }
    ))
}

/// The `CapEff:` mask of a /proc/PID/status text.
fn effective_capabilities(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// "CAP_X (for what)" for each required capability not in `effective`.
fn missing_capabilities(effective: u64) -> Vec<String> {
    REQUIRED
        .iter()
        .filter(|(bit, _, _)| effective & (1u64 << bit) == 0)
        .map(|(_, name, what)| format!("{name} ({what})"))
        .collect()
}

/// Why opening the raw ICMPv6 socket failed, in the operator's words.
pub fn raw_socket_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            format!("cannot open the raw ICMPv6 socket: {e}: needs CAP_NET_RAW (or root)")
        }
        _ => format!("cannot open the raw ICMPv6 socket: {e}"),
    }
}

/// Why listening on the BGP port failed, in the operator's words.
pub fn listen_error(port: u16, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            format!("cannot listen on [::]:{port}: {e}: a port below 1024 needs CAP_NET_BIND_SERVICE (or root)")
        }
        io::ErrorKind::AddrInUse => {
            format!("cannot listen on [::]:{port}: {e}: is another BGP daemon (or ndbgpd) running?")
        }
        _ => format!("cannot listen on [::]:{port}: {e}"),
    }
}

/// Why `--bfd` cannot listen on UDP port 3784 (RFC 5881), as one line.
pub fn bfd_listen_error(port: u16, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "--bfd: cannot listen on UDP [::]:{port}: {e}: is another BFD daemon (FRR's bfdd, BIRD, another ndbgpd) running?"
        ),
        _ => format!("--bfd: cannot listen on UDP [::]:{port}: {e}"),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_open_files_limit_rises_to_the_hard_one_and_never_falls() {
        assert_eq!(open_files_target(1024, 524288), Some(524288));
        assert_eq!(open_files_target(1024, u64::MAX), Some(1 << 20));
        assert_eq!(open_files_target(524288, 524288), None);
        assert_eq!(open_files_target(1 << 21, u64::MAX), None);
    }
    use super::*;

    #[test]
    fn the_effective_set_is_read_from_proc_status() {
        let status = "Name:\tndbgpd\nCapInh:\t0000000000000000\nCapPrm:\t0000000000003400\n\
                      CapEff:\t0000000000003400\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(effective_capabilities(status), Some(0x3400));
        assert_eq!(effective_capabilities("Name:\tx\n"), None);
        assert_eq!(effective_capabilities("CapEff:\tzz\n"), None);
    }

    #[test]
    fn each_missing_capability_is_named_with_its_use() {
        // NET_BIND_SERVICE | NET_ADMIN | NET_RAW, as the unit grants.
        assert!(missing_capabilities(0x3400).is_empty());
        assert!(missing_capabilities(u64::MAX).is_empty());
        let without_admin = missing_capabilities(0x3400 & !(1 << CAP_NET_ADMIN));
        assert_eq!(without_admin, ["CAP_NET_ADMIN (to install routes)"]);
        let none = missing_capabilities(0);
        assert_eq!(none.len(), 2);
        assert!(none[0].starts_with("CAP_NET_RAW"), "{none:?}");
    }

    #[test]
    fn permission_errors_name_the_capability() {
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        assert!(listen_error(179, &denied).contains("CAP_NET_BIND_SERVICE"));
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        assert!(raw_socket_error(&eperm).contains("CAP_NET_RAW"));
        let other = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(!raw_socket_error(&other).contains("CAP_"));
    }

    #[test]
    fn a_neighbour_table_too_small_is_named_with_both_figures() {
        // 16 x 64 fills the default 1024 exactly: no warning.
        assert_eq!(neighbour_table_warning(16, 64, 1024), None);
        assert_eq!(
            neighbour_table_warning(1, 1, 0).map(|w| w.contains("= 1 neighbours")),
            Some(true)
        );
        let warning = neighbour_table_warning(1000, 64, 1024).expect("64000 > 1024");
        assert!(
            warning.contains("1000 interfaces x --max-neighbors 64 = 64000"),
            "{warning}"
        );
        assert!(warning.contains("gc_thresh3 = 1024"), "{warning}");
        assert!(warning.contains("raise net.ipv6.neigh.default.gc_thresh3"), "{warning}");
        // Raised for 1000 interfaces as scripts/bench-sessions.sh does.
        assert_eq!(neighbour_table_warning(1000, 64, 64000), None);
        assert!(neighbour_table_warning(usize::MAX, usize::MAX, u64::MAX - 1).is_some());
    }

    #[test]
    fn an_interface_that_cannot_exist_is_missing() {
        // A name no test creates; "lo" is in every namespace.
        let names = vec!["lo".to_string(), "no-such-iface0".to_string()];
        assert_eq!(missing_interfaces(&names), ["no-such-iface0"]);
    }
}
