//! The ND task: owns the raw socket, one speaker and one prober per
//! interface and the per-interface packet counters. Received packets become
//! observations for the peer table; the speakers' schedules become RSs and
//! RAs on the wire, the probers' echo requests to all-nodes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv6Addr;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, trace, warn};

use super::echo;
use super::log_limit::{LogLimit, NEIGHBOUR_TABLE_FULL_INTERVAL};
use super::packet::{self, ALL_NODES, ALL_ROUTERS, NdMessage, RaParams};
use super::probe::{PROBE_JITTER, Probe, Prober};
use super::socket::{IcmpSocket, Received};
use super::speaker::{Emit, FIRST_RA_AFTER_LINK_UP, Speaker};
use crate::actor::{self, Commands, Inbox, Reply, Stopped, Task};
pub use crate::api::InterfaceView;
use crate::api::{InterfaceState, ProbeCounters};
use crate::iface::{Links, fmt_mac, is_link_local};
use crate::peers::{Observation, Source};
use crate::time::{now, sleep_until_opt};

#[derive(Debug, Clone)]
pub struct NdConfig {
    /// The configured interface names, followed: a reload adds and removes.
    pub interfaces: watch::Receiver<Vec<String>>,
    pub ra_interval: Duration,
    /// Router lifetime in our RAs; 0 = "not a default router".
    pub ra_lifetime: u16,
    /// The steady gap between echo probes for silent neighbours; None: no
    /// probes (`--probe-interval 0`).
    pub probe_interval: Option<Duration>,
}

const STAGE: &str = "ND";

enum Command {
    Interfaces(Reply<Vec<InterfaceView>>),
}

#[derive(Clone)]
pub struct NdHandle {
    commands: Commands<Command>,
}

impl NdHandle {
    pub async fn interfaces(&self) -> Result<Vec<InterfaceView>, Stopped> {
        self.commands.ask(Command::Interfaces).await
    }
}

/// When a link came up, for `FIRST_RA_AFTER_LINK_UP`: only a change from
/// down to up seen by us counts. A link absent from the snapshot tells
/// nothing (the task's first snapshot is empty until the watcher's first
/// dump), so a link already up when ndbgpd starts, or when it is
/// configured or created, holds nothing back.
#[derive(Debug, Default)]
struct UpSince {
    was_up: Option<bool>,
    since: Option<std::time::Instant>,
}

impl UpSince {
    /// The link's state now (None: absent); returns when it came up, if it
    /// is up.
    fn update(&mut self, up: Option<bool>, now: std::time::Instant) -> Option<std::time::Instant> {
        match (self.was_up, up) {
            (Some(false), Some(true)) => self.since = Some(now),
            (_, Some(true)) => {}
            (_, Some(false) | None) => self.since = None,
        }
        if up.is_some() {
            self.was_up = up;
        }
        self.since
    }
}

/// One configured interface as the ND task tracks it.
struct Iface {
    speaker: Speaker,
    /// None when probing is off.
    prober: Option<Prober>,
    /// The ifindex we joined all-routers on, and the source we send from.
    joined: Option<u32>,
    source: Option<Ipv6Addr>,
    /// When we saw its link come up (not when first seen up), while up.
    up_since: UpSince,
    counters: Counters,
    /// Its entry in the service's `schedule`, if any.
    scheduled: Option<std::time::Instant>,
}

impl Iface {
    fn new(config: &NdConfig) -> Iface {
        Iface {
            speaker: Speaker::new(config.ra_interval),
            prober: config.probe_interval.map(Prober::new),
            joined: None,
            source: None,
            up_since: UpSince::default(),
            counters: Counters::default(),
            scheduled: None,
        }
    }

