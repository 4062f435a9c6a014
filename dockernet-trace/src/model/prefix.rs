//! What the model needs of an IP prefix beyond `ipnet`'s types: built from an address and
//! length in normal form (host bits cleared, so equal prefixes compare equal), overlap, and
//! Docker's default gateway of a subnet.
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The prefix of `len` bits containing `addr`; None when `len` is above 32.
pub fn prefix(addr: Ipv4Addr, len: u8) -> Option<Ipv4Net> {
    Ipv4Net::new(addr, len).ok().map(|n| n.trunc())
}

/// `a.b.c.d/n` in normal form; None for anything else (an IPv6 prefix included).
pub fn parse(s: &str) -> Option<Ipv4Net> {
    s.parse::<Ipv4Net>().ok().map(|n| n.trunc())
}

pub trait PrefixExt {
    /// The two prefixes share at least one address.
    fn overlaps(&self, other: &Self) -> bool;
    /// The first host address (network + 1): Docker's default gateway of a subnet.
    fn first_host(&self) -> Ipv4Addr;
}

impl PrefixExt for Ipv4Net {
    fn overlaps(&self, other: &Self) -> bool {
        self.contains(other) || other.contains(self)
    }

    fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()).wrapping_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        parse(s).unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(net("172.18.0.1/16").to_string(), "172.18.0.0/16");
        assert_eq!(prefix("10.0.0.7".parse().unwrap(), 32).unwrap().to_string(), "10.0.0.7/32");
        assert_eq!(net("0.0.0.0/0"), Ipv4Net::default());
        assert!(parse("10.0.0.0/33").is_none());
        assert!(parse("fe80::/64").is_none());
        assert!(parse("10.0.0.0/x").is_none());
    }

    #[test]
    fn contains_and_overlaps() {
        let n = net("172.18.0.0/16");
        assert!(n.contains(&"172.18.255.3".parse::<Ipv4Addr>().unwrap()));
        assert!(!n.contains(&"172.19.0.1".parse::<Ipv4Addr>().unwrap()));
        assert!(Ipv4Net::default().contains(&"8.8.8.8".parse::<Ipv4Addr>().unwrap()));
        assert!(n.overlaps(&net("172.18.5.0/24")));
        assert!(net("172.16.0.0/12").overlaps(&n));
        assert!(!n.overlaps(&net("172.17.0.0/16")));
        assert_eq!(n.first_host(), "172.18.0.1".parse::<Ipv4Addr>().unwrap());
    }
}
