//! The lab harness: network namespaces, veth links, daemons, polling.
//!
//! Everything a test creates is owned by a guard that removes it on drop,
//! even when the test panics: processes are killed by pid, namespaces deleted.
#![allow(dead_code)]

use std::fs::File;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ndbgp::api::{InterfaceEntry, NeighborView, PeerEntryView, RouteEntry};
use ndbgp::fib::RTPROT_NDBGP;
use serde::de::DeserializeOwned;
use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call: `prefix-pid-n`, short
/// enough for interface-name-like uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id() % 100000)
}

/// True when lab tests can run. Outside CI a non-root run skips with a
/// message; in CI (CI=true) it fails: a lab test never skips silently there.
pub fn lab_enabled(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let have_ip = Command::new("ip").arg("-V").output().is_ok_and(|o| o.status.success());
    if root && have_ip {
        return true;
    }
    let why = if !root { "needs root" } else { "needs iproute2" };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: lab test {why}, and CI=true forbids skipping");
    }
    eprintln!("SKIPPED {test}: lab test {why}");
    false
}

/// Fail (in CI) or skip when a tool a test needs is missing.
pub fn have_tool(test: &str, path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {path} is missing (scripts/test.sh installs it)");
    }
    eprintln!("SKIPPED {test}: {path} is missing (run scripts/test.sh to install it)");
    false
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(args: &[&str]) -> String {
    run(Command::new("ip").args(args))
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    pub fn set_link(&self, ifname: &str, up: bool) {
        self.ip(&["link", "set", ifname, if up { "up" } else { "down" }]);
    }

    /// The interface's link-local address and whether it is still tentative.
    pub fn link_local(&self, ifname: &str) -> Option<(Ipv6Addr, bool)> {
        let out = self.ip(&["-j", "-6", "addr", "show", "dev", ifname, "scope", "link"]);
        let v: Value = serde_json::from_str(&out).ok()?;
        let info = v.get(0)?.get("addr_info")?.as_array()?;
        info.iter().find_map(|a| {
            let addr: Ipv6Addr = a.get("local")?.as_str()?.parse().ok()?;
            let tentative = a.get("tentative").and_then(Value::as_bool).unwrap_or(false);
            Some((addr, tentative))
        })
    }

    pub fn ifindex(&self, ifname: &str) -> u32 {
        let out = self.ip(&["-j", "link", "show", "dev", ifname]);
        let v: Value = serde_json::from_str(&out).expect("ip -j link");
        v[0]["ifindex"].as_u64().expect("ifindex") as u32
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A veth pair from `a:a_if` to `b:b_if` (down).
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    a.ip(&[
        "link", "add", "name", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name,
    ]);
}

/// A scratch directory, removed on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("ndbgp-{prefix}-")));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A process we started, killed by pid on drop (SIGTERM, then SIGKILL).
pub struct Process {
    pub name: String,
    pub child: Child,
    pub log: Option<PathBuf>,
}

impl Process {
    pub fn spawn(name: &str, cmd: &mut Command, log: Option<PathBuf>) -> Process {
        if let Some(path) = &log {
            let file = File::create(path).expect("log file");
            let err = file.try_clone().expect("log file");
            cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process {
            name: name.into(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.name, self.log_text());
        }
    }

    pub fn stop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn ndbgpd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ndbgpd")
}

pub fn ndbgpctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ndbgpctl")
}

/// An ndbgpd in a namespace with its control socket and log in `dir`.
pub struct Ndbgpd {
    pub process: Process,
    pub socket: PathBuf,
}

impl Ndbgpd {
    /// Its `neighbors` view and the tail of its log, for a failed test.
    pub fn report(&self) -> String {
        let view = self
            .try_ctl_json(&["neighbors"])
            .unwrap_or_else(|| "(ndbgpctl neighbors --json failed)".into());
        format!(
            "\n--- {}: neighbors = {view}\n--- {} log (tail) ---\n{}\n",
            self.process.name,
            self.process.name,
            tail(&self.process.log_text(), 150)
        )
    }

    pub fn start(ns: &Netns, dir: &TempDir, tag: &str, args: &[&str]) -> Ndbgpd {
        Ndbgpd::start_wrapped(ns, dir, tag, &[], args)
    }

    /// Start it through `wrapper` (a program and its arguments, e.g.
    /// setpriv), which runs ndbgpd with the arguments that follow.
    pub fn start_wrapped(ns: &Netns, dir: &TempDir, tag: &str, wrapper: &[&str], args: &[&str]) -> Ndbgpd {
        let mut all = vec!["--log-level", "debug"];
        all.extend_from_slice(args);
        Ndbgpd::start_exactly(ns, dir, tag, wrapper, &all)
    }

    /// Start it with only `args` after the control socket (no log level:
    /// the config file's, or the default, applies).
    pub fn start_exactly(ns: &Netns, dir: &TempDir, tag: &str, wrapper: &[&str], args: &[&str]) -> Ndbgpd {
        let socket = dir.join(&format!("{tag}.sock"));
        let mut cmd = match wrapper.split_first() {
            None => ns.command(ndbgpd_bin()),
            Some((program, rest)) => {
                let mut cmd = ns.command(program);
                cmd.args(rest).arg(ndbgpd_bin());
                cmd
            }
        };
        cmd.args(["--control-socket", socket.to_str().expect("utf-8 path")]);
        cmd.args(args);
        let process = Process::spawn(
            &format!("ndbgpd {tag}"),
            &mut cmd,
            Some(dir.join(&format!("{tag}.log"))),
        );
        let mut d = Ndbgpd { process, socket };
        wait_for(&format!("ndbgpd {tag} control socket"), Duration::from_secs(10), || {
            d.process.assert_running();
            d.try_interfaces().map(|_| ())
        });
        d
    }

    /// What `ndbgpctl ARGS --json` printed; None when it failed (the
    /// daemon not up yet, or gone).
    pub fn try_ctl_json(&self, args: &[&str]) -> Option<String> {
        let out = Command::new(ndbgpctl_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .arg("--json")
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `ndbgpctl ARGS --json` read as the API type `T`; None when ndbgpctl
    /// failed. JSON that is not a `T` is a bug, not a "not yet": it panics.
    pub fn try_ctl<T: DeserializeOwned>(&self, args: &[&str]) -> Option<T> {
        let json = self.try_ctl_json(args)?;
        Some(serde_json::from_str(&json).unwrap_or_else(|e| panic!("ndbgpctl {args:?} --json: {e}:\n{json}")))
    }

    pub fn ctl<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        self.try_ctl(args)
            .unwrap_or_else(|| panic!("ndbgpctl {args:?} failed; log:\n{}", self.process.log_text()))
    }

    /// The BGP sessions (`ndbgpctl neighbors`).
    pub fn try_neighbors(&self) -> Option<Vec<NeighborView>> {
        self.try_ctl(&["neighbors"])
    }

    pub fn neighbors(&self) -> Vec<NeighborView> {
        self.ctl(&["neighbors"])
    }

    /// The peer table (`ndbgpctl discovery`).
    pub fn discovery(&self) -> Vec<PeerEntryView> {
        self.ctl(&["discovery"])
    }

    /// The configured interfaces (`ndbgpctl interfaces`).
    pub fn try_interfaces(&self) -> Option<Vec<InterfaceEntry>> {
        self.try_ctl(&["interfaces"])
    }

    pub fn interfaces(&self) -> Vec<InterfaceEntry> {
        self.ctl(&["interfaces"])
    }

    /// The RIB with what is in the kernel (`ndbgpctl routes [PREFIX]`).
    pub fn routes(&self, within: Option<&str>) -> Vec<RouteEntry> {
        match within {
            Some(prefix) => self.ctl(&["routes", prefix]),
            None => self.ctl(&["routes"]),
        }
    }

    pub fn find_neighbour(&self, ifname: &str, addr: Ipv6Addr) -> Option<PeerEntryView> {
        self.discovery()
            .into_iter()
            .find(|e| e.interface == ifname && e.address == addr)
    }

    /// `ndbgpctl ARGS` as an operator sees it (the table, not JSON).
    pub fn ctl_text(&self, args: &[&str]) -> String {
        run(Command::new(ndbgpctl_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args))
    }
}

/// Poll `check` every 5 ms until it gives a value or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    wait_or_dump(what, timeout, &String::new, check)
}

/// Like `wait_for`, but a timeout's panic message carries `dump()`: the
/// daemons' views and logs.
pub fn wait_or_dump<T>(
    what: &str,
    timeout: Duration,
    dump: &dyn Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", dump());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The last `lines` lines of a log.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Both ends up and their link-locals out of DAD; returns the moment that
/// was first seen and the two link-locals.
pub fn wait_link_locals_ready_on(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> (Instant, Ipv6Addr, Ipv6Addr) {
    wait_for(
        "both link-locals to leave tentative",
        Duration::from_secs(10),
        || match (a.link_local(a_if), b.link_local(b_if)) {
            (Some((la, false)), Some((lb, false))) => Some((Instant::now(), la, lb)),
            _ => None,
        },
    )
}

/// `wait_link_locals_ready_on` for a link whose ends have the same name.
pub fn wait_link_locals_ready(a: &Netns, b: &Netns, ifname: &str) -> (Instant, Ipv6Addr, Ipv6Addr) {
    wait_link_locals_ready_on(a, ifname, b, ifname)
}

pub mod peers;

/// The protocol of ndbgpd's kernel routes, as `ip route show proto` takes it.
pub fn ndbgp_proto() -> String {
    RTPROT_NDBGP.to_string()
}
