//! rtnetlink's multicast groups, for Docker's bridges, their ports (veths) and the uplink:
//! addresses added or removed, links up or down, ports joining or leaving a bridge, a port's
//! STP state, routes of the main table. (A neighbour nobody answers for is no change of the
//! host's configuration: watch reports it as a route failure, CONTRACT.md's `route_failure`.)
//! Which interfaces count
//! is the [`Interest`], which the watch updates when Docker's view changes.
use std::{
    collections::HashSet,
    net::IpAddr,
    time::{Duration, Instant},
};

use futures::StreamExt;
use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{
    RouteNetlinkMessage,
    address::{AddressAttribute, AddressMessage},
    route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType},
};
use rtnetlink::MulticastGroup;
use tokio::{sync::watch, task::JoinHandle};

pub use super::interest::Interest;
use super::{Change, PortState, Route, Sink, What, interest::Named, netlink_links::Links};

/// Turns rtnetlink messages into changes.
#[derive(Debug, Default)]
pub struct Tracker {
    pub links: Links,
    /// The addresses there are, by interface: a new message for one of them is an update of
    /// its flags or lifetimes (an IPv6 address that passed duplicate detection), no news.
    addresses: HashSet<(u32, IpNet)>,
    /// Ports found disabled, held for [`HOLD`]: a port leaving its bridge is disabled first,
    /// and then its leaving is the change, not the disabling.
    held: Vec<(Instant, u32, Change)>,
}

/// How long a disabled port waits to see whether it is leaving its bridge.
pub const HOLD: Duration = Duration::from_millis(100);

impl Tracker {
    /// Who the link `index` is, if it is of interest.
    fn named(&self, interest: &Interest, index: u32) -> Option<Named> {
        let l = self.links.get(index)?;
        interest.name(&l.name, l.master.and_then(|m| self.links.name(m)))
    }

