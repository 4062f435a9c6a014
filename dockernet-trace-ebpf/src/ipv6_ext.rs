//! IPv6 extension headers, walked (a bounded number of them) up to the transport header.
//!
//! The walk runs in a global eBPF function, which the verifier checks once, on its own.
//! Inlined, it was checked again for every path of its caller, and each header's possible
//! lengths multiplied the states of all that follows (transport header, filters, event): the
//! larger programs took 150–300 ms each to verify, most of a trace's start. Its arguments are
//! numbers or the tc context (a global function cannot take packet pointers), and it is only
//! called when the fixed header is followed by an extension header: the common packet pays
//! one comparison.
use aya_ebpf::{bindings::__sk_buff, programs::TcContext};

use crate::{
    kernel_packet::KernelPacket,
    packet::{Bytes, ETH_HLEN, IPV6_HLEN},
};

/// IPv6 extension headers walked before giving up on finding the transport header.
const MAX_EXT_HEADERS: usize = 6;
/// Where the transport header may start at most: what follows it (an ICMPv6 error's quoted
/// headers) stays within the packet readers' bound (`tc_packet::DIRECT_MAX`).
pub const MAX_L4: usize = 512;

/// Is `next` (an IPv6 header's next-header field) one of the headers the walk handles?
#[inline(always)]
pub fn is_extension(next: u8) -> bool {
    matches!(next, 0 | 43 | 44 | 50 | 51 | 59 | 60)
}

/// The walk over an IPv6 packet in kernel memory at `at` (its fixed header): see `pack`.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn dnt_ipv6_ext_kernel(at: u64, first: u8) -> u64 {
    pack(walk(&KernelPacket(at), first))
}

/// The walk over the packet of a tc context (Ethernet first), read with bpf_skb_load_bytes.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn dnt_ipv6_ext_tc(skb: *mut __sk_buff, first: u8) -> u64 {
    pack(walk(&SkbBytes(skb), first))
}

/// A global function returns one number: the protocol in the low byte, the transport
/// header's offset above it (0: none; it is never below the fixed header's 40 bytes).
#[inline(always)]
fn pack((proto, l4): (u8, Option<usize>)) -> u64 {
    proto as u64 | ((l4.unwrap_or(0) as u64) << 8)
}

#[inline(always)]
pub fn unpack(walked: u64) -> (u8, Option<usize>) {
    // Opaque to LLVM: it may know the walk's range of results and drop the bound that the
    // packet readers put on offsets (`tc_packet::DIRECT_MAX`) as redundant, but the verifier
    // knows nothing of a global function's result and needs that bound.
    let walked = core::hint::black_box(walked);
    let l4 = (walked >> 8) as usize;
    (walked as u8, (l4 != 0).then_some(l4))
}

/// A tc packet read through the helper only: packet pointers cannot enter a global function.
struct SkbBytes(*mut __sk_buff);

impl Bytes for SkbBytes {
    #[inline(always)]
    fn load<T>(&self, off: usize) -> Option<T> {
        TcContext::new(self.0).load::<T>(ETH_HLEN + off).ok()
    }
}

/// Walks IPv6 extension headers from the fixed header's `next`: the transport protocol and
/// where its header starts (None: a non-first fragment, ESP, or more headers than we walk).
#[inline(always)]
pub fn walk<B: Bytes>(b: &B, first: u8) -> (u8, Option<usize>) {
    let mut next = first;
    let mut off = IPV6_HLEN;
    // A fixed bound the verifier can see: each header is one iteration.
    for _ in 0..MAX_EXT_HEADERS {
        // Beyond this the transport header is not looked for (see `MAX_L4`).
        if off > MAX_L4 {
            return (next, None);
        }
        let step = match next {
            // Hop-by-hop, routing, destination options: 8-byte units, not counting the first.
            0 | 43 | 60 => b.load::<[u8; 2]>(off).map(|h| (h[0], (h[1] as usize + 1) * 8)),
            // Authentication header: 4-byte units, not counting the first two.
            51 => b.load::<[u8; 2]>(off).map(|h| (h[0], (h[1] as usize + 2) * 4)),
            // Fragment: only the first fragment carries the transport header.
            44 => match b.load::<[u8; 4]>(off) {
                Some(f) if u16::from_be_bytes([f[2], f[3]]) & 0xfff8 == 0 => Some((f[0], 8)),
                Some(f) => return (f[0], None),
                None => None,
            },
            // ESP hides what follows; 59 is "no next header".
            50 | 59 => return (next, None),
            _ => return (next, Some(off)),
        };
        let Some((n, len)) = step else { return (next, None) };
        next = n;
        off += len;
    }
    (next, None)
}
