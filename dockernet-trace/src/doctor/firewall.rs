//! Host-wide forwarding: ip_forward, and a FORWARD policy of DROP with Docker's ACCEPT rules
//! gone (`iptables -F`, `iptables -F DOCKER`): a network's own traffic, and published ports.
//! DROP rules in DOCKER-USER: docker_user.rs.
use crate::{
    cause::{Cause, Finding},
    flow::IpFamily,
    model::{Container, DockerNetwork, Topology},
    netfilter::{
        Ruleset, Verdict,
        docker::{BridgeAcceptKind, Role, classify, forward_policy},
    },
};

pub fn ip_forward(t: &Topology, out: &mut Vec<Finding>) {
    let routed = t.docker.networks.iter().any(|n| n.bridge.is_some() && !n.internal);
    if routed && !t.host.sysctls.ip_forward {
        out.push(Finding {
            cause: Cause::IpForwardDisabled,
            network: None,
            iface: None,
            container: None,
            summary: "net.ipv4.ip_forward is 0: the host routes nothing between containers' networks and the outside".into(),
            fix: vec![
                "sysctl -w net.ipv4.ip_forward=1".into(),
                "and keep it: echo net.ipv4.ip_forward=1 > /etc/sysctl.d/99-docker.conf".into(),
            ],
            evidence: vec!["/proc/sys/net/ipv4/ip_forward = 0".into()],
            family: Some(IpFamily::V4),
        });
    }
    ipv6_forwarding(t, out);
}

/// IPv6 forwarding off while a Docker network has IPv6: its containers' IPv6 traffic goes
/// nowhere beyond their bridge (`ip6_forward` drops it).
fn ipv6_forwarding(t: &Topology, out: &mut Vec<Finding>) {
    let Some(v6) = &t.host.sysctls.ipv6 else { return };
    let nets: Vec<&str> = t
        .docker
        .networks
        .iter()
        .filter(|n| n.bridge.is_some() && !n.internal && n.subnets_of(IpFamily::V6).next().is_some())
        .map(|n| n.name.as_str())
        .collect();
    if nets.is_empty() || v6.forwarding {
        return;
    }
    out.push(Finding {
        cause: Cause::IpForwardDisabled,
        network: None,
        iface: None,
        container: None,
        summary: format!(
            "net.ipv6.conf.all.forwarding is 0: the host routes no IPv6 between the IPv6 networks ({}) and the outside",
            nets.join(", ")
        ),
        fix: vec![
            "sysctl -w net.ipv6.conf.all.forwarding=1".into(),
            "and keep it: echo net.ipv6.conf.all.forwarding=1 > /etc/sysctl.d/99-docker.conf".into(),
        ],
        evidence: vec!["/proc/sys/net/ipv6/conf/all/forwarding = 0".into()],
        family: Some(IpFamily::V6),
    });
}

/// With FORWARD's policy at DROP, a network whose bridge has no ACCEPT for its outbound
/// traffic (or for the replies) loses everything that crosses the host.
pub fn forward_accepts(n: &DockerNetwork, rs: &Ruleset, out: &mut Vec<Finding>) {
    let Some(bridge) = n.bridge.as_deref() else { return };
    if n.internal || forward_policy(rs) != Some(Verdict::Drop) {
        return;
    }
    let has = |want: BridgeAcceptKind| {
        rs.rules().any(|r| {
            matches!(classify(r.table, r.chain, r.rule), Role::BridgeAccept { bridge: b, kind } if b == bridge && kind == want)
        })
    };
    let missing: Vec<&str> =
        [(BridgeAcceptKind::Outbound, "outbound"), (BridgeAcceptKind::Established, "replies")]
            .into_iter()
            .filter(|(k, _)| !has(*k))
            .map(|(_, name)| name)
            .collect();
    if missing.is_empty() {
        return;
    }
    out.push(Finding {
        cause: Cause::FirewallDrop,
        network: Some(n.name.clone()),
        iface: Some(bridge.to_string()),
        container: None,
        summary: format!(
            "filter FORWARD drops by default and no rule accepts {} traffic of {bridge}: containers of {} cannot reach beyond their network",
            missing.join(" or "),
            n.name
        ),
        fix: vec![
            format!("iptables -A FORWARD -i {bridge} ! -o {bridge} -j ACCEPT"),
            format!("iptables -A FORWARD -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            "or: systemctl restart docker   # rewrites all of Docker's rules".into(),
        ],
        evidence: vec![format!("FORWARD policy DROP; missing ACCEPT for: {}", missing.join(", "))],
        family: Some(IpFamily::V4),
    });
}

/// With FORWARD's policy at DROP, a published port reaches its container only through
/// Docker's per-port ACCEPT (filter DOCKER `-d IP ! -i BR -o BR -p tcp --dport P -j ACCEPT`),
/// and only while FORWARD still leads to the DOCKER chain.
pub fn published_accepts(t: &Topology, rs: &Ruleset, out: &mut Vec<Finding>) {
    if forward_policy(rs) != Some(Verdict::Drop) {
        return;
    }
    // Rules that FORWARD reaches, in the tables the forward hook runs.
    let mut reachable = Vec::new();
    for table in &rs.tables {
        let chains = table.reachable(&["forward"]);
        for chain in table.chains.iter().filter(|c| chains.contains(c.name.as_str())) {
            reachable.extend(chain.rules.iter().map(|r| classify(table, chain, r)));
        }
    }
    let jumps_to_docker = |bridge: &str| {
        reachable.iter().any(
            |role| matches!(role, Role::DockerJump { to, bridge: Some(b) } if to == "DOCKER" && b == bridge),
        )
    };
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        for e in t.endpoints_of(c) {
            let Some(ip) = e.ip else { continue };
            let Some(n) = t.network(&e.network).filter(|n| !n.internal) else { continue };
            let Some(bridge) = n.bridge.as_deref() else { continue };
            for p in c.ports.iter().filter(|p| p.host_ip.is_ipv4()) {
                let accepted = reachable.iter().any(|role| {
                    matches!(role, Role::PublishedAccept { proto, ip: a, port, bridge: b }
                        if *proto == p.proto && *a == std::net::IpAddr::V4(ip) && *port == p.container_port && b == bridge)
                });
                if !accepted {
                    out.push(port_not_accepted(c, n, bridge, ip, p, jumps_to_docker(bridge)));
                }
            }
        }
    }
}

