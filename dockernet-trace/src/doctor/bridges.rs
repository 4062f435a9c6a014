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
        family: None,
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
        let mut f = finding(
            Cause::BridgeGatewayMissing,
            format!(
                "bridge {bridge} lacks the {} gateway address {gw}/{} of network {}, so the host no longer routes {} to it",
                s.family(),
                s.subnet.prefix_len(),
                n.name,
                s.subnet
            ),
            vec![format!("ip addr add {gw}/{} dev {bridge}", s.subnet.prefix_len())],
            vec![
                had,
                format!("network {} expects gateway {gw} ({})", n.name, gateway_origin(s.gateway_source)),
            ],
        );
        f.family = Some(s.family());
        out.push(f);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        flow::IpFamily,
        model::{
            Address,
            links::tests::link,
            topology::tests::{dual_stack, topology},
        },
    };

    /// labnet dual-stack on br-fd26fbfb41d5 (index 4), holding the addresses given.
    fn world(addrs: &[(&str, u8)]) -> Topology {
        let mut t =
            topology(vec![], vec![dual_stack("labnet", "fd26fbfb41d5", "172.30.0.0/24", "fd00:30::/64")]);
        t.host.links.push(link(4, "br-fd26fbfb41d5", Some("bridge")));
        t.host.addresses =
            addrs.iter().map(|(ip, p)| Address { ifindex: 4, ip: ip.parse().unwrap(), prefix: *p }).collect();
        t
    }

    #[test]
    fn a_missing_ipv6_gateway_is_a_finding_of_its_own_family() {
        let mut out = vec![];
        let t = world(&[("172.30.0.1", 24), ("fe80::1", 64)]);
        check(&t, &t.docker.networks[0], &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        let f = &out[0];
        assert_eq!((f.cause, f.family), (Cause::BridgeGatewayMissing, Some(IpFamily::V6)));
        assert_eq!(f.fix, ["ip addr add fd00:30::1/64 dev br-fd26fbfb41d5"]);
        assert!(f.summary.contains("IPv6 gateway address fd00:30::1/64"), "{}", f.summary);
        assert!(f.evidence[0].contains("no address in fd00:30::/64"), "{:?}", f.evidence);

        let mut out = vec![];
        let t = world(&[("172.30.0.1", 24), ("fd00:30::1", 64)]);
        check(&t, &t.docker.networks[0], &mut out);
        assert!(out.is_empty(), "{out:#?}");
    }
}
