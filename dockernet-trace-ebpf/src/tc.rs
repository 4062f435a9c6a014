//! tc classifiers for the interfaces on the expected path (host-side veths, bridges, uplink).
//!
//! Attached through tcx where the kernel has it (the link dies with our process), else as a
//! direct-action cls_bpf filter. They only observe: the return value is always "continue".
use aya_ebpf::{macros::classifier, programs::TcContext};
use dockernet_trace_common::Hook;

use crate::{
    context::{Device, config},
    emit::emit,
    filter::{is_probe, may_be_probe, wants_family},
    packet::{Packet, family_of, parse_ip, parse_l4},
    tc_packet::TcPacket,
};

/// TC_ACT_UNSPEC / TCX_NEXT: let the packet go on exactly as if we were not here.
const CONTINUE: i32 = -1;

#[classifier]
pub fn dnt_tc_ingress(ctx: TcContext) -> i32 {
    observe(&ctx, Hook::TcIngress);
    CONTINUE
}

#[classifier]
pub fn dnt_tc_egress(ctx: TcContext) -> i32 {
    observe(&ctx, Hook::TcEgress);
    CONTINUE
}

#[inline(always)]
fn observe(ctx: &TcContext, hook: Hook) {
    // SAFETY: `skb` is the context pointer the kernel handed to this program.
    let (ifindex, proto) = unsafe { ((*ctx.skb.skb).ifindex, (*ctx.skb.skb).protocol) };
    // skb->protocol is in the context (network order in its low 16 bits): no load needed
    // to turn away what is neither IPv4 nor IPv6, nor of the family the probe uses.
    let Some(family) = family_of(proto as u16) else { return };
    let Some(cfg) = config() else { return };
    if !wants_family(cfg, family) {
        return;
    }
    let b = TcPacket::new(ctx);
    let mut p = Packet::default();
    let Some(l4) = parse_ip(&b, family, &mut p) else { return };
    if !may_be_probe(cfg, &p) {
        return;
    }
    parse_l4(&b, &mut p, l4);
    if !is_probe(cfg, &p) {
        return;
    }
    // tc runs in the namespace the tool attached it in; user space knows which that is.
    let dev = Device { ifindex, netns: 0, name: [0; 16] };
    emit(hook, 0, &p, &dev, |_| {});
}
