//! A packet made up from what a kernel event tells: addresses, ports, TCP flags, ICMP type.
//! The events carry no packet bytes, so the file gets a minimal, valid packet (IPv4 or IPv6
//! with TCP, UDP or ICMP, right lengths and checksums, no payload) built by etherparse.
use std::net::IpAddr;

use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder, icmpv4, icmpv6};

/// The TTL (hop limit) of every made-up packet: the event does not say.
pub const TTL: u8 = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// `flags` as in the TCP header (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// Echo request/reply carry `id` and `seq`; an error may quote the packet it is about.
    Icmp {
        kind: u8,
        code: u8,
        id: u16,
        seq: u16,
        quoted: Option<Box<Header>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    #[error("source {0} and destination {1} are of different IP versions")]
    MixedVersions(IpAddr, IpAddr),
    #[error("cannot build the packet: {0}")]
    Build(String),
}

impl Header {
    /// The packet's bytes, from the IP header on (pcap link type RAW).
    pub fn bytes(&self) -> Result<Vec<u8>, PacketError> {
        let ip = match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), TTL),
            (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), TTL),
            (s, d) => return Err(PacketError::MixedVersions(s, d)),
        };
        let v6 = self.src.is_ipv6();
        let mut out = Vec::new();
        let built = match &self.l4 {
            L4::Tcp { sport, dport, flags } => {
                let mut b = ip.tcp(*sport, *dport, 0, 64240);
                for (bit, set) in [(0x01, 0), (0x02, 1), (0x04, 2), (0x08, 3), (0x10, 4)] {
                    if flags & bit != 0 {
                        b = match set {
                            0 => b.fin(),
                            1 => b.syn(),
                            2 => b.rst(),
                            3 => b.psh(),
                            _ => b.ack(1),
                        };
                    }
                }
                b.write(&mut out, &[])
            }
            L4::Udp { sport, dport } => ip.udp(*sport, *dport).write(&mut out, &[]),
            L4::Icmp { kind, code, id, seq, quoted } => {
                let payload = match quoted {
                    Some(q) => q.bytes()?,
                    None => vec![],
                };
                if v6 {
                    ip.icmpv6(icmpv6_type(*kind, *code, *id, *seq)).write(&mut out, &payload)
                } else {
                    ip.icmpv4(icmpv4_type(*kind, *code, *id, *seq)).write(&mut out, &payload)
                }
            }
        };
        built.map_err(|e| PacketError::Build(e.to_string()))?;
        Ok(out)
    }
}

fn icmpv4_type(kind: u8, code: u8, id: u16, seq: u16) -> Icmpv4Type {
    let echo = etherparse::IcmpEchoHeader { id, seq };
    match kind {
        icmpv4::TYPE_ECHO_REQUEST => Icmpv4Type::EchoRequest(echo),
        icmpv4::TYPE_ECHO_REPLY => Icmpv4Type::EchoReply(echo),
        _ => Icmpv4Type::Unknown { type_u8: kind, code_u8: code, bytes5to8: [0; 4] },
    }
}

fn icmpv6_type(kind: u8, code: u8, id: u16, seq: u16) -> Icmpv6Type {
    let echo = etherparse::IcmpEchoHeader { id, seq };
    match kind {
        icmpv6::TYPE_ECHO_REQUEST => Icmpv6Type::EchoRequest(echo),
        icmpv6::TYPE_ECHO_REPLY => Icmpv6Type::EchoReply(echo),
        _ => Icmpv6Type::Unknown { type_u8: kind, code_u8: code, bytes5to8: [0; 4] },
    }
}
