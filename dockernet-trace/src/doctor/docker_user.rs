//! DROP/REJECT rules in DOCKER-USER: the user's own, but they cut containers off. Each is
//! tied to what it hits: the bridge it names, else the container or network whose address
//! it matches (`-d 172.18.0.2 -p tcp --dport 3306 -j DROP` is about that container).
use std::net::IpAddr;

use crate::{
    cause::{Cause, Finding},
    flow::IpFamily,
    model::Topology,
    netfilter::{Family, IpNet, Matches, NetExt, RuleRef, Ruleset},
};

pub fn drops(rs: &Ruleset, t: &Topology, out: &mut Vec<Finding>) {
    for r in rs.rules().filter(|r| r.chain.name == "DOCKER-USER" && r.rule.target.drops()) {
        let s = subject(&r.rule.matches, t);
        out.push(finding(&r, s));
    }
}

/// The network, interface and container a rule is about (each None when it does not say).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub network: Option<String>,
    pub iface: Option<String>,
    pub container: Option<String>,
}

pub fn subject(m: &Matches, t: &Topology) -> Subject {
    // A negated interface (`! -o docker0`) is about everything else: it names nothing.
    let iface = [&m.out_iface, &m.in_iface].into_iter().flatten().find_map(|i| i.exact()).map(str::to_string);
    let mut s = Subject {
        network: iface.as_deref().and_then(|b| t.network_by_bridge(b)).map(|n| n.name.clone()),
        iface,
        container: None,
    };
    for net in [&m.dst, &m.src].into_iter().flatten().filter_map(|a| a.positive()) {
        let Some((network, container)) = owner(net, t) else { continue };
        // An address of another network than the named bridge's says nothing more.
        if s.network.as_ref().is_some_and(|n| *n != network) {
            continue;
        }
        s.iface = s.iface.or_else(|| t.network(&network).and_then(|n| n.bridge.clone()));
        s.network = Some(network);
        s.container = s.container.or(container);
        break;
    }
    s
}

/// The Docker network an address match lies in, and the container when it is one's /32.
fn owner(net: &IpNet, t: &Topology) -> Option<(String, Option<String>)> {
    let ip: IpAddr = net.addr();
    if net.is_host()
        && let Some((c, e)) = t.container_by_ip(ip)
    {
        return Some((e.network.clone(), Some(c.name.clone())));
    }
    let n = t.network_containing(ip)?;
    // The match must lie within the subnet, not merely start in it.
    let inside = n.subnet_of(ip).is_some_and(|s| net.prefix_len() >= s.subnet.prefix_len());
    inside.then(|| (n.name.clone(), None))
}

