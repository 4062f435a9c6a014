//! A packet's protocol and addresses: the one protocol type of the tool (the `--proto` the user
//! asks for, the probes, what the kernel reports), the address family, ICMP and ICMPv6
//! messages by meaning, and the 5-tuple seen at a place.
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use dockernet_trace_common::{is_icmp_error, is_icmpv6_error};

/// IPv4 or IPv6: which of its addresses an endpoint (and so a probe) uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    /// `IPv4` / `IPv6`, for sentences.
    pub fn name(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }

    /// The family's unspecified address (0.0.0.0 or ::): an endpoint without an address.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Self::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Self::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }

    /// How the next hop's link-layer address is found: ARP, or IPv6 neighbour discovery.
    pub fn neighbour_protocol(self) -> &'static str {
        match self {
            Self::V4 => "ARP",
            Self::V6 => "neighbour discovery",
        }
    }

    /// The sysctl that makes the host route between interfaces.
    pub fn forwarding_sysctl(self) -> &'static str {
        match self {
            Self::V4 => "net.ipv4.ip_forward",
            Self::V6 => "net.ipv6.conf.all.forwarding",
        }
    }

    /// The kernel function whose tracepoint reports the family's route decisions.
    pub fn route_lookup(self) -> &'static str {
        match self {
            Self::V4 => "fib_table_lookup",
            Self::V6 => "fib6_table_lookup",
        }
    }

    /// The iptables program of the family (`iptables`, `ip6tables`).
    pub fn iptables(self) -> &'static str {
        match self {
            Self::V4 => "iptables",
            Self::V6 => "ip6tables",
        }
    }

    /// The host route a single address has (`/32`, `/128`).
    pub fn host_prefix_len(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An IP protocol. `--proto` accepts the first three (`icmp` becomes ICMPv6 for an IPv6
/// probe: [`Proto::in_family`]); the kernel may report any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Other(u8),
}

impl Proto {
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Self::Tcp,
            17 => Self::Udp,
            1 => Self::Icmp,
            58 => Self::Icmpv6,
            n => Self::Other(n),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
            Self::Icmpv6 => 58,
            Self::Other(n) => n,
        }
    }

    /// `tcp`, `udp`, `icmp`, `icmpv6`, or `proto-N`.
    pub fn name(self) -> String {
        match self {
            Self::Tcp => "tcp".into(),
            Self::Udp => "udp".into(),
            Self::Icmp => "icmp".into(),
            Self::Icmpv6 => "icmpv6".into(),
            Self::Other(n) => format!("proto-{n}"),
        }
    }

    /// ICMP of either family.
    pub fn is_icmp(self) -> bool {
        matches!(self, Self::Icmp | Self::Icmpv6)
    }

    /// The protocol a probe of `family` uses for this one: `icmp` is ICMPv6 over IPv6.
    pub fn in_family(self, family: IpFamily) -> Self {
        match (self, family) {
            (Self::Icmp | Self::Icmpv6, IpFamily::V4) => Self::Icmp,
            (Self::Icmp | Self::Icmpv6, IpFamily::V6) => Self::Icmpv6,
            (p, _) => p,
        }
    }

    /// TCP and UDP carry ports; for ICMP the tuple's "ports" are the echo identifier.
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
    }
}

/// `--proto tcp|udp|icmp` (clap's derive cannot skip the `Other` variant).
impl clap::ValueEnum for Proto {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Tcp, Self::Udp, Self::Icmp]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            Self::Tcp => Some(clap::builder::PossibleValue::new("tcp")),
            Self::Udp => Some(clap::builder::PossibleValue::new("udp")),
            Self::Icmp => Some(clap::builder::PossibleValue::new("icmp")),
            Self::Icmpv6 | Self::Other(_) => None,
        }
    }
}

/// An ICMP or ICMPv6 message: its type and code, and what they mean in its family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpMessage {
    pub family: IpFamily,
    pub kind: u8,
    pub code: u8,
}

impl IcmpMessage {
    /// The message of a packet of protocol `proto` (None when it is not ICMP of either family).
    pub fn of(proto: Proto, kind: u8, code: u8) -> Option<Self> {
        let family = match proto {
            Proto::Icmp => IpFamily::V4,
            Proto::Icmpv6 => IpFamily::V6,
            _ => return None,
        };
        Some(Self { family, kind, code })
    }

