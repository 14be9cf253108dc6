//! Prefix lists as in FRR: `permit|deny PREFIX [ge N] [le N]`, the first
//! matching rule decides, and a given list denies what no rule matches.

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Permit,
    Deny,
}

/// One rule: a prefix matches when it lies inside `prefix` and its length
/// is in `ge..=le` (without ge/le: exactly the rule's length; `ge` alone
/// goes up to the family's maximum, `le` alone starts at the rule's length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixRule {
    pub action: Action,
    pub prefix: IpNet,
    pub ge: Option<u8>,
    pub le: Option<u8>,
}

impl PrefixRule {
    /// The lengths this rule matches.
    fn lengths(&self) -> (u8, u8) {
        let len = self.prefix.prefix_len();
        match (self.ge, self.le) {
            (None, None) => (len, len),
            (Some(ge), None) => (ge, self.prefix.max_prefix_len()),
            (None, Some(le)) => (len, le),
            (Some(ge), Some(le)) => (ge, le),
        }
    }

    pub fn matches(&self, prefix: &IpNet) -> bool {
        let (low, high) = self.lengths();
        let len = prefix.prefix_len();
        // contains() is false across families.
        low <= len && len <= high && self.prefix.contains(prefix)
    }
}

impl FromStr for PrefixRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "expected 'permit|deny PREFIX [ge N] [le N]', e.g. 'permit 10.0.0.0/8 le 32'";
        let mut words = s.split_whitespace();
        let action = match words.next() {
            Some("permit") => Action::Permit,
            Some("deny") => Action::Deny,
            Some(other) => return Err(format!("'{other}': {usage}")),
            None => return Err(format!("empty rule: {usage}")),
        };
        let Some(prefix) = words.next() else {
            return Err(format!("'{s}': no prefix: {usage}"));
        };
        let prefix: IpNet = prefix
            .parse()
            .map_err(|_| format!("'{prefix}' is not a prefix like 10.0.0.0/8 or 2001:db8::/32"))?;
        if prefix.trunc() != prefix {
            return Err(format!(
                "'{prefix}' has host bits set: did you mean {}?",
                prefix.trunc()
            ));
        }
        let max = prefix.max_prefix_len();
        let mut ge = None;
        let mut le = None;
        while let Some(word) = words.next() {
            let slot = match word {
                "ge" if ge.is_none() && le.is_none() => &mut ge,
                "le" if le.is_none() => &mut le,
                _ => return Err(format!("'{word}' unexpected in '{s}': {usage}")),
            };
            let n = words
                .next()
                .and_then(|n| n.parse::<u8>().ok())
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("'{word}' needs a length 0-{max} in '{s}'"))?;
            *slot = Some(n);
        }
        // As FRR: len <= ge <= le <= max.
        let len = prefix.prefix_len();
        if ge.is_some_and(|ge| ge < len) || le.is_some_and(|le| le < len || ge.is_some_and(|ge| ge > le)) {
            return Err(format!(
                "'{s}': the lengths must satisfy {len} <= ge <= le <= {max} (the prefix is /{len})"
            ));
        }
        Ok(PrefixRule { action, prefix, ge, le })
    }
}

impl fmt::Display for PrefixRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Permit => "permit",
            Action::Deny => "deny",
        };
        write!(f, "{action} {}", self.prefix)?;
        if let Some(ge) = self.ge {
            write!(f, " ge {ge}")?;
        }
        if let Some(le) = self.le {
            write!(f, " le {le}")?;
        }
        Ok(())
    }
}

/// A filter on prefixes: none given permits everything; a given list
/// permits what its first matching rule permits and denies the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixFilter {
    rules: Option<Vec<PrefixRule>>,
}

impl PrefixFilter {
    /// Everything passes.
    pub fn permit_all() -> Self {
        PrefixFilter { rules: None }
    }

    /// The rules, first match decides, implicit deny. An empty list (TOML
    /// `import = []`) is no list: everything passes.
    pub fn new(rules: Vec<PrefixRule>) -> Self {
        PrefixFilter {
            rules: (!rules.is_empty()).then_some(rules),
        }
    }

    pub fn permits(&self, prefix: &IpNet) -> bool {
        let Some(rules) = &self.rules else {
            return true;
        };
        rules
            .iter()
            .find(|r| r.matches(prefix))
            .is_some_and(|r| r.action == Action::Permit)
    }

