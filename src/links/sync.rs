//! Building a fresh state from dumps while events keep coming (Sans-IO).
//!
//! The dumps are requested on the event socket, so their replies and the
//! events arrive in one stream, in the order the kernel queued them. That
//! order makes a resync after an overrun correct: the kernel reports ENOBUFS
//! before the messages still queued, so an event read after the overrun but
//! before the first dump reply may be older than one that was lost. Such
//! events are dropped (the dump, taken later, covers them); events read
//! after the first reply are newer than the loss and are applied, in order,
//! on top of the dump. An overrun during the sync starts it over.

use std::collections::BTreeSet;

use anyhow::bail;
use netlink_packet_core::{NLM_F_DUMP_INTR, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use tracing::{debug, warn};

use crate::peers::Observation;

use super::convert::{Event, classify, classify_route};
use super::state::Table;

/// A dump interrupted by concurrent changes (NLM_F_DUMP_INTR) is retried
/// this many times in all.
pub(crate) const DUMP_ATTEMPTS: usize = 5;

/// What to dump. Links first, so that addresses and neighbours find their
/// interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dump {
    Links,
    Addrs,
    Neighbours,
}

const ORDER: [Dump; 3] = [Dump::Links, Dump::Addrs, Dump::Neighbours];

impl Dump {
    /// The request (to be sent with NLM_F_REQUEST | NLM_F_DUMP).
    pub fn request(self) -> RouteNetlinkMessage {
        match self {
            Dump::Links => RouteNetlinkMessage::GetLink(LinkMessage::default()),
            // IPv4 and IPv6 (AF_UNSPEC): link-locals and the host's addresses.
            Dump::Addrs => RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            Dump::Neighbours => {
                let mut m = NeighbourMessage::default();
                m.header.family = AddressFamily::Inet6;
                RouteNetlinkMessage::GetNeighbour(m)
            }
        }
    }
}

/// What the driver must do after a message.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing: read the next message.
    Wait,
    /// Send this dump request.
    Request(Dump),
    /// The fresh table, and the neighbours to report.
    Done(Table, Vec<Observation>),
}

/// One sync in progress.
#[derive(Debug)]
pub(crate) struct Sync {
    names: BTreeSet<String>,
    /// Our socket's port id: replies to our dumps carry it, events do not.
    port: u32,
    /// Index in ORDER of the dump in progress.
    stage: usize,
    attempt: usize,
    /// Some reply to this sync has been read: later events are kept.
    replied: bool,
    overrun: bool,
    interrupted: bool,
    replies: Vec<RouteNetlinkMessage>,
    dumped: Vec<Event>,
    after: Vec<Event>,
}

impl Sync {
    /// Start a sync; send the returned request first.
    pub fn new(names: BTreeSet<String>, port: u32) -> (Sync, Dump) {
        let sync = Sync {
            names,
            port,
            stage: 0,
            attempt: 1,
            replied: false,
            overrun: false,
            interrupted: false,
            replies: Vec::new(),
            dumped: Vec::new(),
            after: Vec::new(),
        };
        (sync, ORDER[0])
    }

    pub fn on_message(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> anyhow::Result<Step> {
        let what = ORDER[self.stage];
        if msg.header.port_number != self.port {
            match classify(msg) {
                Event::Overrun => self.overrun = true,
                event if self.replied => self.after.push(event),
                _ => {}
            }
            return Ok(Step::Wait);
        }
        self.replied = true;
        self.interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => {
                self.replies.push(m);
                Ok(Step::Wait)
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                bail!("netlink: dump of {what:?} refused: {e}")
            }
            NetlinkPayload::Done(d) if d.code < 0 => {
                bail!("netlink: dump of {what:?} failed with code {}", d.code)
            }
            NetlinkPayload::Done(_) => self.dump_done(),
            _ => Ok(Step::Wait),
        }
    }

