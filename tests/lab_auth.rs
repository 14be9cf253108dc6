//! Lab tests for session authentication: TCP-MD5 (RFC 2385) and GTSM
//! (RFC 5082), ndbgpd against itself, FRR 8.4 and BIRD 2.0.12 on a veth in
//! namespaces made per test. Need root; in CI they never skip.
//!
//! "Never Established" is checked by polling for a bounded time (NEVER),
//! and backed by the kernel's own counters in the namespace
//! (/proc/net/netstat): TCPMD5NotFound, TCPMD5Unexpected and TCPMD5Failure
//! count segments dropped for a missing, unexpected or wrong signature,
//! TCPMinTTLDrop segments dropped below the minimum hop count.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use ndbgp::api::{NeighborView, SessionState};

use common::peers::*;
use common::*;

/// How long a session that must not come up is watched: FRR and ndbgpd
/// retry within a few seconds, so several attempts fall in it.
const NEVER: Duration = Duration::from_secs(10);
const EST: &str = "Established";

// ---------------------------------------------------------------- helpers

fn established_to(d: &Ndbgpd, addr: Ipv6Addr) -> Option<NeighborView> {
    d.try_neighbors()?
        .into_iter()
        .find(|s| s.interface == "eth0" && s.address == addr && s.state == SessionState::Established)
}

/// A key file as an operator should keep it: mode 0600.
fn key_file(dir: &TempDir, name: &str, key: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{key}\n")).expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path.to_str().expect("utf-8 path").to_string()
}

fn ndbgpd(ns: &Netns, dir: &TempDir, tag: &str, asn: u32, router_id: &str, extra: &[&str]) -> Ndbgpd {
    let asn = asn.to_string();
    let mut args = vec!["--iface", "eth0", "--asn", &asn, "--router-id", router_id];
    args.extend(extra);
    Ndbgpd::start(ns, dir, tag, &args)
}

/// The namespace's TCP counters (TcpExt in /proc/net/netstat).
fn tcp_counters(ns: &Netns) -> BTreeMap<String, u64> {
    let text = run(ns.command("cat").arg("/proc/net/netstat"));
    let lines: Vec<&str> = text.lines().collect();
    let mut counters = BTreeMap::new();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        if !names.starts_with("TcpExt:") {
            continue;
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()).skip(1) {
            counters.insert(n.to_string(), v.parse().unwrap_or(0));
        }
    }
    counters
}

fn counter(ns: &Netns, name: &str) -> u64 {
    tcp_counters(ns).get(name).copied().unwrap_or(0)
}

/// Segments the kernel dropped for their TCP-MD5 signature, by reason.
fn md5_drops(ns: &Netns) -> [u64; 3] {
    let c = tcp_counters(ns);
    ["TCPMD5NotFound", "TCPMD5Unexpected", "TCPMD5Failure"].map(|n| c.get(n).copied().unwrap_or(0))
}

