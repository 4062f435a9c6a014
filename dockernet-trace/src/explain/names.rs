//! Names for what the kernel reports by number, from the host model: a namespace inode becomes
//! a [`NetnsLabel`], an ifindex of the host an interface name, an address the container and
//! network holding it, a subnet its network, bridge and gateway. Trace and watch both name
//! through this; watch rebuilds it whenever Docker's view changes.
use std::{collections::HashMap, net::IpAddr, os::unix::fs::MetadataExt};

use ipnet::IpNet;

use super::NetnsLabel;
use crate::model::{NetworkMode, Topology, plain};

/// A Docker subnet, its network, bridge and gateway.
#[derive(Clone, Debug)]
struct SubnetOf {
    subnet: IpNet,
    network: String,
    bridge: Option<String>,
    gateway: Option<IpAddr>,
}

#[derive(Clone, Debug, Default)]
pub struct Names {
    host_inode: u32,
    netns: HashMap<u32, NetnsLabel>,
    host_links: HashMap<u32, String>,
    by_ip: HashMap<IpAddr, (String, String)>,
    /// Containers started with `--network container:OWNER`, by their owner's name.
    sharers: HashMap<String, Vec<String>>,
    subnets: Vec<SubnetOf>,
}

impl Names {
    pub fn new(t: &Topology) -> Self {
        let mut n = Names {
            host_inode: t.host_netns_inode as u32,
            host_links: t.host.links.iter().map(|l| (l.index, l.name.clone())).collect(),
            ..Default::default()
        };
        for c in t.docker.containers.iter() {
            if let Some(inode) = c.netns_inode.and_then(|i| u32::try_from(i).ok()) {
                // Containers sharing a namespace: the one that owns the endpoints names it.
                let owner = t.container_by_netns_inode(inode.into()).unwrap_or(c);
                // Inferred from a named namespace (model::plain): named as the namespace.
                let label = match owner.id.strip_prefix(plain::ID_PREFIX) {
                    Some(name) => NetnsLabel::Netns(name.to_string()),
                    None => NetnsLabel::Container(owner.name.clone()),
                };
                n.netns.entry(inode).or_insert(label);
            }
            if !c.is_running() {
                continue;
            }
            // A container in another's namespace holds none of its addresses: the owner does.
            if let NetworkMode::Container(other) = &c.network_mode {
                if let Ok(owner) = t.container(other) {
                    n.sharers.entry(owner.name.clone()).or_default().push(c.name.clone());
                }
                continue;
            }
            for e in t.endpoints_of(c) {
                for ip in e.ips() {
                    n.by_ip.insert(ip, (c.name.clone(), e.network.clone()));
                }
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

    /// Adds the namespaces under /run/netns, by name, where no container names them.
    pub fn with_named_namespaces(mut self) -> Self {
        if let Ok(dir) = std::fs::read_dir("/run/netns") {
            for e in dir.flatten() {
                if let Ok(m) = std::fs::metadata(e.path()) {
                    let label = NetnsLabel::Netns(e.file_name().to_string_lossy().into_owned());
                    self.netns.entry(m.ino() as u32).or_insert(label);
                }
            }
        }
        self
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

    pub fn is_host(&self, inode: u32) -> bool {
        inode == 0 || inode == self.host_inode
    }

    /// The namespace of inode `inode` (0: the hook could not tell, taken as the host).
    pub fn netns_label(&self, inode: u32) -> NetnsLabel {
        if self.is_host(inode) {
            return NetnsLabel::Host;
        }
        self.netns.get(&inode).cloned().unwrap_or(NetnsLabel::Inode(inode))
    }

    /// An interface by the name the kernel gave, else (tc hooks see only an ifindex) the
    /// host's interface of that index.
    pub fn iface(&self, ifname: &str, ifindex: u32) -> Option<String> {
        if !ifname.is_empty() {
            return Some(ifname.to_string());
        }
        self.host_links.get(&ifindex).cloned()
    }

    /// The container holding `ip`, and the network it holds it on.
    pub fn container(&self, ip: IpAddr) -> Option<(&str, &str)> {
        self.by_ip.get(&ip).map(|(c, n)| (c.as_str(), n.as_str()))
    }

    /// The containers sharing `container`'s network namespace (`--network container:NAME`).
    pub fn sharers(&self, container: &str) -> &[String] {
        self.sharers.get(container).map(Vec::as_slice).unwrap_or_default()
    }

    fn subnet_of(&self, ip: IpAddr) -> Option<&SubnetOf> {
        self.subnets.iter().find(|s| s.subnet.contains(&ip))
    }

    /// The Docker network whose subnet contains `ip`.
    pub fn network(&self, ip: IpAddr) -> Option<&str> {
        self.subnet_of(ip).map(|s| s.network.as_str())
    }

    /// The Linux bridge of the network whose subnet contains `ip`.
    pub fn bridge_for(&self, ip: IpAddr) -> Option<&str> {
        self.subnet_of(ip).and_then(|s| s.bridge.as_deref())
    }

    /// The gateway of the subnet that contains `ip`.
    pub fn gateway_for(&self, ip: IpAddr) -> Option<IpAddr> {
        self.subnet_of(ip).and_then(|s| s.gateway)
    }

    /// Every bridge of a Docker network.
    pub fn bridges(&self) -> impl Iterator<Item = &str> {
        self.subnets.iter().filter_map(|s| s.bridge.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        container::tests_support::container,
        topology::tests::{network, topology},
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_addresses_namespaces_and_subnets() {
        let mut db = container("aaaa2222", "db", &[("labnet", "172.30.0.3")]);
        db.netns_inode = Some(4026532001);
        let t = topology(vec![db], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]);
        let n = Names::new(&t);
        assert_eq!(n.container(ip("172.30.0.3")), Some(("db", "labnet")));
        assert_eq!(n.network(ip("172.30.0.1")), Some("labnet"));
        assert_eq!(n.network(ip("8.8.8.8")), None);
        assert_eq!(n.bridge_for(ip("172.30.0.3")), Some("br-fd26fbfb41d5"));
        assert_eq!(n.netns_label(4026532001).to_string(), "container:db");
        assert_eq!(n.netns_label(0), NetnsLabel::Host);
        assert_eq!(n.netns_label(1), NetnsLabel::Host, "the topology's own namespace");
        assert_eq!(n.netns_label(7).to_string(), "netns:7");
    }

    #[test]
    fn names_ipv6_addresses_and_subnets() {
        let db = crate::model::container::tests_support6::with_ipv6(
            container("aaaa2222", "db", &[("labnet", "172.30.0.3")]),
            "labnet",
            "fd00:30::3",
        );
        let net = crate::model::topology::tests::dual_stack(
            "labnet",
            "fd26fbfb41d5aa",
            "172.30.0.0/24",
            "fd00:30::/64",
        );
        let n = Names::new(&topology(vec![db], vec![net]));
        assert_eq!(n.container(ip("fd00:30::3")), Some(("db", "labnet")));
        assert_eq!(n.network(ip("fd00:30::99")), Some("labnet"));
        assert_eq!(n.gateway_for(ip("fd00:30::3")), Some(ip("fd00:30::1")));
        assert_eq!(n.bridge_for(ip("fd00:30::3")), Some("br-fd26fbfb41d5"));
        assert_eq!(n.network(ip("fd00:31::1")), None);
    }

    #[test]
    fn a_container_in_anothers_namespace_does_not_take_its_name() {
        let mut db = container("aaaa2222", "db", &[("labnet", "172.30.0.3")]);
        db.netns_inode = Some(4026532001);
        // Listed first, as Docker may list it: it must still not name db's address.
        let mut side = container("bbbb3333", "sidecar", &[]);
        side.network_mode = NetworkMode::Container("aaaa2222".into());
        side.netns_inode = Some(4026532001);
        let t = topology(vec![side, db], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]);
        let n = Names::new(&t);
        assert_eq!(n.container(ip("172.30.0.3")), Some(("db", "labnet")));
        assert_eq!(n.netns_label(4026532001).to_string(), "container:db");
        assert_eq!(n.sharers("db"), ["sidecar"]);
        assert!(n.sharers("sidecar").is_empty());
    }

    #[test]
    fn interfaces_are_named_by_the_kernel_or_by_the_hosts_index() {
        let mut t = topology(vec![], vec![]);
        t.host.links.push(crate::model::links::tests::link(7, "veth1", None));
        let n = Names::new(&t);
        assert_eq!(n.iface("eth0", 7).as_deref(), Some("eth0"));
        assert_eq!(n.iface("", 7).as_deref(), Some("veth1"));
        assert_eq!(n.iface("", 9), None);
    }
}
