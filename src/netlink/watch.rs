//! The I/O half: one rtnetlink socket, subscribed then dumped, whose events
//! keep a `Table` current. Conversions and state live in `convert` and
//! `state`; this file only moves messages.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::constants::{RTMGRP_IPV6_IFADDR, RTMGRP_LINK, RTMGRP_NEIGH};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::iface::{Links, fmt_mac};
use crate::nd::Observation;

use super::convert::{Event, KernelAddr, KernelLink, classify, classify_route};
use super::state::{Snapshot, Table, diff};

type Message = NetlinkMessage<RouteNetlinkMessage>;

/// RTNLGRP_LINK, RTNLGRP_IPV6_IFADDR and RTNLGRP_NEIGH as a bind() bitmask.
const GROUPS: u32 = RTMGRP_LINK | RTMGRP_IPV6_IFADDR | RTMGRP_NEIGH;
/// Receive buffer asked for (the kernel caps it at net.core.rmem_max): a
/// bigger buffer makes overruns rarer when hundreds of links flap at once.
const RECV_BUFFER: libc::c_int = 1 << 20;
/// A dump interrupted by concurrent changes (NLM_F_DUMP_INTR) is retried.
const DUMP_ATTEMPTS: usize = 5;
/// Queued events applied before one publish, so a burst is published once
/// but a flood still gets published.
const MAX_BATCH: usize = 256;
/// At most one reconnect per interval if the socket keeps failing.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// Watch the configured interfaces and the kernel's IPv6 neighbours.
///
/// Subscribes to link, IPv6 address and neighbour events, then dumps all
/// three, so nothing is missed. Publishes a full snapshot of the configured
/// interfaces on `links` whenever it changes (a configured interface absent
/// from the kernel is absent from the map), and sends every usable IPv6
/// link-local neighbour of a configured interface the kernel reports on
/// `neighbours` (waiting when the receiver is slow).
///
/// On overrun (ENOBUFS: events were lost) everything is re-dumped. If the
/// socket fails it is reopened and everything re-dumped; reopening or
/// dumping failing is the error returned. Returns Ok when the `neighbours`
/// receiver is dropped.
pub async fn watch(
    names: Vec<String>,
    links: watch::Sender<Links>,
    neighbours: mpsc::Sender<Observation>,
) -> anyhow::Result<()> {
    let mut w = Watcher {
        table: Table::new(names),
        published: Snapshot::default(),
        links,
        neighbours,
    };
    let mut conn = Conn::open(GROUPS)?;
    let mut opened = Instant::now();
    if !w.resync(&mut conn).await? {
        return Ok(());
    }
    for name in w.table.names() {
        if !w.published.views.contains_key(name) {
            info!("{name}: not present, waiting for it");
        }
    }
    loop {
        let Some((first, _)) = conn.events.next().await else {
            warn!("netlink: event socket failed; reopening it and re-dumping");
            drop(conn);
            tokio::time::sleep_until(opened + RECONNECT_INTERVAL).await;
            conn = Conn::open(GROUPS)?;
            opened = Instant::now();
            if !w.resync(&mut conn).await? {
                return Ok(());
            }
            continue;
        };
        let mut observations = Vec::new();
        let mut overrun = w.apply(first, &mut observations);
        overrun |= w.apply_queued(&mut conn, &mut observations);
        if overrun {
            warn!("netlink: socket overrun (ENOBUFS), events lost; re-dumping");
            if !w.resync(&mut conn).await? {
                return Ok(());
            }
            continue;
        }
        w.publish();
        if !w.send(observations).await {
            return Ok(());
        }
    }
}

/// A one-off snapshot of the configured interfaces (no subscription).
pub async fn dump_links(names: &[String]) -> anyhow::Result<Links> {
    let mut conn = Conn::open(0)?;
    let (links, addrs) = conn.dump_links_and_addrs().await?;
    let names: BTreeSet<String> = names.iter().cloned().collect();
    Ok(Table::from_dump(&names, links, addrs).snapshot().links())
}

/// A one-off read of the kernel's usable IPv6 link-local neighbours on the
/// configured interfaces.
pub async fn dump_neighbours(names: &[String]) -> anyhow::Result<Vec<Observation>> {
    let mut conn = Conn::open(0)?;
    let (links, _) = conn.dump_links_and_addrs().await?;
    let names: BTreeSet<String> = names.iter().cloned().collect();
    let table = Table::from_dump(&names, links, []);
    let mut neighbours = conn.dump_neighbours().await?;
    neighbours.retain(|o| table.is_configured(o.ifindex));
    Ok(neighbours)
}

struct Watcher {
    table: Table,
    /// The last snapshot published (and logged).
    published: Snapshot,
    links: watch::Sender<Links>,
    neighbours: mpsc::Sender<Observation>,
}

impl Watcher {
    /// Apply one message. Neighbours of configured interfaces are collected
    /// to be sent after the snapshot is published. True on overrun.
    fn apply(&mut self, msg: Message, observations: &mut Vec<Observation>) -> bool {
        match classify(msg) {
            Event::Overrun => return true,
            Event::Neighbour(o) => {
                if self.table.is_configured(o.ifindex) {
                    observations.push(o);
                }
            }
            event => self.table.apply(&event),
        }
        false
    }

    /// Apply what is already queued, without waiting. True on overrun.
    fn apply_queued(&mut self, conn: &mut Conn, observations: &mut Vec<Observation>) -> bool {
        let mut overrun = false;
        for _ in 0..MAX_BATCH {
            match conn.events.try_recv() {
                Ok((msg, _)) => overrun |= self.apply(msg, observations),
                Err(_) => break,
            }
        }
        overrun
    }

