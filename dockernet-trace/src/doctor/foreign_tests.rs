//! The foreign-table check on recorded listings: Docker 29's nftables, ufw, firewalld.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::{
    flow::IpFamily,
    model::{
        Address, Ipv6Sysctls, Link, PublishedPort, Route, RouteKind,
        container::{tests_support::container, tests_support6::with_ipv6},
        prefix,
        topology::tests::{dual_stack, network, topology},
    },
    netfilter::{IpNet, parse_ip6tables_save, parse_iptables_save, parse_nft_json},
};

const DOCKER29: &str = include_str!("../netfilter/fixtures/docker29-bridge1.nft.json");
const UFW: &str = include_str!("../netfilter/fixtures/ufw-docker20.iptables");
const TWO_NETWORKS: &str = include_str!("../netfilter/fixtures/docker20-two-networks.iptables");
const FIREWALLD: &str = include_str!("../netfilter/fixtures/firewalld-docker.nft.json");

fn link(index: u32, name: &str) -> Link {
    Link {
        index,
        name: name.into(),
        kind: None,
        admin_up: true,
        carrier: true,
        oper_state: "up".into(),
        mtu: None,
        mac: None,
        master: None,
        port_state: None,
        stp_enabled: None,
        peer_ifindex: None,
        link_netnsid: None,
    }
}

/// A host with eth0 (10.0.0.2/24, default route via 10.0.0.1) and br_netfilter on.
fn host(mut t: Topology) -> Topology {
    t.host.links.push(link(2, "eth0"));
    t.host.addresses.push(Address { ifindex: 2, ip: Ipv4Addr::new(10, 0, 0, 2).into(), prefix: 24 });
    t.host.routes.push(Route {
        table: 254,
        dst: prefix::parse("0.0.0.0/0").unwrap(),
        gateway: Some(Ipv4Addr::new(10, 0, 0, 1).into()),
        oif: Some(2),
        prefsrc: None,
        metric: 0,
        scope: "global".into(),
        protocol: "static".into(),
        kind: RouteKind::Unicast,
        linkdown: false,
    });
    t.host.sysctls.bridge_nf_call_iptables = Some(true);
    t
}

fn published(host_port: u16, container_port: u16) -> PublishedPort {
    PublishedPort {
        container_port,
        proto: "tcp".into(),
        host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        host_port,
    }
}

fn run(t: &Topology, rs: &Ruleset, services: &[u16]) -> (Vec<Finding>, Vec<String>) {
    let services: Vec<(IpAddr, u16)> =
        services.iter().map(|p| (IpAddr::V4(Ipv4Addr::UNSPECIFIED), *p)).collect();
    let (mut findings, mut notes) = (vec![], vec![]);
    drops(t, rs, &services, &mut findings, &mut notes);
    (findings, notes)
}

#[test]
fn docker29_alone_is_healthy() {
    let mut bridge1 = network("bridge1", "b1b1b1b1b1b1b1", "192.0.2.0/24");
    bridge1.bridge = Some("bridge1".into());
    let mut c1 = container("cccc1111", "c1", &[("bridge1", "192.0.2.2")]);
    c1.ports.push(published(8080, 80));
    let t = host(topology(vec![c1], vec![bridge1, network("bridge", "f0123ae76e72", "172.17.0.0/16")]));
    let rs = Ruleset { tables: parse_nft_json(DOCKER29).unwrap(), notes: vec![] };
    let (findings, notes) = run(&t, &rs, &[22]);
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(notes.is_empty(), "{notes:#?}");
    // Every flow was judged: out, replies, the published port, within, to the host.
    assert_eq!(flows(&t, &[(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 22)]).len(), 2 * 4 + 1);
}

