//! IPv4 / IPv6 + L4 header parsing, from kernel memory (tracepoints) or from a tc context
//! (`tc_packet`).
//! IPv6 extension headers are walked up to the transport header (see `ipv6_ext`).
use dockernet_trace_common::{FAMILY_V4, FAMILY_V6, is_icmp_error, is_icmpv6_error};

use crate::ipv6_ext;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const ETH_HLEN: usize = 14;
const ETH_P_IP_BE: u16 = 0x0008; // htons(0x0800) as the kernel stores it
const ETH_P_IPV6_BE: u16 = 0xdd86; // htons(0x86DD)
pub const IPV6_HLEN: usize = 40;

/// The fields of one packet that filters and events need.
#[derive(Clone, Copy, Default)]
pub struct Packet {
    /// `FAMILY_V4` or `FAMILY_V6`: which of the address pairs below holds the addresses.
    pub family: u8,
    /// IPv4 addresses, as `u32::from_ne_bytes` of the header's bytes.
    pub saddr: u32,
    pub daddr: u32,
    /// IPv6 addresses, the header's bytes.
    pub saddr6: [u8; 16],
    pub daddr6: [u8; 16],
    /// The transport protocol (after IPv6 extension headers).
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

    /// The source address in an event's sixteen bytes (IPv4 in the first four).
    #[inline(always)]
    pub fn src_bytes(&self) -> [u8; 16] {
        if self.family == FAMILY_V6 { self.saddr6 } else { v4_bytes(self.saddr) }
    }

    #[inline(always)]
    pub fn dst_bytes(&self) -> [u8; 16] {
        if self.family == FAMILY_V6 { self.daddr6 } else { v4_bytes(self.daddr) }
    }
}

/// An IPv4 address (as read from the packet) in the first four of sixteen bytes.
#[inline(always)]
pub fn v4_bytes(addr: u32) -> [u8; 16] {
    // As one 128-bit value: built byte by byte, the array costs a stack slot per byte. The
    // target is little-endian (bpfel), so the address's bytes come first.
    (addr as u128).to_le_bytes()
}

/// Word `i` (0-3) of an IPv6 address, as `u32::from_ne_bytes` reads it (how the
/// configuration holds the probe's IPv6 addresses).
#[inline(always)]
pub fn word(a: &[u8; 16], i: usize) -> u32 {
    u32::from_ne_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]])
}

/// `::`, as a lookup's source is before a source address is chosen.
#[inline(always)]
pub fn is_unspecified6(a: &[u8; 16]) -> bool {
    word(a, 0) | word(a, 1) | word(a, 2) | word(a, 3) == 0
}

/// Reads header bytes at an offset of a packet. Implemented for kernel memory and tc.
pub trait Bytes: Sized {
    /// Read an IPv4 header together with the first bytes after it (see `parse_ip4`): where
    /// each read is a helper call (kernel memory), not where it is a bounds check (tc).
    const READ_AHEAD: bool = false;
    fn load<T>(&self, off: usize) -> Option<T>;

    /// The transport protocol and header offset after the IPv6 extension headers that start
    /// with `first` (see `ipv6_ext`). Kernel memory and tc call a global eBPF function.
    #[inline(always)]
    fn after_extensions(&self, first: u8) -> (u8, Option<usize>) {
        ipv6_ext::walk(self, first)
    }

    /// `parse_l4`'s fields from the transport header at `l4` (`p.proto` says which header).
    /// Kernel memory calls a global eBPF function (see `dnt_l4_kernel`).
    #[inline(always)]
    fn transport_fields(&self, p: &mut Packet, l4: usize) {
        parse_l4_inline(self, p, l4)
    }
}

/// The IP family of an `skb->protocol` (network byte order), if it is IPv4 or IPv6.
#[inline(always)]
pub fn family_of(proto_be: u16) -> Option<u8> {
    match proto_be {
        ETH_P_IP_BE => Some(FAMILY_V4),
        ETH_P_IPV6_BE => Some(FAMILY_V6),
        _ => None,
    }
}

/// What `parse_ip` knows of the transport header.
#[derive(Clone, Copy)]
pub enum Transport {
    /// It starts this many bytes into the packet; `parse_l4` reads it.
    At(usize),
    /// Its fields were read with the IP header.
    Read,
    /// It cannot be found (a non-first fragment, ESP, more IPv6 extension headers than we
    /// walk).
    Unknown,
}

