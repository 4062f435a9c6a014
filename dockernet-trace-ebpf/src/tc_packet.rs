//! A packet seen by a tc program, read for the parser of `packet`.
use aya_ebpf::programs::TcContext;

use crate::{
    ipv6_ext,
    packet::{Bytes, ETH_HLEN},
};

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

/// The bound of every header offset read (an AND the verifier can see, not a branch: 6.1's
/// verifier walks the branch a bound check makes impossible, with impossible bounds, and
/// refuses it). No offset exceeds it: IPv4 options and ICMP quotes stay far below, and the
/// IPv6 extension headers are walked up to `ipv6_ext::MAX_L4` only.
const DIRECT_MAX: usize = 0x3ff;

impl Bytes for TcPacket<'_> {
    #[inline(always)]
    fn load<T>(&self, off: usize) -> Option<T> {
        let at = self.data + ETH_HLEN + (off & DIRECT_MAX);
        if at + core::mem::size_of::<T>() <= self.end {
            // SAFETY: the bounds check above is the one the verifier wants for packet data.
            return Some(unsafe { (at as *const T).read_unaligned() });
        }
        self.ctx.load::<T>(ETH_HLEN + (off & DIRECT_MAX)).ok()
    }

    #[inline(always)]
    fn after_extensions(&self, first: u8) -> (u8, Option<usize>) {
        ipv6_ext::unpack(ipv6_ext::dnt_ipv6_ext_tc(self.ctx.skb.skb, first))
    }
}
