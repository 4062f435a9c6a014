//! A Docker network as the engine describes it, with the facts the packet path depends on:
//! subnets and gateways, the Linux bridge behind it, masquerading, ICC, `--internal`.
use std::{collections::HashMap, net::IpAddr};

use bollard::models::Network;
use serde::Serialize;

use ipnet::IpNet;

use super::prefix::{self, PrefixExt};
use crate::flow::IpFamily;

pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
/// Docker 27+: `nat` (default), `nat-unprotected`, `routed` (no NAT), `isolated`, for IPv6.
pub const OPT_GATEWAY_MODE_V6: &str = "com.docker.network.bridge.gateway_mode_ipv6";
/// Docker 28+: `nat` (default), `nat-unprotected`, `routed` (no NAT), `isolated`.
pub const OPT_GATEWAY_MODE_V4: &str = "com.docker.network.bridge.gateway_mode_ipv4";

/// Where a subnet's gateway address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewaySource {
    /// The network's IPAM configuration.
    Ipam,
    /// The gateway a container endpoint on this network was given (the default bridge of
    /// older engines lists no IPAM gateway).
    Endpoint,
    /// Nobody said; Docker's default is the subnet's first address.
    Assumed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subnet {
    pub subnet: IpNet,
    pub gateway: Option<IpAddr>,
    pub gateway_source: GatewaySource,
}

impl Subnet {
    pub fn family(&self) -> IpFamily {
        prefix::family(&self.subnet)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DockerNetwork {
    pub name: String,
    pub id: String,
    /// bridge, host, null, overlay, macvlan...
    pub driver: String,
    /// IPv4 and IPv6 subnets, as IPAM lists them.
    pub subnets: Vec<Subnet>,
    /// `--ipv6` (EnableIPv6): the network has IPv6 subnets and its containers IPv6 addresses.
    pub ipv6: bool,
    /// The Linux bridge interface, for the bridge driver.
    pub bridge: Option<String>,
    /// Containers' traffic leaving the host is masqueraded (enable_ip_masquerade, and a
    /// gateway mode that NATs: not `routed`).
    pub masquerade: bool,
    /// Containers' IPv6 traffic leaving the host is masqueraded: enable_ip_masquerade and an
    /// IPv6 gateway mode that NATs (Docker 27+ does NAT66 when it manages ip6tables).
    pub masquerade6: bool,
    /// Containers of this network may talk to each other (enable_icc).
    pub icc: bool,
    /// `--internal`: no traffic to or from outside the network.
    pub internal: bool,
    /// macvlan/ipvlan: the host interface the containers' interfaces hang off (`parent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl DockerNetwork {
    /// Converts the engine's answer; None when it lacks a name or an ID.
    pub fn from_api(n: &Network) -> Option<Self> {
        let name = n.name.clone()?;
        let id = n.id.clone()?;
        let driver = n.driver.clone().unwrap_or_default();
        let empty = HashMap::new();
        let options = n.options.as_ref().unwrap_or(&empty);
        let configs = n.ipam.as_ref().and_then(|i| i.config.as_ref());
        let subnets = configs
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let subnet = prefix::parse(c.subnet.as_deref()?)?;
                let gateway = c.gateway.as_deref().and_then(|g| g.parse().ok());
                Some(Subnet { subnet, gateway, gateway_source: GatewaySource::Ipam })
            })
            .collect();
        Some(Self {
            bridge: bridge_name(&name, &id, &driver, options),
            masquerade: option_flag(options, OPT_MASQUERADE, true)
                && options.get(OPT_GATEWAY_MODE_V4).is_none_or(|m| m != "routed"),
            masquerade6: option_flag(options, OPT_MASQUERADE, true)
                && options.get(OPT_GATEWAY_MODE_V6).is_none_or(|m| m != "routed"),
            icc: option_flag(options, OPT_ICC, true),
            ipv6: n.enable_ipv6.unwrap_or(false),
            internal: n.internal.unwrap_or(false),
            parent: parent(&driver, options),
            name,
            id,
            driver,
            subnets,
        })
    }

