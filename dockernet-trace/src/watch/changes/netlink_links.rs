//! The links rtnetlink tells about, and what changed between two messages about one: up or
//! down (set down, or no carrier), joining or leaving a bridge, a bridge port's STP state.
//! Pure state tracking, fed by [`netlink`](super::netlink) and unit-tested here.
use std::collections::HashMap;

use netlink_packet_core::Nla;
use netlink_packet_route::{
    AddressFamily,
    link::{
        BridgePortState, InfoBridgePort, InfoKind, InfoPortData, LinkAttribute, LinkFlags, LinkInfo,
        LinkMessage, LinkProtoInfoBridge,
    },
};

use super::{Down, PortState, What};

/// IFLA_BRPORT_STATE inside a bridge port's IFLA_PROTINFO.
const IFLA_BRPORT_STATE: u16 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub bridge: bool,
    pub master: Option<u32>,
    pub admin_up: bool,
    pub carrier: bool,
    pub stp: Option<PortState>,
}

/// What one message says about a link; None where it says nothing.
#[derive(Debug, Default)]
struct Seen {
    name: Option<String>,
    bridge: bool,
    master: Option<u32>,
    stp: Option<PortState>,
}

fn port_state(s: BridgePortState) -> Option<PortState> {
    Some(match s {
        BridgePortState::Disabled => PortState::Disabled,
        BridgePortState::Listening => PortState::Listening,
        BridgePortState::Learning => PortState::Learning,
        BridgePortState::Forwarding => PortState::Forwarding,
        BridgePortState::Blocking => PortState::Blocking,
        _ => return None,
    })
}

fn read(m: &LinkMessage) -> Seen {
    let mut s = Seen::default();
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = Some(n.clone()),
            LinkAttribute::Controller(i) => s.master = Some(*i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(InfoKind::Bridge) => s.bridge = true,
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            for x in p {
                                if let InfoBridgePort::State(st) = x {
                                    s.stp = port_state(*st);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            LinkAttribute::ProtoInfoBridge(infos) => {
                for i in infos {
                    if let LinkProtoInfoBridge::Other(nla) = i
                        && nla.kind() == IFLA_BRPORT_STATE
                        && nla.value_len() == 1
                    {
                        let mut v = [0u8; 1];
                        nla.emit_value(&mut v);
                        s.stp = port_state(BridgePortState::from(v[0]));
                    }
                }
            }
            _ => {}
        }
    }
    s
}

#[derive(Debug, Default)]
pub struct Links {
    by_index: HashMap<u32, Link>,
}

impl Links {
    pub fn get(&self, index: u32) -> Option<&Link> {
        self.by_index.get(&index)
    }

    pub fn name(&self, index: u32) -> Option<&str> {
        self.get(index).map(|l| l.name.as_str())
    }

    /// An RTM_NEWLINK: the link's new state, and what changed since the last one.
    pub fn on_new(&mut self, m: &LinkMessage) -> Vec<What> {
        let index = m.header.index;
        let seen = read(m);
        if m.header.interface_family == AddressFamily::Bridge {
            // A bridge port's view: its master and STP state; the flags are the Unspec message's.
            let Some(old) = self.by_index.get(&index).cloned() else { return vec![] };
            let mut new = old.clone();
            new.master = seen.master.or(old.master);
            new.stp = seen.stp.or(old.stp);
            return self.update(index, old, new);
        }
        let flags = m.header.flags;
        let name = seen.name.clone();
        let old = self.by_index.get(&index).cloned();
        let new = Link {
            name: name
                .or_else(|| old.as_ref().map(|o| o.name.clone()))
                .unwrap_or_else(|| format!("if{index}")),
            bridge: seen.bridge || old.as_ref().is_some_and(|o| o.bridge),
            master: seen.master,
            admin_up: flags.contains(LinkFlags::Up),
            carrier: flags.contains(LinkFlags::LowerUp),
            stp: seen.stp.or(old.as_ref().and_then(|o| o.stp)).filter(|_| seen.master.is_some()),
        };
        match old {
            Some(old) => self.update(index, old, new),
            None => {
                let joined =
                    new.master.and_then(|b| self.name(b)).map(|b| What::PortJoined { bridge: b.into() });
                self.by_index.insert(index, new);
                joined.into_iter().collect()
            }
        }
    }

    fn update(&mut self, index: u32, old: Link, new: Link) -> Vec<What> {
        let mut out = Vec::new();
        if old.admin_up != new.admin_up {
            out.push(if new.admin_up { What::LinkUp } else { What::LinkDown(Down::Admin) });
        } else if new.admin_up && !new.bridge && old.carrier != new.carrier {
            // A bridge without ports has no carrier: normal, not a change worth a line.
            out.push(if new.carrier { What::LinkUp } else { What::LinkDown(Down::NoCarrier) });
        }
        if old.master != new.master {
            if let Some(b) = old.master.and_then(|b| self.name(b)) {
                out.push(What::PortLeft { bridge: b.into() });
            }
            if let Some(b) = new.master.and_then(|b| self.name(b)) {
                out.push(What::PortJoined { bridge: b.into() });
            }
        } else if let (Some(was), Some(is)) = (old.stp, new.stp)
            && was != is
            && stp_change_matters(was, is, &new)
        {
            out.push(What::StpState(is));
        }
        self.by_index.insert(index, new);
        out
    }

    /// An RTM_DELLINK. For a bridge's view (AF_BRIDGE) the port left its bridge; otherwise the
    /// link is gone, and it is returned with what its going means.
    pub fn on_del(&mut self, m: &LinkMessage) -> (Option<Link>, Vec<What>) {
        let index = m.header.index;
        if m.header.interface_family == AddressFamily::Bridge {
            let Some(old) = self.by_index.get(&index).cloned() else { return (None, vec![]) };
            let new = Link { master: None, stp: None, ..old.clone() };
            return (None, self.update(index, old, new));
        }
        let Some(gone) = self.by_index.remove(&index) else { return (None, vec![]) };
        let what = match gone.master.and_then(|b| self.name(b)) {
            Some(b) => What::PortLeft { bridge: b.into() },
            None => What::LinkDown(Down::Deleted),
        };
        (Some(gone), vec![what])
    }
}

/// A port coming up passes from disabled to forwarding (or through listening and learning with
/// STP): only a port held back, disabled while its link is up, or released again, is news.
fn stp_change_matters(was: PortState, is: PortState, link: &Link) -> bool {
    match is {
        PortState::Forwarding => was != PortState::Disabled,
        PortState::Disabled => link.admin_up && link.carrier,
        PortState::Listening | PortState::Learning | PortState::Blocking => true,
    }
}

#[cfg(test)]
#[path = "netlink_links_tests.rs"]
mod tests;
