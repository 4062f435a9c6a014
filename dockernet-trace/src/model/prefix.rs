//! What the model needs of an IP prefix beyond `ipnet`'s types: built from an address and
//! length in normal form (host bits cleared, so equal prefixes compare equal), overlap, and
//! Docker's default gateway of a subnet. IPv4 and IPv6 alike.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::flow::IpFamily;

/// The prefix of `len` bits containing `addr`; None when `len` is longer than the address.
pub fn prefix(addr: IpAddr, len: u8) -> Option<IpNet> {
    IpNet::new(addr, len).ok().map(|n| n.trunc())
}

/// The prefix of `len` bits containing an IPv4 `addr`.
pub fn prefix4(addr: Ipv4Addr, len: u8) -> Option<Ipv4Net> {
    Ipv4Net::new(addr, len).ok().map(|n| n.trunc())
}

/// `a.b.c.d/n` or `x:y::/n` in normal form; None for anything else.
pub fn parse(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().map(|n| n.trunc())
}

/// The prefix holding every address of a family (0.0.0.0/0, ::/0).
pub fn everything(family: IpFamily) -> IpNet {
    match family {
        IpFamily::V4 => IpNet::V4(Ipv4Net::default()),
        IpFamily::V6 => IpNet::V6(Ipv6Net::default()),
    }
}

/// The family of a prefix.
pub fn family(net: &IpNet) -> IpFamily {
    match net {
        IpNet::V4(_) => IpFamily::V4,
        IpNet::V6(_) => IpFamily::V6,
    }
}

/// IPv6 link-local (fe80::/10): every interface has one; never a route target of its own.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

pub trait PrefixExt {
    /// The two prefixes share at least one address (never across families).
    fn overlaps(&self, other: &Self) -> bool;
    /// The first host address (network + 1): Docker's default gateway of a subnet.
    fn first_host(&self) -> IpAddr;
}

impl PrefixExt for IpNet {
    fn overlaps(&self, other: &Self) -> bool {
        self.contains(other) || other.contains(self)
    }

    fn first_host(&self) -> IpAddr {
        match self {
            IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()).wrapping_add(1))),
            IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()).wrapping_add(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(net("172.18.0.1/16").to_string(), "172.18.0.0/16");
        assert_eq!(prefix(ip("10.0.0.7"), 32).unwrap().to_string(), "10.0.0.7/32");
        assert_eq!(net("0.0.0.0/0"), everything(IpFamily::V4));
        assert!(parse("10.0.0.0/33").is_none());
        assert_eq!(net("fd00:18::1/64").to_string(), "fd00:18::/64");
        assert_eq!(family(&net("fe80::/64")), IpFamily::V6);
        assert!(parse("10.0.0.0/x").is_none());
        assert!(prefix(ip("fd00::1"), 129).is_none());
    }

    #[test]
    fn contains_and_overlaps() {
        let n = net("172.18.0.0/16");
        assert!(n.contains(&ip("172.18.255.3")));
        assert!(!n.contains(&ip("172.19.0.1")));
        assert!(everything(IpFamily::V4).contains(&ip("8.8.8.8")));
        assert!(n.overlaps(&net("172.18.5.0/24")));
        assert!(net("172.16.0.0/12").overlaps(&n));
        assert!(!n.overlaps(&net("172.17.0.0/16")));
        assert!(!n.overlaps(&net("::/0")), "never across families");
        assert_eq!(n.first_host(), ip("172.18.0.1"));
        let v6 = net("fd00:18::/64");
        assert!(v6.contains(&ip("fd00:18::2")) && !v6.contains(&ip("fd00:19::2")));
        assert_eq!(v6.first_host(), ip("fd00:18::1"));
        assert!(is_link_local(ip("fe80::1")) && !is_link_local(ip("fd00::1")));
    }
}
