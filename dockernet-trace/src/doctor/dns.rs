//! Name resolution from each network, sending nothing: the nameservers its running containers
//! ask (their own resolv.conf, read through their root; behind Docker's embedded DNS, the
//! upstreams it queries from the container's namespace) and whether those queries can leave:
//! a nameserver inside a Docker network's subnet is routed into that bridge instead of out
//! (the VPC story of seed 004), and a rule that drops udp/53 on the way out (evaluated hook by
//! hook by the ruleset evaluator) drops every lookup.
use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
};

use super::subnets;
use crate::{
    cause::{Cause, Finding},
    dns::{DNS_PORT, EMBEDDED_DNS, ResolverView, SourceKind, UpstreamNetns},
    flow::IpFamily,
    model::{NetworkMode, Topology},
    netfilter::{
        Ruleset,
        eval::{Decision, Evaluation, Evaluator, Hook, L4, Outcome, Packet},
        fix::{Traffic, fix},
    },
};

/// The client port of the queries evaluated (any: rules on udp/53 do not look at it).
const CLIENT_PORT: u16 = 40000;

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
    // The DNS checks are about IPv4 nameservers.
    let addr = IpAddr::V4(a.addr);
    let n = t.network_containing(addr).filter(|n| n.bridge.is_some())?;
    let gateway = n.subnets.iter().any(|s| s.gateway == Some(addr));
    if gateway || t.container_by_ip(addr).is_some() || t.host.owner_of(addr).is_some() {
        return None;
    }
    let subnet = n.subnet_of(addr).map(|s| s.subnet.to_string()).unwrap_or_default();
    let bridge = n.bridge.clone().unwrap_or_default();
    let mut fix = vec![subnets::move_network(n, subnets::free_subnet(t, IpFamily::V4))];
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
        family: Some(IpFamily::V4),
    })
}

/// A rule drops the queries on their way out of the host (prerouting, forward, postrouting).
fn dropped(t: &Topology, rs: &Ruleset, a: &Asked) -> Option<Finding> {
    // The DNS checks are about IPv4 nameservers.
    let addr = IpAddr::V4(a.addr);
    let net = t.network(&a.network)?;
    let bridge = net.bridge.as_deref()?;
    // Queries to the network's own subnet, the host, or another Docker network take another path.
    if net.subnet_of(addr).is_some()
        || t.host.owner_of(addr).is_some()
        || t.network_containing(addr).is_some()
    {
        return None;
    }
    let route = t.host.routes_covering(addr).into_iter().find(|r| !r.linkdown);
    let out = route.and_then(|r| r.oif).and_then(|i| t.link_by_index(i)).map(|l| l.name.clone());
    let mut p = Packet::udp(IpAddr::V4(a.from), CLIENT_PORT, addr, DNS_PORT)
        .iif(bridge)
        .to_local(false)
        .from_local(false);
    if let Some(o) = &out {
        p = p.oif(o);
    }
    let (e, o) = first_stop(rs, &p)?;
    let rule = o.by.as_ref()?;
    // A rule that stops the network's other traffic out too (a FORWARD policy without
    // Docker's accepts, a foreign table's drop) is the other checks' finding, not DNS's.
    let mut other = p.clone();
    (other.proto, other.dport) = (L4::Tcp, Some(443));
    if first_stop(rs, &other).is_some_and(|(_, x)| x.by.as_ref().is_some_and(|r| r.same(rule))) {
        return None;
    }
    let bridges: BTreeSet<String> = t.docker.networks.iter().filter_map(|n| n.bridge.clone()).collect();
    let how = fix(rs, &e, &o, &bridges, &Traffic::exact(e.hook, &e.packet)).map(|f| f.lines());
    let table = if rule.table == "filter" { String::new() } else { format!("-t {} ", rule.table) };
    let delete =
        format!("iptables {table}{}   # if the rule is not intended", rule.text.replacen("-A ", "-D ", 1));
    Some(Finding {
        cause: Cause::FirewallDrop,
        network: Some(a.network.clone()),
        iface: Some(bridge.to_string()),
        container: (a.containers.len() == 1).then(|| a.containers[0].clone()),
        summary: format!(
            "the firewall rule `{}` (table {}, chain {}) drops the DNS queries (udp/53) of network {}'s {} to their nameserver {}: no name resolves there",
            rule.text,
            rule.table,
            rule.chain,
            a.network,
            who(a),
            a.addr
        ),
        fix: how.unwrap_or_else(|| vec![delete]),
        evidence: vec![
            format!("{} {} {}", who_asks(a), a.addr, a.how),
            format!(
                "a query {}:{CLIENT_PORT} → {}:53 from {bridge} stops at {}",
                a.from,
                a.addr,
                e.hook.name()
            ),
        ],
        family: Some(IpFamily::V4),
    })
}

