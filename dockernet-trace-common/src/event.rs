//! What a kernel program reports: the hook it ran at and the event it writes to the ring
//! buffer, with the per-hook meaning of the fields it reuses.

use crate::{COUNTED_IN_MAP, IFNAMSIZ};

/// Where in the kernel an [`Event`] was observed.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    TcIngress = 1,
    TcEgress = 2,
    NetifReceive = 3,
    NetDevXmit = 4,
    KfreeSkb = 5,
    FibLookup = 6,
    IcmpSend = 7,
    TcpSendReset = 8,
    NeighUpdate = 9,
    NeighCreate = 10,
    /// Enrichment (kprobe/fentry): the bridge forwards a frame to a port.
    BrForward = 11,
    /// Enrichment: the bridge passes a frame up to the host stack.
    BrPassUp = 12,
    /// Enrichment: a netfilter hook returned a verdict (or, with kprobes, was entered).
    NfVerdict = 13,
    /// Enrichment: a netfilter table and base chain evaluated the packet (nft_do_chain for
    /// nftables and iptables-nft, ipt_do_table for legacy iptables).
    NfTable = 14,
    /// Enrichment: NAT rewrote the packet (the tuple is the translation target).
    NatRewrite = 15,
}

impl Hook {
    /// The name a hook has in output (`tc_ingress`, `kfree_skb`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Hook::TcIngress => "tc_ingress",
            Hook::TcEgress => "tc_egress",
            Hook::NetifReceive => "netif_receive_skb",
            Hook::NetDevXmit => "net_dev_xmit",
            Hook::KfreeSkb => "kfree_skb",
            Hook::FibLookup => "fib_table_lookup",
            Hook::IcmpSend => "icmp_send",
            Hook::TcpSendReset => "tcp_send_reset",
            Hook::NeighUpdate => "neigh_update",
            Hook::NeighCreate => "neigh_create",
            Hook::BrForward => "br_forward",
            Hook::BrPassUp => "br_pass_frame_up",
            Hook::NfVerdict => "nf_hook_slow",
            Hook::NfTable => "nf_table",
            Hook::NatRewrite => "nf_nat",
        }
    }
}

impl TryFrom<u8> for Hook {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        Ok(match v {
            1 => Self::TcIngress,
            2 => Self::TcEgress,
            3 => Self::NetifReceive,
            4 => Self::NetDevXmit,
            5 => Self::KfreeSkb,
            6 => Self::FibLookup,
            7 => Self::IcmpSend,
            8 => Self::TcpSendReset,
            9 => Self::NeighUpdate,
            10 => Self::NeighCreate,
            11 => Self::BrForward,
            12 => Self::BrPassUp,
            13 => Self::NfVerdict,
            14 => Self::NfTable,
            15 => Self::NatRewrite,
            other => return Err(other),
        })
    }
}

