//! The expected path of a trace, from the model: where the probe leaves from, which of the
//! host's interfaces it should cross (tc programs go there), the addresses it involves
//! (for the hooks that see no ports), and what Docker promised about it (DNAT, networks).
use std::{net::IpAddr, path::PathBuf};

use dockernet_trace_common::PROBE_ADDRS;

use crate::{
    flow::{IpFamily, Proto},
    model::{Container, EndpointKind, NetnsRef, ResolvedEndpoint, Topology},
    probe::ProbePorts,
};

/// The container behind a published port of the host.
#[derive(Clone, Debug)]
pub struct Dnat {
    pub container: String,
    pub network: String,
    pub ip: IpAddr,
    pub port: u16,
}

/// A port Docker publishes on the host that the probe's destination does not get.
#[derive(Clone, Debug)]
pub struct PublishedElsewhere {
    pub container: String,
    pub container_port: u16,
    /// The host addresses the port is published on (never 0.0.0.0: that is every address).
    pub host_ips: Vec<IpAddr>,
    /// The destination is the source container's own loopback: the probe never leaves it.
    pub own_loopback: bool,
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// The namespace the probe is sent from; None: the tool's own.
    pub send_from: Option<PathBuf>,
    /// The trace's family is this address's.
    pub dst: IpAddr,
    pub dport: u16,
    pub proto: Proto,
    /// The probes' ports (ICMP: identifiers), by which the kernel programs know them.
    pub ports: ProbePorts,
    /// Host interfaces to attach tc programs to.
    pub tc_ifaces: Vec<String>,
    pub probe_addrs: Vec<IpAddr>,
    pub dnat: Option<Dnat>,
    /// The target's port is published on the host, but not where the probe goes.
    pub elsewhere: Option<PublishedElsewhere>,
    /// Docker networks and containers the path involves.
    pub networks: Vec<String>,
    pub containers: Vec<String>,
    /// The host interface a correct route to the destination uses (a bridge for a Docker
    /// address, the uplink for the outside).
    pub expected_oif: Option<String>,
    /// The destination is neither a local address nor in a Docker subnet.
    pub leaves_host: bool,
}

