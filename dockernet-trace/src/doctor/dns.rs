//! Name resolution from each network, sending nothing: the nameservers its running containers
//! ask (their own resolv.conf, read through their root; behind Docker's embedded DNS, the
//! upstreams it queries from the container's namespace) and whether those queries can leave:
//! a nameserver inside a Docker network's subnet is routed into that bridge instead of out
//! (the VPC story of seed 004), and a FORWARD rule that drops udp/53 drops every lookup.
use std::net::{IpAddr, Ipv4Addr};

use super::{
    forward_walk::{self, Packet},
    subnets,
};
use crate::{
    cause::{Cause, Finding},
    dns::{DNS_PORT, EMBEDDED_DNS, ResolverView, SourceKind, UpstreamNetns},
    model::{NetworkMode, Topology},
    netfilter::Ruleset,
};

/// A nameserver that containers of one network ask from that network.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Asked {
    network: String,
    /// A container address on the network, as the query's source.
    from: Ipv4Addr,
    addr: Ipv4Addr,
    containers: Vec<String>,
    /// How the containers come to ask it.
    how: String,
}

/// Findings, and notes for containers whose resolver could not be read.
pub fn check(t: &Topology, rs: &Ruleset) -> (Vec<Finding>, Vec<String>) {
    let (asked, notes) = gather(t);
    let mut out = Vec::new();
    for a in &asked {
        out.extend(inside_a_subnet(t, a));
        out.extend(dropped(t, rs, a));
    }
    out.dedup();
    (out, notes)
}

fn gather(t: &Topology) -> (Vec<Asked>, Vec<String>) {
    let (mut asked, mut notes): (Vec<Asked>, Vec<String>) = (vec![], vec![]);
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        let (Some(pid), Some(netns), NetworkMode::Networks(_)) = (c.pid, c.netns.clone(), &c.network_mode)
        else {
            continue;
        };
        let source = SourceKind::Container { name: c.name.clone(), pid, netns, settings: c.dns.clone() };
        let view = match ResolverView::load(&source) {
            Ok(v) => v,
            Err(e) => {
                notes.push(format!("name resolution of {} not checked: {e}", c.name));
                continue;
            }
        };
        for (addr, how) in queried(&view) {
            for e in t.endpoints_of(c) {
                let Some(from) = e.ip else { continue };
                add(
                    &mut asked,
                    Asked {
                        network: e.network.clone(),
                        from,
                        addr,
                        containers: vec![c.name.clone()],
                        how: how.clone(),
                    },
                );
            }
        }
    }
    (asked, notes)
}

fn add(all: &mut Vec<Asked>, a: Asked) {
    match all.iter_mut().find(|x| x.network == a.network && x.addr == a.addr) {
        Some(x) if !x.containers.contains(&a.containers[0]) => x.containers.extend(a.containers),
        Some(_) => {}
        None => all.push(a),
    }
}

/// The IPv4 nameservers queried from the container's namespace, and why.
fn queried(view: &ResolverView) -> Vec<(Ipv4Addr, String)> {
    let v4 = |a: &IpAddr| match a {
        IpAddr::V4(v) if !v.is_loopback() => Some(*v),
        _ => None,
    };
    if view.config.nameservers.contains(&EMBEDDED_DNS) {
        let Some(u) = &view.upstreams else { return vec![] };
        let how = format!("through Docker's embedded DNS ({})", u.origin.describe());
        return u
            .servers
            .iter()
            .filter(|s| s.from == UpstreamNetns::Container)
            .filter_map(|s| v4(&s.addr))
            .map(|a| (a, how.clone()))
            .collect();
    }
    let file = view.resolv_conf_path.display();
    view.config.nameservers.iter().filter_map(v4).map(|a| (a, format!("as their {file} names it"))).collect()
}

fn who(a: &Asked) -> String {
    let list = a.containers.join(", ");
    if a.containers.len() == 1 { format!("container {list}") } else { format!("containers {list}") }
}

/// "container app asks", "containers a, b ask".
fn who_asks(a: &Asked) -> String {
    format!("{} {}", who(a), if a.containers.len() == 1 { "asks" } else { "ask" })
}

/// The nameserver's address lies in a Docker network's subnet, and nothing of Docker's holds
/// it: the host routes the queries into that bridge.
fn inside_a_subnet(t: &Topology, a: &Asked) -> Option<Finding> {
    let n = t.network_containing(a.addr).filter(|n| n.bridge.is_some())?;
    let gateway = n.subnets.iter().any(|s| s.gateway == Some(a.addr));
    if gateway || t.container_by_ip(a.addr).is_some() || t.host.owner_of(a.addr).is_some() {
        return None;
    }
    let subnet = n.subnet_of(a.addr).map(|s| s.subnet.to_string()).unwrap_or_default();
    let bridge = n.bridge.clone().unwrap_or_default();
    let mut fix = vec![subnets::move_network(n, subnets::free_subnet(t))];
    fix.push("or give the containers a nameserver outside Docker's subnets: docker run --dns ADDRESS".into());
    Some(Finding {
        cause: Cause::SubnetConflict,
        network: Some(n.name.clone()),
        iface: Some(bridge.clone()),
        container: None,
        summary: format!(
            "the nameserver {} of network {}'s {} lies in network {}'s subnet {subnet}: the host routes their DNS queries into {bridge} instead of out, so no name resolves",
            a.addr,
            a.network,
            who(a),
            n.name
        ),
        fix,
        evidence: vec![
            format!("{} {} {}", who_asks(a), a.addr, a.how),
            format!("no container and no gateway holds {}", a.addr),
        ],
    })
}

