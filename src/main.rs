//! ndbgpd: the daemon. Parses the command line, starts one task per stage
//! and waits for a signal.

use std::process::ExitCode;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use ndbgp::bgp::fsm::FsmConfig;
use ndbgp::bgp::manager::{self, BgpConfig};
use ndbgp::bgp::{router_id, transport};
use ndbgp::config::{self, Config, Parsed};
use ndbgp::control;
use ndbgp::iface::Links;
use ndbgp::nd::service::NdConfig;
use ndbgp::nd::socket::IcmpSocket;
use ndbgp::{nd, netlink, peers};

fn main() -> ExitCode {
    let config = match config::parse(std::env::args_os()) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ndbgpd: error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config.log_level);
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
    match runtime.block_on(run(*config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(level: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("NDBGPD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ndbgp={level},ndbgpd={level},warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(config: Config) -> anyhow::Result<()> {
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

    let mut netlink = tokio::spawn(netlink::watch(
        config.interfaces.clone(),
        links_tx,
        observations_tx.clone(),
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
    let bgp = manager::spawn(
        BgpConfig {
            fsm,
            port: config.port,
            interfaces: config.interfaces.clone(),
        },
        bgp_listener,
        links_rx.clone(),
        events_rx,
        peers.clone(),
    );
    let nd = nd::service::spawn(
        NdConfig {
            interfaces: config.interfaces.clone(),
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
        },
    ));
    info!(
        "ndbgpd {} started: AS {}, interfaces {}, control socket {}",
        env!("CARGO_PKG_VERSION"),
        config.asn,
        config.interfaces.join(" "),
        config.control_socket.display()
    );

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let result = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: stopping"); Ok(()) }
        _ = int.recv() => { info!("SIGINT: stopping"); Ok(()) }
        ended = &mut netlink => match ended {
            Ok(Ok(())) => Err(anyhow::anyhow!("netlink watcher ended")),
            Ok(Err(e)) => Err(e.context("netlink watcher failed")),
            Err(e) => Err(anyhow::anyhow!("netlink watcher panicked: {e}")),
        },
    };
    // RFC 9003: tell every peer why, so its operator sees it.
    bgp.shutdown(Some("ndbgpd shutting down".into())).await;
    let _ = std::fs::remove_file(&config.control_socket);
    result
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