    /// An error that quotes the packet it is about (unreachable, time exceeded, parameter
    /// problem; ICMPv6 also packet too big).
    pub fn is_error(self) -> bool {
        match self.family {
            IpFamily::V4 => is_icmp_error(self.kind),
            IpFamily::V6 => is_icmpv6_error(self.kind),
        }
    }

    pub fn is_echo_request(self) -> bool {
        self.kind == if self.family == IpFamily::V4 { 8 } else { 128 }
    }

    pub fn is_echo_reply(self) -> bool {
        self.kind == if self.family == IpFamily::V4 { 0 } else { 129 }
    }

    /// Port unreachable: nothing listens (ICMP 3/3, ICMPv6 1/4).
    pub fn is_port_unreachable(self) -> bool {
        match self.family {
            IpFamily::V4 => (self.kind, self.code) == (3, 3),
            IpFamily::V6 => (self.kind, self.code) == (1, 4),
        }
    }
}

/// `ICMP 3/3`, `ICMPv6 1/4`.
impl fmt::Display for IcmpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.family == IpFamily::V4 { "ICMP" } else { "ICMPv6" };
        write!(f, "{name} {}/{}", self.kind, self.code)
    }
}

/// A packet's addresses as seen at one place (ports are the ICMP echo id for ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub proto: Proto,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

impl Tuple {
    /// `172.17.0.2:40112` (`[fd00::2]:40112`), or only the address when there is no port.
    pub fn src_str(&self) -> String {
        endpoint(self.src, self.sport, self.proto)
    }

    pub fn dst_str(&self) -> String {
        endpoint(self.dst, self.dport, self.proto)
    }

    /// The same flow seen from the other side.
    pub fn reversed(&self) -> Self {
        Self { proto: self.proto, src: self.dst, sport: self.dport, dst: self.src, dport: self.sport }
    }
}

fn endpoint(ip: IpAddr, port: u16, proto: Proto) -> String {
    if proto.has_ports() { SocketAddr::new(ip, port).to_string() } else { ip.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_print_as_sockets_and_reverse() {
        let t = Tuple {
            proto: Proto::Tcp,
            src: "172.17.0.2".parse().unwrap(),
            sport: 40112,
            dst: "fd00::2".parse().unwrap(),
            dport: 3306,
        };
        assert_eq!((t.src_str(), t.dst_str()), ("172.17.0.2:40112".into(), "[fd00::2]:3306".into()));
        assert_eq!(t.reversed().reversed(), t);
        let icmp = Tuple { proto: Proto::Icmp, ..t };
        assert_eq!(icmp.src_str(), "172.17.0.2");
        assert_eq!(Proto::from_number(17), Proto::Udp);
        assert_eq!(Proto::Other(47).name(), "proto-47");
        assert_eq!(Proto::from_number(58), Proto::Icmpv6);
        assert_eq!(Proto::Icmp.in_family(IpFamily::V6).number(), 58);
        assert_eq!(Proto::Icmpv6.in_family(IpFamily::V4), Proto::Icmp);
        assert_eq!(Proto::Tcp.in_family(IpFamily::V6), Proto::Tcp);
    }

    #[test]
    fn icmp_messages_mean_the_same_in_both_families() {
        let v4 = |k, c| IcmpMessage::of(Proto::Icmp, k, c).unwrap();
        let v6 = |k, c| IcmpMessage::of(Proto::Icmpv6, k, c).unwrap();
        assert!(v4(3, 3).is_port_unreachable() && v6(1, 4).is_port_unreachable());
        assert!(!v6(3, 3).is_port_unreachable(), "ICMPv6 3 is time exceeded");
        assert!(v4(11, 0).is_error() && v6(2, 0).is_error() && !v6(128, 0).is_error());
        assert!(v4(8, 0).is_echo_request() && v6(128, 0).is_echo_request());
        assert!(v4(0, 0).is_echo_reply() && v6(129, 0).is_echo_reply() && !v6(0, 0).is_echo_reply());
        assert_eq!(v6(1, 4).to_string(), "ICMPv6 1/4");
        assert!(IcmpMessage::of(Proto::Tcp, 0, 0).is_none());
        assert_eq!(IpFamily::of(&"fd00::1".parse().unwrap()), IpFamily::V6);
    }
}
