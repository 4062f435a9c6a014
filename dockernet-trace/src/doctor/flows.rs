//! The traffic every Docker network needs to pass: its containers' connections out of the host
//! and the replies, the outside to each published port, containers of one network to each
//! other, and containers to the host's services at their gateway; in IPv4 and, for networks
//! with an IPv6 subnet, in IPv6. Each is a packet as the kernel sees it at each hook on its way
//! (the published port's: up to the DNAT).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::{
    explain::netfilter_path::HostView,
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
    pub family: IpFamily,
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

/// Where "outside" is, for one address family: the default route's device, its gateway, and
/// the host's address there.
struct Uplink {
    dev: String,
    peer: IpAddr,
    host_ip: Option<IpAddr>,
    /// Whether the host routes the peer back out of `dev` (see `HostView::routes_back`).
    peer_routed_back: Option<bool>,
}

fn uplink(t: &Topology, host: &HostView, family: IpFamily) -> Option<Uplink> {
    let r = default_route(&t.host.routes, family)?;
    let dev = t.link_by_index(r.oif?)?.name.clone();
    // A client reaches the host at a global address, not at the link's own fe80::.
    let host_ip =
        t.addresses_of(r.oif?).iter().map(|a| a.ip).find(|ip| IpFamily::of(ip) == family && !link_local(ip));
    // Without a gateway (an on-link default route), a client from the documentation ranges.
    let peer = r.gateway.unwrap_or(match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    });
    let peer_routed_back = host.routes_back(peer, &dev);
    Some(Uplink { dev, peer, host_ip, peer_routed_back })
}

fn link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// The TCP services of the host (address and port), which containers may need to reach.
pub fn host_services() -> Vec<(IpAddr, u16)> {
    listeners::host_sockets("tcp")
}

/// Every flow of every bridge network that must pass, in each address family the network
/// has; `services` as [`host_services`] says.
pub fn flows(t: &Topology, services: &[(IpAddr, u16)]) -> Vec<Flow> {
    let host = HostView::of(t);
    let mut out = vec![];
    for family in [IpFamily::V4, IpFamily::V6] {
        let up = uplink(t, &host, family);
        for n in t.docker.networks.iter().filter(|n| n.bridge.is_some()) {
            out.extend(network_flows(t, &host, n, family, up.as_ref(), services));
        }
    }
    out
}

/// The `k`th address of `subnet` (1: the first after the network's own).
fn nth_host(subnet: &IpNet, k: u32) -> IpAddr {
    match subnet {
        IpNet::V4(net) => IpAddr::V4(Ipv4Addr::from(u32::from(net.network()).wrapping_add(k))),
        IpNet::V6(net) => IpAddr::V6(Ipv6Addr::from(u128::from(net.network()).wrapping_add(u128::from(k)))),
    }
}