    pub fn rules(&self) -> &[PrefixRule] {
        self.rules.as_deref().unwrap_or(&[])
    }

    pub fn is_permit_all(&self) -> bool {
        self.rules.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> PrefixRule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn filter(rules: &[&str]) -> PrefixFilter {
        PrefixFilter::new(rules.iter().map(|r| rule(r)).collect())
    }

    #[test]
    fn exact_ge_le_ranges() {
        let exact = rule("permit 10.0.0.0/8");
        assert!(exact.matches(&net("10.0.0.0/8")));
        assert!(!exact.matches(&net("10.1.0.0/16")));
        let le = rule("permit 10.0.0.0/8 le 24");
        assert!(le.matches(&net("10.0.0.0/8")));
        assert!(le.matches(&net("10.1.2.0/24")));
        assert!(!le.matches(&net("10.1.2.0/25")));
        assert!(!le.matches(&net("11.0.0.0/8")));
        let ge = rule("permit 10.0.0.0/8 ge 16");
        assert!(!ge.matches(&net("10.0.0.0/8")));
        assert!(ge.matches(&net("10.1.2.3/32")));
        let both = rule("deny 2001:db8::/32 ge 48 le 64");
        assert!(both.matches(&net("2001:db8:1::/48")));
        assert!(both.matches(&net("2001:db8:1:2::/64")));
        assert!(!both.matches(&net("2001:db8::/32")));
        assert!(!both.matches(&net("2001:db8:1:2::/65")));
    }

    #[test]
    fn families_never_match_each_other() {
        let any4 = rule("permit 0.0.0.0/0 le 32");
        assert!(any4.matches(&net("192.0.2.0/24")));
        assert!(!any4.matches(&net("::/0")));
        assert!(!any4.matches(&net("2001:db8::/32")));
        assert!(rule("permit ::/0 le 128").matches(&net("2001:db8::1/128")));
    }

    #[test]
    fn first_match_decides_and_the_rest_is_denied() {
        let f = filter(&["deny 0.0.0.0/0", "permit 10.0.0.0/8 le 32"]);
        assert!(!f.permits(&net("0.0.0.0/0")));
        assert!(f.permits(&net("10.9.0.0/16")));
        assert!(!f.permits(&net("192.0.2.0/24")), "no rule matches: denied");
        assert!(!f.permits(&net("2001:db8::/32")), "a list of IPv4 rules denies IPv6");
        let order = filter(&["permit 10.0.0.0/8 le 32", "deny 10.1.0.0/16"]);
        assert!(order.permits(&net("10.1.0.0/16")), "the first match wins");
    }

    #[test]
    fn no_list_or_an_empty_one_permits_everything() {
        assert!(PrefixFilter::permit_all().permits(&net("0.0.0.0/0")));
        assert!(PrefixFilter::new(Vec::new()).permits(&net("::/0")));
        assert!(PrefixFilter::new(Vec::new()).is_permit_all());
    }

    #[test]
    fn bad_rules_are_named() {
        for (bad, says) in [
            ("", "empty rule"),
            ("allow 10.0.0.0/8", "'allow'"),
            ("permit", "no prefix"),
            ("permit 10.0.0.0", "not a prefix"),
            ("permit 10.0.0.1/8", "host bits"),
            ("permit 10.0.0.0/8 le 33", "0-32"),
            ("permit 10.0.0.0/8 ge", "needs a length"),
            ("permit 10.0.0.0/16 le 8", "16 <= ge <= le"),
            ("permit 10.0.0.0/8 ge 24 le 16", "ge <= le"),
            ("permit 10.0.0.0/8 le 24 ge 16", "'ge' unexpected"),
            ("permit 10.0.0.0/8 le 24 le 25", "'le' unexpected"),
            ("permit 10.0.0.0/8 exact", "'exact' unexpected"),
        ] {
            let e = bad.parse::<PrefixRule>().expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "permit 10.0.0.0/8",
            "deny 2001:db8::/32 ge 48 le 64",
            "permit 0.0.0.0/0 ge 8",
        ] {
            assert_eq!(rule(s).to_string(), s);
        }
    }
}