#[test]
fn ufw_blocks_a_host_service_but_not_ssh() {
    let mut web = container("aaaa1111", "web", &[("bridge", "172.17.0.2")]);
    web.ports.push(published(8080, 80));
    let t = host(topology(vec![web], vec![network("bridge", "f0123ae76e72", "172.17.0.0/16")]));
    let rs = Ruleset { tables: parse_iptables_save(UFW).unwrap(), notes: vec![] };
    let (findings, notes) = run(&t, &rs, &[22, 5432]);
    assert!(notes.is_empty(), "{notes:#?}");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(
        (f.network.as_deref(), f.iface.as_deref(), f.container.as_deref()),
        (Some("bridge"), Some("docker0"), None)
    );
    assert!(
        f.summary.starts_with("ufw (filter INPUT) drops bridge's containers reaching the host's tcp/5432"),
        "{}",
        f.summary
    );
    assert_eq!(f.fix[0], "ufw insert 1 allow in on docker0 to any port 5432 proto tcp");
}

#[test]
fn firewalld_rejects_only_the_bridge_it_lost() {
    let nets = vec![
        network("other-net", "4ebb9b640f67aa", "172.18.0.0/16"),
        network("heima-net", "6bd8ac3e1bc2aa", "172.19.0.0/16"),
        network("bridge", "f0123ae76e72", "172.17.0.0/16"),
    ];
    let mut web = container("aaaa1111", "web", &[("heima-net", "172.19.0.2")]);
    web.ports.push(published(8080, 80));
    let t = host(topology(vec![web, container("bbbb2222", "loner", &[("other-net", "172.18.0.2")])], nets));
    let mut rs = Ruleset { tables: parse_iptables_save(TWO_NETWORKS).unwrap(), notes: vec![] };
    rs.tables.extend(parse_nft_json(FIREWALLD).unwrap());
    let (findings, notes) = run(&t, &rs, &[]);
    assert!(notes.is_empty(), "{notes:#?}");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.network.as_deref(), Some("other-net"));
    assert!(f.summary.contains("rejects (ICMP admin-prohibited) connections of other-net's containers out of the host, and other-net's containers talking to each other"), "{}", f.summary);
    assert_eq!(
        f.fix[..2],
        ["firewall-cmd --permanent --zone=docker --add-interface=br-4ebb9b640f67", "firewall-cmd --reload"]
    );
}

#[test]
fn rules_that_could_not_be_read_are_a_note() {
    let t = host(topology(vec![], vec![network("bridge", "f0123ae76e72", "172.17.0.0/16")]));
    let mut rs = Ruleset { tables: parse_iptables_save(TWO_NETWORKS).unwrap(), notes: vec![] };
    rs.notes.push(crate::netfilter::Note::gap("the nft listing was cut short after 7 objects (EOF)"));
    let (findings, notes) = run(&t, &rs, &[]);
    assert!(findings.is_empty());
    assert_eq!(
        notes,
        ["the firewall checks may miss rules: the nft listing was cut short after 7 objects (EOF)"]
    );
}

/// `host`, with an IPv6 uplink too (2001:db8:1::2/64 on eth0, default route via
/// 2001:db8:1::1), br_netfilter on for ip6tables, and each network's bridge with its subnets'
/// routes (what a reverse-path filter looks at).
fn dual_host(t: Topology) -> Topology {
    let mut t = host(t);
    let bridges: Vec<(String, Vec<IpNet>)> = t
        .docker
        .networks
        .iter()
        .filter_map(|n| Some((n.bridge.clone()?, n.subnets.iter().map(|s| s.subnet).collect())))
        .collect();
    for (i, (bridge, subnets)) in bridges.into_iter().enumerate() {
        let index = 10 + i as u32;
        t.host.links.push(link(index, &bridge));
        for dst in subnets {
            let connected = Route {
                dst,
                gateway: None,
                oif: Some(index),
                scope: "link".into(),
                ..t.host.routes[0].clone()
            };
            t.host.routes.push(connected);
        }
    }
    t.host.addresses.push(Address { ifindex: 2, ip: "fe80::2".parse().unwrap(), prefix: 64 });
    t.host.addresses.push(Address { ifindex: 2, ip: "2001:db8:1::2".parse().unwrap(), prefix: 64 });
    let mut default6 = t.host.routes[0].clone();
    assert!(default6.dst.prefix_len() == 0, "the IPv4 default route comes first");
    (default6.dst, default6.gateway) =
        (prefix::parse("::/0").unwrap(), Some("2001:db8:1::1".parse().unwrap()));
    t.host.routes.push(default6);
    t.host.sysctls.ipv6 =
        Some(Ipv6Sysctls { forwarding: true, bridge_nf_call_ip6tables: Some(true), ..Default::default() });
    t
}

