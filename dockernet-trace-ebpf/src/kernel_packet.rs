//! A packet in kernel memory (what the tracepoints see), read with the helper: its IPv4
//! header and the bytes after it at once, its IPv6 extension headers and its transport
//! header in global eBPF functions, each checked once by the verifier.
use crate::{
    context::read,
    ipv6_ext,
    packet::{Bytes, Packet, parse_l4_inline},
};

/// A packet in kernel memory, starting at its IP header.
pub struct KernelPacket(pub u64);

impl Bytes for KernelPacket {
    const READ_AHEAD: bool = true;
    #[inline(always)]
    fn load<T>(&self, off: usize) -> Option<T> {
        read::<T>(self.0 + off as u64, 0).ok()
    }

    #[inline(always)]
    fn after_extensions(&self, first: u8) -> (u8, Option<usize>) {
        // A global function takes numbers, and the verifier may see the header's address as a
        // pointer (it came from the skb's BTF-typed fields): copied by the helper, it is one.
        let at = self.0;
        match read::<u64>(&raw const at as u64, 0) {
            Ok(at) => ipv6_ext::unpack(ipv6_ext::dnt_ipv6_ext_kernel(at, first)),
            Err(_) => (first, None),
        }
    }

    /// Not inlined: the copy of the address stays out of the callers' frames.
    #[inline(never)]
    fn transport_fields(&self, p: &mut Packet, l4: usize) {
        // A number for the global function, as in `after_extensions`.
        let at = self.0;
        if let Ok(at) = read::<u64>(&raw const at as u64, 0) {
            unpack_l4(p, dnt_l4_kernel(at, p.proto, l4 as u64));
        }
    }
}

/// The transport header of a packet in kernel memory at `at` (its IP header), `l4` bytes in:
/// a global eBPF function, checked once on its own, like `ipv6_ext`'s walk. Inlined, its four
/// protocols and the quoted headers of ICMP errors were checked again on every path that
/// reached it. Its one number packs the fields (see `unpack_l4`).
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn dnt_l4_kernel(at: u64, proto: u8, l4: u64) -> u64 {
    let mut p = Packet { proto, ..Packet::default() };
    parse_l4_inline(&KernelPacket(at), &mut p, l4 as usize);
    p.sport as u64
        | (p.dport as u64) << 16
        | (p.tcp_flags as u64) << 32
        | (p.icmp_type as u64) << 40
        | (p.icmp_code as u64) << 48
        | (p.inner_proto as u64) << 56
}

#[inline(always)]
fn unpack_l4(p: &mut Packet, v: u64) {
    p.sport = v as u16;
    p.dport = (v >> 16) as u16;
    p.tcp_flags = (v >> 32) as u8;
    p.icmp_type = (v >> 40) as u8;
    p.icmp_code = (v >> 48) as u8;
    p.inner_proto = (v >> 56) as u8;
}