    /// When its speaker or its prober is due next.
    fn next_deadline(&self) -> Option<std::time::Instant> {
        let probe = self.prober.as_ref().and_then(Prober::next_deadline);
        match (self.speaker.next_deadline(), probe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Default)]
struct Counters {
    rx: BTreeMap<&'static str, u64>,
    tx: BTreeMap<&'static str, u64>,
    tx_errors: u64,
    dropped: BTreeMap<&'static str, u64>,
    probes: ProbeCounters,
}

fn bump(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
    *map.entry(key).or_default() += 1;
}

fn counts(map: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

pub fn spawn(
    config: NdConfig,
    socket: IcmpSocket,
    links: watch::Receiver<Links>,
    observations: mpsc::Sender<Observation>,
) -> (NdHandle, Task) {
    let (commands, inbox) = actor::channel(STAGE, 16);
    let ifaces = config
        .interfaces
        .borrow()
        .iter()
        .map(|name| (name.clone(), Iface::new(&config)))
        .collect();
    let service = Service {
        config,
        socket,
        links,
        observations,
        ifaces,
        schedule: BTreeSet::new(),
        names: HashMap::new(),
        own: HashSet::new(),
        commands: inbox,
        interfaces_open: true,
        probe_id: rand::random(),
        probe_sequence: 0,
        table_full: LogLimit::new(NEIGHBOUR_TABLE_FULL_INTERVAL),
    };
    let task = commands.spawn(service.run());
    (NdHandle { commands }, task)
}

struct Service {
    config: NdConfig,
    socket: IcmpSocket,
    links: watch::Receiver<Links>,
    observations: mpsc::Sender<Observation>,
    ifaces: BTreeMap<String, Iface>,
    /// Each interface's next deadline (speaker or prober), earliest first:
    /// a packet or a timer costs O(log N) with a thousand interfaces, not a
    /// walk over all of them. An entry may be early (a deadline that moved
    /// later), never late: polling an interface before its time does nothing.
    schedule: BTreeSet<(std::time::Instant, String)>,
    /// From `links`, kept when it changes so that a received packet costs
    /// lookups, not a copy of the snapshot: configured ifindex -> name, and
    /// every link-local of ours.
    names: HashMap<u32, String>,
    own: HashSet<Ipv6Addr>,
    commands: Inbox<Command>,
    /// False once the sender of `config.interfaces` is gone.
    interfaces_open: bool,
    /// The echo identifier of our probes: replies carrying another are
    /// answers to some other program's ping.
    probe_id: u16,
    probe_sequence: u16,
    /// Sends refused because the kernel's neighbour table is full.
    table_full: LogLimit,
}

impl Service {
    async fn run(mut self) {
        let mut buf = vec![0u8; 65536];
        self.links_changed().await;
        loop {
            let deadline = self.schedule.first().map(|(at, _)| *at);
            tokio::select! {
                received = self.socket.recv(&mut buf) => match received {
                    Ok(rx) => {
                        let len = rx.len.min(buf.len());
                        self.received(rx, &buf[..len]).await;
                    }
                    Err(e) => {
                        warn!("ICMPv6 receive failed: {e}");
                    }
                },
                changed = self.links.changed() => {
                    if changed.is_err() {
                        debug!("link watcher gone; ND task stops");
                        return;
                    }
                    self.links_changed().await;
                }
                changed = self.config.interfaces.changed(), if self.interfaces_open => {
                    if changed.is_err() {
                        self.interfaces_open = false;
                        continue;
                    }
                    self.interfaces_changed().await;
                }
                _ = sleep_until_opt(deadline) => self.poll_speakers().await,
                command = self.commands.recv() => match command {
                    Some(Command::Interfaces(reply)) => {
                        let _ = reply.send(self.views());
                    }
                    None => return,
                },
            }
        }
    }

    /// A reload changed the configured interfaces: stop announcing on the
    /// removed ones, start on the new ones; the others are untouched.
    async fn interfaces_changed(&mut self) {
        let names = self.config.interfaces.borrow_and_update().clone();
        let removed: Vec<String> = self.ifaces.keys().filter(|n| !names.contains(n)).cloned().collect();
        for name in removed {
            let Some(iface) = self.ifaces.remove(&name) else {
                continue;
            };
            if let Some(at) = iface.scheduled {
                self.schedule.remove(&(at, name.clone()));
            }
            self.farewell(&name, &iface).await;
            if let Some(ifindex) = iface.joined {
                self.socket.leave(ifindex);
            }
            info!("{name}: no longer configured: stopped announcing");
        }
        for name in names {
            self.ifaces.entry(name).or_insert_with(|| Iface::new(&self.config));
        }
        self.links_changed().await;
    }

    /// RFC 4861 6.2.5: an interface that stops advertising SHOULD send a
    /// final RA with router lifetime 0, so hosts stop routing through us.
    async fn farewell(&mut self, name: &str, iface: &Iface) {
        let (Some(src), true) = (iface.source, self.config.ra_lifetime != 0) else {
            return;
        };
        let Some(link) = self.links.borrow().get(name).cloned() else {
            return;
        };
        let bytes = packet::build_ra(&RaParams::new(0, link.mac));
        if let Err(e) = self.socket.send(link.ifindex, src, ALL_NODES, &bytes).await {
            debug!("{name}: final RA failed: {e}");
        }
    }

    /// Follow the links snapshot: join groups on new ifindexes, start or stop
    /// each speaker as the interface becomes able to send. Called on every
    /// change of any link (a thousand at bring-up, each link-local leaving
    /// DAD one): it reads the snapshot in place and walks it with the
    /// interfaces in step (both are ordered by name), with no copy of the
    /// snapshot, no lookup by name and no allocation unless a name changed.
    async fn links_changed(&mut self) {
        let now = now();
        {
            let links = self.links.borrow_and_update();
            let same_names = self.names.len() == links.len()
                && links
                    .values()
                    .all(|l| self.names.get(&l.ifindex).is_some_and(|n| *n == l.name));
            if !same_names {
                self.names = links.values().map(|l| (l.ifindex, l.name.clone())).collect();
            }
            self.own.clear();
            self.own
                .extend(links.values().flat_map(|l| l.link_locals.iter().map(|a| a.addr)));
            let mut links_in_order = links.iter().peekable();
            for (name, iface) in &mut self.ifaces {
                while links_in_order.next_if(|(n, _)| n.as_str() < name.as_str()).is_some() {}
                let link = links_in_order.peek().filter(|(n, _)| *n == name).map(|(_, l)| *l);
                let ifindex = link.map(|l| l.ifindex);
                if iface.joined != ifindex {
                    if let Some(old) = iface.joined.take() {
                        self.socket.leave(old);
                    }
                    if let Some(new) = ifindex {
                        match self.socket.join(new) {
                            Ok(()) => iface.joined = Some(new),
                            Err(e) => warn!("{name}: cannot join ff02::2: {e}"),
                        }
                    }
                }
                let source = link.filter(|l| l.up).and_then(|l| l.usable_link_local());
                if source != iface.source {
                    // A new source address restarts the bursts: peers must learn it.
                    iface.speaker.set_ready(false, now);
                    if let Some(prober) = &mut iface.prober {
                        prober.set_ready(false, now);
                    }
                    iface.source = source;
                    if let Some(src) = source {
                        info!("{name}: announcing from {src}");
                    }
                }
                iface.speaker.set_ready(source.is_some(), now);
                if let Some(up_at) = iface.up_since.update(link.map(|l| l.up), now) {
                    iface.speaker.hold_first_ra_until(up_at + FIRST_RA_AFTER_LINK_UP);
                }
                if let Some(prober) = &mut iface.prober {
                    prober.set_ready(source.is_some(), now);
                }
                reschedule_in(&mut self.schedule, name, iface);
            }
        }
        self.poll_speakers().await;
    }

    /// Put the interface's next deadline in `schedule` (after anything that
    /// may have moved it).
    fn reschedule(&mut self, name: &str) {
        if let Some(iface) = self.ifaces.get_mut(name) {
            reschedule_in(&mut self.schedule, name, iface);
        }
    }

    /// Send what the interfaces due by now have to send; only those are
    /// looked at.
    async fn poll_speakers(&mut self) {
        let now = now();
        let mut due = Vec::new();
        let mut probes = Vec::new();
        let mut polled = Vec::new();
        while let Some((at, _)) = self.schedule.first()
            && *at <= now
        {
            let Some((_, name)) = self.schedule.pop_first() else {
                break;
            };
            let Some(iface) = self.ifaces.get_mut(&name) else {
                continue;
            };
            iface.scheduled = None;
            for emit in iface.speaker.poll(now) {
                due.push((name.clone(), emit));
            }
            if let Some(prober) = &mut iface.prober
                && prober.next_deadline().is_some_and(|t| t <= now)
            {
                match prober.poll(now, rand::random_range(PROBE_JITTER)) {
                    Probe::Send => probes.push(name.clone()),
                    Probe::Skip => iface.counters.probes.skipped += 1,
                    Probe::No => {}
                }
            }
            polled.push(name);
        }
        for name in &polled {
            self.reschedule(name);
        }
        for (name, emit) in due {
            self.emit(&name, emit).await;
        }
        for name in probes {
            self.probe(&name).await;
        }
    }

    /// An echo request to all-nodes: every node on the link answers from
    /// its link-local, the silent ones too.
    async fn probe(&mut self, name: &str) {
        self.probe_sequence = self.probe_sequence.wrapping_add(1);
        let bytes = echo::build_request(self.probe_id, self.probe_sequence);
        if self.transmit(name, ALL_NODES, &bytes, "probe").await
            && let Some(iface) = self.ifaces.get_mut(name)
        {
            iface.counters.probes.sent += 1;
        }
    }

    async fn emit(&mut self, name: &str, emit: Emit) {
        let source = self.ifaces.get(name).and_then(|i| i.source);
        let Some((mac, optimistic)) = self.links.borrow().get(name).map(|l| {
            let optimistic = l.link_locals.iter().any(|ll| Some(ll.addr) == source && ll.optimistic);
            (l.mac, optimistic)
        }) else {
            return;
        };
        let (dst, bytes, kind) = match emit {
            // RFC 4429: no source link-layer address option in an RS from
            // an optimistic address (it could override the true owner's
            // entry in a router's neighbour cache). Our RAs keep theirs:
            // a peer whose own link-local is optimistic cannot resolve us
            // (the kernel sends no NS from an optimistic source), and
            // learns our MAC from that option instead.
            Emit::Rs => (ALL_ROUTERS, packet::build_rs(if optimistic { None } else { mac }), "rs"),
            Emit::Ra(dst) => {
                let params = RaParams::new(self.config.ra_lifetime, mac);
                (dst, packet::build_ra(&params), "ra")
            }
        };
        if self.transmit(name, dst, &bytes, kind).await
            && let Some(iface) = self.ifaces.get_mut(name)
        {
            bump(&mut iface.counters.tx, kind);
        }
    }

    /// Send from the interface's link-local; true if the kernel took it.
    /// A failure counts as a tx error; one that says the kernel's neighbour
    /// table is full is logged once a minute, not once a packet.
    async fn transmit(&mut self, name: &str, dst: Ipv6Addr, bytes: &[u8], kind: &str) -> bool {
        let Some(ifindex) = self.links.borrow().get(name).map(|l| l.ifindex) else {
            return false;
        };
        let Some(src) = self.ifaces.get(name).and_then(|i| i.source) else {
            return false;
        };
        let Err(e) = self.socket.send(ifindex, src, dst, bytes).await else {
            trace!("{name}: sent {kind} to {dst}");
            return true;
        };
        if let Some(iface) = self.ifaces.get_mut(name) {
            iface.counters.tx_errors += 1;
        }
        // ip6_finish_output2 fails with EINVAL when it cannot create a
        // neighbour entry (dmesg: "neighbor table overflow").
        if e.raw_os_error() != Some(libc::EINVAL) {
            warn!("{name}: sending {kind} to {dst} failed: {e}");
        } else if let Some(unlogged) = self.table_full.hit(now()) {
            warn!(
                "{name}: sending {kind} to {dst} failed: {e}: the kernel's IPv6 neighbour table is probably \
                 full (dmesg: \"neighbor table overflow\"); raise net.ipv6.neigh.default.gc_thresh3 \
                 ({unlogged} more such failures since the last warning; at most one warning per {} s)",
                NEIGHBOUR_TABLE_FULL_INTERVAL.as_secs()
            );
        } else {
            debug!("{name}: sending {kind} to {dst} failed: {e}");
        }
        false
    }

    async fn received(&mut self, rx: Received, bytes: &[u8]) {
        let Some(name) = self.names.get(&rx.ifindex).cloned() else {
            // Not a configured interface: not ours to listen on.
            return;
        };
        if bytes.first() == Some(&echo::ECHO_REPLY) {
            self.echo_reply(&name, rx, bytes).await;
            return;
        }
        let Some(iface) = self.ifaces.get_mut(&name) else {
            return;
        };
        let msg = match packet::parse(bytes, rx.src, rx.dst, rx.hop_limit) {
            Ok(msg) => msg,
            Err(reason) => {
                bump(&mut iface.counters.dropped, reason.as_str());
                debug!("{name}: dropped packet from {}: {}", rx.src, reason.as_str());
                return;
            }
        };
        if self.own.contains(&rx.src) {
            // Our own packet, looped back through another configured interface.
            return;
        }
        let kind = message_kind(&msg);
        bump(&mut iface.counters.rx, kind);
        trace!("{name}: {kind} from {}", rx.src);
        // It speaks ND on its own: our probes need not keep it known.
        if let Some(prober) = &mut iface.prober {
            prober.heard(rx.src, now());
        }
        let mut answer = None;
        match &msg {
            NdMessage::RouterAdvertisement { .. } => answer = iface.speaker.heard_ra_from(rx.src, now()),
            NdMessage::RouterSolicitation { .. } => answer = iface.speaker.heard_rs(now()),
            _ => {}
        }
        for obs in observations(rx.ifindex, rx.src, &msg) {
            if self.own.contains(&obs.addr) {
                continue;
            }
            if self.observations.send(obs).await.is_err() {
                debug!("peer table gone");
            }
        }
        // An RA heard ends the solicitations: the next deadline may move.
        self.reschedule(&name);
        if let Some(emit) = answer {
            self.emit(&name, emit).await;
        }
    }

    /// An echo reply: an answer to our probe from a link-local is a
    /// neighbour seen. Its hop limit proves nothing (echo replies leave with
    /// the sender's default), but a link-local source is never forwarded
    /// (RFC 4291 2.5.6), so the sender is on this link.
    async fn echo_reply(&mut self, name: &str, rx: Received, bytes: &[u8]) {
        if !echo::is_reply_to_probe(bytes, self.probe_id) {
            trace!("{name}: echo reply from {} is not an answer to our probe", rx.src);
            return;
        }
        if !is_link_local(&rx.src) || self.own.contains(&rx.src) {
            return;
        }
        let Some(iface) = self.ifaces.get_mut(name) else {
            return;
        };
        iface.counters.probes.answers += 1;
        if let Some(prober) = &mut iface.prober {
            prober.answered(rx.src);
        }
        trace!("{name}: probe answered by {}", rx.src);
        let seen = Observation {
            ifindex: rx.ifindex,
            addr: rx.src,
            mac: None,
            source: Source::Echo,
            router: None,
            ra_lifetime: None,
            tentative: false,
        };
        if self.observations.send(seen).await.is_err() {
            debug!("peer table gone");
        }
    }

    fn views(&self) -> Vec<InterfaceView> {
        let links = self.links.borrow();
        self.ifaces
            .iter()
            .map(|(name, iface)| {
                let link = links.get(name);
                InterfaceView {
                    interface: name.clone(),
                    ifindex: link.map(|l| l.ifindex),
                    state: match link {
                        None => InterfaceState::Missing,
                        Some(l) if l.up => InterfaceState::Up,
                        Some(_) => InterfaceState::Down,
                    },
                    mac: link.and_then(|l| l.mac.as_ref().map(fmt_mac)),
                    link_local: link.and_then(|l| l.link_locals.first().map(|a| a.addr)),
                    tentative: link.is_some_and(|l| !l.link_locals.is_empty() && l.usable_link_local().is_none()),
                    rx: counts(&iface.counters.rx),
                    tx: counts(&iface.counters.tx),
                    tx_errors: iface.counters.tx_errors,
                    dropped: counts(&iface.counters.dropped),
                    probes: iface.prober.is_some().then_some(iface.counters.probes),
                }
            })
            .collect()
    }
}

/// Put `iface`'s next deadline in `schedule`, in place of the one it had.
fn reschedule_in(schedule: &mut BTreeSet<(std::time::Instant, String)>, name: &str, iface: &mut Iface) {
    let next = iface.next_deadline();
    if next == iface.scheduled {
        return;
    }
    if let Some(at) = iface.scheduled.take() {
        schedule.remove(&(at, name.to_string()));
    }
    if let Some(at) = next {
        schedule.insert((at, name.to_string()));
    }
    iface.scheduled = next;
}

fn message_kind(msg: &NdMessage) -> &'static str {
    match msg {
        NdMessage::RouterSolicitation { .. } => "rs",
        NdMessage::RouterAdvertisement { .. } => "ra",
        NdMessage::NeighborSolicitation { .. } => "ns",
        NdMessage::NeighborAdvertisement { .. } => "na",
    }
}

/// What a valid ND message tells us about neighbours (docs/ARCHITECTURE.md section 4):
/// the source of RA/RS/NS/NA unless unspecified, the target of an NA, and
/// the target of a DAD NS as a tentative address. Only link-locals count:
/// BGP unnumbered dials fe80:: addresses.
pub fn observations(ifindex: u32, src: Ipv6Addr, msg: &NdMessage) -> Vec<Observation> {
    let seen = |addr, source, mac, router, ra_lifetime, tentative| Observation {
        ifindex,
        addr,
        mac,
        source,
        router,
        ra_lifetime,
        tentative,
    };
    let mut out = Vec::new();
    match *msg {
        NdMessage::RouterAdvertisement {
            router_lifetime,
            source_lla,
            ..
        } => {
            out.push(seen(
                src,
                Source::Ra,
                source_lla,
                Some(true),
                Some(router_lifetime),
                false,
            ));
        }
        NdMessage::RouterSolicitation { source_lla } => {
            out.push(seen(src, Source::Rs, source_lla, None, None, false));
        }
        NdMessage::NeighborSolicitation { target, source_lla } => {
            if src.is_unspecified() {
                out.push(seen(target, Source::Ns, None, None, None, true));
            } else {
                out.push(seen(src, Source::Ns, source_lla, None, None, false));
            }
        }
        NdMessage::NeighborAdvertisement {
            router,
            target,
            target_lla,
            ..
        } => {
            out.push(seen(target, Source::Na, target_lla, Some(router), None, false));
            if src != target {
                out.push(seen(src, Source::Na, None, None, None, false));
            }
        }
    }
    out.retain(|o| is_link_local(&o.addr) && !o.addr.is_unspecified());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_counts_as_come_up_only_from_down() {
        use super::UpSince;
        let t0 = std::time::Instant::now();
        let later = |ms| t0 + std::time::Duration::from_millis(ms);
        let mut up = UpSince::default();
        assert_eq!(up.update(None, t0), None, "the first, empty snapshot");
        assert_eq!(
            up.update(Some(true), later(1)),
            None,
            "up when first seen: not coming up"
        );
        assert_eq!(up.update(Some(true), later(5)), None);
        assert_eq!(up.update(Some(false), later(10)), None);
        assert_eq!(up.update(Some(true), later(20)), Some(later(20)));
        assert_eq!(up.update(Some(true), later(30)), Some(later(20)), "kept while up");
        let mut created = UpSince::default();
        assert_eq!(created.update(None, t0), None);
        assert_eq!(created.update(Some(false), later(40)), None, "created down");
        assert_eq!(created.update(Some(true), later(50)), Some(later(50)), "then set up");
    }

    use super::*;

    fn ll(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ra_gives_router_with_lifetime() {
        let msg = NdMessage::RouterAdvertisement {
            cur_hop_limit: 64,
            managed: false,
            other: false,
            router_lifetime: 30,
            reachable_time: 0,
            retrans_timer: 0,
            source_lla: Some([2, 0, 0, 0, 0, 1]),
        };
        let obs = observations(3, ll("fe80::1"), &msg);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].source, Source::Ra);
        assert_eq!(obs[0].router, Some(true));
        assert_eq!(obs[0].ra_lifetime, Some(30));
        assert_eq!(obs[0].mac, Some([2, 0, 0, 0, 0, 1]));
        assert!(!obs[0].tentative);
    }

