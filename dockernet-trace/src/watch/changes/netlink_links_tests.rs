use netlink_packet_core::DefaultNla;

use super::*;

fn msg(index: u32, name: &str, up: bool, carrier: bool, master: Option<u32>) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.interface_family = AddressFamily::Unspec;
    if up {
        m.header.flags |= LinkFlags::Up;
    }
    if carrier {
        m.header.flags |= LinkFlags::LowerUp;
    }
    m.attributes.push(LinkAttribute::IfName(name.into()));
    if let Some(b) = master {
        m.attributes.push(LinkAttribute::Controller(b));
    }
    m
}

fn bridge(index: u32, name: &str, up: bool) -> LinkMessage {
    let mut m = msg(index, name, up, false, None);
    m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
    m
}

/// The AF_BRIDGE message the bridge sends about a port, with its STP state.
fn port_view(index: u32, master: u32, state: u8) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.interface_family = AddressFamily::Bridge;
    m.attributes.push(LinkAttribute::Controller(master));
    m.attributes.push(LinkAttribute::ProtoInfoBridge(vec![LinkProtoInfoBridge::Other(DefaultNla::new(
        IFLA_BRPORT_STATE,
        vec![state],
    ))]));
    m
}

#[test]
fn up_down_and_carrier() {
    let mut l = Links::default();
    assert!(l.on_new(&bridge(5, "br-x", true)).is_empty(), "a link seen first is no change");
    assert_eq!(l.on_new(&bridge(5, "br-x", false)), [What::LinkDown(Down::Admin)]);
    assert_eq!(l.on_new(&bridge(5, "br-x", true)), [What::LinkUp]);
    assert!(
        l.on_new(&{
            let mut m = bridge(5, "br-x", true);
            m.header.flags |= LinkFlags::LowerUp;
            m
        })
        .is_empty(),
        "a bridge's carrier comes and goes with its ports"
    );
    l.on_new(&msg(7, "veth1", true, true, Some(5)));
    assert_eq!(l.on_new(&msg(7, "veth1", true, false, Some(5))), [What::LinkDown(Down::NoCarrier)]);
    assert_eq!(l.on_new(&msg(7, "veth1", true, true, Some(5))), [What::LinkUp]);
    assert!(l.on_new(&msg(7, "veth1", true, true, Some(5))).is_empty(), "the same state twice");
}

#[test]
fn ports_join_and_leave_their_bridge() {
    let mut l = Links::default();
    l.on_new(&bridge(5, "br-x", true));
    l.on_new(&bridge(6, "br-y", true));
    assert_eq!(
        l.on_new(&msg(7, "veth1", false, false, Some(5))),
        [What::PortJoined { bridge: "br-x".into() }]
    );
    assert_eq!(l.on_new(&msg(7, "veth1", false, false, None)), [What::PortLeft { bridge: "br-x".into() }]);
    assert_eq!(
        l.on_new(&msg(7, "veth1", false, false, Some(6))),
        [What::PortJoined { bridge: "br-y".into() }]
    );
    assert_eq!(
        l.on_new(&msg(7, "veth1", false, false, Some(5))),
        [What::PortLeft { bridge: "br-y".into() }, What::PortJoined { bridge: "br-x".into() }]
    );
    let mut del = LinkMessage::default();
    del.header.index = 7;
    del.header.interface_family = AddressFamily::Bridge;
    assert_eq!(
        l.on_del(&del).1,
        [What::PortLeft { bridge: "br-x".into() }],
        "the bridge's own word on a port leaving"
    );
    assert!(l.get(7).is_some_and(|p| p.master.is_none()));
    l.on_new(&msg(7, "veth1", false, false, Some(5)));
    del.header.interface_family = AddressFamily::Unspec;
    let (gone, what) = l.on_del(&del);
    assert_eq!(
        (gone.map(|g| g.name), what),
        (Some("veth1".into()), vec![What::PortLeft { bridge: "br-x".into() }])
    );
    del.header.index = 6;
    assert_eq!(l.on_del(&del).1, [What::LinkDown(Down::Deleted)]);
    assert_eq!(l.on_del(&del).1, [], "unknown links are nobody's business");
}

#[test]
fn only_stp_states_that_hold_a_port_back_are_news() {
    let mut l = Links::default();
    l.on_new(&bridge(5, "br-x", true));
    l.on_new(&msg(7, "veth1", true, true, Some(5)));
    assert!(l.on_new(&port_view(7, 5, 0)).is_empty(), "the first state seen is no change");
    assert!(l.on_new(&port_view(7, 5, 3)).is_empty(), "disabled to forwarding: a port coming up");
    assert_eq!(l.on_new(&port_view(7, 5, 4)), [What::StpState(PortState::Blocking)]);
    assert_eq!(l.on_new(&port_view(7, 5, 3)), [What::StpState(PortState::Forwarding)]);
    assert_eq!(
        l.on_new(&port_view(7, 5, 0)),
        [What::StpState(PortState::Disabled)],
        "disabled with its link up"
    );
    l.on_new(&port_view(7, 5, 3));
    l.on_new(&msg(7, "veth1", false, false, Some(5)));
    assert!(l.on_new(&port_view(7, 5, 0)).is_empty(), "disabled because its link went down: said already");
}
