//! The operator's first hour: what ndbgpd and ndbgpctl say when the setup is
//! wrong (an interface name with a typo, a missing capability, a control
//! socket that cannot be reached) and what --help tells. The tests that run
//! the binaries without a daemon need no root; those that start ndbgpd are
//! lab tests (root, network namespaces; in CI they never skip).

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::*;

/// stdout and stderr of a finished command, in that order.
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_config_warns_of_an_interface_that_does_not_exist() {
    let out = Command::new(ndbgpd_bin())
        .args(["--check-config", "--iface", "eht0", "--iface", "lo", "--asn", "65001"])
        .output()
        .expect("ndbgpd");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.starts_with("ndbgpd: configuration OK: "), "{said}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: interface eht0 does not exist (yet)"),
        "{said}"
    );
    // lo exists in every namespace: only the typo is named.
    assert_eq!(stderr.matches("warning:").count(), 1, "{said}");
}

/// The daemon logs the missing interface at WARN when it starts and again
/// at each reload, and goes on (it waits for the interface).
#[test]
fn the_daemon_warns_of_a_missing_interface_at_start_and_reload() {
    if !lab_enabled("the_daemon_warns_of_a_missing_interface_at_start_and_reload") {
        return;
    }
    let ns = Netns::new("ndmi");
    let dir = TempDir::new("missing");
    let mut d = Ndbgpd::start(&ns, &dir, "a", &["--iface", "eht0", "--asn", "65001"]);
    let warned = |d: &Ndbgpd| {
        d.process
            .log_text()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("interface eht0 does not exist (yet)"))
            .count()
    };
    wait_for("the warning at start", Duration::from_secs(10), || {
        (warned(&d) == 1).then_some(())
    });
    kill(Pid::from_raw(d.process.pid()), Signal::SIGHUP).expect("SIGHUP");
    wait_for("the warning again at the reload", Duration::from_secs(10), || {
        (warned(&d) == 2).then_some(())
    });
    d.process.assert_running();
}
