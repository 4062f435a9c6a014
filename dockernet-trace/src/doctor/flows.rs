//! The traffic every Docker network needs to pass: its containers' connections out of the host
//! and the replies, the outside to each published port, containers of one network to each
//! other, and containers to the host's services at their gateway. Each is a packet as the
//! kernel sees it at each hook on its way (the published port's: up to the DNAT).
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::{
    flow::IpFamily,
    model::{DockerNetwork, Topology, listeners, routes::default_route},
    netfilter::{
        eval::{CtState, Hook, Packet},
        fix::Traffic,
    },
};

/// Why the traffic must pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A container's new connection out of the host.
    Outbound,
    /// The replies to it.
    Replies,
    /// A client outside the host to a published port.
    Published { host_port: u16, proto: String },
    /// A container to another of its network (bridged, seen by iptables via br_netfilter).
    WithinNetwork,
    /// A container to a service the host runs (on its gateway address).
    ToHost { port: u16 },
}

/// One flow and the hooks it meets.
#[derive(Clone, Debug)]
pub struct Flow {
    pub kind: Kind,
    pub network: String,
    pub bridge: String,
    pub container: Option<String>,
    pub steps: Vec<(Hook, Packet)>,
    /// For a published port: where the DNAT must send it (the forward steps follow from it).
    pub dnat_to: Option<(IpAddr, u16)>,
}

impl Flow {
    /// The class of traffic this flow stands for, as a fix lets it through at `hook` (`p` is
    /// the packet there): a network's way out, not one connection to one address.
    pub fn traffic(&self, hook: Hook, p: &Packet) -> Traffic {
        let br = Some(self.bridge.clone());
        match &self.kind {
            Kind::Outbound => Traffic {
                iif: br,
                oif: p.oif.name().filter(|_| hook.has_oif()).map(str::to_string),
                ..Traffic::default()
            },
            Kind::Replies => Traffic { oif: br, established: true, ..Traffic::default() },
            // Any client: to the container's port through its bridge.
            Kind::Published { .. } if hook == Hook::Forward => {
                Traffic { iif: None, oif: br, ..Traffic::exact(hook, p) }
            }
            Kind::Published { .. } => Traffic::exact(hook, p),
            Kind::WithinNetwork => Traffic { iif: br.clone(), oif: br, ..Traffic::default() },
            Kind::ToHost { .. } => Traffic { iif: br, ..Traffic::exact(hook, p) },
        }
    }
}

/// A client port, the same for every flow.
const CLIENT_PORT: u16 = 40000;

/// Where "outside" is: the default route's device, its gateway, and the host's address there.
struct Uplink {
    dev: String,
    peer: IpAddr,
    host_ip: Option<IpAddr>,
}

