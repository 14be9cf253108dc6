//! ndbgpd: the daemon. Parses the command line, starts one task per stage
//! and waits for a signal: SIGHUP re-reads the configuration, SIGTERM and
//! SIGINT stop (Cease / Administrative Shutdown to every peer, our routes
//! out of the kernel). With `--graceful-restart`, SIGTERM stops gracefully
//! instead: routes kept, sessions closed without a NOTIFICATION.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};
use tracing_subscriber::filter::{LevelFilter, Targets};

use ndbgp::actor::{self, Supervisor};
use ndbgp::bfd::service::{self as bfd_service, BfdConfig};
use ndbgp::bfd::session::Timers as BfdTimers;
use ndbgp::bfd::socket::{CONTROL_PORT as BFD_PORT, ReceiveSocket as BfdSocket};
use ndbgp::bgp::fsm::graceful::{LocalGracefulRestart, Restarted};
use ndbgp::bgp::fsm::{ConfigError, FsmConfig};
use ndbgp::bgp::manager::{self, BfdLink, BgpConfig, BgpHandle};
use ndbgp::bgp::transport;
use ndbgp::config::{self, Config, Parsed};
use ndbgp::control::{self, DaemonChange};
use ndbgp::fib::{self, FibConfig, FibHandle};
use ndbgp::iface::{HostAddresses, Links};
use ndbgp::monitor::Monitor;
use ndbgp::nd::service::{NdConfig, NdHandle};
use ndbgp::nd::socket::IcmpSocket;
use ndbgp::optimistic_dad::DadSettings;
use ndbgp::peers::{Observation, PeerEvent, PeerKey, PeerTableHandle};
use ndbgp::policy::SharedPolicies;
use ndbgp::rib::task::{self as routes, RoutesConfig, RoutesHandle};
use ndbgp::{links, metrics, nd, peers, preflight, reload, router_id, systemd};

