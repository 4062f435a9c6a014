//! The whole host model: what Docker says plus what the kernel of the tool's namespace says,
//! with the lookups `doctor` and `trace` need.
use std::{collections::BTreeSet, net::IpAddr};

use serde::Serialize;

use super::{
    Address, Container, DockerEngine, DockerNetwork, DockerState, Endpoint, HostNet, Link, ModelError,
    NetworkMode, Route, netns, plain, veth,
};

#[derive(Clone, Debug, Serialize)]
pub struct Topology {
    /// The engine URI the model was read from.
    pub docker_host: String,
    pub docker: DockerState,
    /// The namespace the tool runs in ("host").
    pub host: HostNet,
    pub host_netns_inode: u64,
}

impl Topology {
    /// Reads the engine (see `DockerEngine::connect` for how it is found), the tool's own
    /// namespace, and each running container's interfaces.
    pub async fn load(docker_host: Option<&str>) -> Result<Self, ModelError> {
        // The engine's view and the host's links are independent reads.
        let engine_view = async {
            let engine = DockerEngine::connect(docker_host).await?;
            let state = engine.read_state().await?;
            Ok::<_, ModelError>((engine, state))
        };
        let (engine_view, host) = tokio::join!(engine_view, HostNet::load(None));
        let ((engine, mut docker), host) = (engine_view?, host?);
        veth::attach_links(&mut docker, &host).await;
        Ok(Self {
            docker_host: engine.host().to_string(),
            docker,
            host,
            host_netns_inode: netns::current_netns_inode()?,
        })
    }

    /// Reads again what Docker's events said changed (a watch): the networks, the host's
    /// links, and the containers `changed` names (IDs) or this model does not hold; the other
    /// containers are taken as they are here. `everything` reads it all again (events may have
    /// been missed).
    pub async fn reload(&self, changed: &BTreeSet<String>, everything: bool) -> Result<Self, ModelError> {
        if everything {
            return Self::load(Some(&self.docker_host)).await;
        }
        let engine_view = async {
            let engine = DockerEngine::connect(Some(&self.docker_host)).await?;
            let state = engine.read_changed(&self.docker, changed).await?;
            Ok::<_, ModelError>((engine, state))
        };
        let (engine_view, host) = tokio::join!(engine_view, HostNet::load(None));
        let ((engine, (mut docker, inspected)), host) = (engine_view?, host?);
        veth::attach_links_of(&mut docker, &host, Some(&inspected)).await;
        Ok(Self {
            docker_host: engine.host().to_string(),
            docker,
            host,
            host_netns_inode: self.host_netns_inode,
        })
    }

    /// The tool's namespace alone, for hosts without a reachable Docker Engine (endpoints
    /// given as addresses, `netns:` or `pid:` need no Docker).
    /// Bridges with named namespaces plugged in stand for Docker's networks and containers
    /// (see `plain`).
    pub async fn without_docker(docker_host: String, why: String) -> Result<Self, ModelError> {
        let host = HostNet::load(None).await?;
        let own = netns::current_netns_inode()?;
        let mut notes = vec![why];
        let members = plain::read_members(own, &mut notes).await;
        let mut docker = plain::infer(&host, &members);
        docker.notes.extend(notes);
        Ok(Self { docker_host, docker, host, host_netns_inode: own })
    }

    /// A network by name, full ID or unique ID prefix.
    pub fn network(&self, key: &str) -> Option<&DockerNetwork> {
        let nets = &self.docker.networks;
        nets.iter().find(|n| n.name == key || n.id == key).or_else(|| {
            let mut hits = nets.iter().filter(|n| !key.is_empty() && n.id.starts_with(key));
            hits.next().filter(|_| hits.next().is_none())
        })
    }

    /// The network whose Linux bridge is `ifname`.
    pub fn network_by_bridge(&self, ifname: &str) -> Option<&DockerNetwork> {
        self.docker.networks.iter().find(|n| n.bridge.as_deref() == Some(ifname))
    }

    /// The network whose subnet contains `ip`.
    pub fn network_containing(&self, ip: IpAddr) -> Option<&DockerNetwork> {
        self.docker.networks.iter().find(|n| n.subnet_of(ip).is_some())
    }

    /// A container by name, full ID or unique ID prefix; errors name what is wrong.
    pub fn container(&self, key: &str) -> Result<&Container, ModelError> {
        find_container(&self.docker.containers, key)
    }

