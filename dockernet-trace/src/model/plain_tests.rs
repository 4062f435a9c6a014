use super::*;
use crate::model::{Address, Route, RouteKind, links::tests::link};

fn addr(ifindex: u32, cidr: &str) -> Address {
    let (ip, prefix) = cidr.split_once('/').unwrap();
    Address { ifindex, ip: ip.parse().unwrap(), prefix: prefix.parse().unwrap() }
}

fn default_via(oif: u32, gw: &str) -> Route {
    let gateway: std::net::IpAddr = gw.parse().unwrap();
    Route {
        table: MAIN_TABLE,
        dst: crate::model::prefix::everything(crate::flow::IpFamily::of(&gateway)),
        gateway: Some(gateway),
        oif: Some(oif),
        prefsrc: None,
        metric: 0,
        scope: "global".into(),
        protocol: "boot".into(),
        kind: RouteKind::Unicast,
        linkdown: false,
    }
}

/// A namespace with eth0 (index 2) peered with host index `peer`.
fn member(name: &str, inode: u64, peer: u32, cidr: &str, gw: &str) -> Member {
    let mut eth0 = link(2, "eth0", Some("veth"));
    eth0.peer_ifindex = Some(peer);
    let net = HostNet {
        links: vec![link(1, "lo", None), eth0],
        addresses: vec![addr(2, cidr)],
        routes: vec![default_via(2, gw)],
        ..Default::default()
    };
    Member { name: name.into(), path: format!("/run/netns/{name}").into(), inode, net }
}

/// br-test (index 3) and two veths: vethc1 (4) in it, vethc2 (5) out of it. `bridge_addr`:
/// the bridge's own address, if it still has one.
fn host(bridge_addr: Option<&str>) -> HostNet {
    let bridge = link(3, "br-test", Some("bridge"));
    let mut v1 = link(4, "vethc1", Some("veth"));
    v1.peer_ifindex = Some(2);
    v1.master = Some(3);
    let mut v2 = link(5, "vethc2", Some("veth"));
    v2.peer_ifindex = Some(2);
    let empty = link(6, "br-empty", Some("bridge"));
    HostNet {
        links: vec![link(1, "lo", None), bridge, v1, v2, empty],
        addresses: bridge_addr.map(|a| addr(3, a)).into_iter().collect(),
        ..Default::default()
    }
}

fn members() -> Vec<Member> {
    vec![
        member("c1", 11, 4, "172.30.0.2/24", "172.30.0.1"),
        member("c2", 12, 5, "172.30.0.3/24", "172.30.0.1"),
    ]
}

#[test]
fn the_network_comes_from_what_its_members_use_even_without_the_bridge_address() {
    let s = infer(&host(None), &members());
    assert_eq!(s.networks.len(), 1, "br-empty has no member and no address: {:?}", s.networks);
    let n = &s.networks[0];
    assert_eq!((n.name.as_str(), n.bridge.as_deref()), ("br-test", Some("br-test")));
    assert_eq!(n.subnets.len(), 1);
    assert_eq!(n.subnets[0].subnet.to_string(), "172.30.0.0/24");
    assert_eq!(n.subnets[0].gateway, Some("172.30.0.1".parse().unwrap()));
    assert_eq!(n.subnets[0].gateway_source, GatewaySource::Endpoint);
    assert!(!n.masquerade, "nothing says it masquerades");
}

#[test]
fn a_detached_member_belongs_to_the_network_of_its_address() {
    let s = infer(&host(Some("172.30.0.1/24")), &members());
    let names: Vec<&str> = s.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["c1", "c2"]);
    let c2 = &s.containers[1];
    assert_eq!(c2.id, "netns:c2");
    assert_eq!(c2.netns_inode, Some(12));
    let e = &c2.endpoints[0];
    assert_eq!(e.network, "br-test");
    let l = e.link.as_ref().unwrap();
    assert_eq!((l.host_veth.as_deref(), l.host_veth_ifindex), (Some("vethc2"), Some(5)));
}

#[test]
fn a_veth_whose_peer_does_not_point_back_is_not_a_member() {
    let mut h = host(Some("172.30.0.1/24"));
    h.links[2].peer_ifindex = Some(9);
    let s = infer(&h, &members()[..1]);
    assert!(s.containers.is_empty(), "{:?}", s.containers);
}

#[test]
fn dual_stack_members_make_dual_stack_networks() {
    let mut ms = members();
    for (m, (ip, gw)) in ms.iter_mut().zip([("fd00:30::2/64", "fd00:30::1"), ("fd00:30::3/64", "fd00:30::1")])
    {
        m.net.addresses.push(addr(2, "fe80::42/64"));
        m.net.addresses.push(addr(2, ip));
        m.net.routes.push(default_via(2, gw));
    }
    let s = infer(&host(Some("172.30.0.1/24")), &ms);
    let n = &s.networks[0];
    let subnets: Vec<String> = n.subnets.iter().map(|s| s.subnet.to_string()).collect();
    assert_eq!(subnets, ["172.30.0.0/24", "fd00:30::/64"], "link-local addresses make no subnet");
    assert!(n.ipv6);
    assert_eq!(n.subnets[1].gateway, Some("fd00:30::1".parse().unwrap()));
    let e = &s.containers[0].endpoints[0];
    assert_eq!(
        (e.ip6, e.gateway6),
        (Some("fd00:30::2".parse().unwrap()), Some("fd00:30::1".parse().unwrap()))
    );
    assert_eq!(e.ip, Some("172.30.0.2".parse().unwrap()));
}
