//! IPv4 and IPv6 addresses of one namespace, as RTM_GETADDR reports them.
use std::net::IpAddr;

use netlink_packet_route::{
    AddressFamily,
    address::{AddressAttribute, AddressMessage},
};
use rtnetlink::Handle;
use serde::Serialize;

use ipnet::IpNet;

use super::{ModelError, netlink, prefix};
use crate::flow::IpFamily;

/// One address on an interface, e.g. 172.18.0.1/16 or fd00:18::1/64 on br-e685d9c814c0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub prefix: u8,
}

impl Address {
    /// The subnet this address makes directly reachable.
    pub fn network(&self) -> IpNet {
        prefix::prefix(self.ip, self.prefix).unwrap_or_else(|| prefix::everything(self.family()))
    }

    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.ip)
    }

    /// fe80::/10: valid on its link only, never a Docker network's gateway or a probe's end.
    pub fn is_link_local(&self) -> bool {
        prefix::is_link_local(self.ip)
    }

    /// Decodes one RTM_NEWADDR message; None for families other than IPv4 and IPv6.
    pub fn from_message(msg: &AddressMessage) -> Option<Self> {
        if !matches!(msg.header.family, AddressFamily::Inet | AddressFamily::Inet6) {
            return None;
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS differs from it only on
        // point-to-point links (where it is the peer), so prefer LOCAL. IPv6 sends only
        // IFA_ADDRESS (IFA_LOCAL too on point-to-point links).
        let mut local = None;
        let mut address = None;
        for attr in &msg.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                _ => {}
            }
        }
        Some(Self { ifindex: msg.header.index, ip: local.or(address)?, prefix: msg.header.prefix_len })
    }
}

/// All IPv4 and IPv6 addresses of the namespace the handle's socket lives in.
pub async fn dump_addresses(handle: &Handle) -> Result<Vec<Address>, ModelError> {
    let msgs = netlink::collect("list addresses", handle.address().get().execute()).await?;
    Ok(msgs.iter().filter_map(Address::from_message).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv4Addr;

    #[test]
    fn prefers_local_and_reads_ipv6() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = 3;
        m.header.prefix_len = 16;
        m.attributes = vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1))),
        ];
        let a = Address::from_message(&m).unwrap();
        assert_eq!((a.ifindex, a.ip, a.prefix), (3, IpAddr::V4(Ipv4Addr::new(172, 18, 0, 1)), 16));
        assert_eq!(a.network().to_string(), "172.18.0.0/16");

        m.header.family = AddressFamily::Inet6;
        m.header.prefix_len = 64;
        m.attributes = vec![AddressAttribute::Address("fd00:18::1".parse().unwrap())];
        let a = Address::from_message(&m).unwrap();
        assert_eq!((a.family(), a.network().to_string()), (IpFamily::V6, "fd00:18::/64".into()));
        assert!(!a.is_link_local());
        m.header.family = AddressFamily::Packet;
        assert!(Address::from_message(&m).is_none());
    }
}