/// The first hook that certainly stops `p` on its way through the host, and what stopped it;
/// None when it passes, or may only be stopped.
fn first_stop(rs: &Ruleset, p: &Packet) -> Option<(Evaluation, Outcome)> {
    let ev = Evaluator::new(rs);
    for hook in [Hook::Prerouting, Hook::Forward, Hook::Postrouting] {
        let e = ev.evaluate(hook, p);
        if e.certainly_stops() {
            let o = match e.decision() {
                Decision::Exact(o) => o.clone(),
                Decision::Candidates(c) => c.first().copied()?.clone(),
                Decision::None => return None,
            };
            return Some((e, o));
        }
        if e.outcomes.iter().any(|o| o.fate.may_stop()) {
            return None;
        }
    }
    None
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

    fn docker_user(rules: &[&str]) -> Ruleset {
        let mut text =
            String::from("*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n");
        for r in rules {
            text.push_str(&format!("-A DOCKER-USER {r}\n"));
        }
        text.push_str("-A DOCKER-USER -j RETURN\nCOMMIT\n");
        Ruleset { tables: parse_iptables_save(&text).unwrap(), ..Default::default() }
    }

    #[test]
    fn a_forward_rule_on_udp_53_drops_a_networks_lookups() {
        let rs = docker_user(&["-p udp -m udp --dport 53 -j DROP"]);
        let f = dropped(&world(), &rs, &asked("10.201.0.7")).unwrap();
        assert_eq!(
            (f.cause, f.network.as_deref(), f.container.as_deref()),
            (Cause::FirewallDrop, Some("app-net"), Some("app"))
        );
        assert!(f.summary.contains("-A DOCKER-USER -p udp -m udp --dport 53 -j DROP"), "{}", f.summary);
        assert_eq!(f.fix[0], "iptables -D DOCKER-USER -p udp -m udp --dport 53 -j DROP");
        assert!(dropped(&world(), &Ruleset::default(), &asked("10.201.0.7")).is_none());
        // A nameserver in another Docker network is the subnet check's business.
        assert!(dropped(&world(), &rs, &asked("10.200.1.53")).is_none());
    }

    #[test]
    fn only_a_certain_drop_of_the_lookups_is_a_finding() {
        for rules in [
            &["-p tcp -m tcp --dport 53 -j DROP"][..],
            &["-d 10.9.9.9/32 -j DROP"],
            &["-s 172.18.0.0/24 -j ACCEPT", "-p udp -j DROP"],
            // Everything to the nameserver: the network's traffic out, not DNS alone.
            &["-d 10.201.0.7/32 -j DROP"],
            // A rule the evaluator cannot judge for this packet (its payload): it may accept first.
            &["-m string --string x --algo bm --to 65535 -j ACCEPT", "-p udp -j DROP"],
        ] {
            assert!(dropped(&world(), &docker_user(rules), &asked("10.201.0.7")).is_none(), "{rules:?}");
        }
    }
}
