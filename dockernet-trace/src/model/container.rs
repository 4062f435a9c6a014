//! A container as the engine describes it: state, namespace, network endpoints, published ports.
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::PathBuf,
};

use bollard::models::{ContainerInspectResponse, EndpointSettings, PortMap};
use serde::Serialize;

use super::netns::pid_netns_path;
use crate::dns::DockerDnsSettings;
use crate::flow::IpFamily;

/// `docker run --network ...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "target", rename_all = "snake_case")]
pub enum NetworkMode {
    /// Joined to Docker networks (the default `bridge` or user-defined ones): own namespace,
    /// one endpoint per network. Holds the network named at `docker run`.
    Networks(String),
    /// Shares the host's namespace: no endpoint, no veth.
    Host,
    /// Own namespace with only loopback.
    None,
    /// Shares the namespace (and endpoints) of another container, by name or ID.
    Container(String),
}

impl NetworkMode {
    /// Parses HostConfig.NetworkMode; "default" and "" mean the default bridge.
    pub fn parse(s: &str) -> Self {
        match s {
            "host" => Self::Host,
            "none" => Self::None,
            "" | "default" => Self::Networks("bridge".into()),
            s => match s.strip_prefix("container:") {
                Some(other) => Self::Container(other.into()),
                None => Self::Networks(s.into()),
            },
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Networks(n) => f.write_str(n),
            Self::Host => f.write_str("host"),
            Self::None => f.write_str("none"),
            Self::Container(c) => write!(f, "container:{c}"),
        }
    }
}

/// The container's interface for one endpoint and its host-side veth, found by reading the
/// container's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointLink {
    /// eth0, eth1... inside the container.
    pub ifname: String,
    pub ifindex: u32,
    pub admin_up: bool,
    pub carrier: bool,
    /// IFLA_LINK of the container interface: the peer's index in the host namespace.
    pub peer_ifindex: Option<u32>,
    /// The host veth with that index, when it exists and points back at the container side.
    pub host_veth: Option<String>,
    pub host_veth_ifindex: Option<u32>,
}

/// The container's attachment to one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub network: String,
    pub network_id: String,
    /// None while the container is stopped.
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub mac: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    /// The IPv6 address (GlobalIPv6Address) on a `--ipv6` network; None otherwise or while
    /// stopped.
    pub ip6: Option<Ipv6Addr>,
    pub prefix_len6: u8,
    pub gateway6: Option<Ipv6Addr>,
    /// Filled in from the namespaces after the engine was read; None when not found.
    pub link: Option<EndpointLink>,
}

impl Endpoint {
    pub fn from_api(network: &str, s: &EndpointSettings) -> Self {
        let len = |v: Option<i64>| v.and_then(|p| u8::try_from(p).ok()).unwrap_or(0);
        Self {
            network: network.to_string(),
            network_id: s.network_id.clone().unwrap_or_default(),
            ip: parsed(&s.ip_address),
            prefix_len: len(s.ip_prefix_len),
            mac: s.mac_address.clone().filter(|m| !m.is_empty()),
            gateway: parsed(&s.gateway),
            ip6: parsed(&s.global_ipv6_address),
            prefix_len6: len(s.global_ipv6_prefix_len),
            gateway6: parsed(&s.ipv6_gateway),
            link: None,
        }
    }

    /// The endpoint's address of `family`.
    pub fn ip_of(&self, family: IpFamily) -> Option<IpAddr> {
        match family {
            IpFamily::V4 => self.ip.map(IpAddr::V4),
            IpFamily::V6 => self.ip6.map(IpAddr::V6),
        }
    }

    /// The prefix length of its address of `family`.
    pub fn prefix_len_of(&self, family: IpFamily) -> u8 {
        match family {
            IpFamily::V4 => self.prefix_len,
            IpFamily::V6 => self.prefix_len6,
        }
    }

    /// The gateway Docker gave it for `family`.
    pub fn gateway_of(&self, family: IpFamily) -> Option<IpAddr> {
        match family {
            IpFamily::V4 => self.gateway.map(IpAddr::V4),
            IpFamily::V6 => self.gateway6.map(IpAddr::V6),
        }
    }

    /// Its addresses, IPv4 first.
    pub fn ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        [IpFamily::V4, IpFamily::V6].into_iter().filter_map(|f| self.ip_of(f))
    }

    /// Its gateways, IPv4 first.
    pub fn gateways(&self) -> impl Iterator<Item = IpAddr> + '_ {
        [IpFamily::V4, IpFamily::V6].into_iter().filter_map(|f| self.gateway_of(f))
    }
}

/// An address field of the engine's answer ("" while stopped).
fn parsed<T: std::str::FromStr>(v: &Option<String>) -> Option<T> {
    v.as_deref().and_then(|v| v.parse().ok())
}

