//! From what an event knows of a packet (its 5-tuple, TCP flags, ICMP type) to the header to
//! make up. An ICMP error's tuple is the packet it quotes; the error itself is taken to travel
//! back from that packet's destination (the event does not say who sent it).
use etherparse::{icmpv4, icmpv6};

use crate::flow::{Proto, Tuple};

use super::packet::{Header, L4};

/// The ICMP type and code an event saw, and whether the message quotes another packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    pub kind: u8,
    pub code: u8,
    pub quoting: bool,
}

/// The header for a packet of flow `t`; None for what is not IP over TCP, UDP, ICMP or
/// ICMPv6 (ARP, an unknown protocol).
pub fn header(t: &Tuple, tcp_flags: Option<u8>, icmp: Option<Icmp>) -> Option<Header> {
    let plain = |proto: Proto, flags: u8| -> Option<Header> {
        let l4 = match proto {
            Proto::Tcp => L4::Tcp { sport: t.sport, dport: t.dport, flags },
            Proto::Udp => L4::Udp { sport: t.sport, dport: t.dport },
            // An echo's identifier is the flow's "port"; the sequence number is not recorded.
            Proto::Icmp | Proto::Icmpv6 => {
                let echo =
                    if t.src.is_ipv6() { icmpv6::TYPE_ECHO_REQUEST } else { icmpv4::TYPE_ECHO_REQUEST };
                L4::Icmp { kind: echo, code: 0, id: t.sport, seq: 0, quoted: None }
            }
            Proto::Other(_) => return None,
        };
        (!t.src.is_unspecified()).then_some(Header { src: t.src, dst: t.dst, l4 })
    };
    match icmp {
        Some(i) if i.quoting => {
            let quoted = plain(t.proto, 0)?;
            let l4 = L4::Icmp { kind: i.kind, code: i.code, id: 0, seq: 0, quoted: Some(Box::new(quoted)) };
            Some(Header { src: t.dst, dst: t.src, l4 })
        }
        Some(i) if t.proto.is_icmp() => {
            let mut h = plain(t.proto, 0)?;
            h.l4 = L4::Icmp { kind: i.kind, code: i.code, id: t.sport, seq: 0, quoted: None };
            Some(h)
        }
        _ => plain(t.proto, tcp_flags.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(proto: Proto, src: &str, dst: &str) -> Tuple {
        Tuple { proto, src: src.parse().unwrap(), sport: 40112, dst: dst.parse().unwrap(), dport: 3306 }
    }

    #[test]
    fn flows_become_headers() {
        let h = header(&tuple(Proto::Tcp, "172.17.0.2", "172.18.0.2"), Some(0x12), None).unwrap();
        assert_eq!(h.l4, L4::Tcp { sport: 40112, dport: 3306, flags: 0x12 });
        let e = header(
            &tuple(Proto::Icmp, "172.17.0.2", "172.18.0.2"),
            None,
            Some(Icmp { kind: 0, code: 0, quoting: false }),
        );
        assert_eq!(e.unwrap().l4, L4::Icmp { kind: 0, code: 0, id: 40112, seq: 0, quoted: None });
        let err = header(
            &tuple(Proto::Udp, "172.17.0.2", "10.0.0.9"),
            None,
            Some(Icmp { kind: 3, code: 3, quoting: true }),
        )
        .unwrap();
        assert_eq!(
            (err.src.to_string(), err.dst.to_string()),
            ("10.0.0.9".into(), "172.17.0.2".into()),
            "back from the quoted destination"
        );
        let L4::Icmp { quoted: Some(q), .. } = &err.l4 else { panic!("{err:?}") };
        assert_eq!(q.l4, L4::Udp { sport: 40112, dport: 3306 });
        assert!(
            header(&tuple(Proto::Other(0), "0.0.0.0", "10.0.0.1"), None, None).is_none(),
            "ARP has no IP packet"
        );
    }

    #[test]
    fn icmpv6_flows_become_icmpv6_headers() {
        let t = tuple(Proto::Icmpv6, "fd00:66::2", "fd00:77::9");
        let echo = header(&t, None, Some(Icmp { kind: 128, code: 0, quoting: false })).unwrap();
        assert_eq!(echo.l4, L4::Icmp { kind: 128, code: 0, id: 40112, seq: 0, quoted: None });
        // Without the event's ICMP type: an echo request of its family.
        let plain = header(&t, None, None).unwrap();
        assert_eq!(plain.l4, L4::Icmp { kind: 128, code: 0, id: 40112, seq: 0, quoted: None });
        assert!(plain.bytes().is_ok());
        // An ICMPv6 error quoting a TCP packet.
        let tcp = tuple(Proto::Tcp, "fd00:66::2", "fd00:77::9");
        let err = header(&tcp, None, Some(Icmp { kind: 1, code: 0, quoting: true })).unwrap();
        let L4::Icmp { kind: 1, quoted: Some(q), .. } = &err.l4 else { panic!("{err:?}") };
        assert_eq!(q.l4, L4::Tcp { sport: 40112, dport: 3306, flags: 0 });
        assert!(err.bytes().is_ok());
    }
}