fn uplink(t: &Topology) -> Option<Uplink> {
    // These flows are IPv4 (the ones Docker's iptables rules carry).
    let r = default_route(&t.host.routes, IpFamily::V4)?;
    let dev = t.link_by_index(r.oif?)?.name.clone();
    let host_ip = t.addresses_of(r.oif?).iter().find(|a| a.ip.is_ipv4()).map(|a| a.ip);
    let peer = r.gateway.unwrap_or(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
    Some(Uplink { dev, peer, host_ip })
}

/// The TCP services of the host (address and port), which containers may need to reach.
pub fn host_services() -> Vec<(IpAddr, u16)> {
    listeners::host_sockets("tcp")
}

/// Every flow of every bridge network that must pass; `services` as [`host_services`] says.
pub fn flows(t: &Topology, services: &[(IpAddr, u16)]) -> Vec<Flow> {
    let up = uplink(t);
    let mut out = vec![];
    for n in t.docker.networks.iter().filter(|n| n.bridge.is_some()) {
        out.extend(network_flows(t, n, up.as_ref(), services));
    }
    out
}

fn network_flows(
    t: &Topology,
    n: &DockerNetwork,
    up: Option<&Uplink>,
    services: &[(IpAddr, u16)],
) -> Vec<Flow> {
    let subnet4 = n.subnets.iter().find_map(|s| match s.subnet {
        IpNet::V4(net) => Some((net, s.gateway)),
        IpNet::V6(_) => None,
    });
    let (Some(bridge), Some((subnet, gateway))) = (n.bridge.clone(), subnet4) else { return vec![] };
    let members: Vec<(String, Ipv4Addr)> = t
        .docker
        .containers
        .iter()
        .filter(|c| c.is_running())
        .filter_map(|c| Some((c.name.clone(), t.endpoint(c, &n.name)?.ip?)))
        .collect();
    let nth_host = |k: u32| Ipv4Addr::from(u32::from(subnet.network()) + k);
    let gateway = match gateway {
        Some(IpAddr::V4(g)) => g,
        _ => nth_host(1),
    };
    let me = members.first().map_or(nth_host(2), |m| m.1);
    let peer =
        members.get(1).map_or_else(|| if me == nth_host(3) { nth_host(2) } else { nth_host(3) }, |m| m.1);
    let flow = |kind, container: Option<String>, steps, dnat_to| Flow {
        kind,
        network: n.name.clone(),
        bridge: bridge.clone(),
        container,
        steps,
        dnat_to,
    };
    let mut out = vec![];
    let tcp = |src: Ipv4Addr, dst: IpAddr, port: u16| Packet::tcp(IpAddr::V4(src), CLIENT_PORT, dst, port);
    if let Some(up) = up.filter(|_| !n.internal) {
        let p = tcp(me, up.peer, 443).iif(&bridge).oif(&up.dev).to_local(false).from_local(false);
        let steps = vec![(Hook::Prerouting, p.clone()), (Hook::Forward, p.clone()), (Hook::Postrouting, p)];
        out.push(flow(Kind::Outbound, None, steps, None));
        let reply = Packet::tcp(up.peer, 443, IpAddr::V4(me), CLIENT_PORT)
            .iif(&up.dev)
            .oif(&bridge)
            .ct(Some(CtState::Established))
            .to_local(false);
        out.push(flow(Kind::Replies, None, vec![(Hook::Forward, reply)], None));
        out.extend(published(t, n, up, &bridge));
    }
    if n.icc && t.host.sysctls.bridge_nf_call_iptables == Some(true) {
        let p = tcp(me, IpAddr::V4(peer), 80).iif(&bridge).oif(&bridge).to_local(false);
        out.push(flow(Kind::WithinNetwork, None, vec![(Hook::Forward, p)], None));
    }
    let published: Vec<u16> =
        t.docker.containers.iter().flat_map(|c| c.ports.iter().map(|p| p.host_port)).collect();
    let mut ports: Vec<u16> = services
        .iter()
        .filter(|(ip, port)| (ip.is_unspecified() || *ip == IpAddr::V4(gateway)) && !published.contains(port))
        .map(|(_, port)| *port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        let p = tcp(me, IpAddr::V4(gateway), port).iif(&bridge).to_local(true).from_local(false);
        let steps = vec![(Hook::Prerouting, p.clone()), (Hook::Input, p)];
        out.push(flow(Kind::ToHost { port }, None, steps, None));
    }
    out
}

/// The outside to each port published by a container of `n` (not those bound to loopback).
fn published(t: &Topology, n: &DockerNetwork, up: &Uplink, bridge: &str) -> Vec<Flow> {
    let mut out = vec![];
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        let Some(ip) = t.endpoint(c, &n.name).and_then(|e| e.ip) else { continue };
        for p in c.ports.iter().filter(|p| p.host_ip.is_ipv4() && !p.host_ip.is_loopback()) {
            let dst = if p.host_ip.is_unspecified() { up.host_ip } else { Some(p.host_ip) };
            let Some(dst) = dst else { continue };
            let packet = match p.proto.as_str() {
                "tcp" => Packet::tcp(up.peer, CLIENT_PORT, dst, p.host_port),
                "udp" => Packet::udp(up.peer, CLIENT_PORT, dst, p.host_port),
                _ => continue,
            };
            out.push(Flow {
                kind: Kind::Published { host_port: p.host_port, proto: p.proto.clone() },
                network: n.name.clone(),
                bridge: bridge.to_string(),
                container: Some(c.name.clone()),
                steps: vec![(Hook::Prerouting, packet.iif(&up.dev).to_local(true).from_local(false))],
                dnat_to: Some((IpAddr::V4(ip), p.container_port)),
            });
        }
    }
    out
}
