//! The I/O half: one rtnetlink socket, subscribed then dumped, whose events
//! keep a `Table` current. Conversions and state live in `convert` and
//! `state`; this file only moves messages.
//!
//! Dumps are requested on the event socket and read from the same
//! ordered stream as the events: see `sync` for why.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK, RTMGRP_NEIGH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::actor::{self, Probes};
use crate::iface::{HostAddresses, LinkState, Links, fmt_mac};
use crate::optimistic_dad::{self, DadSettings};
use crate::peers::Observation;

use super::convert::classify;
use super::state::{Change, Snapshot, Table, diff};
use super::sync::{Dump, Step, Sync};

type Message = NetlinkMessage<RouteNetlinkMessage>;

/// RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR and RTNLGRP_NEIGH
/// as a bind() bitmask.
const GROUPS: u32 = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_NEIGH;
/// Receive buffer asked for (the kernel caps it at net.core.rmem_max): a
/// bigger buffer makes overruns rarer when hundreds of links flap at once.
const RECV_BUFFER: libc::c_int = 1 << 20;
/// Queued events applied before one publish, so a burst is published once
/// but a flood still gets published.
const MAX_BATCH: usize = 256;
/// At most one reconnect per interval if the socket keeps failing.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Socket failures in a row (without a completed resync) before giving up.
const MAX_SOCKET_FAILURES: u32 = 5;

/// Watch the configured interfaces, the host's addresses and the kernel's
/// IPv6 neighbours.
///
/// Subscribes to link, address (IPv4 and IPv6) and neighbour events, then
/// dumps all three, so nothing is missed. Publishes a full snapshot of the
/// configured interfaces on `links` whenever it changes (a configured
/// interface absent from the kernel is absent from the map), a full snapshot
/// of every link's addresses on `addresses` whenever it changes, and sends
/// every usable IPv6 link-local neighbour of a configured interface the
/// kernel reports on `neighbours` (waiting when the receiver is slow).
///
/// On overrun (ENOBUFS: events were lost) everything is re-dumped. If the
/// socket fails it is reopened and everything re-dumped; an error is
/// returned when a socket cannot be opened, a dump is refused, or the
/// socket fails repeatedly. Returns Ok when the `neighbours` receiver is
/// dropped.
pub async fn watch(
    names: Vec<String>,
    links: watch::Sender<Links>,
    addresses: watch::Sender<HostAddresses>,
    neighbours: mpsc::Sender<Observation>,
) -> anyhow::Result<()> {
    // The sender is dropped: the names never change. Nobody probes.
    let (_, names) = watch::channel(names);
    let (_, probes) = actor::probe("links watcher");
    watch_interfaces(names, links, addresses, neighbours, None, None, probes).await
}

/// [`watch`], following the configured names on `names` (a reload): when
/// they change, everything is re-dumped with the new names, so a newly
/// configured interface comes with its kernel neighbours and a removed one
/// leaves `links`. Interfaces configured before and after keep their
/// snapshot, so nobody downstream sees a change for them. `synced` is
/// answered when the first snapshots have been taken (and published, if
/// they hold anything). `probes` are answered while it waits for events
/// (not during a dump, nor while a slow `neighbours` receiver holds it).
/// `optimistic_dad`: the kernel's DAD settings (optimistic DAD, and
/// `accept_dad` with `--no-dad`) to give each configured interface when it
/// appears (`crate::optimistic_dad`); None leaves them alone.
pub async fn watch_interfaces(
    names: watch::Receiver<Vec<String>>,
    links: watch::Sender<Links>,
    addresses: watch::Sender<HostAddresses>,
    neighbours: mpsc::Sender<Observation>,
    mut synced: Option<oneshot::Sender<()>>,
    optimistic_dad: Option<DadSettings>,
    probes: Probes,
) -> anyhow::Result<()> {
    let initial = names.borrow().clone();
    let mut w = Watcher {
        table: Table::new(initial),
        published: Snapshot::default(),
        links,
        addresses,
        neighbours,
        names,
        names_open: true,
        optimistic_dad,
        host_warned: false,
        probes,
    };
    let mut failures = 0;
    let mut first = true;
    loop {
        let opened = Instant::now();
        let mut conn = Conn::open(GROUPS)?;
        match w.follow(&mut conn, &mut first, &mut synced).await? {
            Ended::ReceiverGone => return Ok(()),
            Ended::SocketFailed { synced } => {
                failures = if synced { 1 } else { failures + 1 };
                if failures >= MAX_SOCKET_FAILURES {
                    bail!("netlink: event socket failed {failures} times in a row");
                }
                warn!("netlink: event socket failed; reopening it and re-dumping");
            }
        }
        drop(conn);
        tokio::select! {
            () = tokio::time::sleep_until(opened + RECONNECT_INTERVAL) => {}
            never = w.probes.answer() => match never {},
        }
    }
}

