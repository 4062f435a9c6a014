use std::{net::IpAddr, time::Duration};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcapng::{Block, PcapNgReader};

use super::*;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_795_300_884_000 + ms)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A probe from nacos to the host's published port, DNATed to mysql: three sightings.
fn probe() -> Vec<Sighting> {
    let syn = |src: &str, dst: &str, dport: u16| Header {
        src: ip(src),
        dst: ip(dst),
        l4: L4::Tcp { sport: 40112, dport, flags: 0x02 },
    };
    vec![
        Sighting {
            at: at(0),
            netns: "container:nacos".into(),
            iface: "eth0".into(),
            header: syn("172.17.0.2", "10.0.0.5", 3306),
            hop: "hop 0: tc_egress".into(),
        },
        Sighting {
            at: at(1),
            netns: "host".into(),
            iface: "docker0".into(),
            header: syn("172.17.0.2", "10.0.0.5", 3306),
            hop: "hop 1: tc_ingress".into(),
        },
        Sighting {
            at: at(2),
            netns: "host".into(),
            iface: "br-e685d9c814c0".into(),
            header: syn("172.17.0.2", "172.18.0.2", 3306),
            hop: "hop 2: net_dev_xmit, after DNAT".into(),
        },
        Sighting {
            at: at(3),
            netns: "container:nacos".into(),
            iface: "eth0".into(),
            header: Header {
                src: ip("172.17.0.1"),
                dst: ip("172.17.0.2"),
                l4: L4::Icmp {
                    kind: 3,
                    code: 3,
                    id: 0,
                    seq: 0,
                    quoted: Some(Box::new(syn("172.17.0.2", "10.0.0.5", 3306))),
                },
            },
            hop: "hop 3: an ICMP error back".into(),
        },
    ]
}

fn written(sightings: &[Sighting]) -> Vec<u8> {
    let mut w = PcapNg::new(Vec::new(), "test.pcapng").unwrap();
    for s in sightings {
        w.write(s).unwrap();
    }
    w.into_inner()
}

/// Internet checksum over `data` (with a pseudo header prepended by the caller).
fn sum(data: &[u8]) -> u16 {
    let mut s: u32 =
        data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[test]
fn every_sighting_reads_back_in_order_with_its_interface_and_comment() {
    let bytes = written(&probe());
    let mut r = PcapNgReader::new(&bytes[..]).unwrap();
    let mut packets = Vec::new();
    let mut interfaces = Vec::new();
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(i) => interfaces.push(i.into_owned()),
            Block::EnhancedPacket(p) => packets.push(p.into_owned()),
            _ => {}
        }
    }
    assert_eq!(interfaces.len(), 3, "eth0 in nacos, docker0 and the bridge: one block each");
    let names: Vec<String> = interfaces
        .iter()
        .map(|i| {
            i.options
                .iter()
                .find_map(|o| match o {
                    InterfaceDescriptionOption::IfDescription(d) => Some(d.to_string()),
                    _ => None,
                })
                .unwrap()
        })
        .collect();
    assert_eq!(names[0], "eth0 in network namespace container:nacos");
    assert!(interfaces.iter().all(|i| i.linktype == DataLink::RAW));
    assert_eq!(packets.iter().map(|p| p.interface_id).collect::<Vec<_>>(), [0, 1, 2, 0]);
    assert_eq!(packets[2].timestamp, at(2).duration_since(UNIX_EPOCH).unwrap());
    let comment = |p: &EnhancedPacketBlock| match &p.options[0] {
        EnhancedPacketOption::Comment(c) => c.to_string(),
        o => panic!("{o:?}"),
    };
    assert_eq!(comment(&packets[2]), format!("hop 2: net_dev_xmit, after DNAT; {RECONSTRUCTED}"));

    // The NAT shows between the second and the third packet; lengths and checksums are right.
    let dsts: Vec<String> = packets
        .iter()
        .map(|p| {
            let s = SlicedPacket::from_ip(&p.data).unwrap();
            let Some(NetSlice::Ipv4(v4)) = s.net else { panic!() };
            assert_eq!(usize::from(v4.header().total_len()), p.data.len());
            assert_eq!(sum(v4.header().slice()), 0, "IPv4 header checksum");
            v4.header().destination_addr().to_string()
        })
        .collect();
    assert_eq!(dsts, ["10.0.0.5", "10.0.0.5", "172.18.0.2", "172.17.0.2"]);
    let tcp = SlicedPacket::from_ip(&packets[2].data).unwrap();
    let Some(TransportSlice::Tcp(t)) = tcp.transport else { panic!() };
    assert!(t.syn() && !t.ack() && t.source_port() == 40112 && t.destination_port() == 3306);
    let mut pseudo = vec![172, 17, 0, 2, 172, 18, 0, 2, 0, 6, 0, t.slice().len() as u8];
    pseudo.extend_from_slice(t.slice());
    assert_eq!(sum(&pseudo), 0, "TCP checksum over the pseudo header");
    let icmp = SlicedPacket::from_ip(&packets[3].data).unwrap();
    let Some(TransportSlice::Icmpv4(i)) = icmp.transport else { panic!() };
    assert_eq!((i.type_u8(), i.code_u8()), (3, 3));
    assert_eq!(sum(i.slice()), 0, "ICMP checksum");
    assert_eq!(i.payload().len(), 40, "the quoted IPv4+TCP headers");
}

#[test]
fn udp_icmp_echo_and_ipv6_are_valid_packets() {
    let cases = [
        Header { src: ip("172.17.0.2"), dst: ip("8.8.8.8"), l4: L4::Udp { sport: 40000, dport: 53 } },
        Header {
            src: ip("172.17.0.2"),
            dst: ip("172.18.0.2"),
            l4: L4::Icmp { kind: 8, code: 0, id: 0x6101, seq: 2, quoted: None },
        },
        Header { src: ip("fd00::2"), dst: ip("fd00::3"), l4: L4::Tcp { sport: 1, dport: 2, flags: 0x14 } },
        Header {
            src: ip("fd00::2"),
            dst: ip("fd00::3"),
            l4: L4::Icmp { kind: 128, code: 0, id: 7, seq: 1, quoted: None },
        },
    ];
    for h in cases {
        let b = h.bytes().unwrap();
        let s = SlicedPacket::from_ip(&b).unwrap_or_else(|e| panic!("{h:?}: {e}"));
        match (&s.transport, &h.l4) {
            (Some(TransportSlice::Udp(u)), L4::Udp { .. }) => assert_eq!(u.length(), 8),
            (Some(TransportSlice::Icmpv4(i)), L4::Icmp { .. }) => assert_eq!(
                i.icmp_type(),
                etherparse::Icmpv4Type::EchoRequest(etherparse::IcmpEchoHeader { id: 0x6101, seq: 2 })
            ),
            (Some(TransportSlice::Tcp(t)), L4::Tcp { .. }) => assert!(t.rst() && t.ack() && !t.syn()),
            (Some(TransportSlice::Icmpv6(i)), L4::Icmp { .. }) => assert_eq!(i.type_u8(), 128),
            other => panic!("{other:?}"),
        }
    }
    let mixed = Header { src: ip("10.0.0.1"), dst: ip("fd00::1"), l4: L4::Udp { sport: 1, dport: 2 } };
    assert!(mixed.bytes().unwrap_err().to_string().contains("different IP versions"));
}
