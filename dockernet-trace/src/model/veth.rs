//! Which host-side veth belongs to which container endpoint.
//!
//! Docker does not say. Inside the container's namespace, the interface holding the
//! endpoint's IP (or MAC) has IFLA_LINK = the index of its veth peer in the host namespace;
//! the host link with that index must be a veth whose own IFLA_LINK points back at the
//! container interface (indexes are per namespace, so checking both ends avoids false matches).
use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
};

use futures::StreamExt;

use super::{
    Address, Container, DockerState, EndpointLink, HostNet, Link, dump_addresses, dump_links, netlink, netns,
};
use crate::model::container::Endpoint;

/// Namespaces read at once (each on its own thread, mostly waiting on netlink).
const NAMESPACES_AT_ONCE: usize = 8;

/// The links and addresses inside one container namespace.
#[derive(Clone, Debug, Default)]
pub struct NamespaceLinks {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
}

impl NamespaceLinks {
    pub async fn read(ns: PathBuf) -> Result<Self, super::ModelError> {
        netns::block_on_in_netns(Some(&ns), || async {
            let handle = netlink::connect()?;
            Ok(NamespaceLinks {
                links: dump_links(&handle).await?,
                addresses: dump_addresses(&handle).await?,
            })
        })
        .await
    }
}

/// Fills each container's `netns_inode` and each endpoint's `link`. Failures (a container
/// that stopped meanwhile) become notes, never errors.
pub async fn attach_links(state: &mut DockerState, host: &HostNet) {
    attach_links_of(state, host, None).await
}

/// As `attach_links`, reading only the namespaces of the containers `only` names (by ID) when
/// it is given: the others keep the links they have.
pub async fn attach_links_of(state: &mut DockerState, host: &HostNet, only: Option<&BTreeSet<String>>) {
    let chosen = |c: &Container| only.is_none_or(|ids| ids.contains(&c.id));
    // macvlan/ipvlan endpoints hang off a parent interface: they have no veth by design.
    let sub_interface: Vec<String> =
        state.networks.iter().filter(|n| n.parent.is_some()).map(|n| n.name.clone()).collect();
    let mut to_read: Vec<(u64, PathBuf, String)> = vec![];
    for c in &mut state.containers {
        let Some(path) = c.netns.clone() else { continue };
        match netns::netns_inode(&path) {
            Ok(inode) => c.netns_inode = Some(inode),
            Err(_) => {
                state.notes.push(format!("container {} stopped while the model was read", c.name));
                continue;
            }
        }
        let inode = c.netns_inode.unwrap_or_default();
        // Containers sharing a namespace (container:X) are read once.
        if chosen(c) && has_own_interface(c) && !to_read.iter().any(|(i, ..)| *i == inode) {
            to_read.push((inode, path, c.name.clone()));
        }
    }
    // Each read runs on a thread of its own inside the namespace: a few at once.
    let views: HashMap<u64, NamespaceLinks> = futures::stream::iter(to_read)
        .map(|(inode, path, name)| async move { (inode, name, NamespaceLinks::read(path).await) })
        .buffered(NAMESPACES_AT_ONCE)
        .filter_map(|(inode, name, view)| {
            let kept = match view {
                Ok(v) => Some((inode, v)),
                Err(e) => {
                    state.notes.push(format!("cannot read the interfaces of container {name}: {e}"));
                    None
                }
            };
            async move { kept }
        })
        .collect()
        .await;
    for c in state.containers.iter_mut().filter(|c| chosen(c) && has_own_interface(c)) {
        let Some(view) = c.netns_inode.and_then(|inode| views.get(&inode)) else { continue };
        attach_container(c, view, host, &sub_interface, &mut state.notes);
    }
}

/// host, none and container:X modes have no interface of their own to match (Docker still
/// lists a "host"/"none" endpoint, without address).
fn has_own_interface(c: &Container) -> bool {
    !c.endpoints.iter().all(|e| e.ips().next().is_none() && e.mac.is_none())
}

fn attach_container(
    c: &mut Container,
    view: &NamespaceLinks,
    host: &HostNet,
    sub_interface: &[String],
    notes: &mut Vec<String>,
) {
    for e in &mut c.endpoints {
        e.link = endpoint_link(e, view, host);
        match &e.link {
            Some(_) if sub_interface.contains(&e.network) => {}
            None if e.ips().next().is_some() => notes.push(format!(
                "container {}: no interface holds its {} address {}",
                c.name,
                e.network,
                e.ips().next().map(|ip| ip.to_string()).unwrap_or_default()
            )),
            Some(l) if l.host_veth.is_none() => notes.push(format!(
                "container {} {}: its veth peer (ifindex {}) is not a veth of this namespace; \
                 is the tool running in the Docker host's namespace?",
                c.name,
                l.ifname,
                l.peer_ifindex.map_or_else(|| "none".into(), |i| i.to_string())
            )),
            _ => {}
        }
    }
}

