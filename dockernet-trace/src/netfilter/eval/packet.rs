//! A packet as the kernel sees it at a netfilter hook: what the rules can match on. Facts the
//! caller does not know are `None`; a rule that depends on one "may match".
use std::{fmt, net::IpAddr};

use serde::Serialize;

use crate::netfilter::conds::IpVersion;

/// The netfilter hooks of the IP layer (and the bridge layer's, for `bridge` tables). The
/// device hooks are part of their neighbours: `ingress` chains (netdev, inet) of the input
/// device run first at `Prerouting`, `egress` chains of the output device last at
/// `Postrouting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    /// The name as nft and the parsers spell it (`forward`).
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }

    /// Whether the packet has an input device here.
    pub fn has_iif(self) -> bool {
        !matches!(self, Hook::Output)
    }

    /// Whether the packet has an output device here (routing has decided).
    pub fn has_oif(self) -> bool {
        matches!(self, Hook::Forward | Hook::Output | Hook::Postrouting)
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which tables see the packet: the IP layer's (iptables, nft `ip`/`ip6`/`inet`), or the
/// bridge layer's (nft `bridge` tables, for frames a bridge forwards between its ports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    #[default]
    Ip,
    Bridge,
}

/// The transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum L4 {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Sctp,
    Other(u8),
}

impl L4 {
    pub fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Icmp => 1,
            L4::Icmpv6 => 58,
            L4::Sctp => 132,
            L4::Other(n) => n,
        }
    }

    /// The protocol a name (`tcp`, `ipv6-icmp`, `6`) stands for; None when unknown.
    pub fn parse(name: &str) -> Option<L4> {
        Some(match name {
            "tcp" | "6" => L4::Tcp,
            "udp" | "17" => L4::Udp,
            "icmp" | "1" => L4::Icmp,
            "icmpv6" | "ipv6-icmp" | "58" => L4::Icmpv6,
            "sctp" | "132" => L4::Sctp,
            n => L4::Other(n.parse().ok()?),
        })
    }

    pub fn name(self) -> String {
        match self {
            L4::Tcp => "tcp".into(),
            L4::Udp => "udp".into(),
            L4::Icmp => "icmp".into(),
            L4::Icmpv6 => "ipv6-icmp".into(),
            L4::Sctp => "sctp".into(),
            L4::Other(n) => n.to_string(),
        }
    }

    pub fn has_ports(self) -> bool {
        matches!(self, L4::Tcp | L4::Udp | L4::Sctp)
    }
}

/// Conntrack's view of the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CtState {
    /// The first packet of a connection.
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

impl CtState {
    /// The name iptables prints (`ESTABLISHED`).
    pub fn name(self) -> &'static str {
        match self {
            CtState::New => "NEW",
            CtState::Established => "ESTABLISHED",
            CtState::Related => "RELATED",
            CtState::Invalid => "INVALID",
            CtState::Untracked => "UNTRACKED",
        }
    }
}

/// An input or output device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Iface {
    Is(String),
    /// The packet has none at this hook (no output device at prerouting).
    Absent,
    /// The caller does not know.
    Unknown,
}

impl Iface {
    pub fn name(&self) -> Option<&str> {
        match self {
            Iface::Is(n) => Some(n),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: L4,
    /// Ports; None for protocols without them.
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub iif: Iface,
    pub oif: Iface,
    /// None: not known (a rule matching on it may match).
    pub ct: Option<CtState>,
    /// Whether conntrack has DNATed this connection (`ct status dnat`); None when not known.
    pub ct_dnat: Option<bool>,
    /// The packet mark (0 unless something set it); None when not known.
    pub mark: Option<u32>,
    /// Whether the destination (source) is an address of this host (`addrtype LOCAL`,
    /// `fib daddr type local`); None when not known.
    pub dst_local: Option<bool>,
    pub src_local: Option<bool>,
    /// Whether the host's routes lead back to the source out of the input interface (what a
    /// reverse-path filter checks); None when not known.
    pub route_back: Option<bool>,
}

impl Packet {
    /// A TCP packet (the first of its connection, mark 0, devices unknown).
    pub fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Packet::with_ports(L4::Tcp, src, sport, dst, dport)
    }

    pub fn udp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Packet::with_ports(L4::Udp, src, sport, dst, dport)
    }

    /// An ICMP (ICMPv6 for IPv6 addresses) packet.
    pub fn icmp(src: IpAddr, dst: IpAddr) -> Self {
        let proto = if src.is_ipv4() { L4::Icmp } else { L4::Icmpv6 };
        Packet { sport: None, dport: None, ..Packet::with_ports(proto, src, 0, dst, 0) }
    }

    fn with_ports(proto: L4, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Packet {
            src,
            dst,
            proto,
            sport: Some(sport),
            dport: Some(dport),
            iif: Iface::Unknown,
            oif: Iface::Unknown,
            ct: Some(CtState::New),
            ct_dnat: Some(false),
            mark: Some(0),
            dst_local: None,
            src_local: None,
            route_back: None,
        }
    }

    pub fn iif(mut self, name: &str) -> Self {
        self.iif = Iface::Is(name.to_string());
        self
    }

    pub fn oif(mut self, name: &str) -> Self {
        self.oif = Iface::Is(name.to_string());
        self
    }

    pub fn ct(mut self, state: Option<CtState>) -> Self {
        self.ct = state;
        self
    }

    /// Whether the destination is an address of this host.
    pub fn to_local(mut self, local: bool) -> Self {
        self.dst_local = Some(local);
        self
    }

    pub fn from_local(mut self, local: bool) -> Self {
        self.src_local = Some(local);
        self
    }

    pub fn route_back(mut self, known: Option<bool>) -> Self {
        self.route_back = known;
        self
    }

    pub fn version(&self) -> IpVersion {
        IpVersion::of(&self.dst)
    }

    /// The packet as a hook sees it: no device where the hook has none.
    pub fn at(&self, hook: Hook) -> Packet {
        let mut p = self.clone();
        if !hook.has_iif() {
            p.iif = Iface::Absent;
        }
        if !hook.has_oif() {
            p.oif = Iface::Absent;
        }
        p
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ep = |ip: &IpAddr, port: Option<u16>| match (ip, port) {
            (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        };
        write!(f, "{} {} → {}", self.proto.name(), ep(&self.src, self.sport), ep(&self.dst, self.dport))?;
        if let Some(i) = self.iif.name() {
            write!(f, " in {i}")?;
        }
        if let Some(o) = self.oif.name() {
            write!(f, " out {o}")?;
        }
        Ok(())
    }
}
