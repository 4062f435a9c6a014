//! Raw kernel events turned into typed ones, one factory per hook, and the ring buffer reader.
use std::net::IpAddr;

use aya::maps::{MapData, RingBuf};
use dockernet_trace_common::{Event, Hook, event_ip};
use netlink_packet_route::neighbour::NeighbourState;
use tokio::io::unix::AsyncFd;

use crate::{
    explain::route_failure::ErrorRoute,
    flow::{IcmpMessage, IpFamily, Proto, Tuple},
    kernel::{DropReason, DropReasons},
};

/// Where an event happened: the device and its namespace (0 when the hook cannot tell).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub ifindex: u32,
    pub ifname: String,
    pub netns: u32,
}

#[derive(Clone, Debug)]
pub enum Detail {
    /// The packet passed a tc hook or a device (its ICMP message, if any, is the event's
    /// `icmp`; `quotes`: it is an ICMP error quoting a packet of that protocol number).
    Hop { tcp_flags: u8, quotes: u8, rc: i32 },
    /// The packet was freed as a drop (`route`: the error route it was refused for, watch
    /// mode only).
    Drop { reason: DropReason, location: u64, route: Option<ErrorRoute> },
    /// A route lookup and its result (`gateway` of the lookup's family).
    Route { table: u32, err: i32, oif: u32, gateway: Option<IpAddr> },
    /// The kernel answered a packet with an ICMP error (`icmp:icmp_send`, IPv4 only).
    IcmpError { message: IcmpMessage },
    /// The kernel answered a packet with a TCP reset.
    Reset { reason: u32 },
    /// Neighbour state (ARP, or IPv6 neighbour discovery) changed, or resolution began
    /// (`created`).
    Neighbour { addr: IpAddr, state: NeighbourState, created: bool },
    /// A netfilter hook (NF_INET_*) ran on the packet; `verdict` when the kernel let us see it
    /// (fexit): 1 accept, negative errno when dropped.
    Netfilter { hook: String, verdict: Option<i32> },
    /// A netfilter table and base chain evaluated the packet.
    NfTable { table: String, chain: String },
    /// NAT is rewriting the packet; the event's tuple shows the new addresses.
    Nat { rewrites: &'static str },
}

/// Names of the netfilter hooks of the IPv4 family.
pub fn nf_hook_name(hook: u32) -> String {
    match hook {
        0 => "PREROUTING".into(),
        1 => "INPUT".into(),
        2 => "FORWARD".into(),
        3 => "OUTPUT".into(),
        4 => "POSTROUTING".into(),
        n => format!("hook {n}"),
    }
}

#[derive(Clone, Debug)]
pub struct KernelEvent {
    /// CLOCK_MONOTONIC nanoseconds.
    pub t_ns: u64,
    pub hook: Hook,
    pub skb: u64,
    pub place: Place,
    pub tuple: Option<Tuple>,
    /// The packet's own ICMP (ICMPv6) message, when it is one (echo, or an error quoting
    /// another packet, whose flow `tuple` then is).
    pub icmp: Option<IcmpMessage>,
    /// The TCP flags, when the packet itself is TCP.
    pub tcp_flags: Option<u8>,
    pub detail: Detail,
}

fn ifname(raw: &[u8]) -> String {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// The event's flow (the quoted one for ICMP errors); None without a known family.
fn tuple(e: &Event) -> Option<Tuple> {
    let proto = if e.inner_proto != 0 { e.inner_proto } else { e.proto };
    Some(Tuple {
        proto: Proto::from_number(proto),
        src: event_ip(e.family, &e.saddr)?,
        sport: e.sport,
        dst: event_ip(e.family, &e.daddr)?,
        dport: e.dport,
    })
}

impl KernelEvent {
    /// The factory: one small function per hook turns the raw record into a typed event.
    pub fn from_raw(e: &Event, reasons: &DropReasons) -> Option<Self> {
        let hook = Hook::try_from(e.hook).ok()?;
        let place = Place { ifindex: e.ifindex, ifname: ifname(&e.ifname), netns: e.netns };
        let base = |tuple, detail| KernelEvent {
            t_ns: e.ts_ns,
            hook,
            skb: e.skb,
            place: place.clone(),
            tuple,
            icmp: IcmpMessage::of(Proto::from_number(e.proto), e.icmp_type, e.icmp_code),
            tcp_flags: (e.proto == 6).then_some(e.tcp_flags),
            detail,
        };
        Some(match hook {
            Hook::TcIngress
            | Hook::TcEgress
            | Hook::NetifReceive
            | Hook::NetDevXmit
            | Hook::BrForward
            | Hook::BrPassUp => base(tuple(e), hop(e)),
            Hook::KfreeSkb => base(
                tuple(e),
                Detail::Drop {
                    reason: reasons.name(e.drop_reason()),
                    location: e.drop_location(),
                    route: ErrorRoute::reported(e.refused_route()),
                },
            ),
            Hook::FibLookup => base(tuple(e), route(e)),
            Hook::IcmpSend => base(
                tuple(e),
                Detail::IcmpError {
                    message: IcmpMessage { family: IpFamily::V4, kind: e.icmp_type, code: e.icmp_code },
                },
            ),
            Hook::TcpSendReset => base(tuple(e), Detail::Reset { reason: e.reset_reason() }),
            Hook::NeighUpdate | Hook::NeighCreate => base(None, neighbour(e, hook)?),
            Hook::NfVerdict => base(tuple(e), netfilter(e)),
            Hook::NfTable => base(tuple(e), nf_table(e)),
            Hook::NatRewrite => base(
                tuple(e),
                Detail::Nat { rewrites: if e.nat_rewrites_destination() { "destination" } else { "source" } },
            ),
        })
    }
}

fn hop(e: &Event) -> Detail {
    Detail::Hop { tcp_flags: e.tcp_flags, quotes: e.inner_proto, rc: e.xmit_rc() }
}

fn netfilter(e: &Event) -> Detail {
    Detail::Netfilter { hook: nf_hook_name(e.nf_hook()), verdict: e.nf_verdict() }
}

fn nf_table(e: &Event) -> Detail {
    let label = ifname(e.nf_table_chain());
    let (table, chain) = label.split_once(' ').unwrap_or((label.as_str(), ""));
    Detail::NfTable { table: table.to_string(), chain: chain.to_string() }
}

fn route(e: &Event) -> Detail {
    let gateway = event_ip(e.family, e.fib_gateway()).filter(|g| !g.is_unspecified());
    Detail::Route { table: e.fib_table(), err: e.fib_error(), oif: e.fib_oif(), gateway }
}

fn neighbour(e: &Event, hook: Hook) -> Option<Detail> {
    Some(Detail::Neighbour {
        addr: event_ip(e.family, e.neigh_addr())?,
        state: NeighbourState::from(u16::from(e.neigh_state())),
        created: hook == Hook::NeighCreate,
    })
}

/// Reads raw events from the ring buffer as they arrive.
pub struct EventReader {
    ring: Ring,
}

/// The ring buffer, registered with tokio's reactor on first async use (registration needs a
/// runtime; creating the reader does not).
enum Ring {
    Plain(RingBuf<MapData>),
    Async(AsyncFd<RingBuf<MapData>>),
    Taken,
}

impl EventReader {
    pub fn new(ring: RingBuf<MapData>) -> Self {
        Self { ring: Ring::Plain(ring) }
    }

    fn ring_mut(&mut self) -> Option<&mut RingBuf<MapData>> {
        match &mut self.ring {
            Ring::Plain(r) => Some(r),
            Ring::Async(fd) => Some(fd.get_mut()),
            Ring::Taken => None,
        }
    }

    fn registered(&mut self) -> std::io::Result<&mut AsyncFd<RingBuf<MapData>>> {
        if let Ring::Plain(_) = self.ring {
            let Ring::Plain(r) = std::mem::replace(&mut self.ring, Ring::Taken) else { unreachable!() };
            // SAFETY: the ring buffer owns its map fd and keeps it open, unchanged, for as long
            // as the AsyncFd (which owns the ring buffer) lives.
            self.ring = Ring::Async(unsafe { AsyncFd::register(r)? });
        }
        match &mut self.ring {
            Ring::Async(fd) => Ok(fd),
            _ => Err(std::io::Error::other("ring buffer lost")),
        }
    }

    /// Everything available now, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        let Some(ring) = self.ring_mut() else { return Vec::new() };
        let mut out = Vec::new();
        while let Some(item) = ring.next() {
            if item.len() >= std::mem::size_of::<Event>() {
                // SAFETY: the kernel wrote a whole `Event` (size checked); read_unaligned copes
                // with the ring buffer's 8-byte alignment guarantee being all we have.
                out.push(unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<Event>()) });
            }
        }
        out
    }

    /// Waits until events are available (or `timeout` passes) and returns them.
    pub async fn next_batch(&mut self, timeout: std::time::Duration) -> Vec<Event> {
        let now = self.drain();
        if !now.is_empty() {
            return now;
        }
        match self.registered() {
            Ok(fd) => {
                if let Ok(Ok(mut guard)) = tokio::time::timeout(timeout, fd.readable_mut()).await {
                    guard.clear_ready();
                }
            }
            // No reactor support for this fd: fall back to polling.
            Err(_) => tokio::time::sleep(timeout.min(std::time::Duration::from_millis(50))).await,
        }
        self.drain()
    }
}

