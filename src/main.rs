//! ndbgpd: the daemon. Parses the command line, starts one task per stage
//! and waits for a signal: SIGHUP re-reads the configuration, SIGTERM and
//! SIGINT stop (Cease / Administrative Shutdown to every peer).

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use ndbgp::bgp::fsm::FsmConfig;
use ndbgp::bgp::manager::{self, BgpConfig};
use ndbgp::bgp::transport;
use ndbgp::config::{self, Config, Parsed};
use ndbgp::control;
use ndbgp::fib::{self, FibConfig};
use ndbgp::iface::Links;
use ndbgp::nd::service::NdConfig;
use ndbgp::nd::socket::IcmpSocket;
use ndbgp::rib::task::{self as routes, RoutesConfig};
use ndbgp::{links, nd, peers, reload, router_id, systemd};

/// The longest the sessions' stop may take: the BGP manager gives them
/// 1.5 s to send their Cease.
const STOP_TIMEOUT: Duration = Duration::from_millis(1800);
/// The longest removing our routes from the kernel may take: 4.7 s for a
/// million (scripts/bench-routes.sh); within the unit's TimeoutStopSec=30s.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(25);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let config = match config::parse(&args) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Check(config)) => {
            println!("ndbgpd: configuration OK: {}", config.summary());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ndbgpd: error: {e}");
            return ExitCode::from(2);
        }
    };
    let log_level = init_tracing(&config.log_level);
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
    let result = runtime.block_on(run(*config, args, log_level));
    // Tasks still running are dropped; nothing of ours blocks a thread.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Changes the log level of the running daemon (SIGHUP); None when
/// NDBGPD_LOG decides the filter.
type LogLevel = Option<tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>>;

fn level_filter(level: &str) -> EnvFilter {
    EnvFilter::new(format!("ndbgp={level},ndbgpd={level},warn"))
}

fn init_tracing(level: &str) -> LogLevel {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let (filter, from_env) = match EnvFilter::try_from_env("NDBGPD_LOG") {
        Ok(filter) => (filter, true),
        Err(_) => (level_filter(level), false),
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    tracing_subscriber::registry().with(filter).with(output).init();
    (!from_env).then_some(handle)
}

async fn run(config: Config, args: Vec<OsString>, log_level: LogLevel) -> anyhow::Result<()> {
    // Before anything else, so that a stop during start-up is orderly too.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let socket = IcmpSocket::open().context("cannot open the raw ICMPv6 socket (needs CAP_NET_RAW)")?;
    let bgp_listener =
        transport::listen(config.port).with_context(|| format!("cannot listen on [::]:{}", config.port))?;
    let listener = control::bind(&config.control_socket)
        .await
        .with_context(|| format!("control socket {}", config.control_socket.display()))?;
    // Unspecified until an interface appears, when none has an address or MAC yet.
    let router_id = choose_router_id(&config).unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let mut fsm = FsmConfig::new(config.asn, router_id);
    fsm.hold_time = config.hold_time;
    fsm.remote_as = config.remote_as;
    if !router_id.is_unspecified() {
        fsm.validate().context("BGP configuration")?;
    }

    let (links_tx, links_rx) = watch::channel(Links::new());
    let (observations_tx, observations_rx) = mpsc::channel(1024);
    let (events_tx, events_rx) = mpsc::channel(1024);
    // The configured interface names: a reload changes them, the netlink
    // watcher, the ND service and the BGP manager follow.
    let (interfaces_tx, interfaces_rx) = watch::channel(config.interfaces.clone());
    let (synced_tx, mut synced) = oneshot::channel();

    let mut netlink = tokio::spawn(links::watch_interfaces(
        interfaces_rx.clone(),
        links_tx,
        observations_tx.clone(),
        Some(synced_tx),
    ));
    let peers = peers::spawn(
        peers::PeerTableConfig {
            ra_interval: config.ra_interval,
            max_per_interface: config.max_neighbors,
            discovery_hold: config.discovery_hold,
            ..peers::PeerTableConfig::default()
        },
        links_rx.clone(),
        observations_rx,
        events_tx,
    );
    let fib = fib::spawn(FibConfig::default()).map_err(|e| anyhow::anyhow!("cannot open the FIB: {e}"))?;
    let routes = routes::spawn(
        RoutesConfig {
            local_asn: config.asn,
            router_id,
            max_paths: usize::from(config.max_paths),
            networks: config.networks.clone(),
            redistribute_connected: config.redistribute_connected,
            interfaces: interfaces_rx.clone(),
        },
        fib,
        links_rx.clone(),
    );
    let bgp = manager::spawn(
        BgpConfig {
            fsm,
            dialer: Arc::new(transport::TcpDialer { port: config.port }),
            routes: routes.clone(),
            interfaces: interfaces_rx.clone(),
        },
        bgp_listener,
        links_rx.clone(),
        events_rx,
        peers.clone(),
    );
    let nd = nd::service::spawn(
        NdConfig {
            interfaces: interfaces_rx,
            ra_interval: config.ra_interval,
            ra_lifetime: config.ra_lifetime,
        },
        socket,
        links_rx,
        observations_tx,
    );
    tokio::spawn(control::serve(
        listener,
        control::Handles {
            peers,
            nd,
            bgp: bgp.clone(),
            routes: routes.clone(),
        },
    ));
    info!("ndbgpd {} started: {}", env!("CARGO_PKG_VERSION"), config.summary());
    if !config.overridden.is_empty() {
        info!(
            "the command line overrides the config file's {}",
            config.overridden.join(", ")
        );
    }

    let mut running = config;
    let mut ready = false;
    let mut ticks = tokio::time::interval(systemd::tick_interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut status = String::new();
    let result = loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: stopping"); break Ok(()) }
            _ = int.recv() => { info!("SIGINT: stopping"); break Ok(()) }
            _ = hup.recv() => reload(&args, &mut running, &interfaces_tx, &log_level),
            // READY=1 once the sockets are open and the interfaces watched.
            synced_now = &mut synced, if !ready => {
                ready = true;
                if synced_now.is_ok() {
                    status = systemd::status_line(&bgp.neighbors().await);
                    systemd::ready(&status);
                    info!("ready");
                }
            }
            _ = ticks.tick(), if ready => {
                // The watchdog is fed only while the BGP manager answers.
                if let Ok(neighbors) = tokio::time::timeout(Duration::from_secs(1), bgp.neighbors()).await {
                    systemd::watchdog();
                    let now = systemd::status_line(&neighbors);
                    if now != status {
                        systemd::status(&now);
                        status = now;
                    }
                }
            }
            ended = &mut netlink => break match ended {
                Ok(Ok(())) => Err(anyhow::anyhow!("netlink watcher ended")),
                Ok(Err(e)) => Err(e.context("netlink watcher failed")),
                Err(e) => Err(anyhow::anyhow!("netlink watcher panicked: {e}")),
            },
        }
    };
    systemd::stopping();
    // RFC 9003: tell every peer why, so its operator sees it.
    let message = Some("ndbgpd shutting down".to_string());
    match tokio::time::timeout(STOP_TIMEOUT, bgp.shutdown(message)).await {
        Ok(()) => info!("BGP sessions stopped"),
        Err(_) => warn!("BGP sessions did not all stop within {STOP_TIMEOUT:?}"),
    }
    // Our routes would blackhole traffic once we are gone.
    if tokio::time::timeout(FLUSH_TIMEOUT, routes.shutdown()).await.is_err() {
        warn!("removing our routes did not finish within {FLUSH_TIMEOUT:?}; the next start removes the rest");
    }
    let _ = std::fs::remove_file(&running.control_socket);
    result
}

