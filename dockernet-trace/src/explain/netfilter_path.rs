//! The netfilter hooks a dropped packet met in the host's namespace, in the order the kernel
//! runs them, each evaluated with the packet as it was there: where it came from (a device, or
//! a socket of the host), where the route sends it, whether the destination is the host's own,
//! conntrack's view, and NAT on the way (the evaluator applies it). Trace and watch both
//! describe a drop this way ([`Dropped`]) and ask [`super::dropping_rule`] which rule it was.
use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
};

use ipnet::IpNet;

use crate::{
    flow::{Proto, Tuple},
    model::Topology,
    netfilter::{
        docker::looks_like_docker_bridge,
        eval::{CtState, Evaluation, Evaluator, Fate, Hook, Iface, L4, Layer, Packet},
    },
};

/// What the host's network says about a packet's way: its own addresses, its routes, its
/// Docker bridges and their ports.
#[derive(Clone, Debug, Default)]
pub struct HostView {
    local: Vec<IpAddr>,
    /// Main-table routes, most specific first: prefix and device.
    routes: Vec<(IpNet, Option<String>)>,
    /// Bridge ports by name, with their bridge.
    masters: HashMap<String, String>,
    /// Docker's bridges (a fix puts them in firewalld's docker zone).
    pub bridges: BTreeSet<String>,
    /// Whether bridged IPv4 frames pass iptables (br_netfilter); None when not known.
    br_netfilter: Option<bool>,
}

impl HostView {
    pub fn of(t: &Topology) -> Self {
        let h = &t.host;
        let name = |index: u32| h.link_by_index(index).map(|l| l.name.clone());
        let mut routes: Vec<(IpNet, Option<String>)> = h
            .routes
            .iter()
            .filter(|r| r.table == crate::model::routes::MAIN_TABLE)
            .map(|r| (r.dst, if r.kind.discards() { None } else { r.oif.and_then(name) }))
            .collect();
        routes.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        HostView {
            local: h.addresses.iter().map(|a| a.ip).collect(),
            routes,
            masters: h.links.iter().filter_map(|l| Some((l.name.clone(), name(l.master?)?))).collect(),
            bridges: t.docker.networks.iter().filter_map(|n| n.bridge.clone()).collect(),
            br_netfilter: h.sysctls.bridge_nf_call_iptables,
        }
    }

    /// An address of the host (loopback included).
    pub fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.local.contains(&ip)
    }

    /// The device the main table routes `ip` to; `lo` for the host's own addresses.
    pub fn device_to(&self, ip: IpAddr) -> Option<String> {
        if self.is_local(ip) {
            return Some("lo".into());
        }
        self.routes.iter().find(|(net, _)| net.contains(&ip)).and_then(|(_, dev)| dev.clone())
    }

    /// Whether the main table routes `src` back out of `iif`, what a reverse-path filter asks:
    /// yes when it does; else not known (policy routing, which this does not read, may).
    pub fn routes_back(&self, src: IpAddr, iif: &str) -> Option<bool> {
        (self.device_to(src)? == iif).then_some(true)
    }

    /// The device the IP layer sees a frame of `dev` arrive on: a bridge port's bridge.
    pub fn ip_device(&self, dev: &str) -> String {
        self.masters.get(dev).cloned().unwrap_or_else(|| dev.to_string())
    }

    fn is_bridge(&self, dev: &str) -> bool {
        self.bridges.contains(dev) || looks_like_docker_bridge(dev) || self.masters.values().any(|m| m == dev)
    }

    fn is_port_of(&self, port: &str, bridge: &str) -> bool {
        self.masters.get(port).is_some_and(|m| m == bridge)
    }
}

#[cfg(test)]
impl HostView {
    /// A host for unit tests: its addresses, routes (prefix, device), bridge ports (port,
    /// bridge) and Docker bridges.
    pub fn for_tests(
        local: &[&str],
        routes: &[(&str, &str)],
        ports: &[(&str, &str)],
        bridges: &[&str],
    ) -> Self {
        let mut routes: Vec<(IpNet, Option<String>)> =
            routes.iter().map(|(n, d)| (n.parse().unwrap(), Some(d.to_string()))).collect();
        routes.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        HostView {
            local: local.iter().map(|a| a.parse().unwrap()).collect(),
            routes,
            masters: ports.iter().map(|(p, b)| (p.to_string(), b.to_string())).collect(),
            bridges: bridges.iter().map(|b| b.to_string()).collect(),
            br_netfilter: Some(true),
        }
    }
}

/// The device the packet had when netfilter freed it (the kernel's `skb->dev`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropDevice {
    Unknown,
    /// None: a packet the host sent, before routing gave it one (OUTPUT).
    NoDevice,
    Device(String),
}

