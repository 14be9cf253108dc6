//! Real BGP peers for the lab: FRR (zebra + bgpd), BIRD 2 and GoBGP, each run
//! in the foreground inside a test's namespace as child [`Process`]es, with
//! all their files in a scratch directory. Dropping a guard kills its
//! daemons by pid (SIGTERM, then SIGKILL after 3 s) and removes what they
//! left outside that directory.
//!
//! FRR runs without `-d`: daemonized, its pids would only be known through
//! its pid files and a crash at start-up would go unseen; in the foreground
//! `ip netns exec` execs into the daemon, so the child's pid is the daemon's.

use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{Netns, Process, TempDir, run, tail, unique, wait_for};

/// Where Debian's FRR 8.4 keeps its daemons.
pub const FRR_DIR: &str = "/usr/lib/frr";
pub const FRR_BGPD: &str = "/usr/lib/frr/bgpd";
pub const VTYSH: &str = "/usr/bin/vtysh";
pub const BIRD: &str = "/usr/sbin/bird";
pub const BIRDC: &str = "/usr/sbin/birdc";
pub const GOBGPD: &str = "/usr/bin/gobgpd";
pub const GOBGP: &str = "/usr/bin/gobgp";

/// FRR's `frr defaults` profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrrProfile {
    /// keepalive 3 s, hold 9 s, connect-retry 10 s.
    Datacenter,
    /// keepalive 60 s, hold 180 s, connect-retry 120 s.
    Traditional,
}

/// An FRR configuration for BGP unnumbered on `ifaces`
/// (`neighbor IF interface remote-as external`), with neighbour events
/// logged at debug level so that a failing test's log says what happened.
pub fn frr_unnumbered_conf(hostname: &str, asn: u32, router_id: &str, ifaces: &[&str], profile: FrrProfile) -> String {
    let profile = match profile {
        FrrProfile::Datacenter => "datacenter",
        FrrProfile::Traditional => "traditional",
    };
    let mut c = format!("frr defaults {profile}\nhostname {hostname}\ndebug bgp neighbor-events\n!\n");
    for ifname in ifaces {
        c += &format!("interface {ifname}\n!\n");
    }
    c += &format!("router bgp {asn}\n bgp router-id {router_id}\n");
    for ifname in ifaces {
        c += &format!(" neighbor {ifname} interface remote-as external\n");
    }
    c += "!\n";
    c
}

/// Make `path` belong to `user` (uid and gid from the passwd entry).
fn chown_to(path: &Path, user: &str) {
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no user {user}"));
    nix::unistd::chown(path, Some(u.uid), Some(u.gid)).unwrap_or_else(|e| panic!("chown {path:?}: {e}"));
}

/// FRR zebra + bgpd in a namespace. Files are in their own directory inside
/// the test's [`TempDir`], owned by user frr (the daemons drop to it).
pub struct Frr {
    /// The `-N` pathspace, unique to this instance.
    pub name: String,
    pub dir: PathBuf,
    // Field order is drop order: bgpd goes before zebra.
    bgpd: Process,
    /// Daemons started beside bgpd (bfdd), which need zebra too.
    others: Vec<Process>,
    zebra: Process,
}

impl Frr {
    /// Its neighbours as bgpd shows them and the tail of its logs, for a
    /// failed test.
    pub fn report(&self) -> String {
        let n = self
            .vtysh("show bgp neighbors json")
            .unwrap_or_else(|| "(vtysh failed)".into());
        format!(
            "\n--- frr {}: show bgp neighbors json ---\n{}\n{}",
            self.name,
            tail(&n, 60),
            tail(&self.logs(), 150)
        )
    }

    /// Starts zebra, waits for its zserv socket, starts bgpd and waits until
    /// vtysh can read bgpd's state. `conf` is the whole frr.conf (both
    /// daemons read it and ignore the other's lines, with a warning).
    pub fn start(ns: &Netns, dir: &TempDir, conf: &str) -> Frr {
        Frr::start_with(ns, dir, conf, &[])
    }

