//! Command line and config file -> validated `Config`.
//!
//! Every setting is a flag, and every flag (but `--config` and
//! `--check-config`) can also be a key of a TOML file given with `--config`:
//! the key is the flag's clap id (`interfaces` for `--iface`, `ra_interval`
//! for `--ra-interval`, ...). File values go through the same clap value
//! parsers as flags, and a flag given on the command line wins over the file.
//! So a new flag is a new key, with no other change here.
//!
//! Every bad flag, key or value ends in one line that names it (`ndbgpd:
//! error: ...`, with the file, line and column for the file) and exit code 2,
//! so a typo in a systemd unit or config file is obvious in the journal.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use ipnet::IpNet;
use toml::Spanned;

use crate::bgp::fsm::graceful::DEFAULT_RESTART_TIME;
use crate::bgp::fsm::{DEFAULT_HOLD_TIME, RemoteAs, hold_time_is_valid};
use crate::msg::BGP_PORT;
use crate::msg::MAX_RESTART_TIME;
use crate::policy::{
    DEFAULT_MAX_PREFIX_RESTART, Policies, PrefixFilter, PrefixRule, SessionPolicy, TCP_MD5_KEY_MAX, TcpMd5Key,
};

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// RFC 4861 6.2.1: MaxRtrAdvInterval at most 1800 s; AdvDefaultLifetime at most 9000 s.
const RA_INTERVAL_MAX: u64 = 1800;
const RA_LIFETIME_MAX: u16 = 9000;
/// Flags that are not settings: never keys of the config file.
const COMMAND_LINE_ONLY: &[&str] = &["config", "check_config", "help", "version"];

/// The end of --help: what the flags alone do not say.
const AFTER_HELP: &str = "\
Example:
  ndbgpd --iface eth0 --iface eth1 --asn 65001 --network 10.0.0.1/32

Privileges: root, or CAP_NET_RAW (Neighbor Discovery socket), CAP_NET_ADMIN
(kernel routes) and CAP_NET_BIND_SERVICE (port 179).

Signals: SIGHUP re-reads the config file (interfaces, policies, log level);
SIGTERM or SIGINT stops (Cease to every peer, our routes removed); with
--graceful-restart, SIGTERM stops gracefully (routes kept for the next start)
and only SIGINT stops cleanly.

State: ndbgpctl neighbors | discovery | interfaces | routes | monitor
Change: ndbgpctl announce | withdraw | neighbor ... | interface ... | reload";

#[derive(Parser, Debug)]
#[command(
    name = "ndbgpd",
    version,
    about = "BGP unnumbered daemon: finds neighbours by IPv6 Neighbor Discovery and peers with them",
    after_help = AFTER_HELP
)]
struct Cli {
    /// TOML config file: keys named like the flags (interfaces = ["eth0"],
    /// asn, ra_interval, ...); flags on the command line win. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Check the flags and the config file, print a one-line summary and exit
    /// (0 when valid, 2 with the error when not).
    #[arg(long)]
    check_config: bool,

    /// Interface to discover neighbours and run BGP on (repeat for more).
    /// Required, here or as `interfaces` in the config file.
    #[arg(long = "iface", value_name = "IF")]
    interfaces: Vec<String>,

    /// Our autonomous system number (1-4294967295). Required, here or in the config file.
    #[arg(long, value_name = "N", value_parser = parse_asn)]
    asn: Option<u32>,

    /// BGP identifier; default: highest IPv4 on lo, then on any interface,
    /// then derived from the first interface's MAC.
    #[arg(long, value_name = "A.B.C.D")]
    router_id: Option<Ipv4Addr>,

    /// Which peer AS to accept: any, external, internal, or a number.
    #[arg(long, value_name = "AS", default_value = "any", value_parser = parse_remote_as)]
    remote_as: RemoteAs,

    /// BGP hold time we offer, seconds (0 = none, else 3-65535); the session
    /// uses the smaller of ours and the peer's. Keepalives every third of it.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_HOLD_TIME)]
    hold_time: u16,

    /// Graceful restart (RFC 4724): seconds we ask peers to keep our routes
    /// while we restart (1-4095). We keep a peer's routes for the time it
    /// asks, whatever this says.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_RESTART_TIME,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_RESTART_TIME)))]
    restart_time: u16,

    /// Graceful restart, restarting role: SIGTERM leaves our routes in the
    /// kernel and closes the sessions without a NOTIFICATION, so that peers
    /// keep our routes; the next start adopts them and defers kernel changes
    /// until the peers' End-of-RIB (at most the restart time). SIGINT always
    /// stops cleanly. A change needs a restart.
    #[arg(long)]
    graceful_restart: bool,

    /// TCP port to listen on and dial (tests use another).
    #[arg(long, value_name = "PORT", default_value_t = BGP_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,

    /// Prefix to announce (IPv4 or IPv6; repeat for more), e.g. 10.0.0.1/32.
    #[arg(long = "network", value_name = "PREFIX", value_parser = parse_prefix)]
    networks: Vec<IpNet>,

    /// Also announce the addresses of the loopback and other non-fabric
    /// interfaces: `connected`.
    #[arg(long, value_name = "WHAT", value_parser = ["connected"])]
    redistribute: Vec<String>,

    /// Most equal-cost paths installed per prefix (1-256).
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    max_paths: u16,

    /// Unix socket for ndbgpctl.
    #[arg(long, value_name = "PATH", default_value = "/run/ndbgpd/ndbgpd.sock")]
    control_socket: PathBuf,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long, value_name = "LEVEL", default_value = "info",
          value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,

    /// Seconds between our periodic Router Advertisements (1-1800).
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=RA_INTERVAL_MAX))]
    ra_interval: u64,

    /// Router lifetime in our RAs, seconds (0-9000; default 3 x --ra-interval).
    /// 0 means "not a default router": peers still learn us, hosts won't route via us.
    #[arg(long, value_name = "SECS")]
    ra_lifetime: Option<u16>,

    /// Most neighbours kept per interface; new addresses past it are refused and counted.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65536u64))]
    max_neighbors: u64,

    /// Seconds a silent neighbour is kept; default: 3 x --ra-interval, or its
    /// RA router lifetime if longer.
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86400u64))]
    discovery_hold: Option<u64>,

    /// Seconds between the echo requests to ff02::1 that make silent
    /// neighbours answer (after the first ones at link up, 1 s, 2 s, 4 s ...
    /// apart); 0 turns probing off. Default: two thirds of the discovery hold.
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=86400u64))]
    probe_interval: Option<u64>,

    /// Import rule (repeat for a list; the first match decides, and a given
    /// list denies what no rule matches): 'permit|deny PREFIX [ge N] [le N]',
    /// e.g. --import "deny 0.0.0.0/0" --import "permit 10.0.0.0/8 le 32".
    #[arg(long = "import", value_name = "RULE", value_parser = parse_rule)]
    import: Vec<PrefixRule>,

    /// Export rule, as --import, for the routes we send.
    #[arg(long = "export", value_name = "RULE", value_parser = parse_rule)]
    export: Vec<PrefixRule>,

    /// On eBGP, treat a route whose AS_PATH does not start with the peer's
    /// AS as withdrawn (true or false).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    enforce_first_as: bool,

    /// Most prefixes (IPv4 and IPv6 together) a peer may send: a warning at
    /// 90 %, past it the session is closed (Cease, Maximum Number of
    /// Prefixes Reached) and its routes withdrawn.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    max_prefix: Option<u32>,

    /// Seconds before a session closed by --max-prefix may come back
    /// (0: only after a SIGHUP).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_PREFIX_RESTART.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=86400u64))]
    max_prefix_restart: u64,

    /// File holding the TCP-MD5 key (RFC 2385) on one line, for every
    /// session; the key itself is never on the command line or in logs.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,

    /// GTSM (RFC 5082): send hop limit 255 and accept only segments that
    /// arrive with 255. The peers must do the same.
    #[arg(long)]
    ttl_security: bool,

    /// Serve Prometheus metrics on http://ADDR:PORT/metrics, e.g.
    /// [::1]:9179 or 127.0.0.1:9179. Off by default; a change needs a restart.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_metrics)]
    metrics: Option<SocketAddr>,

    /// End an Established session when discovery loses its neighbour (no
    /// RA/NS/NA and gone from the kernel's table for the discovery hold);
    /// by default the session is kept until BGP itself ends it. A reload
    /// applies it.
    #[arg(long)]
    teardown_on_loss: bool,

    /// Leave RFC 4429 optimistic DAD off. By default ndbgpd sets
    /// net.ipv6.conf.IF.optimistic_dad and use_optimistic to 1 on each
    /// interface when it appears, so that a link-local is usable at link up
    /// instead of after DAD (about 1 s); this sets them to 0. A change needs
    /// a restart.
    #[arg(long)]
    no_optimistic_dad: bool,

    /// Skip duplicate address detection: set net.ipv6.conf.IF.accept_dad
    /// to 0 on each interface when it appears, so its link-local is usable
    /// at link up even on a forwarding router (where the kernel makes no
    /// link-local optimistic). Opt-in: it gives up duplicate detection, so
    /// use it only on point-to-point fabric links whose link-locals come
    /// from unique MACs (EUI-64). Without it accept_dad is left alone. A
    /// change needs a restart.
    #[arg(long)]
    no_dad: bool,

    /// BFD (RFC 5880/5881) with every BGP neighbour, on UDP port 3784: a
    /// failure ends the session (Cease, BFD Down) and withdraws its routes
    /// at once; a neighbour that never brings BFD up peers as without it.
    #[arg(long)]
    bfd: bool,

    /// BFD transmit and receive interval, milliseconds (10-60000).
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_BFD_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(10..=60000))]
    bfd_interval: u64,

    /// BFD detection multiplier: packets missed before the neighbour is
    /// declared down (1-255).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BFD_MULTIPLIER,
          value_parser = clap::value_parser!(u8).range(1..))]
    bfd_multiplier: u8,
}

