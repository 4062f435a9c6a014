//! A container as one end of a trace: which of its addresses (the one on the peer's subnet,
//! else on a network they share, else its first), which namespace it sends from, and why it
//! may not take part (not running, host network, no network).
use std::net::IpAddr;

use super::{
    Container, Endpoint, NetworkMode, Topology,
    resolved::{ContainerRef, EndpointIssue, EndpointKind, NetnsRef, ResolvedEndpoint},
};
use crate::flow::IpFamily;

/// What is known of the other end: its container, its address.
pub(super) type Peer<'a> = (Option<&'a Container>, Option<IpAddr>);

/// How a container end is named and where it sends from.
pub(super) struct ContainerSide<'a> {
    pub kind: EndpointKind,
    pub label: &'a str,
    /// The namespace given (`netns:`/`pid:`), instead of the container's own path.
    pub netns: Option<NetnsRef>,
    pub port: Option<u16>,
}

/// The host's address (of `family`) on the bridge network `c` reaches the host through (its
/// gateway).
pub(super) fn host_gateway(topo: &Topology, c: &Container, family: IpFamily) -> Option<IpAddr> {
    let e = pick_endpoint(topo, c, None, None, family)?;
    let bridged = topo.network(&e.network).is_some_and(|n| n.bridge.is_some());
    e.gateway_of(family).filter(|_| bridged)
}

/// Whether `c` has a namespace of its own (not the host's).
pub(super) fn own_namespace(topo: &Topology, c: &Container) -> bool {
    topo.namespace_owner(c).network_mode != NetworkMode::Host
}

/// A loopback address as the container `c` itself holds it.
pub(super) fn own_loopback(c: &Container, ip: IpAddr, label: &str, port: Option<u16>) -> ResolvedEndpoint {
    let mut r =
        ResolvedEndpoint::plain(EndpointKind::Address, label, ip, c.netns.clone().map(NetnsRef::Path), port);
    r.container = Some(ContainerRef::of(c));
    r
}

/// A container end: its address on the subnet of the peer's address, else on a network shared
/// with the peer, else on its first network (of the trace's family); flagged when it cannot
/// take part.
pub(super) fn container_side(
    topo: &Topology,
    c: &Container,
    side: ContainerSide,
    (peer_container, peer_ip): Peer,
    family: IpFamily,
) -> ResolvedEndpoint {
    let mut r = ResolvedEndpoint::plain(side.kind, side.label, family.unspecified(), None, side.port);
    r.container = Some(ContainerRef::of(c));
    // With `container:X` the namespace, and so the network mode that matters, is X's.
    let owner = topo.namespace_owner(c);
    if !c.is_running() {
        r.issue = Some(EndpointIssue::NotRunning { state: c.state.clone() });
        return r;
    }
    r.netns = side.netns.or_else(|| c.netns.clone().map(NetnsRef::Path));
    match owner.network_mode {
        NetworkMode::Host => {
            r.issue = Some(EndpointIssue::HostNetwork);
            r.netns = Some(NetnsRef::Host);
            let ip = peer_ip.and_then(|p| topo.host.source_for(p)).or_else(|| topo.host.primary(family));
            r.ip = ip.unwrap_or(family.unspecified());
        }
        NetworkMode::None => r.issue = Some(EndpointIssue::NoNetwork),
        _ => match pick_endpoint(topo, c, peer_container, peer_ip, family) {
            Some(e) => {
                r.ip = e.ip_of(family).unwrap_or(family.unspecified());
                r.network = Some(e.network.clone());
            }
            None => r.issue = Some(EndpointIssue::NoAddress),
        },
    }
    r
}

/// The endpoint of `c` to use against the peer (see [`container_side`]).
fn pick_endpoint<'a>(
    topo: &'a Topology,
    c: &'a Container,
    peer_container: Option<&Container>,
    peer_ip: Option<IpAddr>,
    family: IpFamily,
) -> Option<&'a Endpoint> {
    let mut with_ip = topo.endpoints_of(c).iter().filter(|e| e.ip_of(family).is_some());
    let shared = peer_container.map(|p| topo.shared_networks(c, p)).unwrap_or_default();
    let on_subnet = |e: &&Endpoint| {
        let net = e.ip_of(family).and_then(|ip| super::prefix::prefix(ip, e.prefix_len_of(family)));
        peer_ip.is_some_and(|p| net.is_some_and(|n| n.contains(&p)))
    };
    // The peer's own subnet first: for a container peer it is the shared network anyway, and
    // for an address it is the network the packet really leaves on.
    with_ip
        .clone()
        .find(on_subnet)
        .or_else(|| with_ip.clone().find(|e| shared.contains(&e.network)))
        .or_else(|| with_ip.next())
}