/// Poll for `NEVER`: `up()` must never hold.
fn never(what: &str, dump: &dyn Fn() -> String, mut up: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut polls = 0;
    while start.elapsed() < NEVER {
        polls += 1;
        assert!(!up(), "{what} after {:?}{}", start.elapsed(), dump());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(polls > 10, "the check ran ({polls} polls)");
}

/// Two namespaces joined by eth0, both up, link-locals usable.
fn pair(a: &str, b: &str) -> (Netns, Netns, Ipv6Addr, Ipv6Addr) {
    let na = Netns::new(a);
    let nb = Netns::new(b);
    veth(&na, "eth0", &nb, "eth0");
    na.set_link("eth0", true);
    nb.set_link("eth0", true);
    let (_, la, lb) = wait_link_locals_ready(&na, &nb, "eth0");
    (na, nb, la, lb)
}

/// FRR unnumbered on eth0 with extra `neighbor eth0 ...` lines.
fn frr_conf(extra: &[&str]) -> String {
    let base = frr_unnumbered_conf("frr", 65002, "10.0.0.2", &["eth0"], FrrProfile::Datacenter);
    let mut lines = String::new();
    for e in extra {
        lines += &format!(" neighbor eth0 {e}\n");
    }
    base.replace(
        " neighbor eth0 interface remote-as external\n",
        &format!(" neighbor eth0 interface remote-as external\n{lines}"),
    )
}

/// BIRD's dynamic BGP on eth0 with extra protocol lines.
fn bird_conf(extra: &str) -> String {
    bird_unnumbered_conf(65003, "10.0.0.3", "eth0").replace("  hold time 9;\n", &format!("  hold time 9;\n{extra}"))
}

fn frr_tools(test: &str) -> bool {
    have_tool(test, FRR_BGPD) && have_tool(test, VTYSH)
}

fn bird_tools(test: &str) -> bool {
    have_tool(test, BIRD) && have_tool(test, BIRDC)
}

// ---------------------------------------------------------------- TCP-MD5

/// Two ndbgpd with the same key: Established, both shown signed; the key
/// is never in a log.
#[test]
fn two_ndbgpd_with_one_key_reach_established_signed() {
    const T: &str = "two_ndbgpd_with_one_key_reach_established_signed";
    if !lab_enabled(T) {
        return;
    }
    let dir = TempDir::new("md5");
    let key = "k3y-Only-For-This-Test";
    let file = key_file(&dir, "key", key);
    let (a, b, la, lb) = pair("amd", "bmd");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &file]);
    let db = ndbgpd(&b, &dir, "b", 65002, "10.0.0.2", &["--password-file", &file]);
    let dump = || format!("{}{}", da.report(), db.report());
    let (sa, sb) = wait_or_dump("both Established", Duration::from_secs(20), &dump, || {
        Some((established_to(&da, lb)?, established_to(&db, la)?))
    });
    assert!(sa.tcp_md5 && sb.tcp_md5, "shown signed: {sa:?} {sb:?}");
    assert!(!sa.ttl_security && !sb.ttl_security, "GTSM is off by default: {sa:?}");
    let table = da.ctl_text(&["neighbors"]);
    assert!(table.contains("AUTH") && table.contains(" md5 "), "{table}");
    for d in [&da, &db] {
        assert!(
            !d.process.log_text().contains(key),
            "the key is in {}'s log",
            d.process.name
        );
    }
    // The signatures were checked, none failed.
    assert_eq!(md5_drops(&a), [0, 0, 0], "{:?}", tcp_counters(&a));
}

/// A wrong key on one side, then no key: never Established, and the
/// kernel shows why.
#[test]
fn ndbgpd_with_a_wrong_or_missing_key_never_establishes() {
    const T: &str = "ndbgpd_with_a_wrong_or_missing_key_never_establishes";
    if !lab_enabled(T) {
        return;
    }
    let dir = TempDir::new("md5bad");
    let ours = key_file(&dir, "ours", "the-right-key");
    let wrong = key_file(&dir, "wrong", "the-wrong-key");
    let (a, b, la, lb) = pair("amw", "bmw");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &ours]);
    let mut db = ndbgpd(&b, &dir, "b", 65002, "10.0.0.2", &["--password-file", &wrong]);
    let dump = || format!("{}{}", da.report(), db.report());
    never("Established with a wrong key", &dump, || {
        established_to(&da, lb).is_some() || established_to(&db, la).is_some()
    });
    let (fa, fb) = (md5_drops(&a), md5_drops(&b));
    eprintln!("{T}: wrong key: a drops {fa:?}, b drops {fb:?} (NotFound, Unexpected, Failure)");
    assert!(
        fa[2] + fb[2] > 0,
        "segments dropped for a wrong signature: a {fa:?} b {fb:?}"
    );
    db.process.stop();

    let db = ndbgpd(&b, &dir, "b2", 65002, "10.0.0.2", &[]);
    let dump = || format!("{}{}", da.report(), db.report());
    never("Established with no key on one side", &dump, || {
        established_to(&da, lb).is_some() || established_to(&db, la).is_some()
    });
    let (ga, gb) = (md5_drops(&a), md5_drops(&b));
    eprintln!("{T}: no key on b: a drops {ga:?}, b drops {gb:?}");
    assert!(
        ga[0] > fa[0] || gb[1] > fb[1],
        "unsigned segments dropped by a (NotFound) or signed ones by b (Unexpected): a {fa:?}->{ga:?} b {fb:?}->{gb:?}"
    );
}