/// `--bfd-interval` and `--bfd-multiplier` defaults: 900 ms detection, as
/// FRR's bfdd and BIRD by default.
pub const DEFAULT_BFD_INTERVAL_MS: u64 = 300;
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;

/// `--bfd` with its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdSettings {
    /// Desired min TX and required min RX alike.
    pub interval: Duration,
    pub multiplier: u8,
}

/// The settings an `[interface.NAME]` table of the config file may
/// override for that interface.
const INTERFACE_KEYS: &[&str] = &[
    "import",
    "export",
    "enforce_first_as",
    "max_prefix",
    "max_prefix_restart",
    "password_file",
    "ttl_security",
];

/// The config file's table of per-interface overrides.
const INTERFACE_TABLE: &str = "interface";

fn parse_rule(s: &str) -> Result<PrefixRule, String> {
    s.parse()
}

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s
        .parse()
        .map_err(|_| format!("'{s}' is not a prefix like 10.0.0.1/32 or 2001:db8::/64"))?;
    if net.trunc() != net {
        return Err(format!("'{s}' has host bits set: did you mean {}?", net.trunc()));
    }
    Ok(net)
}

fn parse_remote_as(s: &str) -> Result<RemoteAs, String> {
    s.parse()
        .map_err(|e: crate::bgp::fsm::ParseRemoteAsError| e.to_string())
}

fn parse_metrics(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("'{s}' is not an address and port like [::1]:9179 or 127.0.0.1:9179"))?;
    if addr.port() == 0 {
        return Err(format!("'{s}': port 0 is no port to scrape"));
    }
    Ok(addr)
}

fn parse_asn(s: &str) -> Result<u32, String> {
    let asn: u32 = s
        .parse()
        .map_err(|_| format!("'{s}' is not an AS number (1-4294967295)"))?;
    if asn == 0 {
        // RFC 7607: AS 0 must not be used.
        return Err("AS 0 is reserved (RFC 7607)".into());
    }
    if asn == u32::from(crate::msg::AS_TRANS) {
        return Err("AS 23456 is AS_TRANS, reserved (RFC 6793)".into());
    }
    Ok(asn)
}

/// The validated daemon configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub interfaces: Vec<String>,
    pub asn: u32,
    pub router_id: Option<Ipv4Addr>,
    pub remote_as: RemoteAs,
    pub hold_time: u16,
    /// Graceful restart: the restart time we advertise, seconds.
    pub restart_time: u16,
    /// Graceful restart, restarting role (`--graceful-restart`).
    pub graceful_restart: bool,
    pub port: u16,
    pub networks: Vec<IpNet>,
    pub redistribute_connected: bool,
    pub max_paths: u16,
    pub control_socket: PathBuf,
    pub log_level: String,
    pub ra_interval: Duration,
    pub ra_lifetime: u16,
    pub max_neighbors: usize,
    pub discovery_hold: Option<Duration>,
    /// The steady gap between echo probes; None: probing is off.
    pub probe_interval: Option<Duration>,
    /// Where to serve Prometheus metrics; None: not served.
    pub metrics: Option<SocketAddr>,
    /// `--bfd`; None: off.
    pub bfd: Option<BfdSettings>,
    /// Filters, limits and authentication, per interface (a reload applies them).
    pub policies: Policies,
    /// End an Established session whose neighbour discovery lost (a reload
    /// applies it).
    pub teardown_on_loss: bool,
    /// Optimistic DAD on the interfaces (not `--no-optimistic-dad`).
    pub optimistic_dad: bool,
    /// `--no-dad`: accept_dad 0 on the interfaces (else left alone).
    pub no_dad: bool,
    /// The `--config` file these settings were read with, if any.
    pub config_file: Option<PathBuf>,
    /// Keys of the config file that a command-line flag overrode.
    pub overridden: Vec<String>,
}

impl Config {
    /// One line for the journal and `--check-config`.
    pub fn summary(&self) -> String {
        let router_id = self
            .router_id
            .map_or_else(|| "derived".to_string(), |id| id.to_string());
        let mut line = format!(
            "AS {}, interfaces {}, router ID {}, remote AS {}, hold time {} s, port {}, control socket {}",
            self.asn,
            self.interfaces.join(" "),
            router_id,
            self.remote_as,
            self.hold_time,
            self.port,
            self.control_socket.display()
        );
        if !self.policies.interfaces.is_empty() {
            let names: Vec<&str> = self.policies.interfaces.keys().map(String::as_str).collect();
            line.push_str(&format!(", overrides for {}", names.join(" ")));
        }
        if self.graceful_restart {
            line.push_str(&format!(", graceful restart ({} s)", self.restart_time));
        }
        if let Some(metrics) = &self.metrics {
            line.push_str(&format!(", metrics on {metrics}"));
        }
        if let Some(bfd) = &self.bfd {
            line.push_str(&format!(", BFD {} ms x {}", bfd.interval.as_millis(), bfd.multiplier));
        }
        if let Some(file) = &self.config_file {
            line.push_str(&format!(", config file {}", file.display()));
        }
        line
    }