/// What the kernel showed of a packet netfilter dropped in the host's namespace.
#[derive(Clone, Debug)]
pub struct Dropped {
    /// The packet at the drop (NAT before it applied).
    pub tuple: Tuple,
    /// The packet as it entered the namespace (before NAT), when seen.
    pub entry: Option<Tuple>,
    /// Sent by a socket of the host (else received on a device).
    pub local_origin: bool,
    /// The device it came in on, when seen; else the route back to its source says.
    pub iif: Option<String>,
    /// The device the kernel's route lookup chose for its destination, when seen.
    pub oif: Option<String>,
    pub drop_device: DropDevice,
    /// Conntrack's state: New for a connection's first packet; None when not known.
    pub ct: Option<CtState>,
    /// The hook the kernel named (kprobe/fentry enrichment), when it did.
    pub hook: Option<Hook>,
}

/// One hook (of one layer) evaluated with the packet as it reached it.
#[derive(Debug)]
pub struct Site {
    pub hook: Hook,
    pub layer: Layer,
    pub evaluation: Evaluation,
    /// What the kernel showed allows the drop to have happened here.
    pub fits_the_kernel: bool,
}

/// The hooks the packet met, up to the first that certainly stops it.
#[derive(Debug, Default)]
pub struct Walk {
    pub sites: Vec<Site>,
    /// The packet went on from a hook in more than one way (a NAT or mark the rules could
    /// not decide), so what later hooks saw is not sure.
    pub ambiguous: bool,
    pub notes: Vec<String>,
}

impl Walk {
    /// The sites where the packet may have been dropped: a way ends there in a drop, reject or
    /// unknown verdict, and the kernel's account allows it.
    pub fn drop_sites(&self) -> Vec<&Site> {
        let may_stop = |s: &&Site| s.evaluation.outcomes.iter().any(|o| o.fate.may_stop());
        let fitting: Vec<&Site> = self.sites.iter().filter(may_stop).filter(|s| s.fits_the_kernel).collect();
        if fitting.is_empty() { self.sites.iter().filter(may_stop).collect() } else { fitting }
    }
}

/// Evaluates every hook the packet met, in order, until one certainly stops it.
pub fn walk(ev: &Evaluator, host: &HostView, d: &Dropped) -> Walk {
    let first = d.entry.unwrap_or(d.tuple);
    let mut w = Walker { ev, host, d, walk: Walk::default() };
    let mut p = w.packet(&first);
    if d.local_origin {
        p.iif = Iface::Absent;
        p.oif = w.oif(p.dst);
        let Some(p) = w.step(Hook::Output, Layer::Ip, p) else { return w.walk };
        let Some(mut p) = w.step(Hook::Postrouting, Layer::Ip, p) else { return w.walk };
        if host.is_local(p.dst) {
            // To the host itself: back in through loopback.
            (p.iif, p.oif) = (Iface::Is("lo".into()), Iface::Absent);
            let Some(p) = w.step(Hook::Prerouting, Layer::Ip, p) else { return w.walk };
            w.step(Hook::Input, Layer::Ip, p);
        }
        return w.walk;
    }
    let iif = d.iif.clone().map(|i| host.ip_device(&i)).or_else(|| host.device_to(first.src));
    p.iif = iif.clone().map_or(Iface::Unknown, Iface::Is);
    // Only from the device the kernel reported: one guessed from the route back would prove
    // itself.
    p.route_back = d.iif.as_ref().and(iif.as_deref()).and_then(|i| host.routes_back(first.src, i));
    let bridged = iif.as_deref().is_some_and(|i| {
        host.is_bridge(i) && !host.is_local(first.dst) && host.device_to(first.dst).as_deref() == Some(i)
    });
    if bridged {
        // Switched by the bridge: its own hooks, and the IP layer's through br_netfilter.
        let bridge = p.iif.clone();
        for hook in [Hook::Prerouting, Hook::Forward, Hook::Postrouting] {
            // A hook without an output device drops it from the packet it hands on: the
            // bridge is still where it goes.
            p.oif = bridge.clone();
            let Some(next) = w.step(hook, Layer::Bridge, p.clone()) else { return w.walk };
            p = next;
            if host.br_netfilter != Some(false) {
                p.oif = bridge.clone();
                let Some(next) = w.step(hook, Layer::Ip, p) else { return w.walk };
                p = next;
            }
        }
        return w.walk;
    }
    p.oif = Iface::Absent;
    let Some(mut p) = w.step(Hook::Prerouting, Layer::Ip, p) else { return w.walk };
    if host.is_local(p.dst) {
        w.step(Hook::Input, Layer::Ip, p);
        return w.walk;
    }
    p.oif = w.oif(p.dst);
    let Some(p) = w.step(Hook::Forward, Layer::Ip, p) else { return w.walk };
    w.step(Hook::Postrouting, Layer::Ip, p);
    w.walk
}

