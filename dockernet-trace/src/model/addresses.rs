//! IPv4 addresses of one namespace, as RTM_GETADDR reports them.
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_route::{
    AddressFamily,
    address::{AddressAttribute, AddressMessage},
};
use rtnetlink::Handle;
use serde::Serialize;

use ipnet::Ipv4Net;

use super::{ModelError, netlink, prefix};

/// One IPv4 address on an interface, e.g. 172.18.0.1/16 on br-e685d9c814c0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    pub ifindex: u32,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

impl Address {
    /// The subnet this address makes directly reachable.
    pub fn network(&self) -> Ipv4Net {
        prefix::prefix(self.ip, self.prefix).unwrap_or_default()
    }

    /// Decodes one RTM_NEWADDR message; None for non-IPv4 families.
    pub fn from_message(msg: &AddressMessage) -> Option<Self> {
        if msg.header.family != AddressFamily::Inet {
            return None;
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS differs from it only on
        // point-to-point links (where it is the peer), so prefer LOCAL.
        let mut local = None;
        let mut address = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(IpAddr::V4(ip)) => local = Some(*ip),
                AddressAttribute::Address(IpAddr::V4(ip)) => address = Some(*ip),
                _ => {}
            }
        }
        Some(Self { ifindex: msg.header.index, ip: local.or(address)?, prefix: msg.header.prefix_len })
    }
}

/// All IPv4 addresses of the namespace the handle's socket lives in.
pub async fn dump_addresses(handle: &Handle) -> Result<Vec<Address>, ModelError> {
    let msgs = netlink::collect("list addresses", handle.address().get().execute()).await?;
    Ok(msgs.iter().filter_map(Address::from_message).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_local_and_skips_ipv6() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = 3;
        m.header.prefix_len = 16;
        m.attributes = vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1))),
        ];
        let a = Address::from_message(&m).unwrap();
        assert_eq!((a.ifindex, a.ip, a.prefix), (3, Ipv4Addr::new(172, 18, 0, 1), 16));
        assert_eq!(a.network().to_string(), "172.18.0.0/16");

        m.header.family = AddressFamily::Inet6;
        assert!(Address::from_message(&m).is_none());
    }
}
