//! The routes task: owns the RIB, feeds the FIB, and sends each peer its
//! UPDATEs (next hop self: our link-local, plus our global address on that
//! interface when there is one, as RFC 8950 / RFC 2545 describe).
//!
//! Sessions decode UPDATEs themselves (in parallel) and hand the routes in;
//! the out side is pulled from the RIB per peer and encoded here, packing
//! many prefixes per message.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::{self as rib, Changes, PeerInfo, Rib, RibConfig, RouteChange, RouteView};
use crate::bgp::msg::update::{self, EncodeContext, NextHop, Origin, PathAttributes, Update};
use crate::bgp::msg::{AFI_IPV4, AFI_IPV6, SAFI_UNICAST};
use crate::fib::{FibChange, FibHandle, FibNextHop, FibRoute, NextHops};
use crate::iface::{Links, is_link_local};
use crate::intern::Interner;
use crate::links::addresses::{self, HostAddress, HostAddresses};
use crate::peers::PeerKey;
use crate::prefix_map::{PrefixMap, PrefixSet};

/// How often connected addresses are re-read for `--redistribute connected`.
const CONNECTED_RESCAN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RoutesConfig {
    pub local_asn: u32,
    pub router_id: std::net::Ipv4Addr,
    pub max_paths: usize,
    pub networks: Vec<IpNet>,
    pub redistribute_connected: bool,
    /// The fabric interfaces, followed across reloads: their addresses are
    /// never redistributed.
    pub interfaces: watch::Receiver<Vec<String>>,
}

/// Encoded UPDATE messages for one session to write.
pub type Outgoing = Vec<Vec<u8>>;

enum Command {
    PeerUp {
        info: PeerInfo,
        families: Families,
        out: mpsc::UnboundedSender<Outgoing>,
    },
    PeerDown(PeerKey),
    Update(PeerKey, Update),
    Refresh(PeerKey),
    Routes(Option<IpNet>, oneshot::Sender<Vec<RouteView>>),
    Counters(oneshot::Sender<HashMap<PeerKey, PeerCounters>>),
    Shutdown(oneshot::Sender<()>),
}

/// What a session negotiated, and so may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    pub four_octet_as: bool,
    /// IPv4 unicast with an IPv6 next hop (RFC 8950): our only IPv4 form.
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Families {
    fn carries(&self, prefix: &IpNet) -> bool {
        match prefix {
            IpNet::V4(_) => self.ipv4,
            IpNet::V6(_) => self.ipv6,
        }
    }
}

/// Prefixes received from and sent to one peer.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PeerCounters {
    pub prefixes_received: usize,
    pub prefixes_sent: usize,
}

/// One line of `ndbgpctl routes`: the RIB's view plus what the FIB task
/// recorded the kernel accepting (taken a moment after the RIB's view).
#[derive(Debug, Clone, Serialize)]
pub struct RouteEntry {
    #[serde(flatten)]
    pub route: RouteView,
    pub installed: bool,
    /// The installed next hops, as "fe80::x%IF".
    pub kernel_next_hops: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct RoutesHandle {
    tx: mpsc::Sender<Command>,
    /// For `routes`: what is in the kernel, and interface names. Asked
    /// from the caller's task, so that the routes task is busy only with
    /// its own part of the view.
    fib: FibHandle,
    links: watch::Receiver<Links>,
}

impl RoutesHandle {
    pub async fn peer_up(&self, info: PeerInfo, families: Families, out: mpsc::UnboundedSender<Outgoing>) {
        let _ = self.tx.send(Command::PeerUp { info, families, out }).await;
    }

    pub async fn peer_down(&self, key: PeerKey) {
        let _ = self.tx.send(Command::PeerDown(key)).await;
    }

    pub async fn update(&self, key: PeerKey, update: Update) {
        let _ = self.tx.send(Command::Update(key, update)).await;
    }

    /// RFC 2918: resend everything to this peer.
    pub async fn refresh(&self, key: PeerKey) {
        let _ = self.tx.send(Command::Refresh(key)).await;
    }