fn finding(r: &RuleRef<'_>, s: Subject) -> Finding {
    let delete = r.rule.text.replacen("-A ", "-D ", 1);
    let table = if r.table.name == "filter" { String::new() } else { format!("-t {} ", r.table.name) };
    let tool = if r.table.family == Family::Ip6 { "ip6tables" } else { "iptables" };
    let whom = match (&s.container, &s.network) {
        (Some(c), _) => format!("container {c}"),
        (None, Some(n)) => format!("network {n}"),
        (None, None) => "container traffic".into(),
    };
    Finding {
        cause: Cause::FirewallDrop,
        network: s.network,
        iface: s.iface,
        container: s.container,
        summary: format!("a DOCKER-USER rule drops {whom}: {}", r.rule.text),
        fix: vec![format!("{tool} {table}{delete}   # if the rule is not intended")],
        evidence: vec![format!("{} packets matched so far", r.rule.counter.unwrap_or_default().packets)],
        family: match r.table.family {
            Family::Ip => Some(IpFamily::V4),
            Family::Ip6 => Some(IpFamily::V6),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::{
            container::tests_support::container,
            topology::tests::{network, topology},
        },
        netfilter::{Ruleset, parse_iptables_save},
    };

    fn world() -> Topology {
        topology(
            vec![container("aaaa1111", "mysql", &[("heima-net", "172.18.0.2")])],
            vec![
                network("heima-net", "73a00eba170c99", "172.18.0.0/16"),
                network("bridge", "f0123ae76e72", "172.17.0.0/16"),
            ],
        )
    }

    fn rules(user: &[&str]) -> Ruleset {
        let mut text =
            String::from("*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n");
        for r in user {
            text.push_str(&format!("-A DOCKER-USER {r}\n"));
        }
        text.push_str("-A DOCKER-USER -j RETURN\nCOMMIT\n");
        Ruleset { tables: parse_iptables_save(&text).unwrap(), ..Default::default() }
    }

    fn found(user: &str) -> Subject {
        let rs = rules(&[user]);
        let r = rs.rules().find(|r| r.rule.target.drops()).unwrap();
        subject(&r.rule.matches, &world())
    }

    fn s(network: Option<&str>, iface: Option<&str>, container: Option<&str>) -> Subject {
        let o = |v: Option<&str>| v.map(str::to_string);
        Subject { network: o(network), iface: o(iface), container: o(container) }
    }

    #[test]
    fn by_bridge() {
        assert_eq!(found("-o br-73a00eba170c -j DROP"), s(Some("heima-net"), Some("br-73a00eba170c"), None));
        assert_eq!(found("-i docker0 -j REJECT"), s(Some("bridge"), Some("docker0"), None));
        assert_eq!(found("! -o docker0 -j DROP"), s(None, None, None), "a negated bridge names none");
        assert_eq!(found("-o eth9 -j DROP"), s(None, Some("eth9"), None));
    }

    #[test]
    fn by_address() {
        let mysql = s(Some("heima-net"), Some("br-73a00eba170c"), Some("mysql"));
        assert_eq!(found("-d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j DROP"), mysql);
        assert_eq!(found("-s 172.18.0.2/32 -j DROP"), mysql);
        assert_eq!(found("-s 172.17.0.0/16 -j DROP"), s(Some("bridge"), Some("docker0"), None));
        assert_eq!(found("-d 172.18.9.9/32 -j DROP"), s(Some("heima-net"), Some("br-73a00eba170c"), None));
        assert_eq!(found("-d 172.16.0.0/12 -j DROP"), s(None, None, None), "wider than any one network");
        assert_eq!(found("! -d 172.18.0.2/32 -j DROP"), s(None, None, None));
        assert_eq!(found("-o br-73a00eba170c -d 172.18.0.2/32 -j DROP"), mysql);
        assert_eq!(found("-o docker0 -d 172.18.0.2/32 -j DROP"), s(Some("bridge"), Some("docker0"), None));
    }

    #[test]
    fn only_drops_make_findings() {
        let rs = rules(&["-d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j ACCEPT", "-o docker0 -j DROP"]);
        let mut out = vec![];
        drops(&rs, &world(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].cause, Cause::FirewallDrop);
        assert_eq!(
            out[0].fix[0],
            "iptables -D DOCKER-USER -o docker0 -j DROP   # if the rule is not intended"
        );
        assert!(out[0].summary.contains("network bridge"), "{}", out[0].summary);
    }

    #[test]
    fn ip6tables_drops_name_the_ipv6_container_and_ip6tables() {
        let mysql = crate::model::container::tests_support6::with_ipv6(
            container("aaaa1111", "mysql", &[("heima-net", "172.18.0.2")]),
            "heima-net",
            "fd00:18::2",
        );
        let t = topology(
            vec![mysql],
            vec![crate::model::topology::tests::dual_stack(
                "heima-net",
                "73a00eba170c99",
                "172.18.0.0/16",
                "fd00:18::/64",
            )],
        );
        let text = "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n\
                    -A DOCKER-USER -d fd00:18::2/128 -p tcp -m tcp --dport 3306 -j DROP\nCOMMIT\n";
        let rs =
            Ruleset { tables: crate::netfilter::parse_ip6tables_save(text).unwrap(), ..Default::default() };
        let mut out = vec![];
        drops(&rs, &t, &mut out);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(
            (out[0].container.as_deref(), out[0].network.as_deref()),
            (Some("mysql"), Some("heima-net"))
        );
        assert!(out[0].fix[0].starts_with("ip6tables -D DOCKER-USER -d fd00:18::2/128"), "{}", out[0].fix[0]);
    }
}