    /// As [`Frr::start`], with more daemons started after zebra and before
    /// bgpd: `bfdd` (its control socket in FRR's directory), for `neighbor
    /// IF bfd`.
    pub fn start_with(ns: &Netns, dir: &TempDir, conf: &str, others: &[&str]) -> Frr {
        let name = unique("ndbgp-frr");
        let fdir = dir.join(&name);
        std::fs::create_dir_all(&fdir).expect("frr dir");
        // The test's TempDir is root's: frr must be able to reach its own dir.
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        chown_to(&fdir, "frr");
        let conf_path = fdir.join("frr.conf");
        std::fs::write(&conf_path, conf).expect("frr.conf");
        chown_to(&conf_path, "frr");
        let daemon = |prog: &str, extra: &[&str]| frr_daemon(ns, &name, &fdir, prog, extra);

        let mut zebra = daemon("zebra", &[]);
        wait_for("zebra's zserv socket", Duration::from_secs(10), || {
            zebra.assert_running();
            fdir.join("zserv.api").exists().then_some(())
        });
        let bfdctl = fdir.join("bfdd.sock");
        let bfdctl = bfdctl.to_str().expect("utf-8 path");
        let others: Vec<Process> = others
            .iter()
            .map(|prog| match *prog {
                "bfdd" => daemon("bfdd", &["--bfdctl", bfdctl]),
                other => daemon(other, &[]),
            })
            .collect();
        let bgpd = daemon("bgpd", &["-p", "179"]);
        let mut frr = Frr {
            name,
            dir: fdir,
            bgpd,
            others,
            zebra,
        };
        wait_for("bgpd to answer vtysh", Duration::from_secs(10), || {
            frr.assert_running();
            frr.vtysh_json("show bgp summary json").map(|_| ())
        });
        frr
    }

    /// Panics with both logs if zebra or bgpd has exited.
    pub fn assert_running(&mut self) {
        for p in [&mut self.zebra, &mut self.bgpd]
            .into_iter()
            .chain(self.others.iter_mut())
        {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited with {status}:\n{}", p.name, p.log_text());
            }
        }
    }

    /// zebra's and bgpd's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut logs = format!(
            "--- {} log ---\n{}--- {} log ---\n{}",
            self.zebra.name,
            self.zebra.log_text(),
            self.bgpd.name,
            self.bgpd.log_text()
        );
        for p in &self.others {
            logs += &format!("--- {} log ---\n{}", p.name, p.log_text());
        }
        logs
    }

    pub fn bgpd_pid(&self) -> i32 {
        self.bgpd.pid()
    }

    /// Kills bgpd with SIGKILL, as a crash would (no NOTIFICATION, its
    /// connections reset by the kernel), and waits until it is gone.
    pub fn kill_bgpd(&mut self) {
        let _ = self.bgpd.child.kill();
        let _ = self.bgpd.child.wait();
    }

    /// Starts bgpd again after [`Frr::kill_bgpd`], with `conf` as the new
    /// frr.conf, and waits until vtysh can read its state.
    pub fn restart_bgpd(&mut self, ns: &Netns, conf: &str) {
        let conf_path = self.dir.join("frr.conf");
        std::fs::write(&conf_path, conf).expect("frr.conf");
        chown_to(&conf_path, "frr");
        self.bgpd = frr_daemon(ns, &self.name, &self.dir, "bgpd", &["-p", "179"]);
        wait_for("bgpd to answer vtysh again", Duration::from_secs(10), || {
            self.assert_running();
            self.vtysh_json("show bgp summary json").map(|_| ())
        });
    }

    /// One vtysh command's output, None if vtysh failed.
    pub fn vtysh(&self, command: &str) -> Option<String> {
        let out = Command::new(VTYSH)
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", command])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A `... json` command's output parsed; None if it failed or is not JSON.
    pub fn vtysh_json(&self, command: &str) -> Option<Value> {
        serde_json::from_str(&self.vtysh(command)?).ok()
    }

    /// `show bgp neighbors IF json` for the unnumbered neighbour on `ifname`:
    /// bgpState, remoteAs, remoteRouterId, bgpNeighborAddr, hostForeign,
    /// bgpTimerHoldTimeMsecs, connectionsEstablished, messageStats, ...
    pub fn neighbor(&self, ifname: &str) -> Option<Value> {
        let v = self.vtysh_json(&format!("show bgp neighbors {ifname} json"))?;
        v.get(ifname).cloned()
    }

    /// bgpState of the neighbour on `ifname` ("Idle", "Active", "Connect",
    /// "OpenSent", "OpenConfirm", "Established").
    pub fn bgp_state(&self, ifname: &str) -> Option<String> {
        self.neighbor(ifname)?.get("bgpState")?.as_str().map(String::from)
    }
}

