//! IPv4 + L4 header parsing, from kernel memory (tracepoints) or from a tc context.
use aya_ebpf::programs::TcContext;
use dockernet_trace_common::is_icmp_error;

use crate::context::read;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
const ETH_HLEN: usize = 14;
const ETH_P_IP_BE: u16 = 0x0008; // htons(0x0800) as the kernel stores it

/// The fields of one packet that filters and events need.
#[derive(Clone, Copy, Default)]
pub struct Packet {
    pub saddr: u32,
    pub daddr: u32,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// ICMP errors: protocol of the quoted packet; `sport`/`dport` are then the quoted ports,
    /// so an error about the probe matches the probe's filter.
    pub inner_proto: u8,
    pub len: u16,
}

impl Packet {
    /// Protocol and ports that identify the flow (the quoted flow for ICMP errors).
    #[inline(always)]
    pub fn flow_proto(&self) -> u8 {
        if self.inner_proto != 0 { self.inner_proto } else { self.proto }
    }
}

/// Reads header bytes at an offset of a packet. Implemented for kernel memory and tc.
pub trait Bytes {
    fn load<T>(&self, off: usize) -> Option<T>;
}

/// A packet in kernel memory, starting at its IPv4 header.
pub struct KernelPacket(pub u64);

impl Bytes for KernelPacket {
    #[inline(always)]
    fn load<T>(&self, off: usize) -> Option<T> {
        read::<T>(self.0 + off as u64, 0).ok()
    }
}

/// A packet seen by tc, starting at its Ethernet header: read in place where the headers are
/// in the skb's linear part (no helper call), else copied out with bpf_skb_load_bytes.
pub struct TcPacket<'a> {
    ctx: &'a TcContext,
    data: usize,
    end: usize,
}

impl<'a> TcPacket<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a TcContext) -> Self {
        Self { ctx, data: ctx.data(), end: ctx.data_end() }
    }
}

impl Bytes for TcPacket<'_> {
    #[inline(always)]
    fn load<T>(&self, off: usize) -> Option<T> {
        // Offsets come from IHL fields, which are at most 60: bounded, as the verifier needs.
        let at = self.data + ETH_HLEN + (off & 0xff);
        if at + core::mem::size_of::<T>() <= self.end {
            // SAFETY: the bounds check above is the one the verifier wants for packet data.
            return Some(unsafe { (at as *const T).read_unaligned() });
        }
        self.ctx.load::<T>(ETH_HLEN + off).ok()
    }
}

#[inline(always)]
pub fn skb_protocol_is_ipv4(proto_be: u16) -> bool {
    proto_be == ETH_P_IP_BE
}

/// Where the transport header starts, or None for a fragment (which has none of its own).
pub type L4Offset = Option<usize>;

/// The IPv4 header alone (addresses, protocol, length): enough for the filters that reject
/// most packets, before the transport header is read.
#[inline(always)]
pub fn parse_ip<B: Bytes>(b: &B) -> Option<(Packet, L4Offset)> {
    let ip: [u8; 20] = b.load(0)?;
    if ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return None;
    }
    let p = Packet {
        saddr: u32::from_ne_bytes([ip[12], ip[13], ip[14], ip[15]]),
        daddr: u32::from_ne_bytes([ip[16], ip[17], ip[18], ip[19]]),
        proto: ip[9],
        len: u16::from_be_bytes([ip[2], ip[3]]),
        ..Packet::default()
    };
    let frag_off = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
    Some((p, (frag_off == 0).then_some(ihl)))
}

/// Ports, TCP flags, ICMP type and, for ICMP errors, the quoted flow. A transport header that
/// cannot be read leaves them zero.
#[inline(always)]
pub fn parse_l4<B: Bytes>(b: &B, p: &mut Packet, l4: L4Offset) {
    let Some(ihl) = l4 else { return };
    match p.proto {
        IPPROTO_TCP => {
            let Some(t) = b.load::<[u8; 14]>(ihl) else { return };
            p.sport = u16::from_be_bytes([t[0], t[1]]);
            p.dport = u16::from_be_bytes([t[2], t[3]]);
            p.tcp_flags = t[13];
        }
        IPPROTO_UDP => {
            let Some(u) = b.load::<[u8; 4]>(ihl) else { return };
            p.sport = u16::from_be_bytes([u[0], u[1]]);
            p.dport = u16::from_be_bytes([u[2], u[3]]);
        }
        IPPROTO_ICMP => {
            let Some(ic) = b.load::<[u8; 8]>(ihl) else { return };
            p.icmp_type = ic[0];
            p.icmp_code = ic[1];
            if is_icmp_error(ic[0]) {
                quoted(b, p, ihl + 8);
            } else {
                // Echo request/reply: the identifier plays the role of both ports.
                let id = u16::from_be_bytes([ic[4], ic[5]]);
                p.sport = id;
                p.dport = id;
            }
        }
        _ => {}
    }
}

/// The flow an ICMP error quotes (its IP header and first 8 bytes, at `at`).
#[inline(always)]
fn quoted<B: Bytes>(b: &B, p: &mut Packet, at: usize) {
    let Some(q) = b.load::<[u8; 20]>(at) else { return };
    let qihl = ((q[0] & 0x0f) as usize) * 4;
    if qihl < 20 {
        return;
    }
    p.inner_proto = q[9];
    let Some(qp) = b.load::<[u8; 8]>(at + qihl) else { return };
    if p.inner_proto == IPPROTO_ICMP {
        let id = u16::from_be_bytes([qp[4], qp[5]]);
        p.sport = id;
        p.dport = id;
    } else {
        p.sport = u16::from_be_bytes([qp[0], qp[1]]);
        p.dport = u16::from_be_bytes([qp[2], qp[3]]);
    }
}
