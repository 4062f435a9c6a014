//! What a rule matches and what it does with a match, reduced to the fields that decide a
//! Docker packet's path. Both parsers fill these; whatever they do not understand is kept as
//! text in [`Matches::other`], never dropped, so a rule is never mistaken for a broader one.
use std::{fmt, net::IpAddr, str::FromStr};

use serde::{Serialize, Serializer};

/// An address with a prefix length; a bare address is a /32 (or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub len: u8,
}

impl Cidr {
    fn max_len(addr: &IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    fn bits(addr: &IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(*a)) << 96,
            IpAddr::V6(a) => u128::from(*a),
        }
    }

    /// True when `ip` lies inside this network.
    pub fn contains_ip(&self, ip: &IpAddr) -> bool {
        self.contains(&Cidr { addr: *ip, len: Self::max_len(ip) })
    }

    /// True when all of `other` lies inside this network.
    pub fn contains(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() || other.len < self.len {
            return false;
        }
        // Both families sit at the top of a u128 (see `bits`), so a prefix masks the top bits.
        let len = u32::from(self.len);
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        let (a, b) = (Self::bits(&self.addr), Self::bits(&other.addr));
        a & mask == b & mask
    }

    /// A single host (/32 or /128).
    pub fn is_host(&self) -> bool {
        self.len == Self::max_len(&self.addr)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.parse().map_err(|_| format!("not an address: {s}"))?;
        let max = Self::max_len(&addr);
        let len = if l.is_empty() {
            max
        } else {
            l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| format!("bad prefix: {s}"))?
        };
        Ok(Self { addr, len })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
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
    pub net: Cidr,
    pub negated: bool,
}

impl AddrMatch {
    pub fn matches(&self, ip: &IpAddr) -> bool {
        self.net.contains_ip(ip) != self.negated
    }

    /// The network, if the match is positive.
    pub fn positive(&self) -> Option<&Cidr> {
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
    /// Everything else, as printed (`-m comment --comment "x"`, `ip saddr @blocked`).
    pub other: Vec<String>,
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

/// What a rule does with a packet it matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "arg", rename_all = "snake_case")]
pub enum Target {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(String),
    Goto(String),
    /// `to` is `addr[:port]` as written (`172.19.0.2:80`, `[fd00::2]:80`).
    Dnat {
        to: String,
    },
    Snat {
        to: String,
    },
    Masquerade,
    Log,
    /// A rule with no verdict: it only counts (or logs) and the packet goes on.
    Continue,
    /// Any other target, as written (`MARK --set-xmark 0x1/0xff`, `queue`).
    Other(String),
}

impl Target {
    /// True when the packet stops here for good.
    pub fn drops(&self) -> bool {
        matches!(self, Target::Drop | Target::Reject)
    }

    /// The chain this rule passes the packet to.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Target::Jump(c) | Target::Goto(c) => Some(c),
            _ => None,
        }
    }

    /// The address and port of a DNAT/SNAT target (`172.19.0.2:80` → (172.19.0.2, Some(80))).
    /// A port range keeps only its first port.
    pub fn nat_to(&self) -> Option<(IpAddr, Option<u16>)> {
        let to = match self {
            Target::Dnat { to } | Target::Snat { to } => to.as_str(),
            _ => return None,
        };
        parse_addr_port(to)
    }
}

/// `1.2.3.4`, `1.2.3.4:80`, `1.2.3.4:80-90`, `[fd00::1]:80`, `fd00::1`.
fn parse_addr_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    // A range of addresses (`1.2.3.4-1.2.3.9`) keeps its first address.
    let first_port = |p: &str| p.split(['-', ':']).next().and_then(|p| p.parse().ok());
    if let Some(rest) = s.strip_prefix('[') {
        let (a, tail) = rest.split_once(']')?;
        let ip = a.parse().ok()?;
        return Some((ip, tail.strip_prefix(':').and_then(first_port)));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let (a, p) = s.rsplit_once(':')?;
    let a = a.split('-').next()?;
    Some((a.parse().ok()?, first_port(p)))
}