#[cfg(test)]
mod tests {
    use dockernet_trace_common::{FAMILY_V4, FAMILY_V6};

    use super::*;

    fn raw(hook: Hook, family: u8, src: IpAddr, dst: IpAddr) -> Event {
        let bytes = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&v4.octets());
                b
            }
            IpAddr::V6(v6) => v6.octets(),
        };
        Event { hook: hook as u8, family, saddr: bytes(src), daddr: bytes(dst), ..Event::ZERO }
    }

    #[test]
    fn ipv6_events_decode_to_ipv6_tuples_and_icmpv6() {
        let (a, b) = ("fd00:30::2".parse().unwrap(), "fd00:31::2".parse().unwrap());
        let mut e = raw(Hook::NetDevXmit, FAMILY_V6, a, b);
        (e.proto, e.icmp_type, e.icmp_code, e.inner_proto, e.sport, e.dport) = (58, 1, 4, 6, 40000, 80);
        let k = KernelEvent::from_raw(&e, &DropReasons::default()).unwrap();
        let t = k.tuple.unwrap();
        assert_eq!((t.src, t.dst, t.proto, t.sport), (a, b, Proto::Tcp, 40000), "the quoted flow");
        assert_eq!(k.icmp.unwrap().to_string(), "ICMPv6 1/4");
        assert!(matches!(k.detail, Detail::Hop { quotes: 6, .. }));
    }

    #[test]
    fn ipv6_route_and_neighbour_addresses() {
        let (a, b) = ("fd00:30::2".parse().unwrap(), "fd00:31::2".parse().unwrap());
        let mut e = raw(Hook::FibLookup, FAMILY_V6, a, b);
        (e.table, e.value) = (254, -113);
        e.addr = "fd00:31::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
        let k = KernelEvent::from_raw(&e, &DropReasons::default()).unwrap();
        let Detail::Route { table, err, gateway, .. } = k.detail else { panic!() };
        assert_eq!((table, err, gateway), (254, -113, Some("fd00:31::1".parse().unwrap())));
        let mut n = raw(Hook::NeighUpdate, FAMILY_V6, a, b);
        n.addr = "fd00:31::9".parse::<std::net::Ipv6Addr>().unwrap().octets();
        n.value = 0x20;
        let k = KernelEvent::from_raw(&n, &DropReasons::default()).unwrap();
        let Detail::Neighbour { addr, .. } = k.detail else { panic!() };
        assert_eq!(addr, "fd00:31::9".parse::<IpAddr>().unwrap());
        // An IPv4 event reads the first four bytes; one without family has no addresses.
        let v4 = raw(Hook::KfreeSkb, FAMILY_V4, "172.17.0.2".parse().unwrap(), "172.18.0.2".parse().unwrap());
        let k = KernelEvent::from_raw(&v4, &DropReasons::default()).unwrap();
        assert_eq!(k.tuple.unwrap().dst, "172.18.0.2".parse::<IpAddr>().unwrap());
        assert!(
            KernelEvent::from_raw(&Event { family: 0, ..v4 }, &DropReasons::default())
                .unwrap()
                .tuple
                .is_none()
        );
    }
}