/// A one-off snapshot of the configured interfaces (no subscription).
pub async fn dump_links(names: &[String]) -> anyhow::Result<Links> {
    let (table, _) = dump_once(names).await?;
    Ok(table.snapshot().links())
}

/// A one-off snapshot of every link's addresses (no subscription).
pub async fn dump_addresses() -> anyhow::Result<HostAddresses> {
    let (table, _) = dump_once(&[]).await?;
    Ok(table.host_addresses())
}

/// A one-off read of the kernel's usable IPv6 link-local neighbours on the
/// configured interfaces.
pub async fn dump_neighbours(names: &[String]) -> anyhow::Result<Vec<Observation>> {
    let (_, observations) = dump_once(names).await?;
    Ok(observations)
}

async fn dump_once(names: &[String]) -> anyhow::Result<(Table, Vec<Observation>)> {
    let names: BTreeSet<String> = names.iter().cloned().collect();
    let mut conn = Conn::open(0)?;
    sync(&mut conn, &names)
        .await?
        .ok_or_else(|| anyhow!("netlink: socket closed during a dump"))
}

/// Why following one socket stopped.
enum Ended {
    ReceiverGone,
    /// The event stream ended; `synced` if a full dump had completed.
    SocketFailed {
        synced: bool,
    },
}

struct Watcher {
    table: Table,
    /// The last snapshot published (and logged).
    published: Snapshot,
    links: watch::Sender<Links>,
    addresses: watch::Sender<HostAddresses>,
    neighbours: mpsc::Sender<Observation>,
    /// The configured interface names; `names_open` until the sender is gone.
    names: watch::Receiver<Vec<String>>,
    names_open: bool,
    /// See [`watch_interfaces`].
    optimistic_dad: Option<DadSettings>,
    /// A host-wide setting defeating ours was reported (once).
    host_warned: bool,
    /// Answered while waiting for events: a watcher stuck elsewhere is silent.
    probes: Probes,
}

