//! Checks of the host before the daemon starts, and the words for what they
//! find: configured interfaces that do not exist (a typo like `eht0`).
//! Config parsing stays pure; these read the host (/proc, the kernel's
//! interface names) and live here.

/// The configured interfaces the kernel does not know (now).
pub fn missing_interfaces(names: &[String]) -> Vec<&str> {
    names
        .iter()
        .filter(|name| nix::net::if_::if_nametoindex(name.as_str()).is_err())
        .map(String::as_str)
        .collect()
}

/// The warning for an interface that does not exist: the daemon waits for
/// it, but a typo would wait forever.
pub fn missing_interface_warning(name: &str) -> String {
    format!("interface {name} does not exist (yet)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_that_cannot_exist_is_missing() {
        // A name no test creates; "lo" is in every namespace.
        let names = vec!["lo".to_string(), "no-such-iface0".to_string()];
        assert_eq!(missing_interfaces(&names), ["no-such-iface0"]);
    }
}
