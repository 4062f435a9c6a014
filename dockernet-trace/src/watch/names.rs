//! Names for what the kernel reports by number: container and network of an address, container
//! of a namespace inode, network and bridge of a subnet. Rebuilt whenever Docker's view changes.
use std::{collections::HashMap, net::Ipv4Addr};

use super::line::Peer;
use ipnet::Ipv4Net;

use crate::model::Topology;

/// A Docker subnet, its network, bridge and gateway.
#[derive(Clone, Debug)]
struct SubnetOf {
    subnet: Ipv4Net,
    network: String,
    bridge: Option<String>,
    gateway: Option<Ipv4Addr>,
}

#[derive(Clone, Debug, Default)]
pub struct Names {
    host_inode: u32,
    by_ip: HashMap<Ipv4Addr, (String, String)>,
    netns: HashMap<u32, String>,
    subnets: Vec<SubnetOf>,
}

impl Names {
    pub fn new(t: &Topology) -> Self {
        let mut n = Names { host_inode: t.host_netns_inode as u32, ..Default::default() };
        for c in t.docker.containers.iter().filter(|c| c.is_running()) {
            for e in t.endpoints_of(c) {
                if let Some(ip) = e.ip {
                    n.by_ip.insert(ip, (c.name.clone(), e.network.clone()));
                }
            }
            if let Some(inode) = c.netns_inode.and_then(|i| u32::try_from(i).ok()) {
                // Containers sharing a namespace: the one that owns the endpoints names it.
                let owner = t.container_by_netns_inode(inode.into()).map(|o| o.name.clone());
                n.netns.entry(inode).or_insert(owner.unwrap_or_else(|| c.name.clone()));
            }
        }
        for net in &t.docker.networks {
            for s in &net.subnets {
                n.subnets.push(SubnetOf {
                    subnet: s.subnet,
                    network: net.name.clone(),
                    bridge: net.bridge.clone(),
                    gateway: s.gateway,
                });
            }
        }
        // Most specific first, so an address takes the narrowest network holding it.
        n.subnets.sort_by_key(|s| std::cmp::Reverse(s.subnet.prefix_len()));
        n
    }

    /// Keeps the names of containers that are gone (their last events may still be
    /// reported), unless the address or namespace now belongs to someone else.
    pub fn with_fallback(mut self, old: &Names) -> Self {
        for (ip, who) in &old.by_ip {
            self.by_ip.entry(*ip).or_insert_with(|| who.clone());
        }
        for (inode, who) in &old.netns {
            self.netns.entry(*inode).or_insert_with(|| who.clone());
        }
        self
    }

    /// The container holding `ip`, and the network it holds it on.
    pub fn container(&self, ip: Ipv4Addr) -> Option<(&str, &str)> {
        self.by_ip.get(&ip).map(|(c, n)| (c.as_str(), n.as_str()))
    }

    fn subnet_of(&self, ip: Ipv4Addr) -> Option<&SubnetOf> {
        self.subnets.iter().find(|s| s.subnet.contains(&ip))
    }

    /// The Docker network whose subnet contains `ip`.
    pub fn network(&self, ip: Ipv4Addr) -> Option<&str> {
        self.subnet_of(ip).map(|s| s.network.as_str())
    }

    /// The Linux bridge of the network whose subnet contains `ip`.
    pub fn bridge_for(&self, ip: Ipv4Addr) -> Option<&str> {
        self.subnet_of(ip).and_then(|s| s.bridge.as_deref())
    }

    /// The gateway of the subnet that contains `ip`.
    pub fn gateway_for(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        self.subnet_of(ip).and_then(|s| s.gateway)
    }

    /// Every bridge of a Docker network.
    pub fn bridges(&self) -> impl Iterator<Item = &str> {
        self.subnets.iter().filter_map(|s| s.bridge.as_deref())
    }

    pub fn peer(&self, ip: Ipv4Addr, port: Option<u16>) -> Peer {
        let held = self.container(ip);
        Peer {
            ip,
            port,
            container: held.map(|(c, _)| c.to_string()),
            network: held.map(|(_, n)| n.to_string()).or_else(|| self.network(ip).map(str::to_string)),
        }
    }

    pub fn is_host(&self, inode: u32) -> bool {
        inode == 0 || inode == self.host_inode
    }

    /// `host`, `container:NAME`, or `netns:INODE` for a namespace Docker does not know.
    pub fn netns_label(&self, inode: u32) -> String {
        if self.is_host(inode) {
            return "host".into();
        }
        self.netns.get(&inode).map(|c| format!("container:{c}")).unwrap_or_else(|| format!("netns:{inode}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        container::tests_support::container,
        topology::tests::{network, topology},
    };

    #[test]
    fn names_addresses_namespaces_and_subnets() {
        let mut db = container("aaaa2222", "db", &[("labnet", "172.30.0.3")]);
        db.netns_inode = Some(4026532001);
        let t = topology(vec![db], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]);
        let n = Names::new(&t);
        let ip: Ipv4Addr = "172.30.0.3".parse().unwrap();
        assert_eq!(n.container(ip), Some(("db", "labnet")));
        let p = n.peer(ip, Some(5432));
        assert_eq!(
            (p.container.as_deref(), p.network.as_deref(), p.port),
            (Some("db"), Some("labnet"), Some(5432))
        );
        let gw = n.peer("172.30.0.1".parse().unwrap(), None);
        assert_eq!((gw.container, gw.network.as_deref()), (None, Some("labnet")));
        assert_eq!(n.peer("8.8.8.8".parse().unwrap(), None).network, None);
        assert_eq!(n.bridge_for(ip), Some("br-fd26fbfb41d5"));
        assert_eq!(n.netns_label(4026532001), "container:db");
        assert_eq!(n.netns_label(0), "host");
        assert_eq!(n.netns_label(1), "host", "the topology's own namespace");
        assert_eq!(n.netns_label(7), "netns:7");
    }
}