    /// Rebuild the state from a dump (already subscribed, so events queued
    /// meanwhile are applied on top), publish it and send every neighbour.
    /// False when the neighbour receiver is gone.
    async fn resync(&mut self, conn: &mut Conn) -> anyhow::Result<bool> {
        let observations = loop {
            let (links, addrs) = conn.dump_links_and_addrs().await?;
            let dumped_neighbours = conn.dump_neighbours().await?;
            self.table = Table::from_dump(self.table.names(), links, addrs);
            let mut observations: Vec<Observation> = dumped_neighbours
                .into_iter()
                .filter(|o| self.table.is_configured(o.ifindex))
                .collect();
            // Events queued during the dump are as new as it or newer.
            if !self.apply_queued(conn, &mut observations) {
                break observations;
            }
            warn!("netlink: socket overrun (ENOBUFS) during the dump; dumping again");
        };
        self.publish();
        Ok(self.send(observations).await)
    }

    /// Log and publish the snapshot if it changed.
    fn publish(&mut self) {
        let new = self.table.snapshot();
        if new == self.published {
            return;
        }
        for change in diff(&self.published, &new) {
            if change.is_warning() {
                warn!("{change}");
            } else {
                info!("{change}");
            }
        }
        let links = new.links();
        self.links.send_if_modified(|current| {
            if *current == links {
                return false;
            }
            *current = links;
            true
        });
        self.published = new;
    }

    /// Send neighbour sightings. False when the receiver is gone.
    async fn send(&self, observations: Vec<Observation>) -> bool {
        for o in observations {
            debug!(
                "{}: kernel neighbour {} lladdr {}",
                self.table.name_of(o.ifindex).unwrap_or("?"),
                o.addr,
                o.mac.as_ref().map_or_else(|| "none".into(), fmt_mac)
            );
            if self.neighbours.send(o).await.is_err() {
                info!("netlink: neighbour receiver gone, watcher stopping");
                return false;
            }
        }
        true
    }
}

/// One rtnetlink connection: the handle for requests, the stream of
/// multicast events, and the task driving the socket (stopped on drop).
struct Conn {
    handle: rtnetlink::Handle,
    events: UnboundedReceiver<(Message, SocketAddr)>,
    task: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Conn {
    /// Open a socket subscribed to `groups` (a bind() bitmask; 0 for none).
    fn open(groups: u32) -> anyhow::Result<Conn> {
        let (mut conn, handle, events) = rtnetlink::new_connection().context("netlink: opening a route socket")?;
        // Without NLMSG_DONE forwarded, a dump cut short by a dying
        // connection would end like a complete one.
        conn.set_forward_done(true);
        if groups != 0 {
            let socket = conn.socket_mut().socket_mut();
            socket
                .set_rx_buf_sz(RECV_BUFFER)
                .context("netlink: setting the receive buffer")?;
            socket
                .bind(&SocketAddr::new(0, groups))
                .context("netlink: subscribing to link, address and neighbour events")?;
        }
        let task = tokio::spawn(conn);
        Ok(Conn { handle, events, task })
    }

    async fn dump_links_and_addrs(&mut self) -> anyhow::Result<(Vec<KernelLink>, Vec<KernelAddr>)> {
        let mut links = Vec::new();
        let link_req = RouteNetlinkMessage::GetLink(LinkMessage::default());
        for msg in self.dump(link_req, "links").await? {
            if let Event::Link(l) = classify_route(&msg) {
                links.push(l);
            }
        }
        let mut addrs = Vec::new();
        let mut addr_req = AddressMessage::default();
        addr_req.header.family = AddressFamily::Inet6;
        let addr_req = RouteNetlinkMessage::GetAddress(addr_req);
        for msg in self.dump(addr_req, "IPv6 addresses").await? {
            if let Event::Addr(a) = classify_route(&msg) {
                addrs.push(a);
            }
        }
        Ok((links, addrs))
    }

    async fn dump_neighbours(&mut self) -> anyhow::Result<Vec<Observation>> {
        let mut req = NeighbourMessage::default();
        req.header.family = AddressFamily::Inet6;
        let req = RouteNetlinkMessage::GetNeighbour(req);
        let mut out = Vec::new();
        for msg in self.dump(req, "IPv6 neighbours").await? {
            if let Event::Neighbour(o) = classify_route(&msg) {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// One complete, consistent dump: retried when the kernel flags it
    /// interrupted, an error when the connection ends before NLMSG_DONE.
    async fn dump(&mut self, request: RouteNetlinkMessage, what: &str) -> anyhow::Result<Vec<RouteNetlinkMessage>> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut req = NetlinkMessage::from(request.clone());
            req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
            let mut replies = self
                .handle
                .request(req)
                .with_context(|| format!("netlink: requesting a dump of {what}"))?;
            let mut out = Vec::new();
            let mut done = false;
            let mut interrupted = false;
            while let Some(reply) = replies.next().await {
                interrupted |= reply.header.flags & NLM_F_DUMP_INTR != 0;
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    NetlinkPayload::Done(_) => {
                        done = true;
                        break;
                    }
                    NetlinkPayload::Error(e) if e.code.is_some() => {
                        bail!("netlink: dump of {what} failed: {e}")
                    }
                    _ => {}
                }
            }
            if !done {
                bail!("netlink: connection closed during the dump of {what}");
            }
            if !interrupted {
                return Ok(out);
            }
            debug!("netlink: dump of {what} interrupted by a change, retrying");
        }
        bail!("netlink: dump of {what} interrupted {DUMP_ATTEMPTS} times in a row")
    }
}