/// SIGHUP: re-read the command line and the config file. Interfaces added
/// or removed and the log level take effect; other changes are logged as
/// needing a restart; a bad file is logged and the running configuration
/// kept.
fn reload(args: &[OsString], running: &mut Config, interfaces: &watch::Sender<Vec<String>>, log_level: &LogLevel) {
    systemd::reloading();
    let file = running
        .config_file
        .as_ref()
        .map_or_else(|| "no config file".to_string(), |f| f.display().to_string());
    info!("SIGHUP: reloading ({file})");
    match config::parse(args) {
        Ok(Parsed::Run(new)) => {
            let plan = reload::Plan::new(running, &new);
            if !plan.needs_restart.is_empty() {
                warn!("reload: needs a restart: {}", plan.needs_restart.join(", "));
            }
            if !new.overridden.is_empty() {
                info!(
                    "reload: the command line overrides the config file's {}",
                    new.overridden.join(", ")
                );
            }
            if let Some(level) = &plan.log_level {
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
                }
                if !plan.removed.is_empty() {
                    info!("reload: interfaces removed: {}", plan.removed.join(" "));
                }
                interfaces.send_replace(new.interfaces.clone());
            } else {
                info!("reload: interfaces unchanged");
            }
            reload::apply(running, &new);
        }
        Ok(_) => warn!("reload: the command line asks for no daemon; ignored"),
        Err(e) => error!("reload: {e}; keeping the running configuration"),
    }
    systemd::reloaded();
}

/// --router-id, else derived (see `router_id::choose`); logged either way.
/// None when nothing to derive it from exists yet: the BGP manager then
/// derives it from the first configured interface's MAC when it appears.
fn choose_router_id(config: &Config) -> Option<std::net::Ipv4Addr> {
    let first = config.interfaces.first().map(String::as_str).unwrap_or_default();
    let (addrs, mac) = router_id::system_addresses(first);
    let Some((id, origin)) = router_id::choose(config.router_id, &addrs, mac) else {
        info!("router ID: no IPv4 address here and {first} has no MAC yet; waiting for a configured interface");
        return None;
    };
    info!("router ID {id} ({})", origin.describe(first));
    Some(id)
}