    fn dump_done(&mut self) -> anyhow::Result<Step> {
        let what = ORDER[self.stage];
        let replies = std::mem::take(&mut self.replies);
        if std::mem::take(&mut self.interrupted) {
            if self.attempt == DUMP_ATTEMPTS {
                bail!("netlink: dump of {what:?} interrupted {DUMP_ATTEMPTS} times in a row");
            }
            debug!("netlink: dump of {what:?} interrupted by a change, retrying");
            self.attempt += 1;
            return Ok(Step::Request(what));
        }
        self.dumped.extend(replies.iter().map(classify_route));
        self.attempt = 1;
        self.stage += 1;
        if let Some(&next) = ORDER.get(self.stage) {
            return Ok(Step::Request(next));
        }
        if self.overrun {
            warn!("netlink: socket overrun (ENOBUFS) during the dump; dumping again");
            let names = std::mem::take(&mut self.names);
            let (fresh, first) = Sync::new(names, self.port);
            *self = fresh;
            return Ok(Step::Request(first));
        }
        let mut table = Table::new(std::mem::take(&mut self.names));
        let mut observations = Vec::new();
        let events = std::mem::take(&mut self.dumped)
            .into_iter()
            .chain(std::mem::take(&mut self.after));
        for event in events {
            table.apply_event(event, &mut observations);
        }
        Ok(Step::Done(table, observations))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroI32;

    use netlink_packet_core::{DoneMessage, ErrorMessage, NLM_F_MULTIPART, NLMSG_OVERRUN, NetlinkHeader};
    use netlink_packet_route::address::AddressAttribute;
    use netlink_packet_route::link::{LinkAttribute, LinkFlags};
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourState};

    use super::*;

    const PORT: u32 = 4242;
    const IP_TOOL_PORT: u32 = 777;

    fn names() -> BTreeSet<String> {
        ["eth0".to_string()].into()
    }