/// FRR 8.4, `neighbor eth0 password`: Established with the same key; a
/// changed key on FRR's side ends it for good.
#[test]
fn frr_interface_neighbour_with_password() {
    const T: &str = "frr_interface_neighbour_with_password";
    if !lab_enabled(T) || !frr_tools(T) {
        return;
    }
    let dir = TempDir::new("md5frr");
    let file = key_file(&dir, "key", "frr-shared-key");
    let (a, b, _la, lb) = pair("amf", "bmf");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &file]);
    let frr = Frr::start(&b, &dir, &frr_conf(&["password frr-shared-key"]));
    let dump = || format!("{}{}{:?}", da.report(), frr.report(), tcp_counters(&a));
    let s = wait_or_dump("ndbgpd and FRR Established", Duration::from_secs(30), &dump, || {
        frr.neighbor("eth0").filter(|n| n["bgpState"] == EST)?;
        established_to(&da, lb)
    });
    assert!(s.tcp_md5, "{s:?}");
    assert_eq!(md5_drops(&a)[2], 0, "no bad signature: {:?}", tcp_counters(&a));

    let before = md5_drops(&a);
    frr.vtysh("configure terminal\nrouter bgp 65002\nneighbor eth0 password another-key\nend")
        .expect("vtysh");
    wait_or_dump("the session to end", Duration::from_secs(20), &dump, || {
        established_to(&da, lb).is_none().then_some(())
    });
    never("Established again with FRR's key changed", &dump, || {
        established_to(&da, lb).is_some() || frr.bgp_state("eth0").as_deref() == Some(EST)
    });
    let after = md5_drops(&a);
    eprintln!("{T}: after FRR's key changed: {before:?} -> {after:?}");
    assert!(
        after[2] > before[2],
        "a dropped FRR's wrongly signed segments: {after:?}"
    );
}

/// FRR without a password against ndbgpd with one: never Established.
#[test]
fn frr_without_password_never_establishes() {
    const T: &str = "frr_without_password_never_establishes";
    if !lab_enabled(T) || !frr_tools(T) {
        return;
    }
    let dir = TempDir::new("md5frrno");
    let file = key_file(&dir, "key", "only-ndbgpd-has-it");
    let (a, b, _la, lb) = pair("amn", "bmn");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &file]);
    let frr = Frr::start(&b, &dir, &frr_conf(&[]));
    let dump = || format!("{}{}", da.report(), frr.report());
    never("Established without FRR signing", &dump, || {
        established_to(&da, lb).is_some() || frr.bgp_state("eth0").as_deref() == Some(EST)
    });
    let (fa, fb) = (md5_drops(&a), md5_drops(&b));
    eprintln!("{T}: a drops {fa:?}, FRR's side drops {fb:?}");
    assert!(fa[0] + fb[1] > 0, "dropped: a {fa:?}, b {fb:?}");
}