fn network_flows(
    t: &Topology,
    host: &HostView,
    n: &DockerNetwork,
    family: IpFamily,
    up: Option<&Uplink>,
    services: &[(IpAddr, u16)],
) -> Vec<Flow> {
    let (Some(bridge), Some(subnet)) = (n.bridge.clone(), n.subnets_of(family).next()) else { return vec![] };
    let members: Vec<(String, IpAddr)> = t
        .docker
        .containers
        .iter()
        .filter(|c| c.is_running())
        .filter_map(|c| Some((c.name.clone(), t.endpoint(c, &n.name)?.ip_of(family)?)))
        .collect();
    let nth = |k| nth_host(&subnet.subnet, k);
    let gateway = subnet.gateway.filter(|g| IpFamily::of(g) == family).unwrap_or_else(|| nth(1));
    let me = members.first().map_or(nth(2), |m| m.1);
    let peer = members.get(1).map_or_else(|| if me == nth(3) { nth(2) } else { nth(3) }, |m| m.1);
    let flow = |kind, container: Option<String>, steps, dnat_to| Flow {
        kind,
        family,
        network: n.name.clone(),
        bridge: bridge.clone(),
        container,
        steps,
        dnat_to,
    };
    let mut out = vec![];
    let tcp = |src: IpAddr, dst: IpAddr, port: u16| Packet::tcp(src, CLIENT_PORT, dst, port);
    let from_bridge = host.routes_back(me, &bridge);
    if let Some(up) = up.filter(|_| !n.internal) {
        let p = tcp(me, up.peer, 443)
            .iif(&bridge)
            .oif(&up.dev)
            .to_local(false)
            .from_local(false)
            .route_back(from_bridge);
        let steps = vec![(Hook::Prerouting, p.clone()), (Hook::Forward, p.clone()), (Hook::Postrouting, p)];
        out.push(flow(Kind::Outbound, None, steps, None));
        let reply = Packet::tcp(up.peer, 443, me, CLIENT_PORT)
            .iif(&up.dev)
            .oif(&bridge)
            .ct(Some(CtState::Established))
            .to_local(false)
            .route_back(up.peer_routed_back);
        out.push(flow(Kind::Replies, None, vec![(Hook::Forward, reply)], None));
        out.extend(published(t, n, family, up, &bridge));
    }
    let bridged_through_netfilter = match family {
        IpFamily::V4 => t.host.sysctls.bridge_nf_call_iptables,
        IpFamily::V6 => t.host.sysctls.ipv6.as_ref().and_then(|v6| v6.bridge_nf_call_ip6tables),
    };
    if n.icc && bridged_through_netfilter == Some(true) {
        let p = tcp(me, peer, 80).iif(&bridge).oif(&bridge).to_local(false).route_back(from_bridge);
        out.push(flow(Kind::WithinNetwork, None, vec![(Hook::Forward, p)], None));
    }
    for port in host_ports(t, family, gateway, services) {
        let p = tcp(me, gateway, port).iif(&bridge).to_local(true).from_local(false).route_back(from_bridge);
        let steps = vec![(Hook::Prerouting, p.clone()), (Hook::Input, p)];
        out.push(flow(Kind::ToHost { port }, None, steps, None));
    }
    out
}

/// The host's services a container of the network reaches at its gateway: those listening on
/// the gateway or on every address of the family (an IPv6 socket on `::` takes IPv4 too, an
/// IPv4 one on 0.0.0.0 no IPv6), but for ports Docker publishes.
fn host_ports(t: &Topology, family: IpFamily, gateway: IpAddr, services: &[(IpAddr, u16)]) -> Vec<u16> {
    let published: Vec<u16> =
        t.docker.containers.iter().flat_map(|c| c.ports.iter().map(|p| p.host_port)).collect();
    let serves =
        |ip: &IpAddr| *ip == gateway || ip.is_unspecified() && (family == IpFamily::V4 || ip.is_ipv6());
    let mut ports: Vec<u16> = services
        .iter()
        .filter(|(ip, port)| serves(ip) && !published.contains(port))
        .map(|(_, port)| *port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The outside to each port published by a container of `n` on an address of `family` (not
/// those bound to loopback), DNATed to the container's address of that family.
fn published(t: &Topology, n: &DockerNetwork, family: IpFamily, up: &Uplink, bridge: &str) -> Vec<Flow> {
    let mut out = vec![];
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        let Some(ip) = t.endpoint(c, &n.name).and_then(|e| e.ip_of(family)) else { continue };
        let ports = c.ports.iter().filter(|p| IpFamily::of(&p.host_ip) == family && !p.host_ip.is_loopback());
        for p in ports {
            let dst = if p.host_ip.is_unspecified() { up.host_ip } else { Some(p.host_ip) };
            let Some(dst) = dst else { continue };
            let packet = match p.proto.as_str() {
                "tcp" => Packet::tcp(up.peer, CLIENT_PORT, dst, p.host_port),
                "udp" => Packet::udp(up.peer, CLIENT_PORT, dst, p.host_port),
                _ => continue,
            };
            out.push(Flow {
                kind: Kind::Published { host_port: p.host_port, proto: p.proto.clone() },
                family,
                network: n.name.clone(),
                bridge: bridge.to_string(),
                container: Some(c.name.clone()),
                steps: vec![(
                    Hook::Prerouting,
                    packet.iif(&up.dev).to_local(true).from_local(false).route_back(up.peer_routed_back),
                )],
                dnat_to: Some((ip, p.container_port)),
            });
        }
    }
    out
}