    /// The changes `m` makes, except disabled ports, which wait in [`Tracker::release`].
    pub fn on_message(&mut self, interest: &Interest, m: &RouteNetlinkMessage) -> Vec<Change> {
        let link = match m {
            RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l) => Some(l.header.index),
            _ => None,
        };
        let mut out = Vec::new();
        for c in self.changes(interest, m) {
            match (&c.what, link) {
                (What::StpState(PortState::Disabled), Some(i)) => self.held.push((Instant::now(), i, c)),
                (What::PortLeft { .. }, Some(i)) => {
                    self.held.retain(|(_, k, _)| *k != i);
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// Held changes whose time has come.
    pub fn release(&mut self, now: Instant) -> Vec<Change> {
        let (due, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.held).into_iter().partition(|(t, _, _)| *t + HOLD <= now);
        self.held = keep;
        due.into_iter().map(|(_, _, c)| c).collect()
    }

    /// When the next held change is due.
    pub fn next_release(&self) -> Option<Instant> {
        self.held.iter().map(|(t, _, _)| *t + HOLD).min()
    }

    fn changes(&mut self, interest: &Interest, m: &RouteNetlinkMessage) -> Vec<Change> {
        let (named, whats) = match m {
            RouteNetlinkMessage::NewLink(l) => {
                // A port that left is still named by the bridge it left.
                let before = self.named(interest, l.header.index);
                let whats = self.links.on_new(l);
                let after = self.named(interest, l.header.index);
                let named = match (after, before) {
                    (Some((i, n, c)), b) => Some((i, n.or(b.and_then(|b| b.1)), c)),
                    (None, b) => b,
                };
                (named, whats)
            }
            RouteNetlinkMessage::DelLink(l) => {
                // A deleted link is named from its last state (and its bridge, still there).
                let before = self.named(interest, l.header.index);
                let (_, whats) = self.links.on_del(l);
                (before, whats)
            }
            RouteNetlinkMessage::NewAddress(a) => self.address(interest, a, true),
            RouteNetlinkMessage::DelAddress(a) => self.address(interest, a, false),
            RouteNetlinkMessage::NewRoute(r) => self.route(interest, r, true),
            RouteNetlinkMessage::DelRoute(r) => self.route(interest, r, false),
            _ => (None, vec![]),
        };
        let Some((iface, network, container)) = named else { return vec![] };
        whats
            .into_iter()
            .map(|what| Change {
                iface: Some(iface.clone()),
                network: network.clone(),
                container: container.clone(),
                ..Change::new(what)
            })
            .collect()
    }

    /// Learns an address that is there (the dump at start).
    pub fn learn_address(&mut self, a: &AddressMessage) {
        if let Some(net) = address_of(a) {
            self.addresses.insert((a.header.index, net));
        }
    }

    fn address(
        &mut self,
        interest: &Interest,
        a: &AddressMessage,
        added: bool,
    ) -> (Option<Named>, Vec<What>) {
        let Some(net) = address_of(a) else { return (None, vec![]) };
        let key = (a.header.index, net);
        // A deletion is always news (the kernel had it); an addition only the first time.
        let news = if added {
            self.addresses.insert(key)
        } else {
            self.addresses.remove(&key);
            true
        };
        // Every interface gets an IPv6 link-local address when it comes up: no news.
        if !news || matches!(net.addr(), IpAddr::V6(v6) if v6.is_unicast_link_local()) {
            return (None, vec![]);
        }
        let what = if added { What::AddressAdded(net) } else { What::AddressRemoved(net) };
        (self.named(interest, a.header.index), vec![what])
    }

    fn route(&self, interest: &Interest, r: &RouteMessage, added: bool) -> (Option<Named>, Vec<What>) {
        let table = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        });
        let main = u32::from(RouteHeader::RT_TABLE_MAIN);
        if table.unwrap_or(u32::from(r.header.table)) != main || r.header.kind != RouteType::Unicast {
            return (None, vec![]);
        }
        let addr = |a: &RouteAddress| match a {
            RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
            RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
            _ => None,
        };
        let mut dst = None;
        let mut gateway = None;
        let mut oif = None;
        for a in &r.attributes {
            match a {
                RouteAttribute::Destination(d) => dst = addr(d),
                RouteAttribute::Gateway(g) => gateway = addr(g),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let dst = dst.and_then(|d| IpNet::new(d, r.header.destination_prefix_length).ok());
        if dst.is_some_and(|d| matches!(d.addr(), IpAddr::V6(v6) if v6.is_unicast_link_local())) {
            return (None, vec![]);
        }
        let Some(oif) = oif else { return (None, vec![]) };
        let dev = self.links.name(oif).map(str::to_string);
        let route = Route { dst, gateway, dev };
        let what = if added { What::RouteAdded(route) } else { What::RouteRemoved(route) };
        (self.named(interest, oif), vec![what])
    }
}

const GROUPS: &[MulticastGroup] = &[
    MulticastGroup::Link,
    MulticastGroup::Ipv4Ifaddr,
    MulticastGroup::Ipv6Ifaddr,
    MulticastGroup::Ipv4Route,
    MulticastGroup::Ipv6Route,
];

/// The address (with its prefix) a message is about.
fn address_of(a: &AddressMessage) -> Option<IpNet> {
    let attr = |local: bool| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(ip) if local => Some(*ip),
            AddressAttribute::Address(ip) if !local => Some(*ip),
            _ => None,
        })
    };
    attr(true).or_else(|| attr(false)).and_then(|ip| IpNet::new(ip, a.header.prefix_len).ok())
}

/// Subscribes (in the calling thread's namespace), learns the links and addresses there are, then reports
/// changes until the sink closes. Subscribing comes before the dump, so nothing falls between.
pub async fn start(sink: Sink, interest: watch::Receiver<Interest>) -> std::io::Result<JoinHandle<()>> {
    let (conn, handle, mut messages) = rtnetlink::new_multicast_connection(GROUPS)?;
    let conn = tokio::spawn(conn);
    let mut tracker = Tracker::default();
    let mut dump = handle.link().get().execute();
    while let Some(Ok(l)) = dump.next().await {
        tracker.links.on_new(&l);
    }
    let mut dump = handle.address().get().execute();
    while let Some(Ok(a)) = dump.next().await {
        tracker.learn_address(&a);
    }
    Ok(tokio::spawn(async move {
        let never = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        while !sink.is_closed() {
            let due = tracker.next_release().map(tokio::time::Instant::from_std).unwrap_or(never);
            let changes = tokio::select! {
                m = messages.next() => match m {
                    Some((NetlinkMessage { payload: NetlinkPayload::InnerMessage(m), .. }, _)) => {
                        tracker.on_message(&interest.borrow(), &m)
                    }
                    Some(_) => continue,
                    None => break,
                },
                _ = tokio::time::sleep_until(due) => tracker.release(Instant::now()),
            };
            for c in changes {
                sink.emit(c);
            }
        }
        conn.abort();
    }))
}

#[cfg(test)]
#[path = "netlink_tests.rs"]
mod tests;