/// `-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    pub container_port: u16,
    /// tcp, udp or sctp.
    pub proto: String,
    /// 0.0.0.0 (or ::) for all addresses.
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// Published ports of NetworkSettings.Ports (`"80/tcp": [{"HostIp":"0.0.0.0","HostPort":"8080"}]`).
/// Exposed but unpublished ports (null bindings) are left out.
pub fn published_ports(ports: &PortMap) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    for (key, bindings) in ports {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(container_port) = port.parse() else { continue };
        for b in bindings.iter().flatten() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            let host_ip = match b.host_ip.as_deref() {
                None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Some(ip) => match ip.parse() {
                    Ok(ip) => ip,
                    Err(_) => continue,
                },
            };
            out.push(PublishedPort { container_port, proto: proto.to_string(), host_ip, host_port });
        }
    }
    out.sort_by_key(|p| (p.container_port, p.proto.clone(), p.host_port, p.host_ip));
    out
}

#[derive(Clone, Debug, Serialize)]
pub struct Container {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    pub pid: Option<u32>,
    pub network_mode: NetworkMode,
    /// /proc/PID/ns/net while the container runs.
    pub netns: Option<PathBuf>,
    /// The inode of that namespace, read when the host model was built.
    pub netns_inode: Option<u64>,
    /// Sorted by network name.
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PublishedPort>,
    /// `docker run --dns/--dns-search/--dns-option`: where Docker's embedded DNS forwards.
    #[serde(skip)]
    pub dns: DockerDnsSettings,
}

impl Container {
    /// Converts `docker inspect` output; None when it lacks an ID.
    pub fn from_inspect(c: &ContainerInspectResponse) -> Option<Self> {
        let id = c.id.clone()?;
        let name = c.name.as_deref().unwrap_or(&id).trim_start_matches('/').to_string();
        let state = c.state.as_ref();
        let status = state.and_then(|s| s.status).map(|s| s.to_string()).unwrap_or_default();
        let pid = state.and_then(|s| s.pid).and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0);
        let mode = c.host_config.as_ref().and_then(|h| h.network_mode.as_deref()).unwrap_or("");
        let settings = c.network_settings.as_ref();
        let mut endpoints: Vec<Endpoint> = settings
            .and_then(|s| s.networks.as_ref())
            .into_iter()
            .flatten()
            .map(|(net, s)| Endpoint::from_api(net, s))
            .collect();
        endpoints.sort_by(|a, b| a.network.cmp(&b.network));
        Some(Self {
            id,
            name,
            state: status,
            netns: pid.map(pid_netns_path),
            pid,
            network_mode: NetworkMode::parse(mode),
            netns_inode: None,
            endpoints,
            ports: settings.and_then(|s| s.ports.as_ref()).map(published_ports).unwrap_or_default(),
            dns: c.host_config.as_ref().map(DockerDnsSettings::from_host_config).unwrap_or_default(),
        })
    }

    /// Running (not paused, restarting or stopped).
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// The endpoint on the network named `network`.
    pub fn endpoint(&self, network: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.network == network)
    }

    /// True when `key` is this container's full ID or name.
    pub fn is_named(&self, key: &str) -> bool {
        self.id == key || self.name == key || self.name == key.trim_start_matches('/')
    }
}

/// Builders for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A running container with one endpoint per (network, ip); gateways are x.y.z.1.
    pub(crate) fn container(id: &str, name: &str, endpoints: &[(&str, &str)]) -> Container {
        let endpoints = endpoints
            .iter()
            .map(|(net, ip)| {
                let ip: Ipv4Addr = ip.parse().unwrap();
                let o = ip.octets();
                Endpoint {
                    network: net.to_string(),
                    network_id: String::new(),
                    ip: Some(ip),
                    prefix_len: 24,
                    mac: None,
                    gateway: Some(Ipv4Addr::new(o[0], o[1], o[2], 1)),
                    ip6: None,
                    prefix_len6: 0,
                    gateway6: None,
                    link: None,
                }
            })
            .collect::<Vec<_>>();
        Container {
            id: id.into(),
            name: name.into(),
            state: "running".into(),
            pid: Some(100),
            network_mode: NetworkMode::Networks(
                endpoints.first().map_or("bridge".into(), |e| e.network.clone()),
            ),
            netns: Some(pid_netns_path(100)),
            netns_inode: Some(4026532000),
            endpoints,
            ports: vec![],
            dns: DockerDnsSettings::default(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests_support6 {
    use super::*;

    /// `c` given the IPv6 address `ip6` (/64, gateway the subnet's ::1) on `network`.
    pub(crate) fn with_ipv6(mut c: Container, network: &str, ip6: &str) -> Container {
        let ip6: Ipv6Addr = ip6.parse().unwrap();
        let mut gw = ip6.segments();
        gw[4..].copy_from_slice(&[0, 0, 0, 1]);
        let e =
            c.endpoints.iter_mut().find(|e| e.network == network).expect("the container is on the network");
        (e.ip6, e.prefix_len6, e.gateway6) = (Some(ip6), 64, Some(Ipv6Addr::from(gw)));
        c
    }
}

#[cfg(test)]
#[path = "container_tests.rs"]
mod tests;
