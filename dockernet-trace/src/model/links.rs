//! Network interfaces (links) of one namespace, as RTM_GETLINK reports them.
use netlink_packet_route::link::{
    InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoPortData, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use rtnetlink::Handle;
use serde::Serialize;

use super::{ModelError, netlink};

/// STP state of a bridge port (IFLA_BRPORT_STATE). Only `Forwarding` passes traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    Disabled,
    Listening,
    Learning,
    Forwarding,
    Blocking,
    Other(u8),
}

impl PortState {
    /// Decodes the kernel's BR_STATE_* number.
    pub fn from_raw(raw: u8) -> Self {
        match raw {
            0 => Self::Disabled,
            1 => Self::Listening,
            2 => Self::Learning,
            3 => Self::Forwarding,
            4 => Self::Blocking,
            n => Self::Other(n),
        }
    }

    pub fn is_forwarding(self) -> bool {
        self == Self::Forwarding
    }
}

impl std::fmt::Display for PortState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disabled => f.write_str("disabled"),
            Self::Listening => f.write_str("listening"),
            Self::Learning => f.write_str("learning"),
            Self::Forwarding => f.write_str("forwarding"),
            Self::Blocking => f.write_str("blocking"),
            Self::Other(n) => write!(f, "state {n}"),
        }
    }
}

/// One interface.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND (`bridge`, `veth`, `dummy`...); None for physical devices and lo.
    pub kind: Option<String>,
    /// IFF_UP: `ip link set X up` was done.
    pub admin_up: bool,
    /// IFF_LOWER_UP: the device has carrier (for a veth: its peer is up; for a bridge: some port is).
    pub carrier: bool,
    /// IFLA_OPERSTATE in `ip link` words, lower case: up, down, lowerlayerdown, unknown...
    pub oper_state: String,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
    /// IFLA_MASTER: index of the bridge (or bond, vrf) this is a port of.
    pub master: Option<u32>,
    /// For bridge ports: the STP port state.
    pub port_state: Option<PortState>,
    /// For bridges: whether STP runs on it (IFLA_BR_STP_STATE != 0).
    pub stp_enabled: Option<bool>,
    /// IFLA_LINK when it differs from the own index: for a veth, the peer's index in the
    /// namespace named by `link_netnsid` (or this one when that is None).
    pub peer_ifindex: Option<u32>,
    /// IFLA_LINK_NETNSID: the peer lives in another namespace, known here by this id.
    pub link_netnsid: Option<i32>,
}

