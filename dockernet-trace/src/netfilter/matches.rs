//! What a rule matches and what it does with a match, reduced to the fields that decide a
//! Docker packet's path. Both parsers fill these; whatever they do not understand is kept as
//! text in [`Matches::other`], never dropped, so a rule is never mistaken for a broader one.
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

use super::conds::Other;

/// Parses `172.18.0.0/16`, a bare address (a /32 or /128) or iptables' `10.0.0.0/255.0.0.0`.
/// A non-contiguous netmask or a host name is not an address: None.
pub fn parse_net(s: &str) -> Option<IpNet> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    let (addr, mask) = s.split_once('/')?;
    match (addr.parse().ok()?, mask.parse().ok()?) {
        (IpAddr::V4(a), IpAddr::V4(m)) => Ipv4Net::with_netmask(a, m).ok().map(IpNet::V4),
        (IpAddr::V6(a), IpAddr::V6(m)) => Ipv6Net::with_netmask(a, m).ok().map(IpNet::V6),
        _ => None,
    }
}

/// What ipnet does not say directly.
pub trait NetExt {
    /// A single host (/32 or /128).
    fn is_host(&self) -> bool;
}

impl NetExt for IpNet {
    fn is_host(&self) -> bool {
        self.prefix_len() == self.max_prefix_len()
    }
}

/// `-i`/`-o` (iptables) or `iifname`/`oifname` (nft). The name keeps its wildcard suffix:
/// `+` for iptables, `*` for nft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IfaceMatch {
    pub name: String,
    pub negated: bool,
}

impl IfaceMatch {
    pub fn is_wildcard(&self) -> bool {
        self.name.ends_with('+') || self.name.ends_with('*')
    }

    /// Whether a packet on `iface` satisfies this match, negation included.
    pub fn matches(&self, iface: &str) -> bool {
        let hit = match self.name.strip_suffix(['+', '*']) {
            Some(prefix) => iface.starts_with(prefix),
            None => iface == self.name,
        };
        hit != self.negated
    }

    /// The interface named exactly (no wildcard), if the match is positive.
    pub fn exact(&self) -> Option<&str> {
        (!self.negated && !self.is_wildcard()).then_some(self.name.as_str())
    }

    /// The interface named exactly, if the match is negated (`! -o docker0`).
    pub fn exact_negated(&self) -> Option<&str> {
        (self.negated && !self.is_wildcard()).then_some(self.name.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddrMatch {
    pub net: IpNet,
    pub negated: bool,
}

impl AddrMatch {
    pub fn matches(&self, ip: &IpAddr) -> bool {
        self.net.contains(ip) != self.negated
    }

    /// The network, if the match is positive.
    pub fn positive(&self) -> Option<&IpNet> {
        (!self.negated).then_some(&self.net)
    }
}

/// `-p tcp` or `meta l4proto tcp`; the name is lower case (`tcp`, `udp`, `icmp`, or a number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtoMatch {
    pub name: String,
    pub negated: bool,
}

/// Destination ports: single ports are ranges of one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortMatch {
    pub ranges: Vec<(u16, u16)>,
    pub negated: bool,
}

impl PortMatch {
    pub fn matches(&self, port: u16) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port)) != self.negated
    }

    /// The one port matched, if that is all the match says.
    pub fn single(&self) -> Option<u16> {
        match self.ranges.as_slice() {
            [(lo, hi)] if lo == hi && !self.negated => Some(*lo),
            _ => None,
        }
    }
}

/// Conntrack states, upper case as iptables prints them (`RELATED`, `ESTABLISHED`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CtStateMatch {
    pub states: Vec<String>,
    pub negated: bool,
}

/// `-m addrtype --dst-type LOCAL` or `fib daddr type local`; the type is upper case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddrTypeMatch {
    pub kind: String,
    pub negated: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Matches {
    pub in_iface: Option<IfaceMatch>,
    pub out_iface: Option<IfaceMatch>,
    pub src: Option<AddrMatch>,
    pub dst: Option<AddrMatch>,
    pub proto: Option<ProtoMatch>,
    pub dports: Option<PortMatch>,
    pub ct_state: Option<CtStateMatch>,
    pub src_type: Option<AddrTypeMatch>,
    pub dst_type: Option<AddrTypeMatch>,
    /// Everything else, as printed (`-m comment --comment "x"`, `ip saddr @blocked`), each
    /// with what it means for matching.
    pub other: Vec<Other>,
}

/// Names of the fields of [`Matches`], to state the exact shape of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    In,
    Out,
    Src,
    Dst,
    Proto,
    Dport,
    CtState,
    SrcType,
    DstType,
    Other,
}

impl Matches {
    /// The fields this rule sets.
    pub fn fields(&self) -> Vec<Field> {
        let mut f = vec![];
        let mut add = |set: bool, field| {
            if set {
                f.push(field)
            }
        };
        add(self.in_iface.is_some(), Field::In);
        add(self.out_iface.is_some(), Field::Out);
        add(self.src.is_some(), Field::Src);
        add(self.dst.is_some(), Field::Dst);
        add(self.proto.is_some(), Field::Proto);
        add(self.dports.is_some(), Field::Dport);
        add(self.ct_state.is_some(), Field::CtState);
        add(self.src_type.is_some(), Field::SrcType);
        add(self.dst_type.is_some(), Field::DstType);
        add(!self.other.is_empty(), Field::Other);
        f
    }

    /// True when the rule sets exactly `fields` (in any order) and nothing else.
    pub fn has_exactly(&self, fields: &[Field]) -> bool {
        let mine = self.fields();
        mine.len() == fields.len() && fields.iter().all(|f| mine.contains(f))
    }

    /// True when the rule matches every packet.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// The protocol, if matched positively.
    pub fn proto_name(&self) -> Option<&str> {
        self.proto.as_ref().filter(|p| !p.negated).map(|p| p.name.as_str())
    }
}