/// A FORWARD rule drops the queries on their way out.
fn dropped(t: &Topology, rs: &Ruleset, a: &Asked) -> Option<Finding> {
    let net = t.network(&a.network)?;
    let bridge = net.bridge.as_deref()?;
    // Queries to the network's own subnet, the host, or another Docker network take another path.
    if net.subnet_of(a.addr).is_some()
        || t.host.owner_of(a.addr).is_some()
        || t.network_containing(a.addr).is_some()
    {
        return None;
    }
    let route = t.host.routes_covering(a.addr).into_iter().find(|r| !r.linkdown);
    let out = route.and_then(|r| r.oif).and_then(|i| t.link_by_index(i)).map(|l| l.name.clone());
    let p = Packet {
        in_iface: bridge,
        out_iface: out.as_deref(),
        src: IpAddr::V4(a.from),
        dst: IpAddr::V4(a.addr),
        proto: "udp",
        dport: DNS_PORT,
    };
    let r = forward_walk::forward_drop(rs, &p)?;
    let table = if r.table.name == "filter" { String::new() } else { format!("-t {} ", r.table.name) };
    Some(Finding {
        cause: Cause::FirewallDrop,
        network: Some(a.network.clone()),
        iface: Some(bridge.to_string()),
        container: (a.containers.len() == 1).then(|| a.containers[0].clone()),
        summary: format!(
            "the firewall rule `{}` drops the DNS queries (udp/53) of network {}'s {} to their nameserver {}: no name resolves there",
            r.rule.text,
            a.network,
            who(a),
            a.addr
        ),
        fix: vec![format!(
            "iptables {table}{}   # if the rule is not intended",
            r.rule.text.replacen("-A ", "-D ", 1)
        )],
        evidence: vec![
            format!("{} {} {}", who_asks(a), a.addr, a.how),
            format!(
                "filter FORWARD: a query {}:any → {}:53 from {bridge} meets that rule first",
                a.from, a.addr
            ),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::{
            Address,
            container::tests_support::container,
            topology::tests::{network, topology},
        },
        netfilter::parse_iptables_save,
    };

    /// app on app-net; the uplink 10.200.0.2/16 and a network `vpc` on 10.200.1.0/24.
    fn world() -> Topology {
        let mut t = topology(
            vec![container("aaaa1111", "app", &[("app-net", "172.18.0.2")])],
            vec![
                network("app-net", "aaaabbbbcccc", "172.18.0.0/24"),
                network("vpc", "ddddeeeeffff", "10.200.1.0/24"),
            ],
        );
        t.host.addresses.push(Address { ifindex: 2, ip: "10.200.0.2".parse().unwrap(), prefix: 16 });
        t
    }

    fn asked(addr: &str) -> Asked {
        Asked {
            network: "app-net".into(),
            from: "172.18.0.2".parse().unwrap(),
            addr: addr.parse().unwrap(),
            containers: vec!["app".into()],
            how: "through Docker's embedded DNS".into(),
        }
    }

    #[test]
    fn a_nameserver_inside_a_docker_subnet_is_a_subnet_conflict() {
        let f = inside_a_subnet(&world(), &asked("10.200.1.53")).unwrap();
        assert_eq!((f.cause, f.network.as_deref()), (Cause::SubnetConflict, Some("vpc")));
        assert!(f.summary.contains("10.200.1.53") && f.summary.contains("app-net"), "{}", f.summary);
        assert!(f.fix[0].contains("docker network rm vpc"), "{:?}", f.fix);
        // Outside Docker's subnets, or held by the gateway: no conflict.
        assert!(inside_a_subnet(&world(), &asked("10.200.0.53")).is_none());
        assert!(inside_a_subnet(&world(), &asked("10.200.1.1")).is_none());
    }

    #[test]
    fn a_forward_rule_on_udp_53_drops_a_networks_lookups() {
        let text = "*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n\
                    -A DOCKER-USER -p udp -m udp --dport 53 -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n";
        let rs = Ruleset { tables: parse_iptables_save(text).unwrap(), ..Default::default() };
        let f = dropped(&world(), &rs, &asked("10.201.0.7")).unwrap();
        assert_eq!(
            (f.cause, f.network.as_deref(), f.container.as_deref()),
            (Cause::FirewallDrop, Some("app-net"), Some("app"))
        );
        assert!(f.summary.contains("-A DOCKER-USER -p udp -m udp --dport 53 -j DROP"), "{}", f.summary);
        assert_eq!(
            f.fix[0],
            "iptables -D DOCKER-USER -p udp -m udp --dport 53 -j DROP   # if the rule is not intended"
        );
        assert!(dropped(&world(), &Ruleset::default(), &asked("10.201.0.7")).is_none());
        // A nameserver in another Docker network is the subnet check's business.
        assert!(dropped(&world(), &rs, &asked("10.200.1.53")).is_none());
    }
}
