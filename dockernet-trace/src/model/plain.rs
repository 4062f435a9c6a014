//! Hand-built "Docker-shaped" hosts: named namespaces (`ip netns`) plugged into Linux bridges
//! with veths, as test rigs, CNI-less setups and our kernel-matrix VMs build them. With no
//! Docker Engine to say what each network should look like, it is inferred from what its
//! members agree on: the subnets they hold addresses in, and the default gateway they route
//! through. Those become networks and namespace "containers" of the model, so every doctor
//! check and every verdict works for `netns:` endpoints too (a bridge that lost the gateway its
//! members use, a member's veth taken out of the bridge).
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
};

use ipnet::IpNet;

use super::{
    Address, Container, DockerNetwork, DockerState, Endpoint, GatewaySource, HostNet, Link, ModelError,
    NetworkMode, Subnet, netns,
    prefix::{self, PrefixExt},
};
use crate::flow::IpFamily;

/// IDs of inferred containers start with this, so they are never taken for Docker's.
pub const ID_PREFIX: &str = "netns:";
const MAIN_TABLE: u32 = 254;

/// One named namespace as read: its links, addresses and routes.
pub struct Member {
    pub name: String,
    pub path: PathBuf,
    pub inode: u64,
    pub net: HostNet,
}

/// Reads every namespace under /run/netns other than the tool's own; unreadable ones are noted.
pub async fn read_members(own_inode: u64, notes: &mut Vec<String>) -> Vec<Member> {
    let mut names: Vec<String> = std::fs::read_dir(netns::NAMED_NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut members = Vec::new();
    for name in names {
        let path = netns::named_netns_path(&name);
        let Ok(inode) = netns::netns_inode(&path) else { continue };
        if inode == own_inode {
            continue;
        }
        match HostNet::load(Some(&path)).await {
            Ok(net) => members.push(Member { name, path, inode, net }),
            Err(e) => notes.push(format!("cannot read namespace {name}: {e}")),
        }
    }
    members
}

/// What a member holds on one of its veths: per family its address (neither link-local nor
/// loopback) and the default gateway it routes through on that interface.
struct Held<'a> {
    bridge: Option<String>,
    addrs: Vec<(&'a Address, Option<IpAddr>)>,
    inner: &'a Link,
    veth: &'a Link,
}

/// The member's addresses on `inner` (one per family) with the gateway of its default route.
fn held<'a>(net: &'a HostNet, inner: &Link) -> Vec<(&'a Address, Option<IpAddr>)> {
    [IpFamily::V4, IpFamily::V6]
        .into_iter()
        .filter_map(|family| {
            let a = net
                .addresses
                .iter()
                .find(|a| a.ifindex == inner.index && a.family() == family && !a.is_link_local())?;
            let gateway = net
                .routes
                .iter()
                .filter(|r| prefix::family(&r.dst) == family)
                .find(|r| r.table == MAIN_TABLE && r.dst.prefix_len() == 0 && r.oif == Some(inner.index))
                .and_then(|r| r.gateway);
            Some((a, gateway))
        })
        .collect()
}

/// The id this namespace knows the named namespace `name` by (its peer-netns id), if it has
/// one: a veth between the two gives it one.
pub async fn nsid_of(name: &str) -> Option<i32> {
    let name = name.to_string();
    let found = netns::block_on_in_netns(None, move || async move {
        let handle = super::netlink::connect()?;
        handle
            .link()
            .get_netns_id(name)
            .execute()
            .await
            .map_err(|e| ModelError::netlink("get a namespace id", e))
    })
    .await;
    found.ok().flatten()
}

