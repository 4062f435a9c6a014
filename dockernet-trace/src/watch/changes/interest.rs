//! Which interfaces' changes are reported, and the names that go with them: Docker's bridges
//! (with their network), the host-side veths of containers (with the container), and the
//! uplink (the default route's interface). Rebuilt whenever the watch reads Docker again.
use crate::flow::IpFamily;
use std::collections::{HashMap, HashSet};

use crate::model::{Topology, routes::default_route};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Every interface (for a host without Docker, and for tests).
    pub everything: bool,
    /// Docker's bridges, with their network's name.
    pub bridges: HashMap<String, Option<String>>,
    /// Host-side veths of containers, with the container's name.
    pub veths: HashMap<String, String>,
    /// Where the host's traffic leaves (the default route's interfaces).
    pub uplinks: HashSet<String>,
}

/// Who an interface is, for the line: (iface, network, container).
pub type Named = (String, Option<String>, Option<String>);

impl Interest {
    pub fn of(t: &Topology) -> Self {
        let mut i = Interest::default();
        for n in &t.docker.networks {
            if let Some(b) = &n.bridge {
                i.bridges.insert(b.clone(), Some(n.name.clone()));
            }
        }
        for c in t.docker.containers.iter().filter(|c| c.is_running()) {
            for e in &c.endpoints {
                if let Some(veth) = e.link.as_ref().and_then(|l| l.host_veth.clone()) {
                    i.veths.insert(veth, c.name.clone());
                }
            }
        }
        for family in [IpFamily::V4, IpFamily::V6] {
            let uplink = default_route(&t.host.routes, family)
                .and_then(|r| r.oif)
                .and_then(|oif| t.host.links.iter().find(|l| l.index == oif));
            i.uplinks.extend(uplink.map(|l| l.name.clone()));
        }
        i
    }

    /// The names for `name`, a port of `master` (if any); None when it is not of interest.
    pub fn name(&self, name: &str, master: Option<&str>) -> Option<Named> {
        let master_net = master.and_then(|m| self.bridges.get(m));
        if let Some(net) = self.bridges.get(name) {
            return Some((name.into(), net.clone(), None));
        }
        let container = self.veths.get(name).cloned();
        if container.is_some() || master_net.is_some() || self.uplinks.contains(name) || self.everything {
            return Some((name.into(), master_net.cloned().flatten(), container));
        }
        None
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
    fn bridges_veths_and_the_uplink_of_a_topology() {
        let mut db = container("aaaa2222", "db", &[("labnet", "172.30.0.3")]);
        db.endpoints[0].link = Some(crate::model::EndpointLink {
            ifname: "eth0".into(),
            ifindex: 2,
            admin_up: true,
            carrier: true,
            peer_ifindex: Some(9),
            host_veth: Some("veth9a".into()),
            host_veth_ifindex: Some(9),
        });
        let t = topology(vec![db], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]);
        let i = Interest::of(&t);
        assert_eq!(i.bridges.get("br-fd26fbfb41d5"), Some(&Some("labnet".to_string())));
        assert_eq!(i.veths.get("veth9a").map(String::as_str), Some("db"));
        assert_eq!(
            i.name("veth9a", Some("br-fd26fbfb41d5")),
            Some(("veth9a".into(), Some("labnet".into()), Some("db".into())))
        );
        assert_eq!(i.name("wg0", None), None);
    }
}