/// BIRD 2.0.12, `password` on its dynamic BGP over fe80::/10: Established.
#[test]
fn bird_with_password_reaches_established() {
    const T: &str = "bird_with_password_reaches_established";
    if !lab_enabled(T) || !bird_tools(T) {
        return;
    }
    let dir = TempDir::new("md5bird");
    let file = key_file(&dir, "key", "bird-shared-key");
    let (a, b, _la, lb) = pair("amb", "bmb");
    let bird = Bird::start(&b, &dir, "bird", &bird_conf("  password \"bird-shared-key\";\n"));
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &file]);
    let dump = || format!("{}{}", da.report(), bird.report());
    let s = wait_or_dump("ndbgpd and BIRD Established", Duration::from_secs(30), &dump, || {
        let s = established_to(&da, lb)?;
        (bird.established() == 1).then_some(s)
    });
    assert!(s.tcp_md5, "{s:?}");
}

/// BIRD with another key: never Established.
#[test]
fn bird_with_another_key_never_establishes() {
    const T: &str = "bird_with_another_key_never_establishes";
    if !lab_enabled(T) || !bird_tools(T) {
        return;
    }
    let dir = TempDir::new("md5birdno");
    let file = key_file(&dir, "key", "ours");
    let (a, b, _la, lb) = pair("amc", "bmc");
    let bird = Bird::start(&b, &dir, "bird", &bird_conf("  password \"theirs\";\n"));
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &file]);
    let dump = || format!("{}{}", da.report(), bird.report());
    never("Established with BIRD's other key", &dump, || {
        established_to(&da, lb).is_some() || bird.established() > 0
    });
    let (fa, fb) = (md5_drops(&a), md5_drops(&b));
    eprintln!("{T}: a drops {fa:?}, BIRD's side drops {fb:?}");
    assert!(fa[2] + fb[2] > 0, "wrong signatures dropped: a {fa:?}, b {fb:?}");
}

