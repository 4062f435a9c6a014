//! A packet's protocol and addresses: the one protocol type of the tool (the `--proto` the user
//! asks for, the probes, what the kernel reports) and the 5-tuple seen at a place.
use std::net::{IpAddr, SocketAddr};

/// An IP protocol. `--proto` accepts the first three; the kernel may report any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Other(u8),
}

impl Proto {
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Self::Tcp,
            17 => Self::Udp,
            1 => Self::Icmp,
            n => Self::Other(n),
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
            Self::Other(n) => n,
        }
    }

    /// `tcp`, `udp`, `icmp`, or `proto-N`.
    pub fn name(self) -> String {
        match self {
            Self::Tcp => "tcp".into(),
            Self::Udp => "udp".into(),
            Self::Icmp => "icmp".into(),
            Self::Other(n) => format!("proto-{n}"),
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
            Self::Other(_) => None,
        }
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
    }
}
