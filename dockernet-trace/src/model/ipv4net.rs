//! An IPv4 prefix (`172.18.0.0/16`): subnets, route destinations, address networks.
use std::{fmt, net::Ipv4Addr, str::FromStr};

use serde::{Serialize, Serializer};

/// A network prefix; the address is always the network address (host bits zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// The prefix containing `addr`; None when `prefix` is above 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Self { network: Ipv4Addr::from(u32::from(addr) & mask(prefix)), prefix })
    }

    /// 0.0.0.0/0.
    pub const DEFAULT: Self = Self { network: Ipv4Addr::UNSPECIFIED, prefix: 0 };

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn is_default(&self) -> bool {
        self.prefix == 0
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// True when the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The first host address (network + 1), Docker's default gateway of a subnet.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(1))
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    /// `a.b.c.d/n`, or a bare address meaning /32.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, "32"));
        let addr: Ipv4Addr = addr.parse().map_err(|_| format!("'{s}' is not an IPv4 prefix"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("'{s}' has a bad prefix length"))?;
        Self::new(addr, prefix).ok_or_else(|| format!("'{s}' has a prefix length above 32"))
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(net("172.18.0.1/16").to_string(), "172.18.0.0/16");
        assert_eq!(net("10.0.0.7").to_string(), "10.0.0.7/32");
        assert_eq!(net("0.0.0.0/0"), Ipv4Net::DEFAULT);
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("fe80::/64".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0/x".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn contains_and_overlaps() {
        let n = net("172.18.0.0/16");
        assert!(n.contains("172.18.255.3".parse().unwrap()));
        assert!(!n.contains("172.19.0.1".parse().unwrap()));
        assert!(Ipv4Net::DEFAULT.contains("8.8.8.8".parse().unwrap()));
        assert!(n.overlaps(&net("172.18.5.0/24")));
        assert!(net("172.16.0.0/12").overlaps(&n));
        assert!(!n.overlaps(&net("172.17.0.0/16")));
        assert_eq!(n.first_host(), "172.18.0.1".parse::<Ipv4Addr>().unwrap());
    }
}