/// The longest the sessions' stop may take: the BGP manager gives them
/// 1.5 s to send their Cease.
const STOP_TIMEOUT: Duration = Duration::from_millis(1800);
/// The longest the routes task may take to remove our routes from the
/// kernel (4.7 s for a million, scripts/bench-routes.sh) before the FIB
/// is asked directly, and the longest that may take: with STOP_TIMEOUT,
/// within the unit's TimeoutStopSec=30s.
const ROUTES_STOP_TIMEOUT: Duration = Duration::from_secs(15);
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each stage may take to answer its liveness probe, and the
/// BGP manager its neighbours for STATUS=.
const PROBE_DEADLINE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    metrics::process::note_start();
    let args: Vec<OsString> = std::env::args_os().collect();
    let config = match config::parse(&args) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Check(config)) => {
            println!("ndbgpd: configuration OK: {}", config.summary());
            for name in preflight::missing_interfaces(&config.interfaces) {
                eprintln!("ndbgpd: warning: {}", preflight::missing_interface_warning(name));
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ndbgpd: error: {e}");
            return ExitCode::from(2);
        }
    };
    let log_level = init_tracing(&config.log_level);
    match preflight::raise_open_files_limit() {
        Ok(Some((now, before))) => info!("open files limit raised from {before} to {now}"),
        Ok(None) => {}
        Err(e) => warn!("cannot raise the open files limit (RLIMIT_NOFILE): {e}; each session needs a socket"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (result, kept) = runtime.block_on(run(*config, args, log_level));
    // Tasks still running are dropped; nothing of ours blocks a thread.
    runtime.shutdown_timeout(Duration::from_millis(100));
    // After a graceful stop the stages' handles go only now: closing them
    // with tasks still running could end sessions some other way.
    drop(kept);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A bad configuration is 2 at start too: systemd does not restart
        // it (RestartPreventExitStatus=2).
        Err(e) if e.downcast_ref::<config::ConfigError>().is_some() => {
            error!("{e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Changes the log level of the running daemon (SIGHUP); None when
/// NDBGPD_LOG decides the filter.
type LogLevel = Option<tracing_subscriber::reload::Handle<Targets, tracing_subscriber::Registry>>;

/// `--log-level` for our own modules, warn for the crates under us.
/// `Targets`, not `EnvFilter`: target=level directives are all we use, and
/// EnvFilter brings a regex engine (~0.4 MB of code, see README "Footprint").
fn level_filter(level: &str) -> Targets {
    let level = level.parse().unwrap_or(LevelFilter::INFO);
    Targets::new()
        .with_target("ndbgp", level)
        .with_target("ndbgpd", level)
        .with_default(LevelFilter::WARN)
}

fn init_tracing(level: &str) -> LogLevel {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let env = std::env::var("NDBGPD_LOG").ok().map(|v| (v.parse::<Targets>(), v));
    let (filter, from_env) = match &env {
        Some((Ok(filter), _)) => (filter.clone(), true),
        _ => (level_filter(level), false),
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    // The journal stamps each line: a second time would only be noise.
    let journal = systemd::stderr_is_journal();
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(!journal && std::io::stderr().is_terminal())
        .with_target(false);
    let output = if journal {
        output.without_time().boxed()
    } else {
        output.boxed()
    };
    tracing_subscriber::registry().with(filter).with(output).init();
    if let Some((Err(e), value)) = env {
        warn!("NDBGPD_LOG={value:?} ignored ({e}): it takes target=level directives; using --log-level");
    }
    (!from_env).then_some(handle)
}

/// The daemon's life; after a graceful stop, with the stages to drop once
/// the runtime is gone.
async fn run(config: Config, args: Vec<OsString>, log_level: LogLevel) -> (anyhow::Result<()>, Option<Stages>) {
    // Before anything else, so that a stop during start-up is orderly too.
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => return (Err(e), None),
    };
    let mut stages = match start(&config).await {
        Ok(stages) => stages,
        Err(e) => return (Err(e), None),
    };
    info!("ndbgpd {} started: {}", env!("CARGO_PKG_VERSION"), config.summary());
    warn_missing_interfaces(&config.interfaces);
    warn_neighbour_table(&config);
    if !config.overridden.is_empty() {
        info!(
            "the command line overrides the config file's {}",
            config.overridden.join(", ")
        );
    }
    let mut running = config;
    let result = supervise(&mut stages, &mut signals, &args, &mut running, &log_level).await;
    let kept = match result {
        Ok(Stop::Graceful) => {
            stop_gracefully();
            Some(stages)
        }
        _ => {
            stop(stages).await;
            None
        }
    };
    let _ = std::fs::remove_file(&running.control_socket);
    (result.map(|_| ()), kept)
}

/// A configured interface the kernel does not have is waited for; a typo
/// would be waited for forever, so say it (at start and at each reload).
fn warn_missing_interfaces(interfaces: &[String]) {
    for name in preflight::missing_interfaces(interfaces) {
        warn!("{}: waiting for it", preflight::missing_interface_warning(name));
    }
}

/// Interfaces x --max-neighbors past the kernel's neighbour table limit
/// (at start and at each reload, as the interfaces change).
fn warn_neighbour_table(config: &Config) {
    if let Some(warning) = preflight::neighbour_table_check(config.interfaces.len(), config.max_neighbors) {
        warn!("{warning}");
    }
}

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// The running stages: their tasks, and the handles the main loop and the
/// orderly stop use.
struct Stages {
    tasks: Supervisor,
    bgp: BgpHandle,
    routes: RoutesHandle,
    /// To remove our routes from the kernel should the routes task be gone.
    fib: FibHandle,
    /// The configured interface names: a reload changes them, the netlink
    /// watcher, the ND service and the BGP manager follow.
    interfaces: watch::Sender<Vec<String>>,
    /// Filters, limits and authentication per interface: a reload changes
    /// them, the routes task and the sessions follow.
    policies: watch::Sender<SharedPolicies>,
    /// Fires once the links watcher has seen the interfaces.
    synced: oneshot::Receiver<()>,
    /// From the control socket: reload, interfaces added or removed.
    daemon_requests: mpsc::Receiver<control::DaemonRequest>,
}

/// Open the sockets, then start one task per stage in the order the data
/// flows, each held by the supervisor.
async fn start(config: &Config) -> anyhow::Result<Stages> {
    let sockets = Sockets::open(config).await?;
    let fsm = fsm_config(config)?;
    let (interfaces, interfaces_rx) = watch::channel(config.interfaces.clone());
    let (policies, policies_rx) = watch::channel(Arc::new(config.policies.clone()));
    // Neighbours seen (by the watcher in the kernel, by the ND task on the
    // wire) go to the peer table, whose events go to the BGP manager.
    let (observations_tx, observations_rx) = mpsc::channel(1024);
    let (events_tx, events_rx) = mpsc::channel(1024);

    let (mut wiring, synced) = Wiring::follow_the_kernel(config, interfaces_rx, policies_rx, observations_tx.clone());
    let peers = wiring.start_peers(observations_rx, events_tx);
    let (fib, routes) = wiring.start_routes()?;
    let fsm = restart_role(config, fsm, &fib, &routes).await;
    let bfd = sockets.bfd.map(|socket| wiring.start_bfd(socket));
    let bgp = wiring.start_bgp(
        fsm,
        sockets.bgp,
        events_rx,
        observations_tx.clone(),
        routes.clone(),
        bfd,
    );
    let nd = wiring.start_nd(sockets.icmp, observations_tx);
    let (daemon, daemon_requests) = mpsc::channel(8);
    let handles = control::Handles {
        peers,
        nd,
        bgp: bgp.clone(),
        routes: routes.clone(),
        daemon,
        clients: Arc::default(),
        monitor: wiring.monitor.clone(),
    };
    if let Some(listener) = sockets.metrics {
        wiring.start_metrics(listener, handles.clone(), fib.clone());
    }
    wiring.start_control(sockets.control, handles);
    Ok(Stages {
        tasks: wiring.tasks,
        bgp,
        routes,
        fib,
        interfaces,
        policies,
        synced,
        daemon_requests,
    })
}

/// The sockets, opened before any task starts: a missing capability or a
/// port in use stops the daemon at once, with nothing to undo.
struct Sockets {
    icmp: IcmpSocket,
    /// Its TCP-MD5 keys and GTSM check are the BGP manager's to set.
    bgp: transport::BgpListener,
    control: UnixListener,
    /// `--metrics`, when given.
    metrics: Option<TcpListener>,
    /// `--bfd`: UDP port 3784.
    bfd: Option<BfdSocket>,
}

impl Sockets {
    async fn open(config: &Config) -> anyhow::Result<Sockets> {
        // Without CAP_NET_ADMIN everything would open and no route install.
        // A missing capability is exit 2, as a bad configuration: a restart
        // cannot give it (RestartPreventExitStatus=2).
        preflight::require_capabilities().map_err(|e| config::ConfigError(e.to_string()))?;
        let icmp = IcmpSocket::open().map_err(|e| refused(&e, preflight::raw_socket_error(&e)))?;
        let bgp = transport::listen(config.port).map_err(|e| refused(&e, preflight::listen_error(config.port, &e)))?;
        let control = control::bind(&config.control_socket)
            .await
            .with_context(|| format!("control socket {}", config.control_socket.display()))?;
        let metrics = match config.metrics {
            Some(addr) => Some(
                metrics::bind(addr)
                    .await
                    .with_context(|| format!("--metrics {addr}: cannot listen"))?,
            ),
            None => None,
        };
        let bfd = match config.bfd {
            Some(_) => Some(
                BfdSocket::bind(BFD_PORT).map_err(|e| anyhow::anyhow!(preflight::bfd_listen_error(BFD_PORT, &e)))?,
            ),
            None => None,
        };
        Ok(Sockets {
            icmp,
            bgp,
            control,
            metrics,
            bfd,
        })
    }
}

/// A socket's error as said: exit 2 when it is a permission the process
/// lacks (no restart gives it), 1 otherwise.
fn refused(e: &std::io::Error, said: String) -> anyhow::Error {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => config::ConfigError(said).into(),
        _ => anyhow::anyhow!(said),
    }
}

/// The sessions' configuration, checked before any task starts.
fn fsm_config(config: &Config) -> Result<FsmConfig, config::ConfigError> {
    let mut fsm = FsmConfig::new(config.asn, config.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED));
    fsm.hold_time = config.hold_time;
    fsm.remote_as = config.remote_as;
    // The helper role is always on: we keep a restarting peer's routes.
    fsm.graceful_restart = Some(LocalGracefulRestart::helper(config.restart_time));
    match fsm.validate() {
        // A derived router ID is never 0.0.0.0; it just may not be known yet.
        Err(ConfigError::RouterIdZero) if config.router_id.is_none() => {}
        other => other.map_err(|e| config::ConfigError(format!("BGP configuration: {e}")))?,
    }
    Ok(fsm)
}

/// Graceful restart, restarting role: what the FIB's start adopted of
/// ours sets R and F in this start's OPENs, until the deferral ends (the
/// routes task ends it at the last End-of-RIB, the FIB at the restart
/// time); the routes task is told whose End-of-RIB to wait for.
async fn restart_role(config: &Config, mut fsm: FsmConfig, fib: &FibHandle, routes: &RoutesHandle) -> FsmConfig {
    if !config.graceful_restart {
        return fsm;
    }
    let adopted = match fib.adopted().await {
        Ok(adopted) => adopted,
        Err(e) => {
            warn!("graceful restart: {e}; starting without adopted routes");
            Default::default()
        }
    };
    let restarted = Restarted::new(adopted.ipv4 > 0, adopted.ipv6 > 0);
    if !adopted.is_empty() {
        let neighbours = adopted
            .neighbours
            .iter()
            .map(|nh| PeerKey {
                ifindex: nh.ifindex,
                addr: nh.via,
            })
            .collect();
        routes.defer_until_end_of_rib(neighbours).await;
        let mut deferring = fib.deferring();
        let flag = restarted.clone();
        tokio::spawn(async move {
            let _ = deferring.wait_for(|on| !on).await;
            flag.end();
            info!("graceful restart: deferral over; OPENs say R=0 from now on");
        });
    }
    fsm.graceful_restart = Some(LocalGracefulRestart {
        restart_time: config.restart_time,
        restarting_role: true,
        restarted,
    });
    fsm
}

/// The supervisor holding the stages started so far, and what they
/// publish for the next ones.
struct Wiring<'a> {
    config: &'a Config,
    tasks: Supervisor,
    /// The configured interface names (a reload changes them).
    interfaces: watch::Receiver<Vec<String>>,
    /// The policies per interface (a reload changes them).
    policies: watch::Receiver<SharedPolicies>,
    /// The configured interfaces, from the links watcher.
    links: watch::Receiver<Links>,
    /// Every link's addresses, from the links watcher.
    addresses: watch::Receiver<HostAddresses>,
    /// From the router ID task.
    router_id: watch::Receiver<Ipv4Addr>,
    /// The events for `ndbgpctl monitor`, from every stage that sees them.
    monitor: Monitor,
}

impl<'a> Wiring<'a> {
    /// The first stages: the links watcher (links, addresses, and the
    /// kernel's neighbours on `observations`) and the router ID task. The
    /// receiver fires once the watcher has seen the interfaces.
    fn follow_the_kernel(
        config: &'a Config,
        interfaces: watch::Receiver<Vec<String>>,
        policies: watch::Receiver<SharedPolicies>,
        observations: mpsc::Sender<Observation>,
    ) -> (Wiring<'a>, oneshot::Receiver<()>) {
        let (links_tx, links) = watch::channel(Links::new());
        let (addresses_tx, addresses) = watch::channel(HostAddresses::default());
        // --router-id, else derived from the addresses once the watcher has
        // dumped them (unspecified until then).
        let (router_id_tx, router_id) = watch::channel(config.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED));
        let (synced_tx, synced) = oneshot::channel();
        let mut tasks = Supervisor::new();
        let (probe, probes) = actor::probe("links watcher");
        tasks.hold(probe.spawn(links::watch_interfaces(
            interfaces.clone(),
            links_tx,
            addresses_tx,
            observations,
            Some(synced_tx),
            Some(DadSettings {
                optimistic: config.optimistic_dad,
                no_dad: config.no_dad,
            }),
            probes,
        )));
        let (probe, probes) = actor::probe("router ID");
        tasks.hold(probe.spawn(router_id::follow(
            config.router_id,
            interfaces.clone(),
            addresses.clone(),
            router_id_tx,
            probes,
        )));
        let wiring = Wiring {
            config,
            tasks,
            interfaces,
            policies,
            links,
            addresses,
            router_id,
            monitor: Monitor::new(),
        };
        (wiring, synced)
    }

    /// The peer table: neighbours seen become the peers BGP dials.
    fn start_peers(
        &mut self,
        observations: mpsc::Receiver<Observation>,
        events: mpsc::Sender<PeerEvent>,
    ) -> PeerTableHandle {
        let config = self.config;
        let (peers, task) = peers::spawn(
            peers::PeerTableConfig {
                ra_interval: config.ra_interval,
                max_per_interface: config.max_neighbors,
                discovery_hold: config.discovery_hold,
                ..peers::PeerTableConfig::default()
            },
            self.links.clone(),
            observations,
            events,
            self.monitor.clone(),
        );
        self.tasks.hold(task);
        peers
    }

    /// The FIB, and the routes task that owns the RIB and feeds it.
    fn start_routes(&mut self) -> anyhow::Result<(FibHandle, RoutesHandle)> {
        let config = self.config;
        let (fib, task) = fib::spawn(FibConfig {
            monitor: self.monitor.clone(),
            adopt_for: config
                .graceful_restart
                .then(|| Duration::from_secs(u64::from(config.restart_time))),
            ..FibConfig::default()
        })
        .map_err(|e| anyhow::anyhow!("cannot open the FIB: {e}"))?;
        self.tasks.hold(task);
        let (routes, task) = routes::spawn(
            RoutesConfig {
                local_asn: config.asn,
                router_id: self.router_id.clone(),
                addresses: self.addresses.clone(),
                max_paths: usize::from(config.max_paths),
                networks: config.networks.clone(),
                redistribute_connected: config.redistribute_connected,
                interfaces: self.interfaces.clone(),
                policies: self.policies.clone(),
                monitor: self.monitor.clone(),
            },
            fib.clone(),
            self.links.clone(),
        );
        self.tasks.hold(task);
        Ok((fib, routes))
    }

    /// The BGP manager and its sessions.
    fn start_bgp(
        &mut self,
        fsm: FsmConfig,
        bgp_listener: transport::BgpListener,
        events_rx: mpsc::Receiver<PeerEvent>,
        observations: mpsc::Sender<Observation>,
        routes: RoutesHandle,
        bfd: Option<BfdLink>,
    ) -> BgpHandle {
        let config = self.config;
        let (bgp, task) = manager::spawn(
            BgpConfig {
                fsm,
                router_id: self.router_id.clone(),
                dialer: Arc::new(transport::TcpDialer {
                    port: config.port,
                    policies: self.policies.clone(),
                    links: self.links.clone(),
                }),
                routes,
                monitor: self.monitor.clone(),
                interfaces: self.interfaces.clone(),
                policies: self.policies.clone(),
                bfd,
                teardown_on_loss: config.teardown_on_loss,
            },
            bgp_listener,
            self.links.clone(),
            events_rx,
            observations,
        );
        self.tasks.hold(task);
        bgp
    }

    /// The BFD task (`--bfd`), whose sessions the BGP manager adds and
    /// removes with its own and whose events it follows.
    fn start_bfd(&mut self, socket: BfdSocket) -> BfdLink {
        let settings = self.config.bfd.unwrap_or(config::BfdSettings {
            interval: Duration::from_millis(config::DEFAULT_BFD_INTERVAL_MS),
            multiplier: config::DEFAULT_BFD_MULTIPLIER,
        });
        let (events_tx, events) = mpsc::unbounded_channel();
        let (handle, task) = bfd_service::spawn(BfdConfig::default(), socket, events_tx);
        self.tasks.hold(task);
        BfdLink {
            handle,
            timers: BfdTimers::symmetric(settings.interval, settings.multiplier),
            events,
        }
    }

    /// The ND task: RAs out, neighbours seen on the wire to `observations`.
    fn start_nd(&mut self, socket: IcmpSocket, observations: mpsc::Sender<Observation>) -> NdHandle {
        let config = self.config;
        let (nd, task) = nd::service::spawn(
            NdConfig {
                interfaces: self.interfaces.clone(),
                ra_interval: config.ra_interval,
                ra_lifetime: config.ra_lifetime,
                probe_interval: config.probe_interval,
            },
            socket,
            self.links.clone(),
            observations,
        );
        self.tasks.hold(task);
        nd
    }

    /// The metrics endpoint, answering from the stages' handles.
    fn start_metrics(&mut self, listener: TcpListener, handles: control::Handles, fib: FibHandle) {
        let (probe, probes) = actor::probe("metrics server");
        let sources = metrics::Sources { handles, fib };
        self.tasks.hold(probe.spawn(metrics::serve(listener, sources, probes)));
    }

    /// The control server, answering from the stages' handles.
    fn start_control(&mut self, listener: UnixListener, handles: control::Handles) {
        let (probe, probes) = actor::probe("control server");
        self.tasks.hold(probe.spawn(control::serve(listener, handles, probes)));
    }
}