/// A SIGHUP with a new key: the established session keeps its key and
/// goes on; the next connection needs the new one (the link bounced:
/// never Established while only one side has it, Established once both do).
#[test]
fn a_new_key_on_sighup_applies_to_new_connections() {
    const T: &str = "a_new_key_on_sighup_applies_to_new_connections";
    if !lab_enabled(T) {
        return;
    }
    let dir = TempDir::new("md5hup");
    let file_a = key_file(&dir, "a", "first-key");
    let file_b = key_file(&dir, "b", "first-key");
    let (a, b, la, lb) = pair("amh", "bmh");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--password-file", &file_a]);
    let db = ndbgpd(&b, &dir, "b", 65002, "10.0.0.2", &["--password-file", &file_b]);
    let dump = || format!("{}{}", da.report(), db.report());
    let s0 = wait_or_dump("both Established", Duration::from_secs(20), &dump, || {
        established_to(&db, la)?;
        established_to(&da, lb)
    });
    key_file(&dir, "a", "second-key");
    sighup(&da);
    wait_or_dump("a to apply the reload", Duration::from_secs(5), &dump, || {
        da.process
            .log_text()
            .contains("reload: filters, limits or authentication changed")
            .then_some(())
    });
    // Over two keepalive intervals: the session is the same one.
    let kept = Instant::now();
    while kept.elapsed() < Duration::from_secs(7) {
        let s = established_to(&da, lb).unwrap_or_else(|| panic!("session reset by the reload{}", dump()));
        assert_eq!(s.established_count, s0.established_count, "{s:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A new connection: the link bounces.
    a.set_link("eth0", false);
    wait_or_dump("the session to end", Duration::from_secs(10), &dump, || {
        established_to(&db, la).is_none().then_some(())
    });
    a.set_link("eth0", true);
    let before = md5_drops(&b);
    never("Established with two keys", &dump, || {
        established_to(&da, lb).is_some() || established_to(&db, la).is_some()
    });
    let after = md5_drops(&b);
    assert!(
        after[2] > before[2],
        "b dropped a's new signatures: {before:?} -> {after:?}"
    );
    key_file(&dir, "b", "second-key");
    sighup(&db);
    wait_or_dump(
        "Established with the new key on both",
        Duration::from_secs(30),
        &dump,
        || Some((established_to(&da, lb)?, established_to(&db, la)?)),
    );
}

/// Per-interface keys: a's eth0 (to b) has a key, eth1 (to c) none. Both
/// sessions come up; only eth0's is signed. The listener cannot cover the
/// link-local range (eth1 must not sign), so b's key is per neighbour.
#[test]
fn a_per_interface_key_signs_only_that_interface() {
    const T: &str = "a_per_interface_key_signs_only_that_interface";
    if !lab_enabled(T) {
        return;
    }
    let dir = TempDir::new("md5if");
    let key = key_file(&dir, "key", "only-eth0");
    let a = Netns::new("ami");
    let b = Netns::new("bmi");
    let c = Netns::new("cmi");
    veth(&a, "eth0", &b, "eth0");
    veth(&a, "eth1", &c, "eth0");
    for (ns, ifname) in [(&a, "eth0"), (&a, "eth1"), (&b, "eth0"), (&c, "eth0")] {
        ns.set_link(ifname, true);
    }
    let (_, _, lb) = wait_link_locals_ready_on(&a, "eth0", &b, "eth0");
    let (_, _, lc) = wait_link_locals_ready_on(&a, "eth1", &c, "eth0");
    let conf = dir.join("a.toml");
    std::fs::write(
        &conf,
        format!(
            "interfaces = [\"eth0\", \"eth1\"]\nasn = 65001\nrouter_id = \"10.0.0.1\"\n\n[interface.eth0]\npassword_file = \"{key}\"\n"
        ),
    )
    .expect("config");
    let da = Ndbgpd::start(&a, &dir, "a", &["--config", conf.to_str().expect("utf-8")]);
    let db = ndbgpd(&b, &dir, "b", 65002, "10.0.0.2", &["--password-file", &key]);
    let dc = ndbgpd(&c, &dir, "c", 65003, "10.0.0.3", &[]);
    let dump = || format!("{}{}{}", da.report(), db.report(), dc.report());
    let (sb, sc) = wait_or_dump("both sessions Established", Duration::from_secs(30), &dump, || {
        let all = da.try_neighbors()?;
        let up = |ifname: &str, addr: Ipv6Addr| {
            all.iter()
                .find(|s| s.interface == ifname && s.address == addr && s.state == SessionState::Established)
                .cloned()
        };
        Some((up("eth0", lb)?, up("eth1", lc)?))
    });
    assert!(sb.tcp_md5, "eth0 signed: {sb:?}");
    assert!(!sc.tcp_md5, "eth1 not: {sc:?}");
    assert_eq!(
        md5_drops(&c),
        [0, 0, 0],
        "c never saw a signature: {:?}",
        tcp_counters(&c)
    );
}

fn sighup(d: &Ndbgpd) {
    use nix::sys::signal::{Signal, kill};
    kill(nix::unistd::Pid::from_raw(d.process.pid()), Signal::SIGHUP).expect("kill");
}

// ---------------------------------------------------------------- GTSM

/// FRR `ttl-security hops 1` against `--ttl-security`: Established, shown.
/// FRR without it sends hop limit 1: never Established, its segments
/// dropped (TCPMinTTLDrop).
#[test]
fn ttl_security_with_frr() {
    const T: &str = "ttl_security_with_frr";
    if !lab_enabled(T) || !frr_tools(T) {
        return;
    }
    let dir = TempDir::new("gtsmfrr");
    let (a, b, _la, lb) = pair("agf", "bgf");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--ttl-security"]);
    let frr = Frr::start(&b, &dir, &frr_conf(&["ttl-security hops 1"]));
    let dump = || format!("{}{}", da.report(), frr.report());
    let s = wait_or_dump("ndbgpd and FRR Established", Duration::from_secs(30), &dump, || {
        frr.neighbor("eth0").filter(|n| n["bgpState"] == EST)?;
        established_to(&da, lb)
    });
    assert!(s.ttl_security && !s.tcp_md5, "{s:?}");
    drop(frr);
    wait_or_dump("the session to end", Duration::from_secs(20), &|| da.report(), || {
        established_to(&da, lb).is_none().then_some(())
    });

    let before = counter(&a, "TCPMinTTLDrop");
    let frr = Frr::start(&b, &dir, &frr_conf(&[]));
    let dump = || format!("{}{}", da.report(), frr.report());
    never("Established with FRR sending hop limit 1", &dump, || {
        established_to(&da, lb).is_some() || frr.bgp_state("eth0").as_deref() == Some(EST)
    });
    let after = counter(&a, "TCPMinTTLDrop");
    eprintln!("{T}: TCPMinTTLDrop {before} -> {after}");
    assert!(after > before, "FRR's segments below 255 dropped");
}

/// BIRD `ttl security on` against `--ttl-security`: Established.
#[test]
fn ttl_security_with_bird() {
    const T: &str = "ttl_security_with_bird";
    if !lab_enabled(T) || !bird_tools(T) {
        return;
    }
    let dir = TempDir::new("gtsmbird");
    let (a, b, _la, lb) = pair("agb", "bgb");
    let bird = Bird::start(&b, &dir, "bird", &bird_conf("  ttl security on;\n"));
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--ttl-security"]);
    let dump = || format!("{}{}", da.report(), bird.report());
    let s = wait_or_dump("ndbgpd and BIRD Established", Duration::from_secs(30), &dump, || {
        let s = established_to(&da, lb)?;
        (bird.established() == 1).then_some(s)
    });
    assert!(s.ttl_security, "{s:?}");
}

/// A connection attempt with hop limit 254 never completes (its SYN is
/// dropped: ndbgpd never sees it, let alone an OPEN); the same client with
/// 255 is accepted.
#[test]
fn ttl_security_drops_a_syn_with_hop_limit_254() {
    const T: &str = "ttl_security_drops_a_syn_with_hop_limit_254";
    if !lab_enabled(T) {
        return;
    }
    let dir = TempDir::new("gtsmraw");
    let (a, b, la, _lb) = pair("agr", "bgr");
    let da = ndbgpd(&a, &dir, "a", 65001, "10.0.0.1", &["--ttl-security"]);
    let ifindex = b.ifindex("eth0");
    let connect = |hops: u32| -> bool {
        // The client runs in b's namespace: a child `ip netns exec` of a
        // tiny connect, so that this test process stays where it is.
        let script = format!(
            "import socket,sys\ns=socket.socket(socket.AF_INET6)\ns.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_UNICAST_HOPS,{hops})\ns.settimeout(3)\ntry:\n  s.connect(('{la}',179,0,{ifindex}))\nexcept OSError as e:\n  print('failed',e); sys.exit(1)\nprint('connected')\n"
        );
        let out = b
            .command("/usr/bin/python3")
            .args(["-c", &script])
            .output()
            .expect("python3");
        eprintln!("{T}: hop limit {hops}: {}", String::from_utf8_lossy(&out.stdout).trim());
        out.status.success()
    };
    let before = counter(&a, "TCPMinTTLDrop");
    assert!(!connect(254), "a SYN with hop limit 254 was answered");
    let dropped = counter(&a, "TCPMinTTLDrop");
    assert!(
        dropped > before,
        "the SYN was dropped by the kernel: {before} -> {dropped}"
    );
    // ndbgpd logs every connection it takes (debug): none came.
    let taken = |log: &str| log.contains("inbound connection");
    assert!(!taken(&da.process.log_text()), "{}", da.report());
    assert!(connect(255), "hop limit 255 accepted");
    wait_or_dump(
        "ndbgpd to take the connection",
        Duration::from_secs(5),
        &|| da.report(),
        || taken(&da.process.log_text()).then_some(()),
    );
}