    /// The routes equal to or inside `within` (all without it), each
    /// with what the kernel has of it.
    pub async fn routes(&self, within: Option<IpNet>) -> Vec<RouteEntry> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Routes(within, tx)).await.is_err() {
            return Vec::new();
        }
        let routes = rx.await.unwrap_or_default();
        let installed: PrefixMap<NextHops> = match self.fib.recorded(within).await {
            Ok(installed) => installed.into_iter().collect(),
            Err(e) => {
                warn!("routes view: {e}; shown as not installed");
                PrefixMap::new()
            }
        };
        let names: HashMap<u32, String> = self
            .links
            .borrow()
            .values()
            .map(|l| (l.ifindex, l.name.clone()))
            .collect();
        let name = |ifindex: u32| names.get(&ifindex).cloned().unwrap_or_else(|| ifindex.to_string());
        routes
            .into_iter()
            .map(|mut route| {
                for path in &mut route.paths {
                    path.interface = path.ifindex.map(name);
                }
                let kernel = route.prefix.parse::<IpNet>().ok().and_then(|p| installed.get(&p));
                let kernel_next_hops = kernel
                    .iter()
                    .flat_map(|nhs| nhs.iter())
                    .map(|nh| format!("{}%{}", nh.via, name(nh.ifindex)))
                    .collect();
                RouteEntry {
                    route,
                    installed: kernel.is_some(),
                    kernel_next_hops,
                }
            })
            .collect()
    }

    pub async fn counters(&self) -> HashMap<PeerKey, PeerCounters> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Counters(tx)).await.is_err() {
            return HashMap::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Remove our routes from the kernel; the task then stops.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct Peer {
    families: Families,
    /// Unbounded: the routes task must never wait on a session that may be
    /// waiting on it. What it holds is bounded by the table itself.
    out: mpsc::UnboundedSender<Outgoing>,
    end_of_rib_sent: bool,
    /// Prefixes it was last sent as reachable.
    sent: PrefixSet,
}

pub fn spawn(config: RoutesConfig, fib: FibHandle, links: watch::Receiver<Links>) -> RoutesHandle {
    // 64 decoded UPDATEs (up to ~64k prefixes) keep the RIB busy; more
    // would only hold decoded prefixes in memory and make a control
    // request wait longer behind them. Sessions wait, TCP pushes back.
    let (tx, commands) = mpsc::channel(64);
    let (handle_fib, handle_links) = (fib.clone(), links.clone());
    let mut rib_config = RibConfig::new(config.local_asn, config.router_id);
    rib_config.max_paths = config.max_paths;
    let task = Routes {
        rib: Rib::new(rib_config),
        config,
        fib,
        links,
        peers: HashMap::new(),
        connected: BTreeSet::new(),
        globals: HashMap::new(),
        next_hop_sets: Interner::default(),
        scratch_next_hops: Vec::new(),
    };
    tokio::spawn(task.run(commands));
    RoutesHandle {
        tx,
        fib: handle_fib,
        links: handle_links,
    }
}

struct Routes {
    rib: Rib,
    config: RoutesConfig,
    fib: FibHandle,
    links: watch::Receiver<Links>,
    peers: HashMap<PeerKey, Peer>,
    /// Redistributed connected prefixes now originated.
    connected: BTreeSet<IpNet>,
    /// Our global IPv6 address per fabric ifindex, for next hop self.
    globals: HashMap<u32, Ipv6Addr>,
    /// The kernel next-hop sets handed to the FIB, one copy each.
    next_hop_sets: Interner<[FibNextHop]>,
    scratch_next_hops: Vec<FibNextHop>,
}

impl Routes {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut changes = Changes::default();
        for prefix in self.config.networks.clone() {
            changes.append(self.rib.originate(prefix, local_attributes(Origin::Igp)));
            info!("announcing {prefix}");
        }
        self.scan_addresses(&mut changes);
        self.commit(changes).await;
        let mut rescan = tokio::time::interval(CONNECTED_RESCAN);
        loop {
            let mut changes = Changes::default();
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Shutdown(done)) => {
                        match self.fib.flush().await {
                            Ok(report) => info!("removed our routes from the kernel ({} deleted)", report.deleted),
                            Err(e) => warn!("removing our routes from the kernel failed: {e}"),
                        }
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.command(command, &mut changes).await,
                },
                // A reload changed the fabric interfaces: an interface
                // added stops being redistributed, one removed starts.
                Ok(()) = self.config.interfaces.changed() => {
                    self.config.interfaces.borrow_and_update();
                    self.scan_addresses(&mut changes);
                }
                Ok(()) = self.links.changed() => {
                    self.links.borrow_and_update();
                    self.scan_addresses(&mut changes);
                    // The kernel drops IPv4 routes through a downed link
                    // without telling us: reconcile to what we want.
                    self.fib.resync_soon();
                }
                _ = rescan.tick() => self.scan_addresses(&mut changes),
            }
            self.commit(changes).await;
        }
    }

    async fn command(&mut self, command: Command, changes: &mut Changes) {
        match command {
            Command::PeerUp { info, families, out } => {
                let key = info.id;
                self.peers.insert(
                    key,
                    Peer {
                        families,
                        out,
                        end_of_rib_sent: false,
                        sent: PrefixSet::new(),
                    },
                );
                changes.append(self.rib.add_peer(info));
            }
            Command::PeerDown(key) => {
                if self.peers.remove(&key).is_some() {
                    changes.append(self.rib.remove_peer(&key));
                }
            }
            Command::Update(key, update) => match self.rib.apply(&key, &update) {
                Ok(c) => changes.append(c),
                Err(_) => debug!("UPDATE from {key} after its session ended: ignored"),
            },
            Command::Refresh(key) => {
                // RFC 2918: answered from what we would send now.
                if let Ok(batch) = self.rib.full_table(&key) {
                    self.send(key, batch).await;
                }
            }
            Command::Routes(within, reply) => {
                let _ = reply.send(self.rib.routes_within(within));
            }
            Command::Counters(reply) => {
                let counters = self
                    .peers
                    .iter()
                    .map(|(key, p)| {
                        let received = self.rib.peer_stats(key).map_or(0, |s| s.prefixes);
                        (
                            *key,
                            PeerCounters {
                                prefixes_received: received,
                                prefixes_sent: p.sent.len(),
                            },
                        )
                    })
                    .collect();
                let _ = reply.send(counters);
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Push a batch of RIB changes to the kernel and to the peers.
    async fn commit(&mut self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        let mut fib_changes = Vec::with_capacity(changes.routes.len());
        for change in &changes.routes {
            fib_changes.push(match change {
                RouteChange::Best(best) => {
                    let nexthops = &mut self.scratch_next_hops;
                    nexthops.clear();
                    nexthops.extend(best.next_hops());
                    nexthops.sort();
                    nexthops.dedup();
                    FibChange::Replace(FibRoute {
                        prefix: best.prefix,
                        nexthops: self.next_hop_sets.intern_slice(nexthops),
                    })
                }
                RouteChange::Removed(prefix) => FibChange::Delete(*prefix),
            });
        }
        // The kernel is not waited for: the FIB task merges what comes
        // while it is busy, and logs what the kernel refuses.
        self.fib.submit(fib_changes);
        for key in changes.out_ready {
            if let Ok(batch) = self.rib.pending_out(&key) {
                self.send(key, batch).await;
            }
        }
    }

    /// Encode a peer's batch with next hop self and hand it to its session.
    async fn send(&mut self, key: PeerKey, batch: rib::OutBatch) {
        let next_hop = self.next_hop_self(key.ifindex);
        let Some(peer) = self.peers.get_mut(&key) else { return };
        let Some(next_hop) = next_hop else {
            warn!("{key}: no usable link-local to announce routes from");
            return;
        };
        // Only the families this session negotiated: anything else would
        // reset it (RFC 4760 6).
        let families = peer.families;
        let announce: Vec<(PathAttributes, Vec<IpNet>)> = batch
            .announced
            .iter()
            .filter_map(|(attrs, prefixes)| {
                let mut attrs = PathAttributes::clone(attrs);
                attrs.next_hop = next_hop;
                let prefixes: Vec<IpNet> = prefixes.iter().filter(|p| families.carries(p)).copied().collect();
                (!prefixes.is_empty()).then_some((attrs, prefixes))
            })
            .collect();
        let withdrawn: Vec<IpNet> = batch
            .withdrawn
            .iter()
            .filter(|p| families.carries(p))
            .copied()
            .collect();
        let ctx = EncodeContext {
            four_octet_as: families.four_octet_as,
        };
        let mut messages = match update::encode(&announce, &withdrawn, &ctx) {
            Ok(m) => m,
            Err(e) => {
                warn!("{key}: cannot encode UPDATE: {e:?}");
                return;
            }
        };
        for prefix in &withdrawn {
            peer.sent.remove(prefix);
        }
        for (_, prefixes) in &announce {
            peer.sent.extend(prefixes.iter().map(|p| (*p, ())));
        }
        if !peer.end_of_rib_sent {
            // RFC 4724 2: the initial table is complete.
            if families.ipv4 {
                messages.push(update::end_of_rib(AFI_IPV4, SAFI_UNICAST));
            }
            if families.ipv6 {
                messages.push(update::end_of_rib(AFI_IPV6, SAFI_UNICAST));
            }
            peer.end_of_rib_sent = true;
        }
        if !messages.is_empty() && peer.out.send(messages).is_err() {
            debug!("{key}: session gone before its UPDATEs were sent");
        }
    }

    fn next_hop_self(&self, ifindex: u32) -> Option<NextHop> {
        let links = self.links.borrow();
        let link_local = links
            .values()
            .find(|l| l.ifindex == ifindex)
            .and_then(|l| l.usable_link_local())?;
        // Without a global address, send the link-local twice as FRR does:
        // a 32-byte next hop every implementation reads.
        let global = self.globals.get(&ifindex).copied().unwrap_or(link_local);
        Some(NextHop {
            ipv4: None,
            global: Some(global),
            link_local: Some(link_local),
        })
    }

    /// Re-read interface addresses: global IPv6 per fabric interface (for
    /// next hop self), connected prefixes elsewhere (for redistribution).
    fn scan_addresses(&mut self, changes: &mut Changes) {
        let links = self.links.borrow().clone();
        let fabric_interfaces = self.config.interfaces.borrow().clone();
        let mut globals = HashMap::new();
        let mut connected = BTreeSet::new();
        let host = addresses::read().unwrap_or_else(|e| {
            warn!("cannot read interface addresses: {e}");
            HostAddresses::default()
        });
        for HostAddress {
            interface: name, net, ..
        } in host.addresses
        {
            let fabric = fabric_interfaces.contains(&name);
            match net.addr() {
                IpAddr::V6(a) if fabric && !is_link_local(&a) && !a.is_loopback() => {
                    if let Some(link) = links.get(&name) {
                        globals.entry(link.ifindex).or_insert(a);
                    }
                }
                _ if fabric => {}
                IpAddr::V4(a) if a.is_loopback() || a.is_link_local() => {}
                IpAddr::V6(a) if a.is_loopback() || is_link_local(&a) || a.is_multicast() => {}
                _ => {
                    connected.insert(net.trunc());
                }
            }
        }
        self.globals = globals;
        if !self.config.redistribute_connected {
            return;
        }
        for gone in self.connected.difference(&connected) {
            if !self.config.networks.contains(gone) {
                info!("no longer redistributing connected {gone}");
                changes.append(self.rib.withdraw_local(*gone));
            }
        }
        for new in connected.difference(&self.connected) {
            if !self.config.networks.contains(new) {
                info!("redistributing connected {new}");
                changes.append(self.rib.originate(*new, local_attributes(Origin::Incomplete)));
            }
        }
        self.connected = connected;
    }
}

fn local_attributes(origin: Origin) -> PathAttributes {
    PathAttributes {
        origin: Some(origin),
        ..PathAttributes::default()
    }
}

#[cfg(test)]
mod tests;