/// One FRR daemon of the instance `name` whose files are in `fdir`.
fn frr_daemon(ns: &Netns, name: &str, fdir: &Path, prog: &str, extra: &[&str]) -> Process {
    let s = |p: PathBuf| p.to_str().expect("utf-8 path").to_string();
    let mut cmd = ns.command(&format!("{FRR_DIR}/{prog}"));
    cmd.args(["-N", name, "-f", &s(fdir.join("frr.conf"))])
        .args(["-i", &s(fdir.join(format!("{prog}.pid")))])
        .args(["-z", &s(fdir.join("zserv.api")), "--vty_socket", &s(fdir.to_path_buf())])
        .args(["-u", "frr", "-g", "frr", "--log", "stdout", "--log-level", "debug"])
        .args(extra);
    Process::spawn(
        &format!("frr {prog} ({})", ns.name),
        &mut cmd,
        Some(fdir.join(format!("{prog}.log"))),
    )
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.bgpd.stop();
        for p in &mut self.others {
            p.stop();
        }
        self.zebra.stop();
        // -N makes the daemons create /var/run/frr/NAME (empty when they exit).
        let _ = std::fs::remove_dir(Path::new("/var/run/frr").join(&self.name));
    }
}

/// BIRD 2 in the foreground (`bird -f`) in a namespace; control socket and
/// log in the test's directory.
pub struct Bird {
    pub socket: PathBuf,
    pub process: Process,
}

impl Bird {
    /// Its protocols and the tail of its log, for a failed test.
    pub fn report(&self) -> String {
        format!(
            "\n--- bird: show protocols all ---\n{}\n--- bird log ---\n{}",
            self.birdc("show protocols all").unwrap_or_default(),
            tail(&self.process.log_text(), 60)
        )
    }

    pub fn start(ns: &Netns, dir: &TempDir, tag: &str, conf: &str) -> Bird {
        Bird::start_with(ns, dir, tag, conf, &[])
    }