    /// The settings that differ in `new` and only take effect at a restart
    /// (everything but the interfaces, the log level and the policies,
    /// which a reload applies).
    pub fn needs_restart(&self, new: &Config) -> Vec<&'static str> {
        // Destructured so that a new field cannot be forgotten here.
        let Config {
            interfaces: _,
            asn,
            router_id,
            remote_as,
            hold_time,
            restart_time,
            graceful_restart,
            port,
            networks,
            redistribute_connected,
            max_paths,
            control_socket,
            log_level: _,
            ra_interval,
            ra_lifetime,
            max_neighbors,
            discovery_hold,
            probe_interval,
            metrics,
            bfd,
            policies: _,
            teardown_on_loss: _,
            optimistic_dad,
            no_dad,
            config_file: _,
            overridden: _,
        } = self;
        let mut changed = Vec::new();
        let mut check = |key: &'static str, differs: bool| {
            if differs {
                changed.push(key);
            }
        };
        check("asn", *asn != new.asn);
        check("router_id", *router_id != new.router_id);
        check("remote_as", *remote_as != new.remote_as);
        check("hold_time", *hold_time != new.hold_time);
        check("restart_time", *restart_time != new.restart_time);
        check("graceful_restart", *graceful_restart != new.graceful_restart);
        check("port", *port != new.port);
        check("networks", *networks != new.networks);
        check("redistribute", *redistribute_connected != new.redistribute_connected);
        check("max_paths", *max_paths != new.max_paths);
        check("control_socket", *control_socket != new.control_socket);
        check("ra_interval", *ra_interval != new.ra_interval);
        check("ra_lifetime", *ra_lifetime != new.ra_lifetime);
        check("max_neighbors", *max_neighbors != new.max_neighbors);
        check("discovery_hold", *discovery_hold != new.discovery_hold);
        check("probe_interval", *probe_interval != new.probe_interval);
        check("metrics", *metrics != new.metrics);
        check("bfd", *bfd != new.bfd);
        check("no_optimistic_dad", *optimistic_dad != new.optimistic_dad);
        check("no_dad", *no_dad != new.no_dad);
        changed
    }
}

/// What parsing the command line ended in.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Config>),
    /// --check-config: the configuration is valid; print its summary, exit 0.
    Check(Box<Config>),
    /// --help or --version: print this to stdout and exit 0.
    Info(String),
}

/// A bad flag, key or value: one line, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Parse the command line and the `--config` file it names, if any.
pub fn parse<I, T>(args: I) -> Result<Parsed, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse_reading(args, |path| std::fs::read_to_string(path))
}

/// [`parse`] with the `--config` file's text from `read` (the fuzz target
/// `config_parse` feeds it text without a file on disk).
pub fn parse_reading<I, T>(args: I, read: impl FnOnce(&Path) -> std::io::Result<String>) -> Result<Parsed, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let command = Cli::command();
    let matches = match command.clone().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Info(e.to_string()));
        }
        Err(e) => return Err(ConfigError(first_line(&e.to_string()))),
    };
    let config_file = matches.get_one::<PathBuf>("config").cloned();
    let check = matches.get_flag("check_config");
    let mut origins = Origins::default();
    let mut overrides = Vec::new();
    let cli = match &config_file {
        None => Cli::from_arg_matches(&matches).map_err(|e| ConfigError(first_line(&e.to_string())))?,
        Some(path) => {
            let text =
                read(path).map_err(|e| ConfigError(format!("--config {}: cannot read it: {e}", path.display())))?;
            let file = FileArgs::parse(&command, path, &text)?;
            for table in file.interfaces {
                let program = args.first().cloned().unwrap_or_else(|| "ndbgpd".into());
                let args = std::iter::once(program).chain(table.settings.iter().flat_map(|s| s.args.clone()));
                let matches = command
                    .clone()
                    .try_get_matches_from(args)
                    .map_err(|e| ConfigError(format!("{}: {}", table.at, first_line(&e.to_string()))))?;
                overrides.push((table, matches));
            }
            // The file's settings first, then the command line, leaving out
            // the file's keys that the command line sets.
            let mut merged: Vec<OsString> = args.first().cloned().into_iter().collect();
            for setting in file.settings {
                if given_on_command_line(&matches, &setting.id) {
                    origins.overridden.push(setting.id);
                    continue;
                }
                merged.extend(setting.args);
                origins.from_file.insert(setting.id, setting.at);
            }
            merged.extend(args.iter().skip(1).cloned());
            let matches = command
                .try_get_matches_from(merged)
                .map_err(|e| ConfigError(first_line(&e.to_string())))?;
            Cli::from_arg_matches(&matches).map_err(|e| ConfigError(first_line(&e.to_string())))?
        }
    };
    let mut config = validate(cli, &origins)?;
    config.policies.interfaces = interface_policies(&config, overrides)?;
    config.config_file = config_file;
    config.overridden = origins.overridden;
    Ok(if check {
        Parsed::Check(Box::new(config))
    } else {
        Parsed::Run(Box::new(config))
    })
}

fn given_on_command_line(matches: &clap::ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// Where each setting came from, to name it in an error the way the user wrote it.
#[derive(Debug, Default)]
struct Origins {
    /// Settings taken from the file: key -> "FILE:LINE:COL".
    from_file: BTreeMap<String, String>,
    /// File keys the command line overrode.
    overridden: Vec<String>,
}

impl Origins {
    /// `--flag` for a flag, `FILE:LINE:COL: key` for a key of the file.
    fn name(&self, id: &str) -> String {
        match self.from_file.get(id) {
            Some(at) => format!("{at}: {id}"),
            None => self.short(id),
        }
    }

    /// `--flag` for a flag, `key` for a key of the file.
    fn short(&self, id: &str) -> String {
        if self.from_file.contains_key(id) {
            return id.to_string();
        }
        Cli::command()
            .get_arguments()
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_long())
            .map_or_else(|| id.to_string(), |long| format!("--{long}"))
    }
}

/// The settings of a config file, each turned into command-line arguments
/// that clap's value parsers have already accepted.
struct FileArgs {
    settings: Vec<FileSetting>,
    /// The `[interface.NAME]` tables.
    interfaces: Vec<InterfaceTable>,
}

/// One `[interface.NAME]` table: settings for the sessions on NAME.
struct InterfaceTable {
    name: String,
    /// "FILE:LINE:COL" of the table's name.
    at: String,
    settings: Vec<FileSetting>,
}

