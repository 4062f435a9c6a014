//! Subnet overlaps: a Docker network whose subnet overlaps another Docker network, a route of
//! the host, or an address of another interface (the VPC story: the host routes part of the
//! company's network into a bridge, and traffic for it never leaves).
use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::{
    cause::{Cause, Finding},
    flow::IpFamily,
    model::{
        DockerNetwork, Topology,
        prefix::{self, PrefixExt},
    },
};

const MAIN_TABLE: u32 = 254;

pub fn check(t: &Topology, out: &mut Vec<Finding>) {
    let nets: Vec<&DockerNetwork> = t.docker.networks.iter().filter(|n| !n.subnets.is_empty()).collect();
    let docker_bridges: BTreeSet<u32> =
        nets.iter().filter_map(|n| t.bridge_link(n)).map(|l| l.index).collect();
    for (i, n) in nets.iter().enumerate() {
        for s in &n.subnets {
            let mut clashes = Vec::new();
            // Other Docker networks (each pair once).
            for other in &nets[i + 1..] {
                for os in other.subnets.iter().filter(|os| os.subnet.overlaps(&s.subnet)) {
                    clashes.push(format!("Docker network {} ({})", other.name, os.subnet));
                }
            }
            // Host routes and addresses that do not belong to Docker's bridges. Only a bridge
            // network is routed by the host: macvlan and ipvlan networks share the uplink's
            // LAN by design, so its routes and addresses are no conflict for them.
            let routed = n.bridge.is_some();
            for r in t.host.routes.iter().filter(|_| routed) {
                let foreign = r.oif.is_none_or(|o| !docker_bridges.contains(&o));
                if r.table == MAIN_TABLE && foreign && r.dst.prefix_len() != 0 && r.dst.overlaps(&s.subnet) {
                    clashes.push(format!("route {} dev {}", r.dst, ifname(t, r.oif)));
                }
            }
            for a in t.host.addresses.iter().filter(|_| routed) {
                if !docker_bridges.contains(&a.ifindex)
                    && a.network().overlaps(&s.subnet)
                    && !a.ip.is_loopback()
                    && !a.is_link_local()
                {
                    clashes.push(format!("address {}/{} on {}", a.ip, a.prefix, ifname(t, Some(a.ifindex))));
                }
            }
            clashes.dedup();
            if clashes.is_empty() {
                continue;
            }
            let free = free_subnet(t, s.family());
            out.push(Finding {
                cause: Cause::SubnetConflict,
                network: Some(n.name.clone()),
                iface: n.bridge.clone(),
                container: None,
                summary: format!(
                    "the subnet {} of network {} overlaps {}, so traffic for those addresses goes the wrong way",
                    s.subnet, n.name, clashes[0]
                ),
                fix: vec![
                    move_network(n, free),
                    "to stop Docker from picking such subnets: set \"default-address-pools\" in /etc/docker/daemon.json".into(),
                ],
                evidence: clashes,
                family: Some(s.family()),
            });
        }
    }
}

/// The default bridge cannot be removed: its subnet comes from the daemon's `bip` (`fixed-cidr-v6`
/// for IPv6).
pub(super) fn move_network(n: &DockerNetwork, free: Option<IpNet>) -> String {
    let family = free.as_ref().map_or(IpFamily::V4, prefix::family);
    let text = free.map(|f| f.to_string()).unwrap_or_else(|| "<free subnet>".into());
    if n.bridge.as_deref() == Some("docker0") {
        return match (family, free) {
            (IpFamily::V4, _) => format!(
                "move the default bridge: set \"bip\": \"{}\" in /etc/docker/daemon.json, then systemctl restart docker",
                text.replacen(".0/", ".1/", 1)
            ),
            (IpFamily::V6, _) => format!(
                "move the default bridge: set \"fixed-cidr-v6\": \"{text}\" in /etc/docker/daemon.json, then systemctl restart docker"
            ),
        };
    }
    let ipv6 = if family == IpFamily::V6 { "--ipv6 " } else { "" };
    format!(
        "recreate the network on a free subnet: docker network rm {0} && docker network create {ipv6}--subnet {text} {0}",
        n.name
    )
}

