//! Host-wide forwarding: ip_forward, and a FORWARD policy of DROP with Docker's ACCEPT rules
//! gone (`iptables -F`). DROP rules in DOCKER-USER: docker_user.rs.
use crate::{
    cause::{Cause, Finding},
    model::{DockerNetwork, Topology},
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
        });
    }
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
    });
}
