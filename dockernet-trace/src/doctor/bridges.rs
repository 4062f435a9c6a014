//! Bridges: the bridge of each Docker network exists, is up, and holds the gateway address
//! (a VM suspend or a hand-run `ip addr flush` can strip it, and the host then no longer
//! routes the subnet to the bridge).
use crate::{
    cause::{Cause, Finding},
    model::{DockerNetwork, GatewaySource, Topology},
};

pub fn check(t: &Topology, n: &DockerNetwork, out: &mut Vec<Finding>) {
    let Some(bridge) = n.bridge.as_deref() else { return };
    let finding = |cause, summary: String, fix: Vec<String>, evidence: Vec<String>| Finding {
        cause,
        network: Some(n.name.clone()),
        iface: Some(bridge.to_string()),
        container: None,
        summary,
        fix,
        evidence,
    };
    let Some(link) = t.bridge_link(n) else {
        out.push(finding(
            Cause::BridgeDown,
            format!("network {} has no bridge: interface {bridge} does not exist", n.name),
            vec!["systemctl restart docker   # Docker recreates its bridges".into()],
            vec![format!("no link named {bridge} in the host namespace")],
        ));
        return;
    };
    if !link.admin_up {
        out.push(finding(
            Cause::BridgeDown,
            format!("bridge {bridge} of network {} is down, so nothing reaches its containers", n.name),
            vec![format!("ip link set {bridge} up")],
            vec![format!("{bridge}: state {}, flags without UP", link.oper_state)],
        ));
    }
    let addrs = t.addresses_of(link.index);
    for s in &n.subnets {
        let Some(gw) = s.gateway else { continue };
        let in_subnet: Vec<String> = addrs
            .iter()
            .filter(|a| s.subnet.contains(&a.ip))
            .map(|a| format!("{}/{}", a.ip, a.prefix))
            .collect();
        let has_gw = addrs.iter().any(|a| a.ip == gw && a.prefix == s.subnet.prefix_len());
        // An assumed gateway (Docker's default, nobody told us otherwise) is satisfied by any
        // address of the subnet: the daemon may run with --bip.
        if has_gw || (s.gateway_source == GatewaySource::Assumed && !in_subnet.is_empty()) {
            continue;
        }
        let had = if in_subnet.is_empty() {
            format!("{bridge} has no address in {}", s.subnet)
        } else {
            format!("{bridge} has {} instead of {gw}/{}", in_subnet.join(", "), s.subnet.prefix_len())
        };
        out.push(finding(
            Cause::BridgeGatewayMissing,
            format!(
                "bridge {bridge} lacks the gateway address {gw}/{} of network {}, so the host no longer routes {} to it",
                s.subnet.prefix_len(),
                n.name,
                s.subnet
            ),
            vec![format!("ip addr add {gw}/{} dev {bridge}", s.subnet.prefix_len())],
            vec![had, format!("network {} expects gateway {gw} ({})", n.name, gateway_origin(s.gateway_source))],
        ));
    }
}

/// Where the expected gateway comes from, in words.
fn gateway_origin(source: GatewaySource) -> &'static str {
    match source {
        GatewaySource::Ipam => "from its IPAM configuration",
        GatewaySource::Endpoint => "as its containers were given",
        GatewaySource::Assumed => "Docker's default, the subnet's first address",
    }
}