    fn link(up: bool) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = 3;
        m.header.flags = if up {
            LinkFlags::Up | LinkFlags::LowerUp
        } else {
            LinkFlags::empty()
        };
        m.attributes.push(LinkAttribute::IfName("eth0".into()));
        RouteNetlinkMessage::NewLink(m)
    }

    fn neighbour(last: u8) -> RouteNetlinkMessage {
        let mut m = NeighbourMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.header.ifindex = 3;
        m.header.state = NeighbourState::Reachable;
        m.header.flags = NeighbourFlags::empty();
        let addr = format!("fe80::{last:x}").parse().expect("address");
        m.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(addr)));
        m.attributes
            .push(NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, last]));
        RouteNetlinkMessage::NewNeighbour(m)
    }

    /// An IPv4 address on eth0, added or removed.
    fn ipv4(added: bool, local: &str) -> RouteNetlinkMessage {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = 24;
        m.header.index = 3;
        m.attributes
            .push(AddressAttribute::Local(local.parse().expect("address")));
        if added {
            RouteNetlinkMessage::NewAddress(m)
        } else {
            RouteNetlinkMessage::DelAddress(m)
        }
    }

    /// A multicast event (caused by some other socket).
    fn event(m: RouteNetlinkMessage) -> NetlinkMessage<RouteNetlinkMessage> {
        let mut msg = NetlinkMessage::from(m);
        msg.header.port_number = IP_TOOL_PORT;
        msg
    }

    /// A reply to our dump.
    fn reply(m: RouteNetlinkMessage) -> NetlinkMessage<RouteNetlinkMessage> {
        let mut msg = NetlinkMessage::from(m);
        msg.header.port_number = PORT;
        msg.header.flags = NLM_F_MULTIPART;
        msg
    }

    fn done() -> NetlinkMessage<RouteNetlinkMessage> {
        let mut hdr = NetlinkHeader::default();
        hdr.port_number = PORT;
        hdr.flags = NLM_F_MULTIPART;
        NetlinkMessage::new(hdr, NetlinkPayload::Done(DoneMessage::default()))
    }

    fn overrun() -> NetlinkMessage<RouteNetlinkMessage> {
        let mut hdr = NetlinkHeader::default();
        hdr.message_type = NLMSG_OVERRUN;
        NetlinkMessage::new(hdr, NetlinkPayload::Overrun(Vec::new()))
    }

    fn feed(sync: &mut Sync, msgs: Vec<NetlinkMessage<RouteNetlinkMessage>>) -> Vec<Step> {
        msgs.into_iter()
            .map(|m| sync.on_message(m).expect("step"))
            .filter(|s| !matches!(s, Step::Wait))
            .collect()
    }

    fn requests(steps: &[Step]) -> Vec<Dump> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Request(d) => Some(*d),
                _ => None,
            })
            .collect()
    }

    fn finish(steps: Vec<Step>) -> (Table, Vec<Observation>) {
        match steps.into_iter().last() {
            Some(Step::Done(t, o)) => (t, o),
            other => panic!("sync not done: {other:?}"),
        }
    }

    #[test]
    fn dumps_in_order_and_builds_the_table() {
        let (mut s, first) = Sync::new(names(), PORT);
        assert_eq!(first, Dump::Links);
        let steps = feed(
            &mut s,
            vec![
                reply(link(true)),
                done(),
                done(), // no addresses
                reply(neighbour(0x99)),
                done(),
            ],
        );
        assert_eq!(requests(&steps), [Dump::Addrs, Dump::Neighbours]);
        let (t, obs) = finish(steps);
        assert!(t.snapshot().links()["eth0"].up);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].mac, Some([2, 0, 0, 0, 0, 0x99]));
    }

    #[test]
    fn addresses_of_both_families_from_the_dump_and_later_events() {
        assert_eq!(
            Dump::Addrs.request(),
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            "the address dump asks for every family"
        );
        let (mut s, _) = Sync::new(names(), PORT);
        let steps = feed(
            &mut s,
            vec![
                reply(link(true)),
                done(),
                reply(ipv4(true, "192.0.2.1")),
                reply(ipv4(true, "192.0.2.2")),
                event(ipv4(false, "192.0.2.1")),
                event(ipv4(true, "192.0.2.3")),
                done(),
                done(),
            ],
        );
        let (t, _) = finish(steps);
        let host = t.host_addresses();
        let nets: Vec<String> = host.links["eth0"].addresses.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["192.0.2.2/24", "192.0.2.3/24"]);
    }

    #[test]
    fn events_before_the_first_reply_are_dropped_after_it_applied() {
        let (mut s, _) = Sync::new(names(), PORT);
        let steps = feed(
            &mut s,
            vec![
                // Queued before the dump: stale (a newer one may be lost).
                event(link(false)),
                event(neighbour(1)),
                reply(link(true)),
                // After the first reply: newer than the dump's view.
                event(neighbour(2)),
                done(),
                done(),
                done(),
            ],
        );
        let (t, obs) = finish(steps);
        assert!(t.snapshot().links()["eth0"].up);
        let macs: Vec<_> = obs.iter().map(|o| o.mac).collect();
        assert_eq!(macs, [Some([2, 0, 0, 0, 0, 2])]);

        let (mut s, _) = Sync::new(names(), PORT);
        let steps = feed(
            &mut s,
            vec![reply(link(true)), done(), event(link(false)), done(), done()],
        );
        let (t, _) = finish(steps);
        assert!(!t.snapshot().links()["eth0"].up);
    }

    #[test]
    fn overrun_during_the_sync_starts_it_over() {
        let (mut s, _) = Sync::new(names(), PORT);
        let steps = feed(
            &mut s,
            vec![
                reply(link(true)),
                overrun(),
                done(),
                done(),
                done(),
                // The second round: events before its first reply dropped.
                event(link(false)),
                reply(link(true)),
                done(),
                done(),
                done(),
            ],
        );
        assert_eq!(
            requests(&steps),
            [
                Dump::Addrs,
                Dump::Neighbours,
                Dump::Links,
                Dump::Addrs,
                Dump::Neighbours
            ]
        );
        let (t, _) = finish(steps);
        assert!(t.snapshot().links()["eth0"].up);
    }

    #[test]
    fn an_overrun_before_any_reply_also_restarts() {
        // The error is reported before data already queued: that data may
        // include our first reply, so the loss may postdate it.
        let (mut s, _) = Sync::new(names(), PORT);
        let steps = feed(&mut s, vec![overrun(), reply(link(true)), done(), done(), done()]);
        assert_eq!(requests(&steps), [Dump::Addrs, Dump::Neighbours, Dump::Links]);
    }

    #[test]
    fn interrupted_dump_is_retried_then_given_up() {
        let (mut s, _) = Sync::new(names(), PORT);
        let mut intr = done();
        intr.header.flags |= NLM_F_DUMP_INTR;
        for _ in 1..DUMP_ATTEMPTS {
            let step = s.on_message(intr.clone()).expect("retry");
            assert!(matches!(step, Step::Request(Dump::Links)), "{step:?}");
        }
        assert!(s.on_message(intr).is_err());
    }

    #[test]
    fn refused_dump_is_an_error() {
        let (mut s, _) = Sync::new(names(), PORT);
        let mut e = ErrorMessage::default();
        e.code = NonZeroI32::new(-libc::EPERM);
        let mut hdr = NetlinkHeader::default();
        hdr.port_number = PORT;
        let msg = NetlinkMessage::new(hdr, NetlinkPayload::Error(e));
        assert!(s.on_message(msg).is_err());
    }
}
