//! The foreign-table check on recorded listings: Docker 29's nftables, ufw, firewalld.
use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::{
    model::{
        Address, Link, PublishedPort, Route, RouteKind,
        container::tests_support::container,
        prefix,
        topology::tests::{dual_stack, network, topology},
    },
    netfilter::{parse_iptables_save, parse_nft_json},
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

#[test]
fn an_ipv6_network_is_said_to_be_unchecked_for_ipv6() {
    let mut dual = dual_stack("dual", "d0d0d0d0d0d0d0", "192.0.2.0/24", "fd00:2::/64");
    dual.bridge = Some("br-dual".into());
    let mut v4 = network("bridge1", "b1b1b1b1b1b1b1", "198.51.100.0/24");
    v4.bridge = Some("bridge1".into());
    let t = host(topology(vec![], vec![dual, v4]));
    let rs = Ruleset { tables: parse_nft_json(DOCKER29).unwrap(), notes: vec![] };
    let (_, notes) = run(&t, &rs, &[]);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(notes[0].starts_with("network dual: its IPv6 traffic is not checked"), "{notes:#?}");
}