/// The IP header alone (addresses, transport protocol, length), into `p` (all zero): enough
/// for the filters that reject most packets, before the transport header is read. IPv6
/// extension headers are walked here, as the transport protocol is only known after them.
/// Fills the caller's packet rather than returning one: a returned `Packet` was copied, word
/// by word, on every dropped packet a watch counts.
#[inline(always)]
pub fn parse_ip<B: Bytes>(b: &B, family: u8, p: &mut Packet) -> Option<Transport> {
    // (Inlined into each program: parsed in an eBPF function of its own, the packet's fields
    // were written through a pointer and read back on every dropped packet a watch counts.)
    let l4 = if family == FAMILY_V6 { parse_ip6(b, p) } else { parse_ip4(b, p) };
    transport(l4.unwrap_or(NOT_PARSED))
}

/// What `parse_ip4` or `parse_ip6` returned, as a `Transport` (None: not parsed). They return
/// one number, defined on every path, and the enum is made once here: when each returned the
/// enum, LLVM merged their paths and spilled the offset of a variant without one, never set,
/// which the verifier refuses ("R3 !read_ok" on 6.1's, for the IPv6 code).
#[inline(always)]
fn transport(l4: usize) -> Option<Transport> {
    match l4 {
        NOT_PARSED => None,
        NO_L4 => Some(Transport::Unknown),
        L4_READ => Some(Transport::Read),
        l4 => Some(Transport::At(l4)),
    }
}

/// Not an IP header of the family.
const NOT_PARSED: usize = 0;
/// Parsed, without a transport header to read.
const NO_L4: usize = usize::MAX;
/// Parsed, the transport header's fields too.
const L4_READ: usize = usize::MAX - 1;

/// An IPv4 header without options and the 16 bytes after it: the transport header's fields
/// `parse_l4` wants, but for an ICMP error's quote. Read at once where each read is a helper
/// call: the probe's filter, whose last test is the ports, then needs no other read for most
/// packets. Aligned, so that LLVM reads its fields as words (a byte array's alignment, 1, left
/// it one load and one stack slot per byte, and a frame too deep for older kernels).
#[repr(C, align(8))]
struct Ip4Ahead {
    ip: [u8; IPV4_HLEN],
    after: [u8; 16],
}

impl Ip4Ahead {
    /// `parse_ip4` from these bytes: `L4_READ` when the transport header's fields were among
    /// them.
    #[inline(always)]
    fn fill(&self, p: &mut Packet) -> Option<usize> {
        let l4 = ip4_fields(&self.ip, p)?;
        let quotes = p.proto == IPPROTO_ICMP && is_icmp_error(self.after[0]);
        if l4 != IPV4_HLEN || quotes {
            return Some(l4);
        }
        parse_l4_inline(&Ahead(&self.after), p, 0);
        Some(L4_READ)
    }
}

/// Fills `p` (all zero) from an IPv4 header: the transport header's offset, `NO_L4`, or
/// `L4_READ` (see `Ip4Ahead`).
#[inline(always)]
fn parse_ip4<B: Bytes>(b: &B, p: &mut Packet) -> Option<usize> {
    if B::READ_AHEAD
        && let Some(h) = b.load::<Ip4Ahead>(0)
    {
        return h.fill(p);
    }
    let ip: [u8; IPV4_HLEN] = b.load(0)?;
    ip4_fields(&ip, p)
}

const IPV4_HLEN: usize = 20;

/// `parse_ip4` from the header's fixed part.
#[inline(always)]
fn ip4_fields(ip: &[u8; IPV4_HLEN], p: &mut Packet) -> Option<usize> {
    if ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return None;
    }
    p.family = FAMILY_V4;
    p.saddr = u32::from_ne_bytes([ip[12], ip[13], ip[14], ip[15]]);
    p.daddr = u32::from_ne_bytes([ip[16], ip[17], ip[18], ip[19]]);
    p.proto = ip[9];
    p.len = u16::from_be_bytes([ip[2], ip[3]]);
    let frag_off = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
    Some(if frag_off == 0 { ihl } else { NO_L4 })
}

/// The same from an IPv6 header and its extension headers.
#[inline(always)]
fn parse_ip6<B: Bytes>(b: &B, p: &mut Packet) -> Option<usize> {
    let fixed: [u8; 8] = b.load(0)?;
    if fixed[0] >> 4 != 6 {
        return None;
    }
    p.family = FAMILY_V6;
    p.saddr6 = b.load(8)?;
    p.daddr6 = b.load(24)?;
    p.len = u16::from_be_bytes([fixed[4], fixed[5]]).wrapping_add(IPV6_HLEN as u16);
    let (proto, l4) = if ipv6_ext::is_extension(fixed[6]) {
        b.after_extensions(fixed[6])
    } else {
        (fixed[6], Some(IPV6_HLEN))
    };
    p.proto = proto;
    Some(l4.unwrap_or(NO_L4))
}