/// Docker 29's bridge1 (the nftables fixture) with its IPv6 subnet, c1 in both families
/// publishing 8080 → 80 on 0.0.0.0 and ::.
fn docker29_dual_stack() -> Topology {
    let mut bridge1 = dual_stack("bridge1", "b1b1b1b1b1b1b1", "192.0.2.0/24", "fd49:efd7:54aa::/64");
    bridge1.bridge = Some("bridge1".into());
    let mut c1 =
        with_ipv6(container("cccc1111", "c1", &[("bridge1", "192.0.2.2")]), "bridge1", "fd49:efd7:54aa::2");
    c1.ports.push(published(8080, 80));
    c1.ports.push(PublishedPort { host_ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED), ..published(8080, 80) });
    dual_host(topology(vec![c1], vec![bridge1]))
}

#[test]
fn docker29_dual_stack_is_healthy_in_both_families() {
    let t = docker29_dual_stack();
    let rs = Ruleset { tables: parse_nft_json(DOCKER29).unwrap(), notes: vec![] };
    let services = [(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 22)];
    let (mut findings, mut notes) = (vec![], vec![]);
    drops(&t, &rs, &services, &mut findings, &mut notes);
    assert!(findings.is_empty(), "{findings:#?}");
    assert!(notes.is_empty(), "{notes:#?}");
    // Out, replies, the published port, within, to the host's tcp/22: in each family.
    let all = flows(&t, &services);
    let v6: Vec<&Flow> = all.iter().filter(|f| f.family == IpFamily::V6).collect();
    assert_eq!((all.len(), v6.len()), (10, 5), "{all:#?}");
    let out6 = &v6[0].steps[0].1;
    assert_eq!(
        (out6.src, out6.dst),
        ("fd49:efd7:54aa::2".parse().unwrap(), "2001:db8:1::1".parse().unwrap())
    );
    // The published port is reached at the uplink's global address, not its fe80::.
    let published6 = v6.iter().find(|f| matches!(f.kind, Kind::Published { .. })).unwrap();
    assert_eq!(published6.steps[0].1.dst, "2001:db8:1::2".parse::<IpAddr>().unwrap());
    assert_eq!(published6.dnat_to, Some(("fd49:efd7:54aa::2".parse().unwrap(), 80)));
}

#[test]
fn an_ipv4_only_service_is_not_a_flow_of_ipv6() {
    let t = docker29_dual_stack();
    let services = [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5432), (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 22)];
    let to_host = |family| -> Vec<u16> {
        flows(&t, &services)
            .into_iter()
            .filter(|f| f.family == family)
            .filter_map(|f| match f.kind {
                Kind::ToHost { port } => Some(port),
                _ => None,
            })
            .collect()
    };
    // A socket on :: takes IPv4 too; one on 0.0.0.0 no IPv6.
    assert_eq!(to_host(IpFamily::V4), [22, 5432]);
    assert_eq!(to_host(IpFamily::V6), [22]);
}