/// How the daemon stops.
enum Stop {
    /// Cease to every peer, our routes out of the kernel.
    Clean,
    /// Graceful restart: routes kept, sessions closed without NOTIFICATION.
    Graceful,
}

/// Serve the signals and watch the stages until it is time to stop: Ok on
/// SIGTERM (graceful with `--graceful-restart`) or SIGINT (always clean),
/// an error once a stage's task has ended (it never should), so that
/// systemd restarts the daemon.
async fn supervise(
    stages: &mut Stages,
    signals: &mut Signals,
    args: &[OsString],
    running: &mut Config,
    log_level: &LogLevel,
) -> anyhow::Result<Stop> {
    let mut ready = false;
    let mut ticks = tokio::time::interval(systemd::tick_interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status = String::new();
    // `ndbgpctl interface add/remove`, applied over every reload's file.
    let mut overlay = reload::InterfaceOverlay::default();
    loop {
        tokio::select! {
            _ = signals.term.recv() => {
                if running.graceful_restart {
                    info!("SIGTERM: stopping gracefully (--graceful-restart; SIGINT stops cleanly)");
                    return Ok(Stop::Graceful);
                }
                info!("SIGTERM: stopping");
                return Ok(Stop::Clean);
            }
            _ = signals.int.recv() => { info!("SIGINT: stopping"); return Ok(Stop::Clean) }
            _ = signals.hup.recv() => {
                info!("SIGHUP: reloading");
                let _ = reload(args, running, stages, log_level, &overlay);
            }
            Some(asked) = stages.daemon_requests.recv() => {
                let answer = match asked.change {
                    DaemonChange::Reload => {
                        info!("ndbgpctl reload: reloading");
                        reload(args, running, stages, log_level, &overlay)
                    }
                    DaemonChange::InterfaceAdd(interface) => {
                        change_interface(running, &mut overlay, stages, &interface, true)
                    }
                    DaemonChange::InterfaceRemove(interface) => {
                        change_interface(running, &mut overlay, stages, &interface, false)
                    }
                };
                let _ = asked.done.send(answer);
            }
            // READY=1 once the sockets are open and the interfaces watched.
            synced_now = &mut stages.synced, if !ready => {
                ready = true;
                if synced_now.is_ok() {
                    status = systemd::status_within(PROBE_DEADLINE, stages.bgp.neighbors())
                        .await
                        .unwrap_or_else(|why| why);
                    systemd::ready(&status);
                    info!("ready");
                }
            }
            _ = ticks.tick(), if ready => {
                if systemd::watchdog_if_alive(&stages.tasks, PROBE_DEADLINE).await {
                    refresh_status(&stages.bgp, &mut status).await;
                }
            }
            (name, ended) = stages.tasks.ended() => {
                let why = format!("the {name} task {ended}");
                error!("{why}; stopping");
                // Those that ended with it (their inputs closed), without
                // waiting: the cause may be among them.
                for (name, ended) in stages.tasks.finished() {
                    error!("the {name} task {ended} too");
                }
                return Err(anyhow::Error::msg(why));
            }
        }
    }
}

/// STATUS= when the sessions changed.
async fn refresh_status(bgp: &BgpHandle, status: &mut String) {
    if let Ok(now) = systemd::status_within(PROBE_DEADLINE, bgp.neighbors()).await
        && now != *status
    {
        systemd::status(&now);
        *status = now;
    }
}

/// The orderly stop, as far as the stages still run: Cease to every peer,
/// then our routes out of the kernel.
async fn stop(stages: Stages) {
    systemd::stopping();
    // RFC 9003: tell every peer why, so its operator sees it.
    let message = Some("ndbgpd shutting down".to_string());
    match tokio::time::timeout(STOP_TIMEOUT, stages.bgp.shutdown(message)).await {
        Ok(Ok(())) => info!("BGP sessions stopped"),
        Ok(Err(e)) => warn!("BGP sessions not stopped: {e}"),
        Err(_) => warn!("BGP sessions did not all stop within {STOP_TIMEOUT:?}"),
    }
    // Our routes would blackhole traffic once we are gone, and a later
    // start with --graceful-restart would take leftovers for a graceful
    // stop's: a routes task that is gone or too slow (its queue full of a
    // table) leaves the flush to the FIB itself.
    let by_routes = tokio::time::timeout(ROUTES_STOP_TIMEOUT, stages.routes.shutdown()).await;
    let why = match by_routes {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("the routes task did not stop within {ROUTES_STOP_TIMEOUT:?}"),
    };
    warn!("{why}: removing our routes from the kernel without it");
    match tokio::time::timeout(FLUSH_TIMEOUT, stages.fib.flush()).await {
        Ok(Ok(report)) => info!("removed our routes from the kernel ({} deleted)", report.deleted),
        Ok(Err(e)) => warn!("removing our routes from the kernel failed: {e}"),
        Err(_) => warn!("removing our routes did not finish within {FLUSH_TIMEOUT:?}; the next start removes the rest"),
    }
}

/// The graceful stop (SIGTERM with `--graceful-restart`): our routes stay
/// in the kernel, and the sessions end when the process exits and the
/// kernel closes their connections, with no NOTIFICATION: every graceful
/// restart helper keeps our routes through that (RFC 4724 4.2), for the
/// restart time our OPEN gave. The next start adopts the routes.
fn stop_gracefully() {
    systemd::stopping();
    info!("graceful stop: our routes stay in the kernel; peers keep ours while we restart");
}

/// SIGHUP or `ndbgpctl reload`: re-read the command line and the config
/// file. Interfaces added or removed, the policies and the log level take
/// effect; other changes are logged as needing a restart; a bad file is
/// logged and the running configuration kept. Returns what was done, or
/// the error, in a line for `ndbgpctl reload`. Interfaces added or removed
/// with `ndbgpctl interface` stay so (`overlay`).
fn reload(
    args: &[OsString],
    running: &mut Config,
    stages: &Stages,
    log_level: &LogLevel,
    overlay: &reload::InterfaceOverlay,
) -> Result<String, String> {
    systemd::reloading();
    let file = running
        .config_file
        .as_ref()
        .map_or_else(|| "no config file".to_string(), |f| f.display().to_string());
    info!("reload: reading {file}");
    let mut done = Vec::new();
    let result = match config::parse(args) {
        // The file was checked to name an interface; what `interface
        // remove` took away may leave none.
        Ok(Parsed::Run(new)) if overlay.apply(&new.interfaces).is_empty() => {
            let removed = overlay.describe().unwrap_or_default();
            let why = format!("no interface would be left ({removed}); keeping the running configuration");
            error!("reload: {why}");
            Err(why)
        }
        Ok(Parsed::Run(mut new)) => {
            new.interfaces = overlay.apply(&new.interfaces);
            let kept = overlay.describe().map(|kept| format!(" (interfaces {kept}: kept)"));
            if let Some(kept) = &kept {
                info!("reload: the file's interface list{kept}");
            }
            warn_missing_interfaces(&new.interfaces);
            warn_neighbour_table(&new);
            let plan = reload::Plan::new(running, &new);
            if !plan.needs_restart.is_empty() {
                warn!("reload: needs a restart: {}", plan.needs_restart.join(", "));
                done.push(format!("needs a restart: {}", plan.needs_restart.join(", ")));
            }
            if !new.overridden.is_empty() {
                info!(
                    "reload: the command line overrides the config file's {}",
                    new.overridden.join(", ")
                );
            }
            if let Some(level) = &plan.log_level {
                done.push(format!("log level {level}"));
                match log_level {
                    Some(handle) => {
                        // Said at info under whichever level shows it (the
                        // old one before the switch, or the new one after),
                        // at warn between warn and error.
                        let said = format!("reload: log level {} -> {level}", running.log_level);
                        let quiet = |l: &str| matches!(l, "error" | "warn");
                        let before = quiet(level) && (!quiet(&running.log_level) || running.log_level == "warn");
                        if before {
                            if quiet(&running.log_level) {
                                warn!("{said}");
                            } else {
                                info!("{said}");
                            }
                        }
                        match handle.reload(level_filter(level)) {
                            Ok(()) if before => {}
                            Ok(()) if quiet(level) => warn!("{said}"),
                            Ok(()) => info!("{said}"),
                            Err(e) => warn!("reload: cannot change the log level: {e}"),
                        }
                    }
                    None => info!("reload: log level {level} ignored: NDBGPD_LOG sets the filter"),
                }
            }
            if plan.changes_interfaces() {
                if !plan.added.is_empty() {
                    info!("reload: interfaces added: {}", plan.added.join(" "));
                    done.push(format!("interfaces added: {}", plan.added.join(" ")));
                }
                if !plan.removed.is_empty() {
                    info!("reload: interfaces removed: {}", plan.removed.join(" "));
                    done.push(format!("interfaces removed: {}", plan.removed.join(" ")));
                }
                stages.interfaces.send_replace(new.interfaces.clone());
            } else {
                info!("reload: interfaces unchanged");
            }
            if plan.policies_changed {
                info!("reload: filters, limits or authentication changed; applied without resetting sessions");
                done.push("filters, limits or authentication applied".to_string());
                stages.policies.send_replace(Arc::new(new.policies.clone()));
            }
            if let Some(on) = plan.teardown_on_loss {
                info!("reload: teardown-on-loss {}", if on { "on" } else { "off" });
                done.push(format!("teardown-on-loss {}", if on { "on" } else { "off" }));
                let bgp = stages.bgp.clone();
                tokio::spawn(async move { bgp.set_teardown_on_loss(on).await });
            }
            reload::apply(running, &new);
            // Any applied reload lets neighbours closed for --max-prefix come
            // back (README, "Limits"). Not awaited: this loop serves signals.
            let bgp = stages.bgp.clone();
            tokio::spawn(async move { bgp.clear_max_prefix_holds().await });
            let kept = kept.unwrap_or_default();
            match done.is_empty() {
                true => Ok(format!("reloaded {file}: nothing changed{kept}")),
                false => Ok(format!("reloaded {file}: {}{kept}", done.join("; "))),
            }
        }
        Ok(_) => {
            warn!("reload: the command line asks for no daemon; ignored");
            Err("the command line asks for no daemon; ignored".to_string())
        }
        Err(e) => {
            error!("reload: {e}; keeping the running configuration");
            Err(format!("{e}; keeping the running configuration"))
        }
    };
    systemd::reloaded();
    result
}

/// `ndbgpctl interface add` (`add`) or `remove`: what a reload of the file
/// with that change would do, through the same plan and interface watch
/// (the links watcher, ND task, BGP manager and routes task follow). Kept
/// in `overlay` over later reloads; not written to the file, lost at
/// restart. A name the kernel does not have is added all the same (used
/// once it appears), with a warning, as in the config file.
fn change_interface(
    running: &mut Config,
    overlay: &mut reload::InterfaceOverlay,
    stages: &Stages,
    name: &str,
    add: bool,
) -> Result<String, String> {
    ndbgp::api::valid_interface_name(name).map_err(|e| format!("{name:?}: {e}"))?;
    let edit = match add {
        true => overlay.add(&running.interfaces, name),
        false => overlay.remove(&running.interfaces, name)?,
    };
    let mut new = running.clone();
    new.interfaces = match edit {
        reload::InterfaceEdit::Unchanged(message) => return Ok(message),
        reload::InterfaceEdit::Changed(interfaces) => interfaces,
    };
    let plan = reload::Plan::new(running, &new);
    if !plan.added.is_empty() {
        info!("ndbgpctl: interfaces added: {}", plan.added.join(" "));
    }
    if !plan.removed.is_empty() {
        info!("ndbgpctl: interfaces removed: {}", plan.removed.join(" "));
    }
    stages.interfaces.send_replace(new.interfaces.clone());
    reload::apply(running, &new);
    let mut message = match add {
        true => format!("interface {name} added"),
        false => format!("interface {name} removed, its sessions end (Cease)"),
    };
    message.push_str(" (not written to the config file: lost at restart)");
    if add && nix::net::if_::if_nametoindex(name).is_err() {
        warn!("interface {name} does not exist (yet): used once it appears");
        message.push_str(&format!(
            "; warning: no interface {name} in the kernel now, used once it appears"
        ));
    }
    Ok(message)
}