/// Ports, TCP flags, ICMP type and, for ICMP errors, the quoted flow, from the transport
/// header at `l4`. A transport header that cannot be read (or found) leaves them zero.
#[inline(always)]
pub fn parse_l4<B: Bytes>(b: &B, p: &mut Packet, l4: Transport) {
    if let Transport::At(l4) = l4 {
        b.transport_fields(p, l4);
    }
}

/// The bytes `parse_ip4` read after an IPv4 header, parsed as the packet's.
struct Ahead<'a>(&'a [u8; 16]);

impl Bytes for Ahead<'_> {
    #[inline(always)]
    fn load<T>(&self, off: usize) -> Option<T> {
        // (Offsets are constants here: the check folds away.)
        (off + core::mem::size_of::<T>() <= self.0.len())
            // SAFETY: within the array, checked just above; read_unaligned has no alignment needs.
            .then(|| unsafe { (self.0.as_ptr().add(off) as *const T).read_unaligned() })
    }
}

#[inline(always)]
pub(crate) fn parse_l4_inline<B: Bytes>(b: &B, p: &mut Packet, l4: usize) {
    match p.proto {
        IPPROTO_TCP => {
            let Some(t) = b.load::<[u8; 14]>(l4) else { return };
            p.sport = u16::from_be_bytes([t[0], t[1]]);
            p.dport = u16::from_be_bytes([t[2], t[3]]);
            p.tcp_flags = t[13];
        }
        IPPROTO_UDP => {
            let Some(u) = b.load::<[u8; 4]>(l4) else { return };
            p.sport = u16::from_be_bytes([u[0], u[1]]);
            p.dport = u16::from_be_bytes([u[2], u[3]]);
        }
        IPPROTO_ICMP => {
            let Some(ic) = b.load::<[u8; 8]>(l4) else { return };
            p.icmp_type = ic[0];
            p.icmp_code = ic[1];
            if is_icmp_error(ic[0]) {
                quoted4(b, p, l4 + 8);
            } else {
                // Echo request/reply: the identifier plays the role of both ports.
                echo_id(p, &ic);
            }
        }
        IPPROTO_ICMPV6 => {
            let Some(ic) = b.load::<[u8; 8]>(l4) else { return };
            p.icmp_type = ic[0];
            p.icmp_code = ic[1];
            if is_icmpv6_error(ic[0]) {
                quoted6(b, p, l4 + 8);
            } else if ic[0] == 128 || ic[0] == 129 {
                // Only echoes carry an identifier (neighbour discovery has none).
                echo_id(p, &ic);
            }
        }
        _ => {}
    }
}

#[inline(always)]
fn echo_id(p: &mut Packet, icmp: &[u8; 8]) {
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    p.sport = id;
    p.dport = id;
}

/// The quoted packet's transport header (first 8 bytes) at `at`: its ports, or an echo's id.
#[inline(always)]
fn quoted_ports<B: Bytes>(b: &B, p: &mut Packet, at: usize, echo: bool) {
    let Some(qp) = b.load::<[u8; 8]>(at) else { return };
    if echo {
        echo_id(p, &qp);
    } else {
        p.sport = u16::from_be_bytes([qp[0], qp[1]]);
        p.dport = u16::from_be_bytes([qp[2], qp[3]]);
    }
}

/// The flow an ICMP error quotes (its IPv4 header and first 8 bytes, at `at`).
#[inline(always)]
fn quoted4<B: Bytes>(b: &B, p: &mut Packet, at: usize) {
    let Some(q) = b.load::<[u8; 20]>(at) else { return };
    let qihl = ((q[0] & 0x0f) as usize) * 4;
    if qihl < 20 {
        return;
    }
    p.inner_proto = q[9];
    quoted_ports(b, p, at + qihl, p.inner_proto == IPPROTO_ICMP);
}

/// The flow an ICMPv6 error quotes (its IPv6 header and what follows, at `at`). Our probes
/// carry no extension headers, so the quoted transport header follows the fixed header.
#[inline(always)]
fn quoted6<B: Bytes>(b: &B, p: &mut Packet, at: usize) {
    let Some(q) = b.load::<[u8; 8]>(at) else { return };
    if q[0] >> 4 != 6 {
        return;
    }
    p.inner_proto = q[6];
    quoted_ports(b, p, at + IPV6_HLEN, p.inner_proto == IPPROTO_ICMPV6);
}
