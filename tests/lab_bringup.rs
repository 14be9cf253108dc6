//! Lab test of link-up bring-up: two ndbgpd that find each other at the
//! same moment dial each other at the same moment. Whatever the order of
//! the connections, the session must come up right after both link-locals
//! leave DAD, not after a retry seconds later. Needs root.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ndbgp::api::SessionState;

/// Rounds: the race this guards against stalled about one round in four.
const ROUNDS: usize = 8;

#[test]
fn simultaneous_dials_reach_established_right_after_dad() {
    if !lab_enabled("simultaneous_dials_reach_established_right_after_dad") {
        return;
    }
    let mut gaps = Vec::new();
    for round in 0..ROUNDS {
        let a = Netns::new("ndra");
        let b = Netns::new("ndrb");
        veth(&a, "eth0", &b, "eth0");
        let dir = TempDir::new("race");
        let da = Ndbgpd::start(
            &a,
            &dir,
            "a",
            &["--iface", "eth0", "--asn", "65001", "--router-id", "10.0.0.1"],
        );
        let _db = Ndbgpd::start(
            &b,
            &dir,
            "b",
            &["--iface", "eth0", "--asn", "65002", "--router-id", "10.0.0.2"],
        );
        a.set_link("eth0", true);
        b.set_link("eth0", true);
        let floor = wait_for("both link-locals out of DAD", Duration::from_secs(10), || {
            match (a.link_local("eth0"), b.link_local("eth0")) {
                (Some((_, false)), Some((_, false))) => Some(Instant::now()),
                _ => None,
            }
        });
        wait_for("Established", Duration::from_secs(15), || {
            da.neighbors()
                .iter()
                .any(|s| s.state == SessionState::Established)
                .then_some(())
        });
        let gap = floor.elapsed();
        eprintln!("round {round}: Established {gap:?} after both link-locals left DAD");
        gaps.push(gap);
    }
    let worst = gaps.iter().max().copied().unwrap_or_default();
    // A retry after a lost collision costs 1-4 s; a clean start a few ms.
    assert!(worst < Duration::from_millis(500), "worst {worst:?} of {gaps:?}");
}