    /// The container holding `ip` (IPv4 or IPv6) on one of its networks, with that endpoint.
    pub fn container_by_ip(&self, ip: IpAddr) -> Option<(&Container, &Endpoint)> {
        self.docker
            .containers
            .iter()
            .find_map(|c| c.endpoints.iter().find(|e| e.ips().any(|a| a == ip)).map(|e| (c, e)))
    }

    /// The container living in the namespace with this inode (the owner of the endpoints
    /// when several containers share it).
    pub fn container_by_netns_inode(&self, inode: u64) -> Option<&Container> {
        let in_ns: Vec<&Container> =
            self.docker.containers.iter().filter(|c| c.netns_inode == Some(inode)).collect();
        let has_address = |c: &&&Container| c.endpoints.iter().any(|e| e.ips().next().is_some());
        in_ns.iter().find(has_address).or(in_ns.first()).copied()
    }

    /// The container whose namespace, and so whose network mode, `c` uses: the one it shares
    /// with `--network container:X` (when Docker's view has it), else `c` itself.
    pub fn namespace_owner<'a>(&'a self, c: &'a Container) -> &'a Container {
        match &c.network_mode {
            NetworkMode::Container(other) => self.container(other).unwrap_or(c),
            _ => c,
        }
    }

    /// The endpoints a container uses: its own, or those of the container whose namespace it
    /// shares (`--network container:X`).
    pub fn endpoints_of<'a>(&'a self, c: &'a Container) -> &'a [Endpoint] {
        match &c.network_mode {
            NetworkMode::Container(other) => {
                self.container(other).map(|o| o.endpoints.as_slice()).unwrap_or(&[])
            }
            _ => &c.endpoints,
        }
    }

    /// The endpoint of container `c` on `network` (name or ID).
    pub fn endpoint<'a>(&'a self, c: &'a Container, network: &str) -> Option<&'a Endpoint> {
        let net = self.network(network);
        self.endpoints_of(c).iter().find(|e| {
            e.network == network || net.is_some_and(|n| e.network == n.name || e.network_id == n.id)
        })
    }

    /// The networks container `c` is on.
    pub fn networks_of(&self, c: &Container) -> Vec<&DockerNetwork> {
        self.endpoints_of(c).iter().filter_map(|e| self.network(&e.network)).collect()
    }

    /// Names of the networks both containers are on.
    pub fn shared_networks(&self, a: &Container, b: &Container) -> Vec<String> {
        let theirs = self.endpoints_of(b);
        self.endpoints_of(a)
            .iter()
            .filter(|e| theirs.iter().any(|t| t.network == e.network))
            .map(|e| e.network.clone())
            .collect()
    }

    /// The host link of a network's bridge.
    pub fn bridge_link(&self, n: &DockerNetwork) -> Option<&Link> {
        self.host.link_by_name(n.bridge.as_deref()?)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.host.link_by_name(name)
    }

    pub fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.host.link_by_index(index)
    }

    pub fn addresses_of(&self, ifindex: u32) -> Vec<&Address> {
        self.host.addresses_of(ifindex).collect()
    }

    /// Main-table routes of the host covering `ip`, most specific first.
    pub fn routes_covering(&self, ip: IpAddr) -> Vec<&Route> {
        self.host.routes_covering(ip)
    }
}

