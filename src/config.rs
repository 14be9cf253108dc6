//! Command line -> validated `Config`.
//!
//! Every bad flag or value ends in one line that names it (`ndbgpd: error:
//! ...`) and exit code 2, so a typo in a systemd unit is obvious in the journal.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::bgp::fsm::{DEFAULT_HOLD_TIME, RemoteAs};
use crate::bgp::msg::BGP_PORT;
use clap::error::ErrorKind;

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// RFC 4861 6.2.1: MaxRtrAdvInterval at most 1800 s; AdvDefaultLifetime at most 9000 s.
const RA_INTERVAL_MAX: u64 = 1800;
const RA_LIFETIME_MAX: u16 = 9000;

#[derive(Parser, Debug)]
#[command(
    name = "ndbgpd",
    version,
    about = "BGP unnumbered daemon: finds neighbours by IPv6 Neighbor Discovery and peers with them"
)]
struct Cli {
    /// Interface to discover neighbours and run BGP on (repeat for more).
    #[arg(long = "iface", value_name = "IF", required = true)]
    ifaces: Vec<String>,

    /// Our autonomous system number (1-4294967295).
    #[arg(long, value_name = "N", value_parser = parse_asn)]
    asn: u32,

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

    /// TCP port to listen on and dial (tests use another).
    #[arg(long, value_name = "PORT", default_value_t = BGP_PORT,
          value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,

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
}

fn parse_remote_as(s: &str) -> Result<RemoteAs, String> {
    s.parse()
        .map_err(|e: crate::bgp::fsm::ParseRemoteAsError| e.to_string())
}

fn parse_asn(s: &str) -> Result<u32, String> {
    let asn: u32 = s
        .parse()
        .map_err(|_| format!("'{s}' is not an AS number (1-4294967295)"))?;
    if asn == 0 {
        // RFC 7607: AS 0 must not be used.
        return Err("AS 0 is reserved (RFC 7607)".into());
    }
    Ok(asn)
}

/// The validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub interfaces: Vec<String>,
    pub asn: u32,
    pub router_id: Option<Ipv4Addr>,
    pub remote_as: RemoteAs,
    pub hold_time: u16,
    pub port: u16,
    pub control_socket: PathBuf,
    pub log_level: String,
    pub ra_interval: Duration,
    pub ra_lifetime: u16,
    pub max_neighbors: usize,
    pub discovery_hold: Option<Duration>,
}

/// What parsing the command line ended in.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Config>),
    /// --help or --version: print this to stdout and exit 0.
    Info(String),
}

/// A bad flag or value: one line, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub fn parse<I, T>(args: I) -> Result<Parsed, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Info(e.to_string()));
        }
        Err(e) => return Err(ConfigError(first_line(&e.to_string()))),
    };
    validate(cli).map(|c| Parsed::Run(Box::new(c)))
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

fn validate(cli: Cli) -> Result<Config, ConfigError> {
    let mut interfaces: Vec<String> = Vec::new();
    for name in cli.ifaces {
        check_ifname(&name)?;
        if interfaces.contains(&name) {
            return Err(ConfigError(format!("--iface {name} given twice")));
        }
        interfaces.push(name);
    }
    if cli.hold_time == 1 || cli.hold_time == 2 {
        // RFC 4271 4.2: zero or at least three seconds.
        return Err(ConfigError(format!(
            "--hold-time {}: must be 0 or at least 3 s (RFC 4271 4.2)",
            cli.hold_time
        )));
    }
    if cli.router_id.is_some_and(|id| id.is_unspecified()) {
        return Err(ConfigError(
            "--router-id 0.0.0.0 is not a valid BGP identifier (RFC 4271 6.2)".into(),
        ));
    }
    let ra_lifetime = match cli.ra_lifetime {
        Some(l) if l > RA_LIFETIME_MAX => {
            return Err(ConfigError(format!(
                "--ra-lifetime {l}: at most {RA_LIFETIME_MAX} s (RFC 4861 6.2.1)"
            )));
        }
        // RFC 4861 6.2.1: non-zero lifetime no less than the RA interval.
        Some(l) if l != 0 && u64::from(l) < cli.ra_interval => {
            return Err(ConfigError(format!(
                "--ra-lifetime {l}: must be 0 or at least --ra-interval ({} s)",
                cli.ra_interval
            )));
        }
        Some(l) => l,
        None => u16::try_from(cli.ra_interval * 3)
            .unwrap_or(RA_LIFETIME_MAX)
            .min(RA_LIFETIME_MAX),
    };
    Ok(Config {
        interfaces,
        asn: cli.asn,
        router_id: cli.router_id,
        remote_as: cli.remote_as,
        hold_time: cli.hold_time,
        port: cli.port,
        control_socket: cli.control_socket,
        log_level: cli.log_level,
        ra_interval: Duration::from_secs(cli.ra_interval),
        ra_lifetime,
        max_neighbors: usize::try_from(cli.max_neighbors).unwrap_or(usize::MAX),
        discovery_hold: cli.discovery_hold.map(Duration::from_secs),
    })
}

fn check_ifname(name: &str) -> Result<(), ConfigError> {
    let bad = name.is_empty()
        || name.len() > IFNAME_MAX
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(ConfigError(format!(
            "--iface '{name}': not a valid interface name (1-{IFNAME_MAX} characters, no '/', ':' or spaces)"
        )));
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
            Ok(Parsed::Info(_)) => Err("info".into()),
            Err(e) => Err(e.0),
        }
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
        ];
        for (args, needle) in cases {
            let err = run(args).expect_err(&format!("{args:?} should fail"));
            assert!(err.contains(needle), "{args:?}: {err:?} should name {needle}");
            assert!(!err.contains('\n'), "{args:?}: one line, got {err:?}");
        }
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
}