fn push<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Plan {
    pub fn new(t: &Topology, from: &ResolvedEndpoint, to: &ResolvedEndpoint, probes: ProbePorts) -> Self {
        let mut p = Plan {
            send_from: match &from.netns {
                Some(NetnsRef::Path(path)) => Some(path.clone()),
                _ => None,
            },
            dst: to.ip,
            dport: to.port.unwrap_or(0),
            proto: probes.proto,
            ports: probes,
            tc_ifaces: vec![],
            probe_addrs: vec![],
            dnat: None,
            elsewhere: None,
            networks: vec![],
            containers: vec![],
            expected_oif: None,
            leaves_host: false,
        };
        for end in [from, to] {
            if let Some(c) = end.container.as_ref().and_then(|c| t.container(&c.id).ok()) {
                p.add_container(t, c, end.network.as_deref());
            }
            if !end.ip.is_unspecified() {
                push(&mut p.probe_addrs, end.ip);
            }
        }
        let own_loopback = to.ip.is_loopback() && from.container.is_some() && from.netns == to.netns;
        if to.kind == EndpointKind::Host || t.host.owner_of(to.ip).is_some() {
            p.add_published(t, to, own_loopback);
        }
        p.expected_route(t);
        for a in [t.host.primary(p.family()), t.host.source_for(to.ip)].into_iter().flatten() {
            push(&mut p.probe_addrs, a);
        }
        p.probe_addrs.truncate(PROBE_ADDRS);
        p
    }

    /// IPv4 or IPv6: the family of the probe.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.dst)
    }

    /// Where the probe is meant to arrive: the container behind a published port, else the
    /// target.
    pub fn final_dst(&self) -> IpAddr {
        self.dnat.as_ref().map(|d| d.ip).unwrap_or(self.dst)
    }

    /// The container's veths and bridges (all its networks: which one the packet takes is for
    /// the kernel to show), and its gateways.
    fn add_container(&mut self, t: &Topology, c: &Container, network: Option<&str>) {
        push(&mut self.containers, c.name.clone());
        for e in t.endpoints_of(c) {
            let chosen = network.is_none_or(|n| n == e.network);
            if chosen {
                push(&mut self.networks, e.network.clone());
            }
            if let Some(v) = e.link.as_ref().and_then(|l| l.host_veth.clone()) {
                push(&mut self.tc_ifaces, v);
            }
            if let Some(b) =
                t.network(&e.network).and_then(|n| n.bridge.clone()).filter(|b| t.link_by_name(b).is_some())
            {
                push(&mut self.tc_ifaces, b);
            }
            if let Some(g) = e.gateway_of(self.family()).filter(|_| chosen) {
                push(&mut self.probe_addrs, g);
            }
            // macvlan/ipvlan: the host's side is the parent interface.
            if let Some(parent) = t.network(&e.network).and_then(|n| n.parent.clone()) {
                push(&mut self.tc_ifaces, parent);
            }
        }
    }

    /// `--to host:PORT`: a container that publishes PORT on the probe's destination address is
    /// where Docker sends the probe; one that publishes it only on other addresses (or when the
    /// destination is the source's own loopback) is noted, for the verdict to explain.
    fn add_published(&mut self, t: &Topology, to: &ResolvedEndpoint, own_loopback: bool) {
        // Docker publishes tcp and udp ports; an ICMP probe asks about the tcp one.
        let proto = if self.proto == Proto::Udp { Proto::Udp } else { Proto::Tcp }.name();
        let Some(port) = to.port else { return };
        let family = self.family();
        for c in t.docker.containers.iter().filter(|c| c.is_running()) {
            // Docker forwards a port published on an address of the probe's family (or on
            // all addresses) to the container's address of that family.
            let bindings: Vec<_> = c
                .ports
                .iter()
                .filter(|p| p.host_port == port && p.proto == proto && IpFamily::of(&p.host_ip) == family)
                .collect();
            let Some(first) = bindings.first() else { continue };
            let reached = bindings.iter().any(|p| p.host_ip.is_unspecified() || p.host_ip == to.ip);
            if own_loopback || !reached {
                self.elsewhere = Some(PublishedElsewhere {
                    container: c.name.clone(),
                    container_port: first.container_port,
                    host_ips: bindings.iter().map(|p| p.host_ip).collect(),
                    own_loopback,
                });
                return;
            }
            let Some(e) = t.endpoints_of(c).iter().find(|e| e.ip_of(family).is_some()) else { continue };
            let ip = e.ip_of(family).unwrap_or(family.unspecified());
            self.dnat = Some(Dnat {
                container: c.name.clone(),
                network: e.network.clone(),
                ip,
                port: first.container_port,
            });
            push(&mut self.probe_addrs, ip);
            self.add_container(t, c, Some(&e.network));
            return;
        }
    }

    /// Which host interface a correct route takes to the destination.
    fn expected_route(&mut self, t: &Topology) {
        let dst = self.final_dst();
        if t.host.owner_of(dst).is_some() {
            return;
        }
        if let Some(n) = t.network_containing(dst) {
            push(&mut self.networks, n.name.clone());
            self.expected_oif = n.bridge.clone();
            if let Some(b) = n.bridge.clone().filter(|b| t.link_by_name(b).is_some()) {
                push(&mut self.tc_ifaces, b);
            }
            return;
        }
        self.leaves_host = true;
        let route = t.host.routes_covering(dst).into_iter().next().cloned();
        if let Some(r) = route {
            let oif = r.oif.and_then(|i| t.link_by_index(i)).map(|l| l.name.clone());
            if let Some(o) = &oif {
                push(&mut self.tc_ifaces, o.clone());
            }
            if let Some(g) = r.gateway {
                push(&mut self.probe_addrs, g);
            }
            self.expected_oif = oif;
        }
    }
}