fn ifname(t: &Topology, index: Option<u32>) -> String {
    index.and_then(|i| t.link_by_index(i)).map(|l| l.name.clone()).unwrap_or_else(|| "?".into())
}

/// A subnet of `family` that overlaps nothing on the host: the first /16 of 172.16.0.0/12, then
/// of 10.0.0.0/8; for IPv6 the first /64 of fd00:d0c::/48 (a unique local prefix).
pub(super) fn free_subnet(t: &Topology, family: IpFamily) -> Option<IpNet> {
    let taken: Vec<IpNet> = t
        .docker
        .networks
        .iter()
        .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
        .chain(t.host.routes.iter().filter(|r| r.dst.prefix_len() != 0).map(|r| r.dst))
        .chain(t.host.addresses.iter().map(|a| a.network()))
        .collect();
    let candidates: Vec<(std::net::IpAddr, u8)> = match family {
        IpFamily::V4 => (16..=31u8)
            .map(|b| std::net::Ipv4Addr::new(172, b, 0, 0))
            .chain((0..=255u8).map(|b| std::net::Ipv4Addr::new(10, b, 0, 0)))
            .map(|a| (a.into(), 16))
            .collect(),
        IpFamily::V6 => (0..=255u16)
            .map(|n| (std::net::Ipv6Addr::new(0xfd00, 0xd0c, 0, n, 0, 0, 0, 0).into(), 64))
            .collect(),
    };
    candidates
        .into_iter()
        .filter_map(|(a, len)| prefix::prefix(a, len))
        .find(|c| taken.iter().all(|t| !t.overlaps(c)))
}

#[cfg(test)]
mod tests {
    use crate::model::{
        Address,
        topology::tests::{network, topology},
    };

    /// The uplink's LAN, 10.200.0.0/16 on ifindex 2.
    fn with_uplink(networks: Vec<crate::model::DockerNetwork>) -> crate::model::Topology {
        let mut t = topology(vec![], networks);
        t.host.addresses.push(Address { ifindex: 2, ip: "10.200.0.2".parse().unwrap(), prefix: 16 });
        t
    }

    #[test]
    fn a_bridge_network_on_the_uplinks_lan_is_a_conflict() {
        let t = with_uplink(vec![network("vpc", "aaaabbbbcccc", "10.200.64.0/24")]);
        let mut out = vec![];
        super::check(&t, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert!(out[0].evidence[0].contains("10.200.0.2/16"), "{out:#?}");
    }

    #[test]
    fn ipv6_subnets_conflict_too_but_link_local_addresses_do_not() {
        let mut t = with_uplink(vec![crate::model::topology::tests::dual_stack(
            "vpc",
            "aaaabbbbcccc",
            "172.30.0.0/24",
            "fd00:99::/64",
        )]);
        t.host.addresses.push(Address { ifindex: 2, ip: "fd00:99::5".parse().unwrap(), prefix: 48 });
        t.host.addresses.push(Address { ifindex: 2, ip: "fe80::5".parse().unwrap(), prefix: 64 });
        let mut out = vec![];
        super::check(&t, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].family, Some(crate::flow::IpFamily::V6));
        assert!(out[0].evidence[0].contains("fd00:99::5/48"), "{out:#?}");
        assert!(out[0].fix[0].contains("--ipv6 --subnet fd00:d0c::/64"), "{}", out[0].fix[0]);
    }

    #[test]
    fn a_macvlan_network_on_the_uplinks_lan_is_by_design() {
        let mut lan = network("lan", "aaaabbbbcccc", "10.200.64.0/24");
        (lan.driver, lan.bridge) = ("macvlan".into(), None);
        let mut out = vec![];
        super::check(&with_uplink(vec![lan]), &mut out);
        assert!(out.is_empty(), "{out:#?}");
    }
}