/// Docker 20.10 with an IPv6 network and ip6tables left to the admin, whose FORWARD policy
/// is DROP: the containers' IPv6 traffic through the host dies there; IPv4 is Docker's.
#[test]
fn an_ip6tables_forward_policy_of_drop_stops_the_ipv6_flows() {
    let mut dual = dual_stack("dual", "d0d0d0d0d0d0d0", "172.17.0.0/16", "fd00:2::/64");
    dual.name = "bridge".into();
    dual.bridge = Some("docker0".into());
    let c = with_ipv6(container("aaaa1111", "web", &[("bridge", "172.17.0.2")]), "bridge", "fd00:2::2");
    let t = dual_host(topology(vec![c], vec![dual]));
    let mut tables = parse_iptables_save(TWO_NETWORKS).unwrap();
    tables.extend(
        parse_ip6tables_save(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
        )
        .unwrap(),
    );
    let rs = Ruleset { tables, notes: vec![] };
    let (findings, notes) = run(&t, &rs, &[]);
    assert!(notes.is_empty(), "{notes:#?}");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.network.as_deref(), f.family), (Some("bridge"), Some(IpFamily::V6)));
    assert!(
        f.summary.contains("connections of bridge's containers out of the host over IPv6"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("bridge's containers talking to each other over IPv6"), "{}", f.summary);
    assert!(f.fix.iter().any(|l| l.starts_with("ip6tables")), "{:#?}", f.fix);
    // Docker does not write ip6tables rules here: restarting it would not help.
    assert!(!f.fix.iter().any(|l| l.contains("restart docker")), "{:#?}", f.fix);
}

/// Docker 28's ip6tables layout with FORWARD's jumps to its chains gone under its policy of
/// DROP: the IPv6 flows stop at the policy, and restarting Docker writes its ACCEPTs again.
#[test]
fn docker28_ip6tables_without_its_forward_jumps() {
    let mut bridge1 = dual_stack("bridge1", "b1b1b1b1b1b1b1", "192.0.2.0/24", "fd00:db8:1::/64");
    bridge1.bridge = Some("bridge1".into());
    let c = with_ipv6(container("cccc1111", "c1", &[("bridge1", "192.0.2.2")]), "bridge1", "fd00:db8:1::2");
    let t = dual_host(topology(vec![c], vec![bridge1]));
    let save = include_str!("../netfilter/fixtures/docker28-ipv6.ip6tables")
        .replace(":FORWARD ACCEPT", ":FORWARD DROP")
        .replace("[0:0] -A FORWARD -j DOCKER-USER\n", "")
        .replace("[0:0] -A FORWARD -j DOCKER-FORWARD\n", "");
    let rs = Ruleset { tables: parse_ip6tables_save(&save).unwrap(), notes: vec![] };
    let (findings, _) = run(&t, &rs, &[]);
    let f: Vec<&Finding> = findings.iter().filter(|f| f.family == Some(IpFamily::V6)).collect();
    assert_eq!(f.len(), 1, "{findings:#?}");
    assert!(f[0].summary.contains("out of the host over IPv6"), "{}", f[0].summary);
    assert!(f[0].fix.iter().any(|l| l.starts_with("or: systemctl restart docker")), "{:#?}", f[0].fix);
}

/// firewalld's `inet` table stops both families of a bridge it does not know: one finding,
/// for both.
#[test]
fn an_inet_rule_that_stops_both_families_is_one_finding_for_both() {
    let mut other = dual_stack("other-net", "4ebb9b640f67aa", "172.18.0.0/16", "fd00:18::/64");
    other.bridge = Some("br-4ebb9b640f67".into());
    let nets = vec![other, network("bridge", "f0123ae76e72", "172.17.0.0/16")];
    let loner =
        with_ipv6(container("bbbb2222", "loner", &[("other-net", "172.18.0.2")]), "other-net", "fd00:18::2");
    let t = dual_host(topology(vec![loner], nets));
    let mut rs = Ruleset { tables: parse_iptables_save(TWO_NETWORKS).unwrap(), notes: vec![] };
    rs.tables.extend(parse_nft_json(FIREWALLD).unwrap());
    let (findings, notes) = run(&t, &rs, &[]);
    assert!(notes.is_empty(), "{notes:#?}");
    let f: Vec<&Finding> = findings.iter().filter(|f| f.network.as_deref() == Some("other-net")).collect();
    assert_eq!(f.len(), 1, "{findings:#?}");
    assert_eq!(f[0].family, None, "{:#?}", f[0]);
    assert!(
        f[0].summary.contains("connections of other-net's containers out of the host over IPv4 and IPv6"),
        "{}",
        f[0].summary
    );
}