/// The container interface of endpoint `e` and its host veth.
pub fn endpoint_link(e: &Endpoint, view: &NamespaceLinks, host: &HostNet) -> Option<EndpointLink> {
    let by_ip = view.addresses.iter().find(|a| e.ips().any(|ip| ip == a.ip)).map(|a| a.ifindex);
    let by_mac = || {
        let mac = e.mac.as_deref()?.to_ascii_lowercase();
        view.links.iter().find(|l| l.mac.as_deref() == Some(mac.as_str())).map(|l| l.index)
    };
    let index = by_ip.or_else(by_mac)?;
    let inner = view.links.iter().find(|l| l.index == index)?;
    let veth = inner
        .peer_ifindex
        .and_then(|peer| host.link_by_index(peer))
        .filter(|h| h.is_veth() && h.peer_ifindex == Some(inner.index));
    Some(EndpointLink {
        ifname: inner.name.clone(),
        ifindex: inner.index,
        admin_up: inner.admin_up,
        carrier: inner.carrier,
        peer_ifindex: inner.peer_ifindex,
        host_veth: veth.map(|v| v.name.clone()),
        host_veth_ifindex: veth.map(|v| v.index),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::links::tests::link;

    fn endpoint(ip: Option<&str>, mac: Option<&str>) -> Endpoint {
        Endpoint {
            network: "labnet".into(),
            network_id: "fd26".into(),
            ip: ip.map(|s| s.parse().unwrap()),
            prefix_len: 24,
            mac: mac.map(str::to_string),
            gateway: None,
            ip6: None,
            prefix_len6: 0,
            gateway6: None,
            link: None,
        }
    }

    fn container_side() -> NamespaceLinks {
        let mut eth0 = link(5, "eth0", Some("veth"));
        eth0.peer_ifindex = Some(6);
        eth0.mac = Some("02:42:ac:1e:00:02".into());
        NamespaceLinks {
            links: vec![link(1, "lo", None), eth0],
            addresses: vec![Address { ifindex: 5, ip: "172.30.0.2".parse().unwrap(), prefix: 24 }],
        }
    }

    fn host_side(peer_of_veth: u32) -> HostNet {
        let mut veth = link(6, "veth53d4394", Some("veth"));
        veth.peer_ifindex = Some(peer_of_veth);
        HostNet { links: vec![link(3, "brcustom", Some("bridge")), veth], ..Default::default() }
    }

    #[test]
    fn finds_interface_by_ip_and_host_veth() {
        let l = endpoint_link(&endpoint(Some("172.30.0.2"), None), &container_side(), &host_side(5)).unwrap();
        assert_eq!((l.ifname.as_str(), l.ifindex, l.peer_ifindex), ("eth0", 5, Some(6)));
        assert_eq!((l.host_veth.as_deref(), l.host_veth_ifindex), (Some("veth53d4394"), Some(6)));
    }

    #[test]
    fn falls_back_to_mac_and_rejects_a_veth_pointing_elsewhere() {
        let e = endpoint(Some("10.9.9.9"), Some("02:42:AC:1E:00:02"));
        let l = endpoint_link(&e, &container_side(), &host_side(99)).unwrap();
        assert_eq!(l.ifname, "eth0");
        assert_eq!(l.host_veth, None, "host veth 6 points at index 99, not at eth0");
    }

    #[test]
    fn an_ipv6_only_endpoint_is_found_by_its_ipv6_address() {
        let mut view = container_side();
        view.addresses[0] = Address { ifindex: 5, ip: "fd00:18::2".parse().unwrap(), prefix: 64 };
        let mut e = endpoint(None, None);
        e.ip6 = Some("fd00:18::2".parse().unwrap());
        assert_eq!(endpoint_link(&e, &view, &host_side(5)).unwrap().ifname, "eth0");
    }

    #[test]
    fn no_match_without_ip_or_mac() {
        assert!(endpoint_link(&endpoint(None, None), &container_side(), &host_side(5)).is_none());
    }
}
