//! What a port is trusted with: route filters, the prefix limit, the first-AS
//! check, and session authentication (TCP-MD5, GTSM). A default applies to
//! every configured interface; the config file can override it per interface
//! (`[interface.NAME]`). The daemon publishes the resolved set in a `watch`,
//! and a SIGHUP replaces it (docs/ARCHITECTURE.md, section "Policy").

mod prefix_list;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use prefix_list::{Action, PrefixFilter, PrefixRule};

/// RFC 2385 keys are at most 80 bytes (the kernel's TCP_MD5SIG_MAXKEYLEN).
pub const TCP_MD5_KEY_MAX: usize = 80;
/// `--max-prefix-restart`'s default: seconds before a session closed for too
/// many prefixes is dialled again.
pub const DEFAULT_MAX_PREFIX_RESTART: Duration = Duration::from_secs(60);

/// A TCP-MD5 key as read from its file: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TcpMd5Key(Vec<u8>);

impl TcpMd5Key {
    /// The key from a password file's text: one line; the trailing newline
    /// is not part of it.
    pub fn from_file_text(text: &[u8]) -> Result<TcpMd5Key, String> {
        let key = text.strip_suffix(b"\n").unwrap_or(text);
        let key = key.strip_suffix(b"\r").unwrap_or(key);
        if key.is_empty() {
            return Err("the file is empty; it must hold the key on one line".into());
        }
        if key.contains(&b'\n') {
            return Err("the file has more than one line; it must hold the key on one line".into());
        }
        if key.len() > TCP_MD5_KEY_MAX {
            return Err(format!(
                "the key is {} bytes; TCP-MD5 keys are at most {TCP_MD5_KEY_MAX}",
                key.len()
            ));
        }
        Ok(TcpMd5Key(key.to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TcpMd5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TcpMd5Key(<redacted>)")
    }
}

/// Everything that applies to the sessions on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Routes accepted from the peer (`--import`).
    pub import: PrefixFilter,
    /// Routes sent to the peer (`--export`).
    pub export: PrefixFilter,
    /// eBGP: the first AS of AS_PATH must be the peer's (treat-as-withdraw).
    pub enforce_first_as: bool,
    /// Most prefixes (both families together) the peer may send.
    pub max_prefix: Option<u32>,
    /// How long after closing for `max_prefix` the session may come back;
    /// zero: only on an operator's command or a SIGHUP.
    pub max_prefix_restart: Duration,
    /// RFC 2385 key for every session on the interface.
    pub tcp_md5: Option<TcpMd5Key>,
    /// RFC 5082: accept only segments with hop limit 255 and send 255.
    pub ttl_security: bool,
}

impl Default for SessionPolicy {
    /// Today's behaviour of a one-liner: trust the port, check the first AS.
    fn default() -> Self {
        SessionPolicy {
            import: PrefixFilter::permit_all(),
            export: PrefixFilter::permit_all(),
            enforce_first_as: true,
            max_prefix: None,
            max_prefix_restart: DEFAULT_MAX_PREFIX_RESTART,
            tcp_md5: None,
            ttl_security: false,
        }
    }
}

impl SessionPolicy {
    /// The part the RIB applies to the routes of a session.
    pub fn routes(&self) -> RoutePolicy {
        RoutePolicy {
            import: self.import.clone(),
            export: self.export.clone(),
            enforce_first_as: self.enforce_first_as,
        }
    }
}

/// What the RIB applies to one peer's routes: a SIGHUP that changes it
/// re-runs import over the stored Adj-RIB-In and re-sends export, without
/// touching the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePolicy {
    pub import: PrefixFilter,
    pub export: PrefixFilter,
    pub enforce_first_as: bool,
}

impl Default for RoutePolicy {
    /// As [`SessionPolicy::default`]: everything passes, the first AS is checked.
    fn default() -> Self {
        SessionPolicy::default().routes()
    }
}

/// The session policy of every interface: a default and per-interface
/// overrides (already merged with the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub default: SessionPolicy,
    pub interfaces: BTreeMap<String, SessionPolicy>,
}

impl Policies {
    pub fn for_interface(&self, name: &str) -> &SessionPolicy {
        self.interfaces.get(name).unwrap_or(&self.default)
    }

    /// Every key in use: the default's and the overrides', to install on
    /// the listener.
    pub fn tcp_md5_keys(&self) -> impl Iterator<Item = (Option<&str>, &TcpMd5Key)> {
        let default = self.default.tcp_md5.as_ref().map(|k| (None, k));
        let interfaces = self
            .interfaces
            .iter()
            .filter_map(|(name, p)| p.tcp_md5.as_ref().map(|k| (Some(name.as_str()), k)));
        default.into_iter().chain(interfaces)
    }
}

/// What sessions and the routes task follow; a reload sends a new one.
pub type SharedPolicies = Arc<Policies>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_line_and_never_printed() {
        let key = TcpMd5Key::from_file_text(b"s3cret\n").unwrap();
        assert_eq!(key.as_bytes(), b"s3cret");
        assert_eq!(TcpMd5Key::from_file_text(b"s3cret\r\n").unwrap().as_bytes(), b"s3cret");
        assert!(!format!("{key:?}").contains("s3cret"));
        assert!(TcpMd5Key::from_file_text(b"\n").unwrap_err().contains("empty"));
        assert!(TcpMd5Key::from_file_text(b"a\nb\n").unwrap_err().contains("one line"));
        assert!(TcpMd5Key::from_file_text(&[b'x'; 81]).unwrap_err().contains("81 bytes"));
        assert!(TcpMd5Key::from_file_text(&[b'x'; 80]).is_ok());
    }

    #[test]
    fn an_interface_without_override_gets_the_default() {
        let mut policies = Policies::default();
        let strict = SessionPolicy {
            max_prefix: Some(10),
            ..SessionPolicy::default()
        };
        policies.interfaces.insert("swp1".into(), strict.clone());
        assert_eq!(policies.for_interface("swp1"), &strict);
        assert_eq!(policies.for_interface("swp2"), &SessionPolicy::default());
    }
}