    /// [`Bird::start`] with more arguments (e.g. `-R`, graceful restart
    /// recovery).
    pub fn start_with(ns: &Netns, dir: &TempDir, tag: &str, conf: &str, extra: &[&str]) -> Bird {
        let conf_path = dir.join(&format!("{tag}.conf"));
        std::fs::write(&conf_path, conf).expect("bird conf");
        let socket = dir.join(&format!("{tag}.ctl"));
        let mut cmd = ns.command(BIRD);
        cmd.arg("-f")
            .arg("-c")
            .arg(&conf_path)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join(&format!("{tag}.pid")))
            .args(extra);
        let process = Process::spawn(
            &format!("bird {tag} ({})", ns.name),
            &mut cmd,
            Some(dir.join(&format!("{tag}.log"))),
        );
        let mut b = Bird { socket, process };
        wait_for("bird's control socket", Duration::from_secs(10), || {
            b.process.assert_running();
            b.birdc("show status").map(|_| ())
        });
        b
    }

    /// One birdc command's output, None if birdc failed.
    pub fn birdc(&self, command: &str) -> Option<String> {
        let out = Command::new(BIRDC)
            .arg("-s")
            .arg(&self.socket)
            .args(command.split_whitespace())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `show protocols` rows as (name, protocol, state, info): for a BGP
    /// protocol state is "up" and info "Established" once up. A dynamic BGP
    /// spawns one protocol per peer, named after the template plus a number.
    pub fn protocols(&self) -> Vec<(String, String, String, String)> {
        let text = self.birdc("show protocols").unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                // Name Proto Table State Since Info...
                if f.len() < 5 || f[0] == "Name" || f[0].starts_with("BIRD") {
                    return None;
                }
                let info = f.get(5..).map(|r| r.join(" ")).unwrap_or_default();
                Some((f[0].into(), f[1].into(), f[3].into(), info))
            })
            .collect()
    }

    /// How many BGP protocols are up and Established.
    pub fn established(&self) -> usize {
        self.protocols()
            .iter()
            .filter(|(_, proto, state, info)| proto == "BGP" && state == "up" && info.starts_with("Established"))
            .count()
    }
}

