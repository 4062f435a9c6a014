use netlink_packet_route::{
    AddressFamily,
    link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage},
};

use std::collections::{HashMap, HashSet};

use super::*;
use crate::watch::changes::Down;

fn link(index: u32, name: &str, master: Option<u32>, bridge: bool) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
    m.attributes.push(LinkAttribute::IfName(name.into()));
    if let Some(b) = master {
        m.attributes.push(LinkAttribute::Controller(b));
    }
    if bridge {
        m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
    }
    RouteNetlinkMessage::NewLink(m)
}

fn address(index: u32, ip: &str, prefix: u8) -> AddressMessage {
    let mut a = AddressMessage::default();
    a.header.index = index;
    a.header.prefix_len = prefix;
    a.header.family = AddressFamily::Inet;
    a.attributes.push(AddressAttribute::Local(ip.parse().unwrap()));
    a
}

/// A host with Docker's bridge br-x (network heima-net, index 5), a container's veth on it
/// (7), another host interface (9) and the uplink (2).
fn host() -> (Tracker, Interest) {
    let interest = Interest {
        bridges: HashMap::from([("br-x".into(), Some("heima-net".into()))]),
        veths: HashMap::from([("veth1".into(), "mysql".into())]),
        uplinks: HashSet::from(["eth0".into()]),
        ..Default::default()
    };
    let mut t = Tracker::default();
    for m in [
        link(2, "eth0", None, false),
        link(5, "br-x", None, true),
        link(7, "veth1", Some(5), false),
        link(9, "wg0", None, false),
    ] {
        let RouteNetlinkMessage::NewLink(l) = m else { unreachable!() };
        t.links.on_new(&l); // the dump at start
    }
    (t, interest)
}

#[test]
fn a_bridge_losing_its_address_is_named_with_its_network() {
    let (mut t, i) = host();
    let c = t.on_message(&i, &RouteNetlinkMessage::DelAddress(address(5, "172.18.0.1", 16)));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].what, What::AddressRemoved("172.18.0.1/16".parse().unwrap()));
    assert_eq!((c[0].iface.as_deref(), c[0].network.as_deref()), (Some("br-x"), Some("heima-net")));
    assert!(
        t.on_message(&i, &RouteNetlinkMessage::NewAddress(address(9, "10.9.0.1", 24))).is_empty(),
        "not Docker's"
    );
    let up = t.on_message(&i, &RouteNetlinkMessage::NewAddress(address(2, "10.0.0.5", 24)));
    assert_eq!(up[0].what, What::AddressAdded("10.0.0.5/24".parse().unwrap()));
    let again = t.on_message(&i, &RouteNetlinkMessage::NewAddress(address(2, "10.0.0.5", 24)));
    assert!(again.is_empty(), "an address already there is no news (a flags update): {again:?}");
    let mut ll = address(7, "fe80::1", 64);
    ll.header.family = AddressFamily::Inet6;
    assert!(t.on_message(&i, &RouteNetlinkMessage::NewAddress(ll)).is_empty(), "link-local is no news");
}

#[test]
fn an_address_there_at_start_is_no_news_until_it_goes_and_comes_back() {
    let (mut t, i) = host();
    t.learn_address(&address(5, "fd00:212::1", 64)); // the dump at start
    let update = RouteNetlinkMessage::NewAddress(address(5, "fd00:212::1", 64));
    assert!(t.on_message(&i, &update).is_empty(), "duplicate detection done: no news");
    let gone = t.on_message(&i, &RouteNetlinkMessage::DelAddress(address(5, "fd00:212::1", 64)));
    assert_eq!(gone[0].what, What::AddressRemoved("fd00:212::1/64".parse().unwrap()));
    let back = t.on_message(&i, &update);
    assert_eq!(back[0].what, What::AddressAdded("fd00:212::1/64".parse().unwrap()));
}

#[test]
fn a_port_leaving_names_its_container_and_network() {
    let (mut t, i) = host();
    let c = t.on_message(&i, &link(7, "veth1", None, false));
    assert_eq!(c[0].what, What::PortLeft { bridge: "br-x".into() });
    assert_eq!((c[0].container.as_deref(), c[0].network.as_deref()), (Some("mysql"), Some("heima-net")));
    let RouteNetlinkMessage::NewLink(mut down) = link(5, "br-x", None, true) else { panic!() };
    down.header.flags = LinkFlags::empty();
    let c = t.on_message(&i, &RouteNetlinkMessage::NewLink(down.clone()));
    assert_eq!(
        (c[0].what.clone(), c[0].network.as_deref()),
        (What::LinkDown(Down::Admin), Some("heima-net"))
    );
    let c = t.on_message(&i, &RouteNetlinkMessage::DelLink(down));
    assert_eq!((c[0].what.clone(), c[0].iface.as_deref()), (What::LinkDown(Down::Deleted), Some("br-x")));
}

