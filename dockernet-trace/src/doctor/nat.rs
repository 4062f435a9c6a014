//! NAT: what Docker should have written in the nat table. Flushing it (`iptables -t nat -F`)
//! leaves containers leaving the host with their private source address and published ports
//! not forwarded to their containers.
use std::net::IpAddr;

use crate::{
    cause::{Cause, Finding},
    flow::IpFamily,
    model::{DockerNetwork, Topology},
    netfilter::{
        Ruleset,
        docker::{Missing, has_dnat, has_masquerade, manages_ip6tables},
    },
};

/// Docker NATs a family only where it writes that family's rules: IPv4 always (with
/// iptables on), IPv6 when it manages ip6tables (else IPv6 is routed as is).
fn nats(family: IpFamily, rs: &Ruleset) -> bool {
    family == IpFamily::V4 || manages_ip6tables(rs)
}

pub fn masquerade(n: &DockerNetwork, rs: &Ruleset, out: &mut Vec<Finding>) {
    let Some(bridge) = n.bridge.as_deref() else { return };
    if n.internal {
        return;
    }
    for s in &n.subnets {
        let family = s.family();
        let wanted = if family == IpFamily::V4 { n.masquerade } else { n.masquerade6 };
        if !wanted || !nats(family, rs) {
            continue;
        }
        let cidr = s.subnet;
        if has_masquerade(rs, &cidr, bridge) {
            continue;
        }
        out.push(Finding {
            cause: Cause::MasqueradeMissing,
            network: Some(n.name.clone()),
            iface: Some(bridge.to_string()),
            container: None,
            summary: format!(
                "no MASQUERADE rule for {} leaving through anything but {bridge}: containers of {} reach the outside with private source addresses, and answers never come back",
                s.subnet, n.name
            ),
            fix: vec![
                format!(
                    "{} -t nat -A POSTROUTING -s {} ! -o {bridge} -j MASQUERADE",
                    family.iptables(),
                    s.subnet
                ),
                "or: systemctl restart docker   # rewrites all of Docker's rules".into(),
            ],
            evidence: vec![format!("nat POSTROUTING reaches no MASQUERADE/SNAT for {}", s.subnet)],
            family: Some(family),
        });
    }
}

/// Published ports of a family Docker NATs without a DNAT to the container's address of that
/// family: a finding, unless something serves the host's port without NAT (any service but
/// dockerd's mere reservation of the port); docker-proxy serving it alone is worth a note,
/// since the container then sees every client as the gateway.
pub fn published_ports(t: &Topology, rs: &Ruleset, out: &mut Vec<Finding>, notes: &mut Vec<String>) {
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        for p in &c.ports {
            let family = IpFamily::of(&p.host_ip);
            let ips: Vec<IpAddr> = t.endpoints_of(c).iter().filter_map(|e| e.ip_of(family)).collect();
            // An IPv6 binding of a container without IPv6 is served by docker-proxy alone.
            if !nats(family, rs) || (family == IpFamily::V6 && ips.is_empty()) {
                continue;
            }
            if ips.iter().any(|ip| has_dnat(rs, &p.proto, p.host_port, *ip, p.container_port)) {
                continue;
            }
            let holder = crate::model::listeners::host_listener(&p.proto, p.host_port);
            if let Some(l) = holder.filter(|l| l.serves()) {
                if l.command.as_deref() == Some("docker-proxy") {
                    notes.push(proxy_alone(t, c, p, l.pid));
                }
                continue;
            }
            let ep = t.endpoints_of(c).iter().find(|e| e.ip_of(family).is_some());
            let bridge = ep.and_then(|e| t.network(&e.network)).and_then(|n| n.bridge.clone());
            let ip = match ips.first() {
                Some(IpAddr::V6(v6)) => format!("[{v6}]"),
                Some(v4) => v4.to_string(),
                None => String::new(),
            };
            let not_bridge = bridge.as_deref().map(|b| format!("! -i {b} ")).unwrap_or_default();
            out.push(Finding {
                cause: Cause::DnatMissing,
                network: ep.map(|e| e.network.clone()),
                iface: bridge.clone(),
                container: Some(c.name.clone()),
                summary: format!(
                    "port {}/{} is published for {}, but no DNAT rule forwards it and no docker-proxy listens on it",
                    p.host_port, p.proto, c.name
                ),
                fix: vec![
                    format!(
                        "{3} -t nat -A DOCKER {not_bridge}-p {0} -m {0} --dport {1} -j DNAT --to-destination {ip}:{2}",
                        p.proto,
                        p.host_port,
                        p.container_port,
                        family.iptables()
                    ),
                    "or: systemctl restart docker   # rewrites all of Docker's rules".into(),
                ],
                evidence: vec![format!("nat PREROUTING reaches no DNAT of {}/{} to {ip}:{}", p.proto, p.host_port, p.container_port)],
                family: Some(family),
            });
        }
    }
}

fn proxy_alone(
    t: &Topology,
    c: &crate::model::Container,
    p: &crate::model::PublishedPort,
    pid: Option<u32>,
) -> String {
    let gateway = t.endpoints_of(c).iter().find_map(|e| e.gateway);
    format!(
        "port {}/{} of {} is served by docker-proxy{} alone, with no DNAT rule: {} sees every client with the gateway's address{} instead of the client's own",
        p.host_port,
        p.proto,
        c.name,
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        c.name,
        gateway.map(|g| format!(" {g}")).unwrap_or_default()
    )
}

/// Docker's nat chain (or the jumps to it) gone: nothing published can work.
pub fn missing_chains(missing: &[Missing], out: &mut Vec<Finding>) {
    let nat: Vec<String> = missing.iter().filter(|m| m.table == "nat").map(|m| m.to_string()).collect();
    if nat.is_empty() {
        return;
    }
    out.push(Finding {
        cause: Cause::DnatMissing,
        network: None,
        iface: None,
        container: None,
        summary: format!(
            "Docker's nat rules are gone ({}): published ports are not forwarded",
            nat.join("; ")
        ),
        fix: vec!["systemctl restart docker   # Docker rewrites its chains and rules".into()],
        evidence: nat,
        family: Some(IpFamily::V4),
    });
}