fn port_not_accepted(
    c: &Container,
    n: &DockerNetwork,
    bridge: &str,
    ip: std::net::Ipv4Addr,
    p: &crate::model::PublishedPort,
    jump: bool,
) -> Finding {
    let accept = format!(
        "iptables -A DOCKER -d {ip}/32 ! -i {bridge} -o {bridge} -p {0} -m {0} --dport {1} -j ACCEPT",
        p.proto, p.container_port
    );
    let mut fix = vec![];
    let mut evidence = vec![format!(
        "FORWARD policy DROP; no reachable rule accepts {}/{} to {ip}",
        p.container_port, p.proto
    )];
    if !jump {
        fix.push(format!("iptables -A FORWARD -o {bridge} -j DOCKER"));
        evidence.push(format!("filter FORWARD no longer jumps to DOCKER for {bridge}"));
    }
    fix.push(accept);
    fix.push("or: systemctl restart docker   # rewrites all of Docker's rules".into());
    Finding {
        cause: Cause::FirewallDrop,
        network: Some(n.name.clone()),
        iface: Some(bridge.to_string()),
        container: Some(c.name.clone()),
        summary: format!(
            "port {}/{} is published for {}, but filter FORWARD drops by default and no rule accepts it on {bridge}: clients outside {} cannot reach it",
            p.host_port, p.proto, c.name, n.name
        ),
        fix,
        evidence,
        family: Some(IpFamily::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Ipv6Sysctls,
        topology::tests::{dual_stack, network, topology},
    };

    fn forwarding(v4: bool, v6: Option<bool>, ipv6_net: bool) -> Vec<Finding> {
        let net = if ipv6_net {
            dual_stack("labnet", "fd26fbfb41d5", "172.30.0.0/24", "fd00:30::/64")
        } else {
            network("labnet", "fd26fbfb41d5", "172.30.0.0/24")
        };
        let mut t = topology(vec![], vec![net]);
        t.host.sysctls.ip_forward = v4;
        t.host.sysctls.ipv6 = v6.map(|forwarding| Ipv6Sysctls { forwarding, ..Default::default() });
        let mut out = vec![];
        ip_forward(&t, &mut out);
        out
    }

    #[test]
    fn ipv6_forwarding_off_matters_only_with_an_ipv6_network() {
        let f = forwarding(true, Some(false), true);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!((f[0].cause, f[0].family), (Cause::IpForwardDisabled, Some(IpFamily::V6)));
        assert_eq!(f[0].fix[0], "sysctl -w net.ipv6.conf.all.forwarding=1");
        assert!(f[0].summary.contains("(labnet)"), "{}", f[0].summary);
        assert!(forwarding(true, Some(false), false).is_empty(), "no IPv6 network");
        assert!(forwarding(true, Some(true), true).is_empty());
        assert!(forwarding(true, None, true).is_empty(), "a kernel without IPv6");
        let both = forwarding(false, Some(false), true);
        assert_eq!(
            both.iter().map(|f| f.family).collect::<Vec<_>>(),
            [Some(IpFamily::V4), Some(IpFamily::V6)]
        );
    }
}