impl Watcher {
    /// Sync from a dump, then follow events until the socket fails, resyncing
    /// on overrun. `first` is cleared after the first sync.
    async fn follow(
        &mut self,
        conn: &mut Conn,
        first: &mut bool,
        ready: &mut Option<oneshot::Sender<()>>,
    ) -> anyhow::Result<Ended> {
        let mut synced = false;
        // Names whose absence from the kernel is worth a line in the log.
        let mut new_names: BTreeSet<String> = if *first {
            self.table.names().clone()
        } else {
            BTreeSet::new()
        };
        *first = false;
        'sync: loop {
            let Some((table, observations)) = sync(conn, self.table.names()).await? else {
                return Ok(Ended::SocketFailed { synced });
            };
            synced = true;
            self.table = table;
            self.publish();
            for name in std::mem::take(&mut new_names) {
                if !self.published.views.contains_key(&name) {
                    info!("{name}: not present, waiting for it");
                }
            }
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            if !self.send(observations).await {
                return Ok(Ended::ReceiverGone);
            }
            loop {
                let received = tokio::select! {
                    msg = conn.recv() => msg,
                    never = self.probes.answer() => match never {},
                    changed = self.names.changed(), if self.names_open => {
                        if changed.is_err() {
                            self.names_open = false;
                            continue;
                        }
                        let names: BTreeSet<String> = self.names.borrow_and_update().iter().cloned().collect();
                        if &names == self.table.names() {
                            continue;
                        }
                        new_names = names.difference(self.table.names()).cloned().collect();
                        debug!("netlink: configured interfaces now {names:?}; re-dumping");
                        // The dump builds the table anew, with the new names.
                        self.table = Table::new(names);
                        continue 'sync;
                    }
                };
                let Some(msg) = received else {
                    return Ok(Ended::SocketFailed { synced });
                };
                let mut observations = Vec::new();
                let mut overrun = self.apply(msg, &mut observations);
                for _ in 0..MAX_BATCH {
                    let Some(msg) = conn.try_recv() else { break };
                    overrun |= self.apply(msg, &mut observations);
                }
                if overrun {
                    warn!("netlink: socket overrun (ENOBUFS), events lost; re-dumping");
                    continue 'sync;
                }
                self.publish();
                if !self.send(observations).await {
                    return Ok(Ended::ReceiverGone);
                }
            }
        }
    }

    /// Apply one event. Neighbours of configured interfaces are collected
    /// to be sent after the snapshot is published. True on overrun.
    fn apply(&mut self, msg: Message, observations: &mut Vec<Observation>) -> bool {
        self.table.apply_event(classify(msg), observations)
    }

    /// Log and publish the snapshots that changed. Nothing to build when
    /// only neighbours (or nothing we keep) came since the last one.
    fn publish(&mut self) {
        if !self.table.take_changed() {
            return;
        }
        let new = self.table.snapshot();
        if new == self.published {
            return;
        }
        let links = new.links();
        for change in diff(&self.published, &new) {
            if let Change::Present { name, .. } | Change::Recreated { name, .. } = &change
                && let Some(link) = links.get(name)
            {
                self.set_optimistic_dad(link);
            }
            if let Change::Deleted { name } = &change
                && !self.table.names().contains(name)
            {
                info!("{name}: no longer configured");
                continue;
            }
            if change.is_warning() {
                warn!("{change}");
            } else if change.is_detail() {
                debug!("{change}");
            } else {
                info!("{change}");
            }
        }
        if new.host != self.published.host {
            self.addresses.send_replace(new.host.clone());
        }
        self.links.send_if_modified(|current| {
            if *current == links {
                return false;
            }
            *current = links;
            true
        });
        self.published = new;
    }

    /// Give a configured interface that just appeared the optimistic DAD
    /// settings, before its link-local is made if it is still down.
    fn set_optimistic_dad(&mut self, link: &LinkState) {
        let Some(settings) = self.optimistic_dad else {
            return;
        };
        let conf = Path::new(optimistic_dad::CONF_DIR);
        let applied = optimistic_dad::apply(conf, &link.name, settings);
        for failure in &applied.failures {
            warn!("{}: {failure}", link.name);
        }
        if !self.host_warned
            && let Some(warning) = optimistic_dad::check_host(conf, settings)
        {
            self.host_warned = true;
            warn!("{warning}");
        }
        let on = settings.optimistic;
        let what = if on { "on" } else { "off" };
        if applied.changed_any(&optimistic_dad::KEYS) {
            if optimistic_dad::applies_from_next_link_up(link, on) {
                info!(
                    "{}: optimistic DAD {what} from the next link up (its link-local predates the setting)",
                    link.name
                );
            } else {
                debug!("{}: optimistic DAD {what}", link.name);
            }
        }
        if applied.changed_any(&[optimistic_dad::ACCEPT_DAD]) {
            if optimistic_dad::no_dad_applies_from_next_link_up(link) {
                info!(
                    "{}: DAD off (--no-dad) from the next link up (its link-local is in DAD already)",
                    link.name
                );
            } else {
                debug!("{}: DAD off (--no-dad)", link.name);
            }
        }
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

/// Run one `Sync` on `conn`: a fresh table and the neighbours to report,
/// or None if the socket closed meanwhile.
async fn sync(conn: &mut Conn, names: &BTreeSet<String>) -> anyhow::Result<Option<(Table, Vec<Observation>)>> {
    let (mut sync, first) = Sync::new(names.clone(), conn.port);
    conn.start_dump(first)?;
    loop {
        let Some(msg) = conn.recv().await else {
            return Ok(None);
        };
        match sync.on_message(msg)? {
            Step::Wait => {}
            Step::Request(what) => conn.start_dump(what)?,
            Step::Done(table, observations) => return Ok(Some((table, observations))),
        }
    }
}

/// One rtnetlink socket: the handle to send requests, the ordered stream of
/// everything received (events and dump replies), the task driving the
/// socket (stopped on drop) and the socket's port id, which marks replies.
struct Conn {
    handle: rtnetlink::Handle,
    events: UnboundedReceiver<(Message, SocketAddr)>,
    task: JoinHandle<()>,
    port: u32,
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
        let socket = conn.socket_mut().socket_mut();
        if groups != 0 {
            socket
                .set_rx_buf_sz(RECV_BUFFER)
                .context("netlink: setting the receive buffer")?;
        }
        socket
            .bind(&SocketAddr::new(0, groups))
            .context("netlink: binding (subscribing to link, address and neighbour events)")?;
        let mut local = SocketAddr::new(0, 0);
        socket
            .get_address(&mut local)
            .context("netlink: reading the socket's port id")?;
        let task = tokio::spawn(conn);
        Ok(Conn {
            handle,
            events,
            task,
            port: local.port_number(),
        })
    }

    /// The next message received; None once the socket has failed.
    async fn recv(&mut self) -> Option<Message> {
        self.events.next().await.map(|(msg, _)| msg)
    }

    /// A message already received, if any.
    fn try_recv(&mut self) -> Option<Message> {
        self.events.try_recv().ok().map(|(msg, _)| msg)
    }

    /// Send a dump request as a notification: netlink-proto then expects no
    /// reply, so the replies (addressed to our port) come down `events` in
    /// socket order with the multicast events.
    fn start_dump(&mut self, what: Dump) -> anyhow::Result<()> {
        let mut req = NetlinkMessage::from(what.request());
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        self.handle
            .notify(req)
            .with_context(|| format!("netlink: requesting a dump of {what:?}"))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv6Addr};

    use ipnet::IpNet;

    use super::*;
    use crate::actor::Supervisor;
    use crate::iface::is_routable_unicast;

    /// Held by the supervisor, the watcher answers its probe while it
    /// follows events (no root needed to subscribe).
    #[tokio::test]
    async fn the_watcher_answers_probes_while_it_follows_events() {
        let (_names_tx, names) = watch::channel(vec!["lo".to_string()]);
        let (links_tx, links) = watch::channel(Links::new());
        let (addresses_tx, _addresses) = watch::channel(HostAddresses::default());
        let (neighbours_tx, _neighbours) = mpsc::channel(16);
        let (synced_tx, synced) = oneshot::channel();
        let (probe, probes) = actor::probe("links watcher");
        let mut supervisor = Supervisor::new();
        supervisor.hold(probe.spawn(watch_interfaces(
            names,
            links_tx,
            addresses_tx,
            neighbours_tx,
            Some(synced_tx),
            None,
            probes,
        )));
        synced.await.expect("the watcher synced");
        assert!(links.borrow().contains_key("lo"), "{:?}", *links.borrow());
        for _ in 0..3 {
            assert_eq!(supervisor.silent(Duration::from_secs(5)).await, Vec::<&str>::new());
        }
        assert!(futures::FutureExt::now_or_never(supervisor.ended()).is_none());
    }

    /// Every routable IPv6 address the kernel lists in /proc/net/if_inet6
    /// (no root needed) is dumped, on its interface, with its prefix length.
    #[tokio::test]
    async fn dumps_the_addresses_the_kernel_lists() {
        let host = super::dump_addresses().await.expect("address dump");
        let Ok(listed) = std::fs::read_to_string("/proc/net/if_inet6") else {
            return; // IPv6 disabled: nothing to compare with
        };
        for line in listed.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = Ipv6Addr::from(u128::from_str_radix(f[0], 16).expect("address"));
            let len = u8::from_str_radix(f[2], 16).expect("prefix length");
            let dad_failed = u32::from_str_radix(f[4], 16).expect("flags") & libc::IFA_F_DADFAILED != 0;
            if !is_routable_unicast(&IpAddr::V6(addr)) || dad_failed {
                continue;
            }
            let net = IpNet::new(IpAddr::V6(addr), len).expect("prefix");
            let link = host
                .links
                .get(f[5])
                .unwrap_or_else(|| panic!("no link {} in {host:?}", f[5]));
            assert!(link.addresses.contains(&net), "{net} on {} not dumped: {host:?}", f[5]);
        }
        assert!(host.links.values().any(|l| l.loopback), "no loopback in {host:?}");
    }
}