impl Link {
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }

    pub fn is_veth(&self) -> bool {
        self.kind.as_deref() == Some("veth")
    }

    /// Administratively up and with carrier: able to pass packets.
    pub fn is_running(&self) -> bool {
        self.admin_up && self.carrier
    }

    /// Decodes one RTM_NEWLINK message.
    pub fn from_message(msg: &LinkMessage) -> Self {
        let flags = msg.header.flags;
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            admin_up: flags.contains(LinkFlags::Up),
            carrier: flags.contains(LinkFlags::LowerUp),
            oper_state: "unknown".into(),
            mtu: None,
            mac: None,
            master: None,
            port_state: None,
            stp_enabled: None,
            peer_ifindex: None,
            link_netnsid: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::OperState(s) => link.oper_state = s.to_string().to_lowercase(),
                LinkAttribute::Mtu(m) => link.mtu = Some(*m),
                LinkAttribute::Address(a) if a.len() == 6 => link.mac = Some(format_mac(a)),
                LinkAttribute::Controller(m) => link.master = Some(*m),
                LinkAttribute::Link(l) if *l != msg.header.index => link.peer_ifindex = Some(*l),
                LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(*id),
                LinkAttribute::LinkInfo(infos) => link.read_link_info(infos),
                _ => {}
            }
        }
        link
    }

    /// IFLA_LINKINFO: the kind, bridge data (STP) and bridge-port data (port state).
    fn read_link_info(&mut self, infos: &[LinkInfo]) {
        for info in infos {
            match info {
                LinkInfo::Kind(k) => self.kind = Some(kind_name(k)),
                LinkInfo::Data(InfoData::Bridge(attrs)) => {
                    for a in attrs {
                        if let InfoBridge::StpState(s) = a {
                            self.stp_enabled = Some(u32::from(*s) != 0);
                        }
                    }
                }
                LinkInfo::PortData(InfoPortData::BridgePort(attrs)) => {
                    for a in attrs {
                        if let InfoBridgePort::State(s) = a {
                            self.port_state = Some(PortState::from_raw(u8::from(*s)));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Other(s) => s.clone(),
        k => k.to_string(),
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// All links of the namespace the handle's socket lives in.
pub async fn dump_links(handle: &Handle) -> Result<Vec<Link>, ModelError> {
    let msgs = netlink::collect("list links", handle.link().get().execute()).await?;
    Ok(msgs.iter().map(Link::from_message).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use netlink_packet_route::link::{BridgePortState, BridgeStpState, State};

    use super::*;

    /// An up link with carrier, for other modules' tests.
    pub(crate) fn link(index: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            index,
            name: name.into(),
            kind: kind.map(str::to_string),
            admin_up: true,
            carrier: true,
            oper_state: "up".into(),
            mtu: Some(1500),
            mac: None,
            master: None,
            port_state: None,
            stp_enabled: None,
            peer_ifindex: None,
            link_netnsid: None,
        }
    }

    #[test]
    fn decodes_stp_port_states() {
        assert_eq!(PortState::from_raw(0), PortState::Disabled);
        assert_eq!(PortState::from_raw(1), PortState::Listening);
        assert_eq!(PortState::from_raw(2), PortState::Learning);
        assert_eq!(PortState::from_raw(3), PortState::Forwarding);
        assert_eq!(PortState::from_raw(4), PortState::Blocking);
        assert_eq!(PortState::from_raw(9), PortState::Other(9));
        assert!(PortState::Forwarding.is_forwarding());
        assert!(!PortState::Learning.is_forwarding());
        assert_eq!(PortState::Blocking.to_string(), "blocking");
    }

    fn message(index: u32, flags: LinkFlags, attributes: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = flags;
        m.attributes = attributes;
        m
    }

    #[test]
    fn decodes_a_veth_bridge_port() {
        let m = message(
            8,
            LinkFlags::Up | LinkFlags::LowerUp,
            vec![
                LinkAttribute::IfName("veth0a".into()),
                LinkAttribute::OperState(State::Up),
                LinkAttribute::Address(vec![0xba, 0xb0, 0x1b, 5, 0xef, 0xaa]),
                LinkAttribute::Controller(3),
                LinkAttribute::Link(7),
                LinkAttribute::LinkNetNsId(1),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Veth),
                    LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::State(
                        BridgePortState::Learning,
                    )])),
                ]),
            ],
        );
        let l = Link::from_message(&m);
        assert_eq!(l.name, "veth0a");
        assert!(l.is_veth() && l.is_running());
        assert_eq!(l.oper_state, "up");
        assert_eq!(l.mac.as_deref(), Some("ba:b0:1b:05:ef:aa"));
        assert_eq!((l.master, l.peer_ifindex, l.link_netnsid), (Some(3), Some(7), Some(1)));
        assert_eq!(l.port_state, Some(PortState::Learning));
        assert_eq!(l.stp_enabled, None);
    }

    #[test]
    fn decodes_a_bridge_without_carrier() {
        let m = message(
            4,
            LinkFlags::Up,
            vec![
                LinkAttribute::IfName("br-x".into()),
                LinkAttribute::Link(4),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Bridge),
                    LinkInfo::Data(InfoData::Bridge(vec![InfoBridge::StpState(BridgeStpState::KernelStp)])),
                ]),
            ],
        );
        let l = Link::from_message(&m);
        assert!(l.is_bridge() && l.admin_up && !l.carrier && !l.is_running());
        assert_eq!(l.stp_enabled, Some(true));
        assert_eq!(l.peer_ifindex, None, "IFLA_LINK equal to the own index is not a peer");
    }
}