struct Walker<'a> {
    ev: &'a Evaluator<'a>,
    host: &'a HostView,
    d: &'a Dropped,
    walk: Walk,
}

impl Walker<'_> {
    /// The packet of `t`, with conntrack's state and the host's view of its addresses.
    fn packet(&self, t: &Tuple) -> Packet {
        let mut p = match t.proto {
            Proto::Tcp => Packet::tcp(t.src, t.sport, t.dst, t.dport),
            Proto::Udp => Packet::udp(t.src, t.sport, t.dst, t.dport),
            Proto::Icmp => Packet::icmp(t.src, t.dst),
            Proto::Icmpv6 => Packet { proto: L4::Icmpv6, ..Packet::icmp(t.src, t.dst) },
            Proto::Other(n) => {
                Packet { proto: L4::Other(n), sport: None, dport: None, ..Packet::icmp(t.src, t.dst) }
            }
        };
        p.ct = self.d.ct;
        self.localise(p)
    }

    fn localise(&self, mut p: Packet) -> Packet {
        p.dst_local = Some(self.host.is_local(p.dst));
        p.src_local = Some(self.host.is_local(p.src));
        p
    }

    /// The output device for `dst`: the kernel's own lookup when it was for this destination.
    fn oif(&self, dst: IpAddr) -> Iface {
        let seen = self.d.oif.clone().filter(|_| dst == self.d.tuple.dst);
        seen.or_else(|| self.host.device_to(dst)).map_or(Iface::Unknown, Iface::Is)
    }

    /// Evaluates one hook; the packet as it goes on, or None when it goes no further.
    fn step(&mut self, hook: Hook, layer: Layer, p: Packet) -> Option<Packet> {
        let evaluation = self.ev.evaluate_layer(hook, layer, &p);
        let fits_the_kernel = self.fits(hook, layer, &p);
        let next = self.went_on(&evaluation);
        let stops = evaluation.certainly_stops();
        self.walk.sites.push(Site { hook, layer, evaluation, fits_the_kernel });
        if stops { None } else { next.map(|p| self.localise(p)) }
    }

    /// The packet after a hook it passed: the way whose addresses are those the kernel showed
    /// at the drop, else the only one.
    fn went_on(&mut self, e: &Evaluation) -> Option<Packet> {
        let passed: Vec<&Packet> =
            e.outcomes.iter().filter(|o| o.fate == Fate::Passed).map(|o| &o.packet).collect();
        let key = |p: &Packet| (p.src, p.dst, p.sport, p.dport, p.mark);
        let mut distinct: Vec<&Packet> = vec![];
        for p in &passed {
            if !distinct.iter().any(|d| key(d) == key(p)) {
                distinct.push(p);
            }
        }
        let t = &self.d.tuple;
        let seen = |p: &&&Packet| p.dst == t.dst && p.src == t.src;
        if distinct.len() > 1 {
            match distinct.iter().filter(seen).count() {
                1 => return distinct.iter().find(seen).map(|p| (**p).clone()),
                _ => self.walk.ambiguous = true,
            }
        }
        distinct.first().map(|p| (*p).clone())
    }

    /// Whether the kernel's account allows the drop to have happened at `hook`: the hook it
    /// named, and the device the packet had there (the input device until routing has sent
    /// it out, the output device at postrouting, none when the host sent it, before routing).
    fn fits(&self, hook: Hook, layer: Layer, p: &Packet) -> bool {
        if let Some(h) = self.d.hook {
            return h == hook;
        }
        let dev = match &self.d.drop_device {
            DropDevice::Unknown => return true,
            DropDevice::NoDevice => return hook == Hook::Output,
            DropDevice::Device(dev) => dev,
        };
        let is = |i: &Iface| i.name().is_some_and(|n| n == dev || self.host.is_port_of(dev, n));
        if layer == Layer::Bridge || (p.iif == p.oif && p.iif != Iface::Absent) {
            // Bridged: the port, or the bridge, whichever hook it was.
            return is(&p.iif) || is(&p.oif) || p.iif == Iface::Unknown;
        }
        match hook {
            Hook::Output => is(&p.oif),
            Hook::Postrouting => is(&p.oif),
            Hook::Prerouting | Hook::Input | Hook::Forward => is(&p.iif) || p.iif == Iface::Unknown,
        }
    }
}

#[cfg(test)]
#[path = "netfilter_path_tests.rs"]
mod tests;
