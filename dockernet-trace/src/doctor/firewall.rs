//! Host-wide forwarding: ip_forward, and a FORWARD policy of DROP with Docker's ACCEPT rules
//! gone (`iptables -F`, `iptables -F DOCKER`): a network's own traffic, and published ports.
//! DROP rules in DOCKER-USER: docker_user.rs.
use crate::{
    cause::{Cause, Finding},
    flow::IpFamily,
    model::{Container, DockerNetwork, Topology},
    netfilter::{
        Ruleset, Source, Verdict,
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

/// The roles of the rules the forward hook reaches: an ACCEPT in a chain nothing jumps to any
/// more (Docker 28's DOCKER-FORWARD after `iptables -F FORWARD`) accepts nothing.
fn forward_roles(rs: &Ruleset) -> Vec<Role> {
    let mut roles = Vec::new();
    for table in &rs.tables {
        let chains = table.reachable(&["forward"]);
        for chain in table.chains.iter().filter(|c| chains.contains(c.name.as_str())) {
            roles.extend(chain.rules.iter().map(|r| classify(table, chain, r)));
        }
    }
    roles
}

/// Chains that Docker's filter FORWARD jumps to unconditionally and that hold its ACCEPTs.
const FORWARD_JUMPS_TO: &[&str] = &["DOCKER-FORWARD"];

/// Where Docker's rules for `wanted` still are but the forward hook no longer reaches them:
/// the chains that FORWARD must jump to again (Docker 28's DOCKER-FORWARD after someone deleted
/// `-A FORWARD -j DOCKER-FORWARD`), each the top of the stranded rules' chain of callers.
fn stranded_roots(rs: &Ruleset, wanted: impl Fn(&Role) -> bool) -> Vec<String> {
    let mut roots = Vec::new();
    for table in rs.tables.iter().filter(|t| t.name == "filter" && t.source != Source::Nft) {
        let reachable = table.reachable(&["forward"]);
        for chain in table.chains.iter().filter(|c| c.hook.is_none() && !reachable.contains(c.name.as_str()))
        {
            if !chain.rules.iter().any(|r| wanted(&classify(table, chain, r))) {
                continue;
            }
            let mut root = chain.name.as_str();
            let mut seen = vec![root];
            while let Some((caller, _)) = table.callers(root).find(|(c, _)| !seen.contains(&c.name.as_str()))
            {
                root = caller.name.as_str();
                seen.push(root);
            }
            // Only a chain Docker's layout has FORWARD jump to as a whole: 20.10's per-bridge
            // `-o BR -j DOCKER` is not restored by one jump.
            if FORWARD_JUMPS_TO.contains(&root) && !roots.iter().any(|r| r == root) {
                roots.push(root.to_string());
            }
        }
    }
    roots
}

/// The fixes that put stranded chains back on FORWARD's path.
fn rejoin(roots: &[String]) -> Vec<String> {
    roots.iter().map(|r| format!("iptables -A FORWARD -j {r}   # FORWARD lost its jump to {r}")).collect()
}

/// With FORWARD's policy at DROP, a network whose bridge has no ACCEPT for its outbound
/// traffic (or for the replies) loses everything that crosses the host.
pub fn forward_accepts(n: &DockerNetwork, rs: &Ruleset, out: &mut Vec<Finding>) {
    let Some(bridge) = n.bridge.as_deref() else { return };
    if n.internal || forward_policy(rs) != Some(Verdict::Drop) {
        return;
    }
    let reachable = forward_roles(rs);
    let has = |want: BridgeAcceptKind| {
        reachable.iter().any(
            |role| matches!(role, Role::BridgeAccept { bridge: b, kind } if b == bridge && *kind == want),
        )
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
    let mut evidence = vec![format!("FORWARD policy DROP; missing ACCEPT for: {}", missing.join(", "))];
    let roots =
        stranded_roots(rs, |role| matches!(role, Role::BridgeAccept { bridge: b, .. } if b == bridge));
    let mut fix = rejoin(&roots);
    if roots.is_empty() {
        fix.push(format!("iptables -A FORWARD -i {bridge} ! -o {bridge} -j ACCEPT"));
        fix.push(format!(
            "iptables -A FORWARD -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ));
    } else {
        evidence.push(format!(
            "{bridge}'s ACCEPT rules are in {}, which FORWARD no longer reaches",
            roots.join(", ")
        ));
    }
    fix.push("or: systemctl restart docker   # rewrites all of Docker's rules".into());
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
        fix,
        evidence,
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
    let reachable = forward_roles(rs);
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
                // Its own ACCEPT, or (gateway mode nat-unprotected) one for every port of the bridge.
                let accepted = reachable.iter().any(|role| match role {
                    Role::PublishedAccept { proto, ip: a, port, bridge: b } => {
                        *proto == p.proto
                            && *a == std::net::IpAddr::V4(ip)
                            && *port == p.container_port
                            && b == bridge
                    }
                    Role::BridgeAccept { bridge: b, kind } => {
                        *kind == BridgeAcceptKind::Inbound && b == bridge
                    }
                    _ => false,
                });
                if !accepted {
                    let roots = stranded_roots(rs, |role| {
                        matches!(role, Role::PublishedAccept { ip: a, port, bridge: b, .. }
                            if *a == std::net::IpAddr::V4(ip) && *port == p.container_port && b == bridge)
                    });
                    out.push(port_not_accepted(c, n, bridge, ip, p, jumps_to_docker(bridge), &roots));
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
    roots: &[String],
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
    if !roots.is_empty() {
        // The ACCEPT is there: only the way to it is gone.
        fix.extend(rejoin(roots));
        evidence
            .push(format!("the ACCEPT for it is in {}, which FORWARD no longer reaches", roots.join(", ")));
    } else {
        if !jump {
            fix.push(format!("iptables -A FORWARD -o {bridge} -j DOCKER"));
            evidence.push(format!("filter FORWARD no longer jumps to DOCKER for {bridge}"));
        }
        fix.push(accept);
    }
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
    use crate::{
        model::{
            Ipv6Sysctls,
            topology::tests::{dual_stack, network, topology},
        },
        netfilter::parse_iptables_save,
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

    /// Docker 28.5's filter table for heima-net (br-73a00eba170c), as the lab shows it;
    /// `forward` is FORWARD's own rules.
    fn docker28(forward: &[&str]) -> Ruleset {
        let b = "br-73a00eba170c";
        let mut text = String::from(
            "*filter\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n:DOCKER-BRIDGE - [0:0]\n:DOCKER-CT - [0:0]\n\
             :DOCKER-FORWARD - [0:0]\n:DOCKER-USER - [0:0]\n",
        );
        for r in forward {
            text.push_str(&format!("-A FORWARD {r}\n"));
        }
        for r in [
            format!("-A DOCKER ! -i {b} -o {b} -j DROP"),
            format!("-A DOCKER-BRIDGE -o {b} -j DOCKER"),
            format!("-A DOCKER-CT -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
            "-A DOCKER-FORWARD -j DOCKER-CT".into(),
            "-A DOCKER-FORWARD -j DOCKER-BRIDGE".into(),
            format!("-A DOCKER-FORWARD -i {b} -j ACCEPT"),
        ] {
            text.push_str(&format!("{r}\n"));
        }
        text.push_str("COMMIT\n");
        Ruleset { tables: parse_iptables_save(&text).unwrap(), ..Default::default() }
    }

    fn findings(rs: &Ruleset) -> Vec<Finding> {
        let mut out = vec![];
        forward_accepts(&network("heima-net", "73a00eba170c99", "172.18.0.0/16"), rs, &mut out);
        out
    }

    #[test]
    fn docker28_accepts_count_only_while_forward_reaches_them() {
        assert!(findings(&docker28(&["-j DOCKER-USER", "-j DOCKER-FORWARD"])).is_empty());
        let cut = findings(&docker28(&["-j DOCKER-USER"]));
        assert_eq!(cut.len(), 1, "{cut:#?}");
        assert_eq!(cut[0].cause, Cause::FirewallDrop);
        assert!(cut[0].fix[0].starts_with("iptables -A FORWARD -j DOCKER-FORWARD"), "{:?}", cut[0].fix);
        assert!(cut[0].evidence.iter().any(|e| e.contains("DOCKER-FORWARD")), "{:?}", cut[0].evidence);
    }

    #[test]
    fn docker20_flushed_forward_gets_its_accepts_back() {
        let text = "*filter\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\nCOMMIT\n";
        let rs = Ruleset { tables: parse_iptables_save(text).unwrap(), ..Default::default() };
        let f = findings(&rs);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].fix[0], "iptables -A FORWARD -i br-73a00eba170c ! -o br-73a00eba170c -j ACCEPT");
    }
}
