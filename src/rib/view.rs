//! The `routes` view a page at a time, and the text forms of path
//! attributes in `ndbgpctl routes` (the view types themselves are in
//! [`crate::api`]).

use ipnet::IpNet;

use super::{Rib, RouteView};
use crate::msg::update::{AsPath, AsSegment, Origin};

impl Rib {
    /// The first `limit` routes equal to or inside `within` (all without
    /// it) past `after`, in prefix order: the control socket walks the
    /// table a page at a time, each page resuming after the last prefix
    /// of the one before, so no answer copies the whole table and the
    /// routes task goes on with its work between pages. `rejected`: the
    /// paths import rejected instead of the eligible ones.
    pub fn routes_page(
        &self,
        within: Option<IpNet>,
        after: Option<IpNet>,
        limit: usize,
        rejected: bool,
    ) -> Vec<RouteView> {
        self.table
            .iter_within_after(within, after)
            .filter_map(|(prefix, entry)| self.route_view(prefix, entry, rejected))
            .take(limit)
            .collect()
    }
}

pub(super) fn as_path_text(path: &AsPath) -> String {
    let mut text = String::new();
    for segment in &path.segments {
        let (open, sep, close, asns) = match segment {
            AsSegment::Sequence(v) => ("", " ", "", v),
            AsSegment::Set(v) => ("{", ",", "}", v),
            AsSegment::ConfedSequence(v) => ("(", " ", ")", v),
            AsSegment::ConfedSet(v) => ("[", ",", "]", v),
        };
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(open);
        let list: Vec<String> = asns.iter().map(u32::to_string).collect();
        text.push_str(&list.join(sep));
        text.push_str(close);
    }
    text
}

pub(super) fn origin_text(origin: Option<Origin>) -> String {
    match origin {
        Some(Origin::Igp) => "igp",
        Some(Origin::Egp) => "egp",
        Some(Origin::Incomplete) => "incomplete",
        None => "none",
    }
    .to_string()
}

pub(super) fn community_text(community: u32) -> String {
    format!("{}:{}", community >> 16, community & 0xffff)
}

pub(super) fn large_community_text(community: &[u32; 3]) -> String {
    format!("{}:{}:{}", community[0], community[1], community[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_path_formats_every_segment_kind() {
        let path = AsPath {
            segments: vec![
                AsSegment::ConfedSequence(vec![64512, 64513]),
                AsSegment::Sequence(vec![65001, 65002]),
                AsSegment::Set(vec![65003, 65004]),
                AsSegment::ConfedSet(vec![64514]),
            ],
        };
        assert_eq!(as_path_text(&path), "(64512 64513) 65001 65002 {65003,65004} [64514]");
        assert_eq!(as_path_text(&AsPath::default()), "");
    }

    #[test]
    fn communities_format_as_pairs() {
        assert_eq!(community_text(0xFDE9_0064), "65001:100");
        assert_eq!(large_community_text(&[65001, 1, 2]), "65001:1:2");
        assert_eq!(origin_text(Some(Origin::Egp)), "egp");
    }
}