/// The config file seen only for its `[interface.NAME]` tables, with the
/// place of each key and value.
#[derive(serde::Deserialize)]
struct InterfaceTables {
    #[serde(default)]
    interface: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

struct FileSetting {
    /// The clap id, which is the key.
    id: String,
    /// `--flag value` (repeated for a list).
    args: Vec<OsString>,
    /// "FILE:LINE:COL" of the value.
    at: String,
}

impl FileArgs {
    fn parse(command: &clap::Command, path: &Path, text: &str) -> Result<FileArgs, ConfigError> {
        let at = |offset: usize| format!("{}:{}", path.display(), line_column(text, offset));
        let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> = toml::from_str(text).map_err(|e| {
            let place = e.span().map_or_else(|| path.display().to_string(), |s| at(s.start));
            ConfigError(format!("{place}: {}", one_line(e.message())))
        })?;
        let mut settings = Vec::new();
        for (key, value) in table {
            let id = key.get_ref().as_str();
            if id == INTERFACE_TABLE {
                continue;
            }
            let arg = command
                .get_arguments()
                .find(|a| a.get_id() == id && !COMMAND_LINE_ONLY.contains(&id));
            let Some(arg) = arg else {
                return Err(ConfigError(format!(
                    "{}: unknown key `{id}`, expected one of: {}, or [{INTERFACE_TABLE}.NAME] tables",
                    at(key.span().start),
                    file_keys(command).join(", ")
                )));
            };
            let here = at(value.span().start);
            let args =
                setting_args(command, arg, value.get_ref()).map_err(|e| ConfigError(format!("{here}: {id}: {e}")))?;
            settings.push(FileSetting {
                id: id.to_string(),
                args,
                at: here,
            });
        }
        let tables: InterfaceTables = toml::from_str(text).map_err(|e| {
            let place = e.span().map_or_else(|| path.display().to_string(), |s| at(s.start));
            ConfigError(format!(
                "{place}: {INTERFACE_TABLE}: {} (expected [{INTERFACE_TABLE}.NAME] tables)",
                one_line(e.message())
            ))
        })?;
        let mut interfaces = Vec::new();
        for (name, table) in tables.interface {
            let mut settings = Vec::new();
            for (key, value) in table {
                let id = key.get_ref().as_str();
                let full = format!("{INTERFACE_TABLE}.{}.{id}", name.get_ref());
                let arg = command.get_arguments().find(|a| a.get_id() == id);
                let Some(arg) = arg.filter(|_| INTERFACE_KEYS.contains(&id)) else {
                    return Err(ConfigError(format!(
                        "{}: unknown key `{full}`, an [{INTERFACE_TABLE}.NAME] table takes: {}",
                        at(key.span().start),
                        INTERFACE_KEYS.join(", ")
                    )));
                };
                let here = at(value.span().start);
                let args = setting_args(command, arg, value.get_ref())
                    .map_err(|e| ConfigError(format!("{here}: {full}: {e}")))?;
                settings.push(FileSetting {
                    id: full,
                    args,
                    at: here,
                });
            }
            interfaces.push(InterfaceTable {
                name: name.get_ref().clone(),
                at: at(name.span().start),
                settings,
            });
        }
        Ok(FileArgs { settings, interfaces })
    }
}

/// Every key a config file may have.
fn file_keys(command: &clap::Command) -> Vec<String> {
    command
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .filter(|id| !COMMAND_LINE_ONLY.contains(id))
        .map(str::to_string)
        .collect()
}

/// A TOML value as command-line arguments for `arg`, each value checked
/// by the flag's own value parser.
fn setting_args(command: &clap::Command, arg: &clap::Arg, value: &toml::Value) -> Result<Vec<OsString>, String> {
    let long = arg.get_long().ok_or("has no command-line flag")?;
    let repeatable = matches!(arg.get_action(), ArgAction::Append);
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![OsString::from(format!("--{long}"))]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            other => Err(format!("expected true or false, not {}", other.type_str())),
        };
    }
    let items: Vec<&toml::Value> = match value {
        toml::Value::Array(items) if repeatable => items.iter().collect(),
        toml::Value::Array(_) => return Err("takes one value, not a list".into()),
        one => vec![one],
    };
    let mut args = Vec::new();
    for item in items {
        let text = match item {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            // A flag that takes true or false (not a switch).
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                let want = if repeatable {
                    "strings or numbers"
                } else {
                    "a string or a number"
                };
                return Err(format!("expected {want}, not {}", other.type_str()));
            }
        };
        // `--flag=value`, so that a value starting with '-' stays a value.
        let one = OsString::from(format!("--{long}={text}"));
        let program = OsStr::new(command.get_name());
        command
            .clone()
            .try_get_matches_from([program, one.as_os_str()])
            .map_err(|e| value_error(&e))?;
        args.push(one);
    }
    Ok(args)
}

/// A value parser's complaint without the flag it names (the caller names
/// the key instead).
fn value_error(e: &clap::Error) -> String {
    let line = first_line(&e.to_string());
    match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => line.replace(&format!(" for '{arg}'"), ""),
        _ => line,
    }
}

/// 1-based "LINE:COLUMN" of a byte offset.
fn line_column(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// clap's first paragraph names the flag and the problem (a missing flag is
/// listed on the lines after "not provided:"); the usage lines after it are
/// noise in a journal.
fn first_line(text: &str) -> String {
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let line = para.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    if line.is_empty() {
        "invalid arguments".into()
    } else {
        line.to_string()
    }
}

fn validate(mut cli: Cli, origins: &Origins) -> Result<Config, ConfigError> {
    let name = |id: &str| origins.name(id);
    if cli.interfaces.is_empty() {
        return Err(ConfigError(
            "no interface: give --iface IF (repeatable) or interfaces = [...] in the --config file".into(),
        ));
    }
    let Some(asn) = cli.asn else {
        return Err(ConfigError(
            "no AS number: give --asn N or asn = N in the --config file".into(),
        ));
    };
    let mut interfaces: Vec<String> = Vec::new();
    for ifname in std::mem::take(&mut cli.interfaces) {
        check_ifname(&ifname).map_err(|e| ConfigError(format!("{} {e}", name("interfaces"))))?;
        if interfaces.contains(&ifname) {
            return Err(ConfigError(format!("{} {ifname} given twice", name("interfaces"))));
        }
        interfaces.push(ifname);
    }
    if !hold_time_is_valid(cli.hold_time) {
        return Err(ConfigError(format!(
            "{} {}: must be 0 or at least 3 s (RFC 4271 4.2)",
            name("hold_time"),
            cli.hold_time
        )));
    }
    if cli.router_id.is_some_and(|id| id.is_unspecified()) {
        return Err(ConfigError(format!(
            "{} 0.0.0.0 is not a valid BGP identifier (RFC 4271 6.2)",
            name("router_id")
        )));
    }
    let ra_lifetime = match cli.ra_lifetime {
        Some(l) if l > RA_LIFETIME_MAX => {
            return Err(ConfigError(format!(
                "{} {l}: at most {RA_LIFETIME_MAX} s (RFC 4861 6.2.1)",
                name("ra_lifetime")
            )));
        }
        // RFC 4861 6.2.1: non-zero lifetime no less than the RA interval.
        Some(l) if l != 0 && u64::from(l) < cli.ra_interval => {
            return Err(ConfigError(format!(
                "{} {l}: must be 0 or at least {} ({} s)",
                name("ra_lifetime"),
                origins.short("ra_interval"),
                cli.ra_interval
            )));
        }
        Some(l) => l,
        None => u16::try_from(cli.ra_interval * 3)
            .unwrap_or(RA_LIFETIME_MAX)
            .min(RA_LIFETIME_MAX),
    };
    let default_policy = session_policy(SessionPolicy::default(), &cli, |_| true, name)?;
    let probe_interval = probe_interval(&cli);
    Ok(Config {
        interfaces,
        asn,
        router_id: cli.router_id,
        remote_as: cli.remote_as,
        hold_time: cli.hold_time,
        restart_time: cli.restart_time,
        graceful_restart: cli.graceful_restart,
        port: cli.port,
        networks: dedup(cli.networks),
        redistribute_connected: cli.redistribute.iter().any(|r| r == "connected"),
        max_paths: cli.max_paths,
        control_socket: cli.control_socket,
        log_level: cli.log_level,
        ra_interval: Duration::from_secs(cli.ra_interval),
        ra_lifetime,
        max_neighbors: usize::try_from(cli.max_neighbors).unwrap_or(usize::MAX),
        discovery_hold: cli.discovery_hold.map(Duration::from_secs),
        probe_interval,
        metrics: cli.metrics,
        bfd: cli.bfd.then(|| BfdSettings {
            interval: Duration::from_millis(cli.bfd_interval),
            multiplier: cli.bfd_multiplier,
        }),
        policies: Policies {
            default: default_policy,
            interfaces: BTreeMap::new(),
        },
        teardown_on_loss: cli.teardown_on_loss,
        optimistic_dad: !cli.no_optimistic_dad,
        no_dad: cli.no_dad,
        config_file: None,
        overridden: Vec::new(),
    })
}

/// The probe interval: as given (0 = off), or two thirds of the hold time a
/// neighbour seen only by probes gets, so that one that keeps answering is
/// never lost between two probes (and its session keeps one backoff).
fn probe_interval(cli: &Cli) -> Option<Duration> {
    match cli.probe_interval {
        Some(0) => None,
        Some(secs) => Some(Duration::from_secs(secs)),
        None => {
            let hold = cli.discovery_hold.unwrap_or(cli.ra_interval.saturating_mul(3));
            Some(Duration::from_secs((hold.saturating_mul(2) / 3).max(1)))
        }
    }
}

/// `base` with the policy settings of `cli` that `given` names; `name`
/// names a setting in an error.
fn session_policy(
    mut policy: SessionPolicy,
    cli: &Cli,
    given: impl Fn(&str) -> bool,
    name: impl Fn(&str) -> String,
) -> Result<SessionPolicy, ConfigError> {
    if given("import") {
        policy.import = PrefixFilter::new(cli.import.clone());
    }
    if given("export") {
        policy.export = PrefixFilter::new(cli.export.clone());
    }
    if given("enforce_first_as") {
        policy.enforce_first_as = cli.enforce_first_as;
    }
    if given("max_prefix") {
        policy.max_prefix = cli.max_prefix;
    }
    if given("max_prefix_restart") {
        policy.max_prefix_restart = Duration::from_secs(cli.max_prefix_restart);
    }
    if given("password_file") {
        policy.tcp_md5 = match &cli.password_file {
            None => None,
            Some(path) => Some(
                read_tcp_md5_key(path)
                    .map_err(|e| ConfigError(format!("{} {}: {e}", name("password_file"), path.display())))?,
            ),
        };
    }
    if given("ttl_security") {
        policy.ttl_security = cli.ttl_security;
    }
    Ok(policy)
}

/// The key file: a regular file (a FIFO would block the reload, a device
/// could be endless), of which no more is read than a key line can be.
fn read_tcp_md5_key(path: &Path) -> Result<TcpMd5Key, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read it: {e}");
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err("not a regular file".into());
    }
    let mut text = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(TCP_MD5_KEY_MAX as u64 + 3)
        .read_to_end(&mut text)
        .map_err(cannot)?;
    TcpMd5Key::from_file_text(&text)
}