    /// The subnet that contains `ip`.
    pub fn subnet_of(&self, ip: IpAddr) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.subnet.contains(&ip))
    }

    /// The subnets of one family.
    pub fn subnets_of(&self, family: IpFamily) -> impl Iterator<Item = &Subnet> {
        self.subnets.iter().filter(move |s| s.family() == family)
    }

    /// Gives subnets without a gateway one: a container endpoint's gateway from `seen` when it
    /// lies in the subnet, else (bridge driver only) the first address, as Docker's IPAM does.
    pub fn fill_gateways(&mut self, seen: &[IpAddr]) {
        let is_bridge = self.driver == "bridge";
        for s in self.subnets.iter_mut().filter(|s| s.gateway.is_none()) {
            if let Some(g) = seen.iter().find(|g| s.subnet.contains(*g)) {
                s.gateway = Some(*g);
                s.gateway_source = GatewaySource::Endpoint;
            } else if is_bridge {
                s.gateway = Some(s.subnet.first_host());
                s.gateway_source = GatewaySource::Assumed;
            }
        }
    }
}

/// The Linux bridge of a bridge-driver network: the `com.docker.network.bridge.name` option,
/// else docker0 for the default network `bridge`, else `br-` and the first 12 hex digits of
/// the ID. None for other drivers.
pub fn bridge_name(name: &str, id: &str, driver: &str, options: &HashMap<String, String>) -> Option<String> {
    if driver != "bridge" {
        return None;
    }
    if let Some(explicit) = options.get(OPT_BRIDGE_NAME).filter(|s| !s.is_empty()) {
        return Some(explicit.clone());
    }
    if name == "bridge" {
        return Some("docker0".into());
    }
    Some(format!("br-{}", id.get(..12).unwrap_or(id)))
}

/// The parent interface of a macvlan or ipvlan network (the `parent` option).
fn parent(driver: &str, options: &HashMap<String, String>) -> Option<String> {
    let sub_interface = matches!(driver, "macvlan" | "ipvlan");
    options.get("parent").filter(|p| sub_interface && !p.is_empty()).cloned()
}

/// A boolean driver option, read as Go's strconv.ParseBool does (Docker's own parser);
/// absent or unparsable means `default`.
pub fn option_flag(options: &HashMap<String, String>, key: &str, default: bool) -> bool {
    options.get(key).and_then(|v| parse_go_bool(v)).unwrap_or(default)
}

fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "e685d9c814c0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a";

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn bridge_names() {
        let none = opts(&[]);
        assert_eq!(bridge_name("bridge", ID, "bridge", &none).as_deref(), Some("docker0"));
        assert_eq!(bridge_name("heima", ID, "bridge", &none).as_deref(), Some("br-e685d9c814c0"));
        let custom = opts(&[(OPT_BRIDGE_NAME, "brcustom")]);
        assert_eq!(bridge_name("heima", ID, "bridge", &custom).as_deref(), Some("brcustom"));
        assert_eq!(bridge_name("bridge", ID, "bridge", &custom).as_deref(), Some("brcustom"));
        let empty = opts(&[(OPT_BRIDGE_NAME, "")]);
        assert_eq!(bridge_name("x", ID, "bridge", &empty).as_deref(), Some("br-e685d9c814c0"));
        assert_eq!(bridge_name("host", ID, "host", &none), None);
        assert_eq!(bridge_name("x", "abc", "bridge", &none).as_deref(), Some("br-abc"));
    }

    #[test]
    fn flags_default_to_true_and_parse_like_go() {
        let o = opts(&[(OPT_ICC, "false"), (OPT_MASQUERADE, "garbage")]);
        assert!(!option_flag(&o, OPT_ICC, true));
        assert!(option_flag(&o, OPT_MASQUERADE, true));
        assert!(option_flag(&opts(&[]), OPT_ICC, true));
        assert!(!option_flag(&opts(&[(OPT_ICC, "0")]), OPT_ICC, true));
        assert!(option_flag(&opts(&[(OPT_ICC, "T")]), OPT_ICC, false));
    }

    /// The JSON a Docker 20.10 engine returns for `GET /networks`.
    fn api_network(json: &str) -> Network {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn converts_engine_answer() {
        let n = api_network(&format!(
            r#"{{"Name":"heima","Id":"{ID}","Driver":"bridge","Internal":true,
            "IPAM":{{"Driver":"default","Config":[{{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}},
            {{"Subnet":"fd00::/64","Gateway":"fd00::1"}}]}},
            "Options":{{"com.docker.network.bridge.enable_ip_masquerade":"false"}}}}"#
        ));
        let n = DockerNetwork::from_api(&n).unwrap();
        assert_eq!(n.bridge.as_deref(), Some("br-e685d9c814c0"));
        assert!(n.internal && !n.masquerade && n.icc);
        assert!(!n.ipv6, "EnableIPv6 absent");
        assert_eq!(n.subnets.len(), 2, "IPv4 and IPv6 subnets");
        assert_eq!(n.subnets[0].gateway, Some("172.18.0.1".parse().unwrap()));
        assert!(n.subnet_of("172.18.3.4".parse().unwrap()).is_some());
        assert_eq!(
            n.subnet_of("fd00::9".parse().unwrap()).unwrap().gateway,
            Some("fd00::1".parse().unwrap())
        );
        assert_eq!(n.subnets_of(IpFamily::V6).count(), 1);
        assert_eq!(n.parent, None);
        let mv = api_network(
            r#"{"Name":"mv","Id":"ab12","Driver":"macvlan","Options":{"parent":"eth0"},
            "IPAM":{"Config":[{"Subnet":"10.0.0.0/24"}]}}"#,
        );
        assert_eq!(DockerNetwork::from_api(&mv).unwrap().parent.as_deref(), Some("eth0"));
    }

    #[test]
    fn routed_gateway_mode_masquerades_nothing() {
        let mode = |m: &str| {
            let json = format!(
                r#"{{"Name":"n","Id":"{ID}","Driver":"bridge","IPAM":{{"Config":[{{"Subnet":"192.168.223.0/24"}}]}},
                "Options":{{"com.docker.network.bridge.gateway_mode_ipv4":"{m}"}}}}"#
            );
            DockerNetwork::from_api(&api_network(&json)).unwrap().masquerade
        };
        assert!(!mode("routed"));
        assert!(mode("nat") && mode("nat-unprotected"));
    }

    /// Docker 28.5's answer for `docker network create --ipv6 --subnet fd00:18::/64 ...`.
    #[test]
    fn dual_stack_network_of_docker_28() {
        let api = api_network(&format!(
            r#"{{"Name":"dual","Id":"{ID}","Driver":"bridge","EnableIPv4":true,"EnableIPv6":true,
            "IPAM":{{"Driver":"default","Config":[{{"Subnet":"fd00:18::/64","Gateway":"fd00:18::1"}},
            {{"Subnet":"172.30.0.0/24","Gateway":"172.30.0.1"}}]}},
            "Options":{{"com.docker.network.bridge.gateway_mode_ipv6":"routed"}}}}"#
        ));
        let n = DockerNetwork::from_api(&api).unwrap();
        assert!(n.ipv6 && n.masquerade && !n.masquerade6);
        let v6: Vec<String> = n.subnets_of(IpFamily::V6).map(|s| s.subnet.to_string()).collect();
        assert_eq!(v6, ["fd00:18::/64"]);
        let mut bare = n.clone();
        bare.subnets.iter_mut().for_each(|s| s.gateway = None);
        bare.fill_gateways(&[]);
        assert_eq!(
            bare.subnets[0].gateway,
            Some("fd00:18::1".parse().unwrap()),
            "Docker's default: the first address"
        );
    }

    #[test]
    fn default_bridge_gateway_comes_from_endpoints_or_is_assumed() {
        let api = api_network(
            r#"{"Name":"bridge","Id":"f0123ae76e72","Driver":"bridge",
            "IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]},
            "Options":{"com.docker.network.bridge.name":"docker0"}}"#,
        );
        let mut n = DockerNetwork::from_api(&api).unwrap();
        assert_eq!(n.subnets[0].gateway, None);
        let mut assumed = n.clone();
        n.fill_gateways(&["10.0.0.1".parse().unwrap(), "172.17.0.1".parse().unwrap()]);
        assert_eq!(n.subnets[0].gateway, Some("172.17.0.1".parse().unwrap()));
        assert_eq!(n.subnets[0].gateway_source, GatewaySource::Endpoint);
        assumed.fill_gateways(&[]);
        assert_eq!(assumed.subnets[0].gateway_source, GatewaySource::Assumed);
        assert_eq!(assumed.subnets[0].gateway, Some("172.17.0.1".parse().unwrap()));
    }
}