/// Looks a container up the way the docker CLI does: full ID, then name, then unique ID prefix.
pub fn find_container<'a>(containers: &'a [Container], key: &str) -> Result<&'a Container, ModelError> {
    let key = key.trim_start_matches('/');
    let exact = containers.iter().find(|c| c.id == key).or_else(|| containers.iter().find(|c| c.name == key));
    if let Some(c) = exact {
        return Ok(c);
    }
    let is_hex = !key.is_empty() && key.chars().all(|ch| ch.is_ascii_hexdigit());
    let hits: Vec<&Container> =
        containers.iter().filter(|c| is_hex && c.id.starts_with(&key.to_ascii_lowercase())).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(ModelError::UnknownContainer { name: key.to_string() }),
        many => Err(ModelError::AmbiguousContainer {
            prefix: key.to_string(),
            candidates: many
                .iter()
                .map(|c| format!("{} {}", super::docker::short(&c.id), c.name))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{
        container::tests_support::container,
        prefix::{self, PrefixExt},
    };

    pub(crate) fn topology(containers: Vec<Container>, networks: Vec<DockerNetwork>) -> Topology {
        Topology {
            docker_host: "unix:///test.sock".into(),
            docker: DockerState { networks, containers, notes: vec![] },
            host: HostNet::default(),
            host_netns_inode: 1,
        }
    }

    pub(crate) fn network(name: &str, id: &str, subnet: &str) -> DockerNetwork {
        DockerNetwork {
            name: name.into(),
            id: id.into(),
            driver: "bridge".into(),
            subnets: vec![crate::model::Subnet {
                subnet: prefix::parse(subnet).unwrap(),
                gateway: Some(prefix::parse(subnet).unwrap().first_host()),
                gateway_source: crate::model::GatewaySource::Ipam,
            }],
            // As Docker names them: docker0 for the default network.
            bridge: Some(if name == "bridge" {
                "docker0".into()
            } else {
                format!("br-{}", &id[..id.len().min(12)])
            }),
            ipv6: false,
            masquerade: true,
            masquerade6: true,
            icc: true,
            internal: false,
            parent: None,
        }
    }

    /// `network` with an IPv6 subnet too (`--ipv6`), its gateway the first address.
    pub(crate) fn dual_stack(name: &str, id: &str, subnet: &str, subnet6: &str) -> DockerNetwork {
        let mut n = network(name, id, subnet);
        let v6 = prefix::parse(subnet6).unwrap();
        n.subnets.push(crate::model::Subnet {
            subnet: v6,
            gateway: Some(v6.first_host()),
            gateway_source: crate::model::GatewaySource::Ipam,
        });
        n.ipv6 = true;
        n
    }

    fn sample() -> Vec<Container> {
        vec![
            container("aaaa1111", "web", &[("labnet", "172.30.0.2")]),
            container("aaaa2222", "db", &[("bridge", "172.17.0.2"), ("labnet", "172.30.0.3")]),
            container("bbbb3333", "loner", &[("bridge", "172.17.0.3")]),
        ]
    }

    #[test]
    fn container_lookup_by_id_name_and_prefix() {
        let cs = sample();
        assert_eq!(find_container(&cs, "web").unwrap().id, "aaaa1111");
        assert_eq!(find_container(&cs, "/db").unwrap().id, "aaaa2222");
        assert_eq!(find_container(&cs, "bbbb3333").unwrap().name, "loner");
        assert_eq!(find_container(&cs, "bb").unwrap().name, "loner");
        assert_eq!(find_container(&cs, "AAAA2").unwrap().name, "db");
        let e = find_container(&cs, "aaaa").unwrap_err().to_string();
        assert!(e.contains("aaaa1111 web") && e.contains("aaaa2222 db"), "{e}");
        let e = find_container(&cs, "mysql").unwrap_err().to_string();
        assert!(e.contains("'mysql'") && e.contains("docker ps -a"), "{e}");
        assert!(find_container(&cs, "").is_err());
    }

    #[test]
    fn name_beats_id_prefix() {
        let cs = vec![container("abc123", "x", &[]), container("ffff", "abc", &[])];
        assert_eq!(find_container(&cs, "abc").unwrap().id, "ffff");
    }

    #[test]
    fn network_and_endpoint_queries() {
        let mut cs = sample();
        let mut side = container("cccc4444", "side", &[]);
        side.network_mode = NetworkMode::Container("aaaa1111".into());
        cs.push(side);
        let t = topology(
            cs,
            vec![
                network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24"),
                network("bridge", "f0123ae76e72", "172.17.0.0/16"),
            ],
        );
        let web = t.container("web").unwrap();
        let db = t.container("db").unwrap();
        let loner = t.container("loner").unwrap();
        let side = t.container("side").unwrap();
        assert_eq!(t.shared_networks(web, db), vec!["labnet"]);
        assert!(t.shared_networks(web, loner).is_empty());
        assert_eq!(t.endpoints_of(side).len(), 1, "side uses web's endpoints");
        assert_eq!(t.shared_networks(side, db), vec!["labnet"]);
        assert_eq!(t.endpoint(db, "fd26").unwrap().ip, Some("172.30.0.3".parse().unwrap()));
        assert_eq!(t.networks_of(db).len(), 2);
        assert_eq!(t.network_by_bridge("br-fd26fbfb41d5").unwrap().name, "labnet");
        assert_eq!(t.network_containing("172.17.9.9".parse().unwrap()).unwrap().name, "bridge");
        assert_eq!(t.container_by_ip("172.30.0.3".parse().unwrap()).unwrap().0.name, "db");
        assert!(t.network("fd").is_some() && t.network("nope").is_none());
        assert!(t.network("f").is_none(), "ambiguous prefix");
    }
}