/// The `[interface.NAME]` tables, each over the default policy.
fn interface_policies(
    config: &Config,
    tables: Vec<(InterfaceTable, clap::ArgMatches)>,
) -> Result<BTreeMap<String, SessionPolicy>, ConfigError> {
    let mut policies = BTreeMap::new();
    for (table, matches) in tables {
        if !config.interfaces.contains(&table.name) {
            return Err(ConfigError(format!(
                "{}: [{INTERFACE_TABLE}.{}]: not one of the interfaces ({})",
                table.at,
                table.name,
                config.interfaces.join(" ")
            )));
        }
        let cli = Cli::from_arg_matches(&matches).map_err(|e| ConfigError(first_line(&e.to_string())))?;
        let full = |id: &str| format!("{INTERFACE_TABLE}.{}.{id}", table.name);
        let setting = |id: &str| table.settings.iter().find(|s| s.id == full(id));
        let policy = session_policy(
            config.policies.default.clone(),
            &cli,
            |id| setting(id).is_some(),
            |id| setting(id).map_or_else(|| full(id), |s| format!("{}: {}", s.at, s.id)),
        )?;
        policies.insert(table.name, policy);
    }
    Ok(policies)
}

fn dedup(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    nets.sort();
    nets.dedup();
    nets
}

fn check_ifname(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > IFNAME_MAX
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(format!(
            "'{name}': not a valid interface name (1-{IFNAME_MAX} characters, no '/', ':' or spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        let mut all = vec!["ndbgpd"];
        all.extend_from_slice(args);
        match parse(all) {
            Ok(Parsed::Run(c)) => Ok(*c),
            Ok(Parsed::Check(_)) => Err("check".into()),
            Ok(Parsed::Info(_)) => Err("info".into()),
            Err(e) => Err(e.0),
        }
    }

    /// A config file with `text`, removed on drop.
    struct File(PathBuf);

    impl File {
        fn new(text: &str) -> File {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("ndbgpd-config-test-{}-{n}.toml", std::process::id()));
            std::fs::write(&path, text).unwrap();
            File(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for File {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Run with `--config FILE` (holding `text`) before `args`.
    fn with_file(text: &str, args: &[&str]) -> (Result<Config, String>, File) {
        let file = File::new(text);
        let mut all = vec!["--config", file.path()];
        all.extend_from_slice(args);
        let result = run(&all);
        (result, file)
    }

    const FULL: &str = r#"
# every setting
interfaces = ["swp1", "swp2"]
asn = 4200000001
router_id = "10.0.0.1"
remote_as = "external"
hold_time = 30
port = 1179
control_socket = "/run/x/ndbgpd.sock"
log_level = "debug"
ra_interval = 5
ra_lifetime = 0
max_neighbors = 8
discovery_hold = 60
probe_interval = 45
networks = ["10.0.0.1/32", "2001:db8::/64"]
redistribute = ["connected"]
max_paths = 8
metrics = "[::1]:9179"
teardown_on_loss = true
graceful_restart = true
no_optimistic_dad = true
no_dad = true
"#;

    #[test]
    fn every_setting_from_the_file() {
        let (c, file) = with_file(FULL, &[]);
        let c = c.unwrap();
        assert_eq!(c.interfaces, vec!["swp1", "swp2"]);
        assert_eq!(c.asn, 4_200_000_001);
        assert_eq!(c.router_id, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.remote_as, RemoteAs::External);
        assert_eq!(c.hold_time, 30);
        assert_eq!(c.port, 1179);
        assert_eq!(c.control_socket, PathBuf::from("/run/x/ndbgpd.sock"));
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.ra_interval, Duration::from_secs(5));
        assert_eq!(c.ra_lifetime, 0);
        assert_eq!(c.max_neighbors, 8);
        assert_eq!(c.discovery_hold, Some(Duration::from_secs(60)));
        assert_eq!(c.probe_interval, Some(Duration::from_secs(45)));
        let nets: Vec<IpNet> = vec!["10.0.0.1/32".parse().unwrap(), "2001:db8::/64".parse().unwrap()];
        assert_eq!(c.networks, nets);
        assert!(c.redistribute_connected);
        assert_eq!(c.max_paths, 8);
        assert_eq!(c.metrics, Some("[::1]:9179".parse().unwrap()));
        assert!(c.teardown_on_loss);
        assert!(c.graceful_restart);
        assert!(!c.optimistic_dad);
        assert!(c.no_dad);
        assert_eq!(c.config_file.as_deref(), Some(file.0.as_path()));
        assert!(c.overridden.is_empty());
    }

    #[test]
    fn probe_interval_defaults_below_the_hold_and_zero_turns_it_off() {
        let base = ["--iface", "eth0", "--asn", "1"];
        let with = |extra: &[&str]| {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            run(&args).unwrap().probe_interval
        };
        // Default hold 3 x 10 s: probes every 20 s.
        assert_eq!(with(&[]), Some(Duration::from_secs(20)));
        assert_eq!(with(&["--discovery-hold", "90"]), Some(Duration::from_secs(60)));
        assert_eq!(with(&["--discovery-hold", "1"]), Some(Duration::from_secs(1)));
        assert_eq!(with(&["--probe-interval", "300"]), Some(Duration::from_secs(300)));
        assert_eq!(with(&["--probe-interval", "0"]), None);
        let (c, _f) = with_file("probe_interval = 0\n", &base);
        assert_eq!(c.unwrap().probe_interval, None);
    }

    #[test]
    fn metrics_are_off_by_default_and_a_bad_address_is_named() {
        let base = ["--iface", "eth0", "--asn", "1"];
        assert_eq!(run(&base).unwrap().metrics, None);
        let mut args = base.to_vec();
        args.extend(["--metrics", "127.0.0.1:9179"]);
        let c = run(&args).unwrap();
        assert_eq!(c.metrics, Some("127.0.0.1:9179".parse().unwrap()));
        assert!(c.summary().contains(", metrics on 127.0.0.1:9179"), "{}", c.summary());
        for bad in ["::1:9179", "localhost:9179", "[::1]", "[::1]:0"] {
            let mut args = base.to_vec();
            args.extend(["--metrics", bad]);
            let e = run(&args).unwrap_err();
            assert!(e.contains("--metrics") && e.contains(bad), "{bad}: {e}");
        }
        let (e, _f) = with_file("interfaces = [\"eth0\"]\nasn = 1\nmetrics = \"9179\"\n", &[]);
        let e = e.unwrap_err();
        assert!(e.contains(":3:11: metrics:") && e.contains("[::1]:9179"), "{e}");
        // Read at start only: a reload names it.
        let new = run(&["--iface", "eth0", "--asn", "1", "--metrics", "[::1]:9179"]).unwrap();
        assert_eq!(run(&base).unwrap().needs_restart(&new), vec!["metrics"]);
    }

    #[test]
    fn bfd_is_off_by_default_its_timers_are_checked_and_it_is_a_key() {
        let base = ["--iface", "eth0", "--asn", "1"];
        assert_eq!(run(&base).unwrap().bfd, None);
        let mut args = base.to_vec();
        args.push("--bfd");
        let c = run(&args).unwrap();
        let defaults = BfdSettings {
            interval: Duration::from_millis(300),
            multiplier: 3,
        };
        assert_eq!(c.bfd, Some(defaults));
        assert!(c.summary().contains(", BFD 300 ms x 3"), "{}", c.summary());
        args.extend(["--bfd-interval", "50", "--bfd-multiplier", "5"]);
        let c = run(&args).unwrap();
        assert_eq!(
            c.bfd,
            Some(BfdSettings {
                interval: Duration::from_millis(50),
                multiplier: 5
            })
        );
        for (flag, bad) in [
            ("--bfd-interval", "9"),
            ("--bfd-interval", "60001"),
            ("--bfd-interval", "0.5"),
            ("--bfd-multiplier", "0"),
            ("--bfd-multiplier", "256"),
        ] {
            let mut args = base.to_vec();
            args.extend(["--bfd", flag, bad]);
            let e = run(&args).unwrap_err();
            assert!(e.contains(flag) && e.contains(bad), "{flag} {bad}: {e}");
        }
        let (c, _f) = with_file(
            "interfaces = [\"eth0\"]\nasn = 1\nbfd = true\nbfd_interval = 100\n",
            &[],
        );
        let c = c.unwrap();
        assert_eq!(
            c.bfd.map(|b| (b.interval, b.multiplier)),
            Some((Duration::from_millis(100), 3))
        );
        let (e, _f) = with_file("interfaces = [\"eth0\"]\nasn = 1\nbfd_multiplier = 0\n", &[]);
        let e = e.unwrap_err();
        assert!(e.contains(":3:18: bfd_multiplier:"), "{e}");
        // Read at start only: a reload names it.
        assert_eq!(run(&base).unwrap().needs_restart(&c), vec!["bfd"]);
    }

    fn rules(filter: &PrefixFilter) -> Vec<String> {
        filter.rules().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn policy_flags() {
        let c = run(&[
            "--iface",
            "eth0",
            "--asn",
            "65001",
            "--import",
            "deny 0.0.0.0/0",
            "--import",
            "permit 10.0.0.0/8 le 32",
            "--export",
            "permit 10.0.0.1/32",
            "--enforce-first-as",
            "false",
            "--max-prefix",
            "1000",
            "--max-prefix-restart",
            "0",
            "--ttl-security",
        ])
        .unwrap();
        let p = &c.policies.default;
        assert_eq!(rules(&p.import), vec!["deny 0.0.0.0/0", "permit 10.0.0.0/8 le 32"]);
        assert_eq!(rules(&p.export), vec!["permit 10.0.0.1/32"]);
        assert!(!p.enforce_first_as);
        assert_eq!(p.max_prefix, Some(1000));
        assert_eq!(p.max_prefix_restart, Duration::ZERO);
        assert!(p.ttl_security);
        assert!(p.tcp_md5.is_none());
        assert!(c.policies.interfaces.is_empty());
        // The one-liner trusts the port but checks the first AS.
        let c = run(&["--iface", "eth0", "--asn", "65001"]).unwrap();
        assert_eq!(c.policies.default, SessionPolicy::default());
        assert!(c.policies.default.import.is_permit_all());
        assert!(c.policies.default.enforce_first_as);
    }

    #[test]
    fn a_bad_rule_names_the_flag_or_key() {
        let e = run(&["--iface", "eth0", "--asn", "1", "--import", "allow 10.0.0.0/8"]).unwrap_err();
        assert!(e.contains("--import") && e.contains("'allow'"), "{e}");
        let (e, _f) = with_file(
            "interfaces = [\"eth0\"]\nasn = 1\nexport = [\"permit 10.0.0.0/8\", \"permit 10.0.0.0/8 le 7\"]\n",
            &[],
        );
        let e = e.unwrap_err();
        assert!(e.contains(":3:10: export:") && e.contains("8 <= ge <= le"), "{e}");
    }

    #[test]
    fn interface_tables_override_the_default() {
        let key = File::new("s3cret\n");
        let text = format!(
            r#"
interfaces = ["swp1", "swp2", "swp3"]
asn = 65001
import = ["permit 10.0.0.0/8 le 32"]
max_prefix = 100

[interface.swp1]
import = ["deny 0.0.0.0/0 le 32", "permit ::/0 le 128"]
max_prefix = 5
password_file = "{}"
ttl_security = true

[interface.swp2]
import = []
enforce_first_as = false
"#,
            key.path()
        );
        let (c, _f) = with_file(&text, &[]);
        let c = c.unwrap();
        let swp1 = c.policies.for_interface("swp1");
        assert_eq!(rules(&swp1.import), vec!["deny 0.0.0.0/0 le 32", "permit ::/0 le 128"]);
        assert_eq!(swp1.max_prefix, Some(5));
        assert_eq!(
            swp1.tcp_md5.as_ref().map(|k| k.as_bytes().to_vec()),
            Some(b"s3cret".to_vec())
        );
        assert!(swp1.ttl_security);
        assert!(swp1.enforce_first_as, "inherited");
        let swp2 = c.policies.for_interface("swp2");
        assert!(swp2.import.is_permit_all(), "an empty list clears the default's");
        assert_eq!(swp2.max_prefix, Some(100), "inherited");
        assert!(!swp2.enforce_first_as);
        assert!(swp2.tcp_md5.is_none());
        let swp3 = c.policies.for_interface("swp3");
        assert_eq!(swp3, &c.policies.default);
        assert_eq!(rules(&swp3.import), vec!["permit 10.0.0.0/8 le 32"]);
        assert!(c.summary().contains("overrides for swp1 swp2"), "{}", c.summary());
        assert!(!format!("{c:?}").contains("s3cret"), "the key is never printed");
    }

    #[test]
    fn interface_table_errors_name_file_line_column() {
        let base = "interfaces = [\"swp1\"]\nasn = 65001\n";
        for (table, says) in [
            (
                "[interface.swp9]\nmax_prefix = 5\n",
                ":3:12: [interface.swp9]: not one of the interfaces (swp1)",
            ),
            ("[interface.swp1]\nasn = 5\n", ":4:1: unknown key `interface.swp1.asn`"),
            (
                "[interface.swp1]\nmax_prefix = 0\n",
                ":4:14: interface.swp1.max_prefix:",
            ),
            (
                "[interface.swp1]\nimport = [\"permit x\"]\n",
                ":4:10: interface.swp1.import: invalid value 'permit x': 'x' is not a prefix",
            ),
            (
                "[interface.swp1]\nttl_security = 1\n",
                ":4:16: interface.swp1.ttl_security: expected true or false",
            ),
            (
                "[interface.swp1]\npassword_file = \"/nonexistent/key\"\n",
                ":4:17: interface.swp1.password_file /nonexistent/key: cannot read it",
            ),
            ("interface = 5\n", ":3:13: interface:"),
        ] {
            let (e, _f) = with_file(&format!("{base}{table}"), &[]);
            let e = e.unwrap_err();
            assert!(e.contains(says), "{table:?}: {e}");
        }
    }

    #[test]
    fn password_file_checked_at_parse() {
        let empty = File::new("");
        let e = run(&["--iface", "eth0", "--asn", "1", "--password-file", empty.path()]).unwrap_err();
        assert!(e.starts_with("--password-file ") && e.contains("empty"), "{e}");
        let e = run(&["--iface", "eth0", "--asn", "1", "--password-file", "/dev/zero"]).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let long = File::new(&"x".repeat(100_000));
        let e = run(&["--iface", "eth0", "--asn", "1", "--password-file", long.path()]).unwrap_err();
        assert!(e.contains("at most 80"), "{e}");
        let key = File::new("k");
        let c = run(&["--iface", "eth0", "--asn", "1", "--password-file", key.path()]).unwrap();
        assert_eq!(
            c.policies.default.tcp_md5.map(|k| k.as_bytes().to_vec()),
            Some(b"k".to_vec())
        );
    }

    #[test]
    fn every_flag_is_a_key_but_config_and_check_config() {
        let keys = file_keys(&Cli::command());
        for key in ["interfaces", "asn", "router_id", "remote_as", "hold_time", "port"] {
            assert!(keys.contains(&key.to_string()), "{key} in {keys:?}");
        }
        for id in COMMAND_LINE_ONLY {
            assert!(!keys.contains(&id.to_string()), "{id} in {keys:?}");
        }
        let (err, _f) = with_file("config = \"/etc/other.toml\"\n", &[]);
        assert!(err.unwrap_err().contains("unknown key `config`"));
    }

    #[test]
    fn flags_override_the_file() {
        let (c, _f) = with_file(
            FULL,
            &[
                "--iface",
                "eth9",
                "--asn",
                "65009",
                "--ra-interval",
                "20",
                "--hold-time",
                "9",
            ],
        );
        let c = c.unwrap();
        // The command line's --iface replaces the file's list, not adds to it.
        assert_eq!(c.interfaces, vec!["eth9"]);
        assert_eq!(c.asn, 65009);
        assert_eq!(c.ra_interval, Duration::from_secs(20));
        assert_eq!(c.hold_time, 9);
        // What the flags did not set still comes from the file.
        assert_eq!(c.port, 1179);
        assert_eq!(c.max_neighbors, 8);
        let mut overridden = c.overridden.clone();
        overridden.sort();
        assert_eq!(overridden, vec!["asn", "hold_time", "interfaces", "ra_interval"]);
    }

    #[test]
    fn a_flag_left_at_its_default_does_not_override_the_file() {
        // ra_interval's default (10) is not "given": the file's 5 stands.
        let (c, _f) = with_file("ra_interval = 5\n", &["--iface", "eth0", "--asn", "1"]);
        assert_eq!(c.unwrap().ra_interval, Duration::from_secs(5));
    }

    #[test]
    fn unknown_key_named_with_line_and_column() {
        let (err, f) = with_file("asn = 65001\ninterfaces = [\"eth0\"]\n  hold_tme = 9\n", &[]);
        let err = err.unwrap_err();
        assert!(
            err.starts_with(&format!("{}:3:3: unknown key `hold_tme`", f.path())),
            "{err}"
        );
        assert!(err.contains("hold_time"), "lists the valid keys: {err}");
        assert!(!err.contains('\n'), "{err:?}");
    }

    #[test]
    fn file_errors_name_file_line_column_and_key() {
        let cases: &[(&str, &str)] = &[
            // TOML syntax
            ("asn = 65001\ninterfaces = [\"eth0\"\n", ":2:21: unclosed array"),
            ("asn = = 1\n", ":1:7: "),
            // a value its flag's parser refuses
            ("asn = 0\ninterfaces = [\"eth0\"]\n", ":1:7: asn: "),
            (
                "asn = 1\ninterfaces = [\"eth0\"]\nra_interval = 0\n",
                ":3:15: ra_interval: ",
            ),
            (
                "asn = 1\ninterfaces = [\"eth0\"]\nlog_level = \"loud\"\n",
                ":3:13: log_level: ",
            ),
            (
                "asn = 1\ninterfaces = [\"eth0\"]\nrouter_id = \"1.2.3\"\n",
                ":3:13: router_id: ",
            ),
            ("asn = 1\ninterfaces = [\"eth0\"]\nport = -1\n", ":3:8: port: "),
            (
                "asn = 1\ninterfaces = [\"eth0\"]\nnetworks = [\"10.0.0.1/24\"]\n",
                ":3:12: networks: ",
            ),
            // wrong shape or type
            ("asn = [1, 2]\n", ":1:7: asn: takes one value, not a list"),
            ("asn = 1.5\n", ":1:7: asn: expected a string or a number, not float"),
            (
                "interfaces = [[\"eth0\"]]\n",
                ":1:14: interfaces: expected strings or numbers, not array",
            ),
            ("[bgp]\nasn = 1\n", ":1:2: unknown key `bgp`"),
            // checks across settings name the key and where it is
            (
                "asn = 1\ninterfaces = [\"eth0\"]\nhold_time = 2\n",
                ":3:13: hold_time 2",
            ),
            (
                "asn = 1\ninterfaces = [\"eth0\", \"eth0\"]\n",
                ":2:14: interfaces eth0 given twice",
            ),
            ("asn = 1\ninterfaces = [\"a/b\"]\n", ":2:14: interfaces 'a/b'"),
            (
                "asn = 1\ninterfaces = [\"eth0\"]\nra_interval = 100\nra_lifetime = 50\n",
                ":4:15: ra_lifetime 50: must be 0 or at least",
            ),
        ];
        for (text, needle) in cases {
            let (err, f) = with_file(text, &[]);
            let err = err.expect_err(&format!("{text:?} should fail"));
            assert!(err.starts_with(f.path()), "{text:?}: {err:?} should name the file");
            assert!(err.contains(needle), "{text:?}: {err:?} should contain {needle:?}");
            assert!(!err.contains('\n'), "{text:?}: one line, got {err:?}");
        }
    }

    #[test]
    fn a_bad_file_value_fails_even_when_a_flag_overrides_it() {
        // The file is wrong and would break the next start without the flag.
        let (err, _f) = with_file(
            "ra_interval = 0\n",
            &["--iface", "eth0", "--asn", "1", "--ra-interval", "3"],
        );
        assert!(err.unwrap_err().contains(":1:15: ra_interval: "));
    }

    #[test]
    fn missing_or_unreadable_file() {
        let err = run(&["--config", "/nonexistent/ndbgpd.toml"]).unwrap_err();
        assert!(
            err.starts_with("--config /nonexistent/ndbgpd.toml: cannot read it"),
            "{err}"
        );
    }

    #[test]
    fn required_settings_from_either_place() {
        let (err, _f) = with_file("asn = 1\n", &[]);
        assert!(err.unwrap_err().contains("--iface"));
        let (err, _f) = with_file("interfaces = [\"eth0\"]\n", &[]);
        assert!(err.unwrap_err().contains("--asn"));
        let (c, _f) = with_file("interfaces = [\"eth0\"]\n", &["--asn", "7"]);
        assert_eq!(c.unwrap().asn, 7);
        // A single interface may be a plain string.
        let (c, _f) = with_file("interfaces = \"eth0\"\nasn = \"65001\"\n", &[]);
        let c = c.unwrap();
        assert_eq!((c.interfaces, c.asn), (vec!["eth0".to_string()], 65001));
    }

    #[test]
    fn check_config_returns_the_summary_or_the_error() {
        let file = File::new(FULL);
        let ok = parse(["ndbgpd", "--check-config", "--config", file.path()]).unwrap();
        let Parsed::Check(c) = ok else {
            panic!("expected Check, got {ok:?}")
        };
        let summary = c.summary();
        assert!(summary.contains("AS 4200000001"), "{summary}");
        assert!(summary.contains("interfaces swp1 swp2"), "{summary}");
        assert!(summary.contains(file.path()), "{summary}");
        assert!(!summary.contains('\n'));
        let bad = File::new("asn = 1\ninterfaces = [\"eth0\"]\nbogus = 1\n");
        let err = parse(["ndbgpd", "--check-config", "--config", bad.path()]).unwrap_err();
        assert!(err.0.contains(":3:1: unknown key `bogus`"), "{}", err.0);
        // Flags alone are checked too.
        let ok = parse(["ndbgpd", "--check-config", "--iface", "eth0", "--asn", "1"]).unwrap();
        assert!(matches!(ok, Parsed::Check(_)));
    }

    #[test]
    fn needs_restart_lists_changed_settings_but_not_interfaces() {
        let a = run(&["--iface", "eth0", "--asn", "1"]).unwrap();
        let b = run(&["--iface", "eth0", "--iface", "eth1", "--asn", "1"]).unwrap();
        assert!(a.needs_restart(&b).is_empty());
        let c = run(&[
            "--iface",
            "eth1",
            "--asn",
            "2",
            "--hold-time",
            "30",
            "--log-level",
            "debug",
        ])
        .unwrap();
        assert_eq!(a.needs_restart(&c), vec!["asn", "hold_time"]);
        let d = run(&["--iface", "eth0", "--asn", "1", "--no-optimistic-dad"]).unwrap();
        assert_eq!(a.needs_restart(&d), vec!["no_optimistic_dad"]);
        let e = run(&["--iface", "eth0", "--asn", "1", "--no-dad"]).unwrap();
        assert_eq!(a.needs_restart(&e), vec!["no_dad"]);
    }

    #[test]
    fn one_liner_defaults() {
        let c = run(&["--iface", "eth0", "--asn", "65001"]).unwrap();
        assert_eq!(c.interfaces, vec!["eth0"]);
        assert_eq!(c.asn, 65001);
        assert_eq!(c.ra_interval, Duration::from_secs(10));
        assert_eq!(c.ra_lifetime, 30);
        assert_eq!(c.max_neighbors, 64);
        assert_eq!(c.control_socket, PathBuf::from("/run/ndbgpd/ndbgpd.sock"));
        assert_eq!(c.discovery_hold, None);
        assert_eq!(c.hold_time, 9);
        assert_eq!(c.remote_as, RemoteAs::Any);
        assert_eq!(c.port, 179);
        assert!(c.optimistic_dad, "on by default");
        assert!(!c.no_dad, "DAD stays on by default");
    }

    #[test]
    fn several_interfaces_and_four_octet_asn() {
        let c = run(&["--iface", "swp1", "--iface", "swp2", "--asn", "4200000001"]).unwrap();
        assert_eq!(c.interfaces, vec!["swp1", "swp2"]);
        assert_eq!(c.asn, 4_200_000_001);
    }

    #[test]
    fn errors_name_the_flag_on_one_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["--asn", "65001"], "--iface"),
            (&["--iface", "eth0"], "--asn"),
            (&["--iface", "eth0", "--asn", "0"], "AS 0"),
            (&["--iface", "eth0", "--asn", "23456"], "AS_TRANS"),
            (&["--iface", "eth0", "--asn", "x"], "--asn"),
            (&["--iface", "eth0", "--asn", "4294967296"], "--asn"),
            (
                &["--iface", "eth0", "--asn", "1", "--router-id", "1.2.3"],
                "--router-id",
            ),
            (
                &["--iface", "eth0", "--asn", "1", "--ra-interval", "0"],
                "--ra-interval",
            ),
            (
                &["--iface", "eth0", "--asn", "1", "--ra-lifetime", "9001"],
                "--ra-lifetime",
            ),
            (
                &["--iface", "eth0", "--asn", "1", "--ra-lifetime", "5"],
                "--ra-lifetime",
            ),
            (&["--iface", "eth0", "--asn", "1", "--log-level", "loud"], "--log-level"),
            (&["--iface", "eth0", "--asn", "1", "--bogus"], "--bogus"),
            (&["--iface", "a/b", "--asn", "1"], "--iface"),
            (&["--iface", "abcdefghijklmnop", "--asn", "1"], "--iface"),
            (&["--iface", "eth0", "--iface", "eth0", "--asn", "1"], "twice"),
            (&["--iface", "eth0", "--asn", "1", "--hold-time", "2"], "--hold-time"),
            (
                &["--iface", "eth0", "--asn", "1", "--hold-time", "70000"],
                "--hold-time",
            ),
            (&["--iface", "eth0", "--asn", "1", "--remote-as", "ebgp"], "--remote-as"),
            (
                &["--iface", "eth0", "--asn", "1", "--router-id", "0.0.0.0"],
                "--router-id",
            ),
            (&["--iface", "eth0", "--asn", "1", "--port", "0"], "--port"),
            (&["--iface", "eth0", "--asn", "1", "--network", "10.0.0.1"], "--network"),
            (
                &["--iface", "eth0", "--asn", "1", "--network", "10.0.0.1/24"],
                "host bits",
            ),
            (
                &["--iface", "eth0", "--asn", "1", "--redistribute", "static"],
                "--redistribute",
            ),
            (&["--iface", "eth0", "--asn", "1", "--max-paths", "0"], "--max-paths"),
        ];
        for (args, needle) in cases {
            let err = run(args).expect_err(&format!("{args:?} should fail"));
            assert!(err.contains(needle), "{args:?}: {err:?} should name {needle}");
            assert!(!err.contains('\n'), "{args:?}: one line, got {err:?}");
        }
    }

    #[test]
    fn networks_and_redistribution() {
        let c = run(&[
            "--iface",
            "eth0",
            "--asn",
            "1",
            "--network",
            "10.0.0.1/32",
            "--network",
            "2001:db8::/64",
            "--network",
            "10.0.0.1/32",
            "--redistribute",
            "connected",
            "--max-paths",
            "8",
        ])
        .unwrap();
        assert_eq!(
            c.networks,
            vec![
                "10.0.0.1/32".parse().unwrap(),
                "2001:db8::/64".parse::<IpNet>().unwrap()
            ]
        );
        assert!(c.redistribute_connected);
        assert_eq!(c.max_paths, 8);
        let d = run(&["--iface", "eth0", "--asn", "1"]).unwrap();
        assert!(d.networks.is_empty() && !d.redistribute_connected);
        assert_eq!(d.max_paths, 64);
    }

    #[test]
    fn lifetime_zero_is_allowed() {
        let c = run(&["--iface", "eth0", "--asn", "1", "--ra-lifetime", "0"]).unwrap();
        assert_eq!(c.ra_lifetime, 0);
    }

    #[test]
    fn help_is_not_an_error() {
        assert!(matches!(run(&["--help"]), Err(e) if e == "info"));
    }

    #[test]
    fn help_shows_an_example_the_privileges_and_the_signals() {
        for flag in ["--help", "-h"] {
            let Ok(Parsed::Info(help)) = parse(["ndbgpd", flag]) else {
                panic!("{flag} is not help");
            };
            for wanted in [
                "ndbgpd --iface eth0",
                "CAP_NET_RAW",
                "CAP_NET_ADMIN",
                "CAP_NET_BIND_SERVICE",
                "SIGHUP",
                "SIGTERM",
                "SIGINT",
            ] {
                assert!(help.contains(wanted), "{flag} lacks {wanted}:\n{help}");
            }
        }
    }

    #[test]
    fn the_file_text_can_come_from_elsewhere() {
        let args = ["ndbgpd", "--check-config", "--config", "/nonexistent/in-memory.toml"];
        let ok = parse_reading(args, |_| Ok(FULL.to_string())).unwrap();
        assert!(matches!(ok, Parsed::Check(c) if c.asn == 4_200_000_001));
        let err = parse_reading(args, |_| Ok("asn = 1\nbogus = 1\n".into())).unwrap_err();
        assert!(
            err.0
                .starts_with("/nonexistent/in-memory.toml:2:1: unknown key `bogus`"),
            "{}",
            err.0
        );
    }
}