/// Networks for the bridges of `host` and containers for the namespaces with a veth into
/// this namespace. Bridges nobody is plugged into (and that have no address) are left out.
pub fn infer(host: &HostNet, members: &[Member]) -> DockerState {
    let mut state = DockerState::default();
    // bridge name → (subnets seen, gateways the members route through)
    let mut seen: BTreeMap<String, (Vec<IpNet>, Vec<IpAddr>)> = BTreeMap::new();
    for b in host.links.iter().filter(|l| l.is_bridge()) {
        let own: Vec<IpNet> = host
            .addresses
            .iter()
            .filter(|a| a.ifindex == b.index && !a.is_link_local())
            .map(|a| a.network())
            .collect();
        seen.insert(b.name.clone(), (own, Vec::new()));
    }
    let mut containers = Vec::new();
    for m in members {
        let mut endpoints = Vec::new();
        for inner in m.net.links.iter().filter(|l| l.is_veth()) {
            let addrs = held(&m.net, inner);
            if addrs.is_empty() {
                continue;
            }
            let veth = inner
                .peer_ifindex
                .and_then(|p| host.link_by_index(p))
                .filter(|h| h.is_veth() && h.peer_ifindex == Some(inner.index));
            let Some(veth) = veth else { continue };
            let bridge = veth.master.and_then(|i| host.link_by_index(i)).filter(|b| b.is_bridge());
            if let Some((subnets, gateways)) = bridge.and_then(|b| seen.get_mut(&b.name)) {
                for (a, gateway) in &addrs {
                    subnets.push(a.network());
                    gateways.extend(*gateway);
                }
            }
            endpoints.push(Held { bridge: bridge.map(|b| b.name.clone()), addrs, inner, veth });
        }
        if endpoints.is_empty() {
            continue;
        }
        containers.push((m, endpoints));
    }
    for (bridge, (mut subnets, gateways)) in seen {
        subnets.sort();
        subnets.dedup();
        if subnets.is_empty() {
            continue;
        }
        let subnets = subnets
            .into_iter()
            .map(|subnet| {
                let gateway = most_common(gateways.iter().filter(|g| subnet.contains(*g)));
                let source = if gateway.is_some() { GatewaySource::Endpoint } else { GatewaySource::Assumed };
                Subnet { subnet, gateway: gateway.or(Some(subnet.first_host())), gateway_source: source }
            })
            .collect::<Vec<Subnet>>();
        state.networks.push(DockerNetwork {
            name: bridge.clone(),
            id: bridge.clone(),
            driver: "bridge".into(),
            ipv6: subnets.iter().any(|s| s.family() == IpFamily::V6),
            subnets,
            bridge: Some(bridge),
            // Nothing says these networks are masqueraded or isolated: no finding assumes so.
            masquerade: false,
            masquerade6: false,
            icc: true,
            internal: false,
            parent: None,
        });
    }
    for (m, endpoints) in containers {
        let mut c = Container {
            id: format!("{ID_PREFIX}{}", m.name),
            name: m.name.clone(),
            state: "running".into(),
            pid: None,
            network_mode: NetworkMode::Networks(String::new()),
            netns: Some(m.path.clone()),
            netns_inode: Some(m.inode),
            endpoints: Vec::new(),
            ports: Vec::new(),
            dns: Default::default(),
        };
        for h in endpoints {
            if let Some(e) = endpoint(&state, h) {
                c.endpoints.push(e);
            }
        }
        c.endpoints.sort_by(|a, b| a.network.cmp(&b.network));
        if !c.endpoints.is_empty() {
            state.containers.push(c);
        }
    }
    state
}

/// The endpoint a member's veth makes, on its bridge's network (a veth out of its bridge still
/// belongs to the network holding its address).
fn endpoint(state: &DockerState, h: Held) -> Option<Endpoint> {
    let network = h.bridge.or_else(|| {
        let ip = h.addrs.first()?.0.ip;
        state.networks.iter().find(|n| n.subnet_of(ip).is_some()).map(|n| n.name.clone())
    })?;
    let of = |family: IpFamily| h.addrs.iter().find(|(a, _)| a.family() == family);
    let v4 = of(IpFamily::V4);
    let v6 = of(IpFamily::V6);
    let as_v4 = |ip: Option<IpAddr>| match ip {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None::<Ipv4Addr>,
    };
    let as_v6 = |ip: Option<IpAddr>| match ip {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None::<Ipv6Addr>,
    };
    Some(Endpoint {
        network_id: network.clone(),
        network,
        ip: as_v4(v4.map(|(a, _)| a.ip)),
        prefix_len: v4.map_or(0, |(a, _)| a.prefix),
        mac: h.inner.mac.clone(),
        gateway: as_v4(v4.and_then(|(_, g)| *g)),
        ip6: as_v6(v6.map(|(a, _)| a.ip)),
        prefix_len6: v6.map_or(0, |(a, _)| a.prefix),
        gateway6: as_v6(v6.and_then(|(_, g)| *g)),
        link: Some(super::EndpointLink {
            ifname: h.inner.name.clone(),
            ifindex: h.inner.index,
            admin_up: h.inner.admin_up,
            carrier: h.inner.carrier,
            peer_ifindex: h.inner.peer_ifindex,
            host_veth: Some(h.veth.name.clone()),
            host_veth_ifindex: Some(h.veth.index),
        }),
    })
}

fn most_common<'a>(items: impl Iterator<Item = &'a IpAddr>) -> Option<IpAddr> {
    let mut counts: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(*i).or_default() += 1;
    }
    counts.into_iter().max_by_key(|(ip, n)| (*n, std::cmp::Reverse(*ip))).map(|(ip, _)| ip)
}

#[cfg(test)]
#[path = "plain_tests.rs"]
mod tests;