fn route(dst: Option<(&str, u8)>, gateway: Option<&str>, oif: u32, table: u8) -> RouteMessage {
    let mut r = RouteMessage::default();
    r.header.table = table;
    r.header.kind = RouteType::Unicast;
    r.header.address_family = AddressFamily::Inet;
    if let Some((d, len)) = dst {
        r.header.destination_prefix_length = len;
        r.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(d.parse().unwrap())));
    }
    if let Some(g) = gateway {
        r.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(g.parse().unwrap())));
    }
    r.attributes.push(RouteAttribute::Oif(oif));
    r
}

#[test]
fn main_table_routes_of_interesting_links() {
    let (mut t, i) = host();
    let c = t.on_message(&i, &RouteNetlinkMessage::DelRoute(route(Some(("172.18.0.0", 16)), None, 5, 254)));
    assert_eq!(
        c[0].what.clone(),
        What::RouteRemoved(Route {
            dst: Some("172.18.0.0/16".parse().unwrap()),
            gateway: None,
            dev: Some("br-x".into())
        })
    );
    let c = t.on_message(&i, &RouteNetlinkMessage::NewRoute(route(None, Some("10.0.0.1"), 2, 254)));
    let What::RouteAdded(r) = &c[0].what else { panic!("{c:?}") };
    assert_eq!(r.to_string(), "default via 10.0.0.1 dev eth0");
    assert!(
        t.on_message(&i, &RouteNetlinkMessage::NewRoute(route(Some(("172.18.0.1", 32)), None, 5, 255)))
            .is_empty(),
        "local table"
    );
    assert!(
        t.on_message(&i, &RouteNetlinkMessage::NewRoute(route(Some(("10.9.0.0", 24)), None, 9, 254)))
            .is_empty()
    );
}

#[test]
fn a_new_port_of_a_docker_bridge_joins_it() {
    let (mut t, i) = host();
    let c = t.on_message(&i, &link(8, "veth2", Some(5), false));
    assert_eq!(
        (c[0].what.clone(), c[0].network.as_deref()),
        (What::PortJoined { bridge: "br-x".into() }, Some("heima-net"))
    );
    assert!(t.on_message(&i, &link(10, "veth3", Some(9), false)).is_empty(), "a port of another bridge");
}

#[test]
fn everything_is_of_interest_when_asked() {
    let (mut t, _) = host();
    let all = Interest { everything: true, ..Default::default() };
    assert_eq!(t.on_message(&all, &RouteNetlinkMessage::NewAddress(address(9, "10.9.0.1", 24))).len(), 1);
}

#[test]
fn a_port_disabled_on_its_way_out_is_only_a_port_leaving() {
    use netlink_packet_core::DefaultNla;
    use netlink_packet_route::link::LinkProtoInfoBridge;
    let (mut t, i) = host();
    let state = |s: u8| {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.header.interface_family = AddressFamily::Bridge;
        m.attributes.push(LinkAttribute::Controller(5));
        m.attributes.push(LinkAttribute::ProtoInfoBridge(vec![LinkProtoInfoBridge::Other(DefaultNla::new(
            1,
            vec![s],
        ))]));
        RouteNetlinkMessage::NewLink(m)
    };
    t.on_message(&i, &state(3));
    assert!(t.on_message(&i, &state(0)).is_empty(), "held");
    let later = Instant::now() + HOLD;
    assert_eq!(t.next_release(), t.next_release().filter(|d| *d <= later));
    assert_eq!(
        t.on_message(&i, &link(7, "veth1", None, false))[0].what,
        What::PortLeft { bridge: "br-x".into() }
    );
    assert!(t.release(later).is_empty() && t.next_release().is_none(), "the leaving says it all");

    t.on_message(&i, &link(7, "veth1", Some(5), false));
    t.on_message(&i, &state(3));
    assert!(t.on_message(&i, &state(0)).is_empty());
    assert!(t.release(Instant::now()).is_empty(), "not yet");
    let c = t.release(Instant::now() + HOLD);
    assert_eq!(
        (c[0].what.clone(), c[0].container.as_deref()),
        (What::StpState(PortState::Disabled), Some("mysql"))
    );
}