/// One observation made by a kernel program. Fields that do not apply to a hook are zero.
///
/// Addresses are the bytes the packet (or kernel structure) holds, IPv4 in the first four of
/// the sixteen (`family` says which); ports are in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Address of the `sk_buff`: ties together the hops of one packet.
    pub skb: u64,
    /// kfree_skb: the caller that dropped the packet, a kernel text address.
    pub location: u64,
    pub hook: u8,
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6), after IPv6 extension headers.
    pub proto: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// For ICMP errors: the protocol of the packet quoted inside.
    pub inner_proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`]: how to read `saddr`, `daddr` and `addr`.
    pub family: u8,
    pub _pad: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub ifindex: u32,
    /// Inode number of the network namespace of the device (0 when unknown).
    pub netns: u32,
    /// kfree_skb: `enum skb_drop_reason`; tcp_send_reset: `enum sk_rst_reason`;
    /// nf verdict: the verdict.
    pub reason: u32,
    /// fib lookup: error (negative errno, 0 on success); net_dev_xmit: rc;
    /// neigh: new NUD state.
    pub value: i32,
    /// fib lookup: routing table id; nf hook: hook number.
    pub table: u32,
    /// fib lookup: output ifindex chosen; kfree_skb (watch): the route's errno, with
    /// [`ROUTE_FORWARDING_OFF`].
    pub aux: u32,
    pub len: u32,
    /// fib lookup: the gateway; neigh: the neighbour's address (its table's key).
    pub addr: [u8; 16],
    pub ifname: [u8; IFNAMSIZ],
    /// Enrichment: `table chain` names (netfilter), NUL-padded.
    pub label: [u8; LABEL_LEN],
}

/// `Event::family` of IPv4 addresses (the IP version, not the kernel's AF_* number).
pub const FAMILY_V4: u8 = 4;
/// `Event::family` of IPv6 addresses.
pub const FAMILY_V6: u8 = 6;

/// kfree_skb in watch mode: the bit of `aux` that says forwarding was off (see
/// `RefusedRoute::forwarding_off`); the errno is the low byte.
pub const ROUTE_FORWARDING_OFF: u32 = 0x100;

/// `reason` of an NfVerdict event when only the hook entry was seen (kprobe: no verdict).
/// i32::MIN: nf_hook_slow returns 1, 0 or a small negative errno (a drop is -EPERM, i.e.
/// 0xffff_ffff as u32), never this.
pub const VERDICT_UNKNOWN: u32 = 0x8000_0000;

/// `value` of a NatRewrite event when NAT rewrites the destination (`NF_NAT_MANIP_DST`).
pub const NAT_MANIP_DST: i32 = 1;

/// What the fields an [`Event`] reuses mean for the hook that wrote it. User space reads them
/// through these, never through the raw field names.
impl Event {
    /// kfree_skb: `enum skb_drop_reason` (name it from BTF, its numbering changes).
    pub fn drop_reason(&self) -> u32 {
        self.reason
    }
    /// kfree_skb: the caller that freed the packet, a kernel text address.
    pub fn drop_location(&self) -> u64 {
        self.location
    }
    /// kfree_skb in watch mode: the error route the packet was refused for (see
    /// [`crate::RefusedRoute`]; all zero when none).
    pub fn refused_route(&self) -> crate::RefusedRoute {
        crate::RefusedRoute {
            error: self.aux as u8,
            forwarding_off: u8::from(self.aux & ROUTE_FORWARDING_OFF != 0),
        }
    }
    /// tcp_send_reset: `enum sk_rst_reason` (6.10+; 0 before).
    pub fn reset_reason(&self) -> u32 {
        self.reason
    }
    /// fib_table_lookup: 0 on success, else a negative errno (-EAGAIN: try the next table).
    pub fn fib_error(&self) -> i32 {
        self.value
    }
    /// fib_table_lookup: the routing table's id.
    pub fn fib_table(&self) -> u32 {
        self.table
    }
    /// fib_table_lookup: the output ifindex chosen.
    pub fn fib_oif(&self) -> u32 {
        self.aux
    }
    /// fib_table_lookup / fib6_table_lookup: the gateway, bytes of `family` (zero: none).
    pub fn fib_gateway(&self) -> &[u8; 16] {
        &self.addr
    }
    /// neigh_update / neigh_create: the new NUD state.
    pub fn neigh_state(&self) -> u8 {
        self.value as u8
    }
    /// neigh_update / neigh_create: the neighbour's address (ARP or neighbour discovery),
    /// bytes of `family`.
    pub fn neigh_addr(&self) -> &[u8; 16] {
        &self.addr
    }
    /// net_dev_xmit: the driver's return code (hops: 0 elsewhere).
    pub fn xmit_rc(&self) -> i32 {
        self.value
    }
    /// NfVerdict: the netfilter hook number (NF_INET_*).
    pub fn nf_hook(&self) -> u32 {
        self.table
    }
    /// NfVerdict: the hook's verdict (1 accept, negative errno when dropped), None when the
    /// program saw only the hook's entry.
    pub fn nf_verdict(&self) -> Option<i32> {
        (self.reason != VERDICT_UNKNOWN).then_some(self.reason as i32)
    }
    /// NfTable: `table chain`, NUL-padded.
    pub fn nf_table_chain(&self) -> &[u8] {
        &self.label
    }
    /// kfree_skb / tcp_send_reset in watch mode: the first event of a [`DropKey`] whose
    /// packets are counted in `DROP_COUNTS` (else the event stands for one packet).
    pub fn counted_in_map(&self) -> bool {
        let counted_hook = self.hook == Hook::KfreeSkb as u8 || self.hook == Hook::TcpSendReset as u8;
        counted_hook && self.value == COUNTED_IN_MAP
    }
    /// NatRewrite: NAT rewrites the destination (else the source).
    pub fn nat_rewrites_destination(&self) -> bool {
        self.value == NAT_MANIP_DST
    }
}

/// Length of `Event::label`.
pub const LABEL_LEN: usize = 32;

/// An address of `family` from the sixteen bytes an [`Event`] carries it in.
pub fn event_ip(family: u8, bytes: &[u8; 16]) -> Option<core::net::IpAddr> {
    match family {
        FAMILY_V4 => {
            Some(core::net::IpAddr::V4(core::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])))
        }
        FAMILY_V6 => Some(core::net::IpAddr::V6(core::net::Ipv6Addr::from(*bytes))),
        _ => None,
    }
}

/// ICMP types that quote the packet they are about (destination unreachable, time exceeded,
/// parameter problem).
#[inline(always)]
pub fn is_icmp_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 11 | 12)
}

/// ICMPv6 types that quote the packet they are about (destination unreachable, packet too
/// big, time exceeded, parameter problem).
#[inline(always)]
pub fn is_icmpv6_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 1..=4)
}

impl Event {
    pub const ZERO: Event = Event {
        ts_ns: 0,
        skb: 0,
        location: 0,
        hook: 0,
        proto: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        inner_proto: 0,
        family: 0,
        _pad: 0,
        saddr: [0; 16],
        daddr: [0; 16],
        sport: 0,
        dport: 0,
        ifindex: 0,
        netns: 0,
        reason: 0,
        value: 0,
        table: 0,
        aux: 0,
        len: 0,
        addr: [0; 16],
        ifname: [0; IFNAMSIZ],
        label: [0; LABEL_LEN],
    };
}