    #[test]
    fn dad_ns_names_a_tentative_target() {
        let msg = NdMessage::NeighborSolicitation {
            target: ll("fe80::9"),
            source_lla: None,
        };
        let obs = observations(3, Ipv6Addr::UNSPECIFIED, &msg);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].addr, ll("fe80::9"));
        assert!(obs[0].tentative);
    }

    #[test]
    fn na_gives_target_and_distinct_source() {
        let msg = NdMessage::NeighborAdvertisement {
            router: true,
            solicited: true,
            override_flag: true,
            target: ll("fe80::7"),
            target_lla: Some([2, 0, 0, 0, 0, 7]),
        };
        let same = observations(3, ll("fe80::7"), &msg);
        assert_eq!(same.len(), 1);
        assert_eq!(same[0].router, Some(true));
        let other = observations(3, ll("fe80::8"), &msg);
        assert_eq!(
            other.iter().map(|o| o.addr).collect::<Vec<_>>(),
            vec![ll("fe80::7"), ll("fe80::8")]
        );
    }

    #[test]
    fn global_addresses_are_not_neighbours() {
        let msg = NdMessage::NeighborSolicitation {
            target: ll("2001:db8::1"),
            source_lla: None,
        };
        assert!(observations(3, ll("2001:db8::2"), &msg).is_empty());
        assert!(observations(3, Ipv6Addr::UNSPECIFIED, &msg).is_empty());
        let rs = NdMessage::RouterSolicitation { source_lla: None };
        assert!(observations(3, Ipv6Addr::UNSPECIFIED, &rs).is_empty());
    }
}