/// A BIRD 2.0.12 configuration: RAdv on `ifname` (router lifetime non-zero,
/// so RA-driven peers dial us) and a dynamic, passive BGP accepting any
/// link-local neighbour there, IPv4 over extended next hop.
pub fn bird_unnumbered_conf(asn: u32, router_id: &str, ifname: &str) -> String {
    format!(
        r#"router id {router_id};
log stderr all;
protocol device {{ }}
protocol radv {{
  interface "{ifname}" {{ max ra interval 4; min ra interval 3; }};
}}
protocol bgp dyn {{
  local as {asn};
  neighbor range fe80::/10 external;
  interface "{ifname}";
  hold time 9;
  keepalive time 3;
  ipv4 {{ extended next hop on; import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
"#
    )
}

/// GoBGP's gobgpd in a namespace, its API on the namespace's loopback.
pub struct Gobgp {
    pub port: u16,
    ns: String,
    pub process: Process,
}

impl Gobgp {
    /// `conf` is gobgpd's TOML. GoBGP resolves `neighbor-interface` from the
    /// kernel neighbour table once, when it reads the config: the peer must
    /// already be in `ip -6 neigh` on that interface.
    pub fn start(ns: &Netns, dir: &TempDir, tag: &str, conf: &str) -> Gobgp {
        let conf_path = dir.join(&format!("{tag}.toml"));
        std::fs::write(&conf_path, conf).expect("gobgp conf");
        // The API listens on the namespace's own loopback: any port is free.
        let port = 50051;
        let mut cmd = ns.command(GOBGPD);
        cmd.arg("-f")
            .arg(&conf_path)
            .args(["--api-hosts", &format!("127.0.0.1:{port}"), "--log-level", "debug"]);
        let process = Process::spawn(
            &format!("gobgpd {tag} ({})", ns.name),
            &mut cmd,
            Some(dir.join(&format!("{tag}.log"))),
        );
        let mut g = Gobgp {
            port,
            ns: ns.name.clone(),
            process,
        };
        wait_for("gobgpd's API", Duration::from_secs(10), || {
            g.process.assert_running();
            g.gobgp(&["global"]).map(|_| ())
        });
        g
    }

    /// One `gobgp` client command, run in the namespace; None if it failed.
    pub fn gobgp(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, GOBGP, "-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `gobgp neighbor -j`: one object per neighbour (state.session_state is
    /// 6 or "established" once up, depending on the version).
    pub fn neighbors(&self) -> Vec<Value> {
        self.gobgp(&["neighbor", "-j"])
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// How many neighbours are Established.
    pub fn established(&self) -> usize {
        self.neighbors()
            .iter()
            .filter(|n| {
                let s = &n["state"]["session_state"];
                s == 6 || s.as_str().is_some_and(|s| s.eq_ignore_ascii_case("established"))
            })
            .count()
    }
}

/// A GoBGP configuration with one unnumbered neighbour on `ifname`.
pub fn gobgp_unnumbered_conf(asn: u32, router_id: &str, ifname: &str, peer_as: u32) -> String {
    format!(
        r#"[global.config]
  as = {asn}
  router-id = "{router_id}"
  port = 179

[[neighbors]]
  [neighbors.config]
    neighbor-interface = "{ifname}"
    peer-as = {peer_as}
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
"#
    )
}

/// The ExaBGP version scripts/test.sh installs (from PyPI, in a venv).
pub const EXABGP_VERSION: &str = "5.0.15";

/// `NDBGP_EXABGP` if set (scripts/test.sh sets it), else the venv that
/// scripts/test.sh makes under the cache directory.
pub fn exabgp_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("NDBGP_EXABGP") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"));
    cache.join(format!("ndbgp/exabgp-{EXABGP_VERSION}/bin/exabgp"))
}

/// ExaBGP's configuration as a silent server: passive (it never dials),
/// any fe80:: peer in AS 65001, one static IPv4 route. Its own link-local
/// as local-address: without one (auto) 5.0.15 fails on every incoming
/// connection ('NoneType' object has no attribute 'address').
pub fn exabgp_passive_conf(local: Ipv6Addr, asn: u32, prefix: &str) -> String {
    format!(
        "neighbor fe80::/10 {{
    router-id 10.0.0.2;
    local-address {local};
    local-as {asn};
    peer-as 65001;
    passive true;
    family {{
        ipv4 unicast;
    }}
    static {{
        route {prefix} next-hop 10.0.0.2;
    }}
}}
"
    )
}

/// ExaBGP with `conf`, listening on [::]:179 in `ns` (exabgp.tcp.bind), as
/// root, in the foreground, logging to `dir`.
pub fn start_exabgp(ns: &Netns, dir: &TempDir, exabgp: &str, conf: &str) -> Process {
    let path = dir.join("exabgp.conf");
    std::fs::write(&path, conf).expect("exabgp conf");
    let mut cmd = ns.command("env");
    cmd.args([
        "exabgp_tcp_bind=::",
        "exabgp_daemon_drop=false",
        "exabgp_log_level=DEBUG",
        exabgp,
    ])
    .arg(&path)
    .current_dir(&dir.path);
    let mut process = Process::spawn("exabgp", &mut cmd, Some(dir.join("exabgp.log")));
    wait_for("exabgp to listen on port 179", Duration::from_secs(20), || {
        process.assert_running();
        let listening = run(ns.command("ss").args(["-Hltn", "sport = :179"]));
        (!listening.trim().is_empty()).then_some(())
    });
    process
}

/// A leaf and a server namespace joined by eth0, the server's link up
/// first (its RS and DAD happen with nobody listening), and ExaBGP on the
/// server in passive mode (it never dials and sends no RA) as `asn`,
/// announcing `prefix`. Returns the leaf, the server, the server's
/// link-local and ExaBGP.
pub fn passive_exabgp_server(
    tags: (&str, &str),
    dir: &TempDir,
    exabgp: &str,
    asn: u32,
    prefix: &str,
) -> (Netns, Netns, Ipv6Addr, Process) {
    let leaf = Netns::new(tags.0);
    let server = Netns::new(tags.1);
    super::veth(&leaf, "eth0", &server, "eth0");
    server.set_link("eth0", true);
    leaf.set_link("eth0", true);
    let (_, _, server_ll) = super::wait_link_locals_ready(&leaf, &server, "eth0");
    let exa = start_exabgp(&server, dir, exabgp, &exabgp_passive_conf(server_ll, asn, prefix));
    (leaf, server, server_ll, exa)
}
