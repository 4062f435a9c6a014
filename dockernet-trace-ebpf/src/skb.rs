//! BTF tracepoints that receive a `struct sk_buff *`: hops, drops, ICMP errors and resets.
//!
//! These fire for every packet in every namespace, so each first checks the cheap things
//! (configured? a family we want: IPv4, IPv6?) and parses only then.
use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use dockernet_trace_common::{Config, Hook, MODE_PROBE};

use crate::{
    context::{Device, config, device, read},
    emit::emit,
    filter::{is_probe, is_watched, wants_family},
    packet::{KernelPacket, Packet, family_of, parse},
};

/// Where the IP header is, at this hook.
#[derive(Clone, Copy)]
enum Start {
    /// `skb->data`: on receive, after the link-layer header was pulled.
    Data,
    /// `skb->head + skb->network_header`: once the stack has set the network header.
    NetworkHeader,
}

#[inline(always)]
fn skb_packet(cfg: &Config, skb: u64, start: Start) -> Option<Packet> {
    let o = &cfg.skb;
    let proto: u16 = read(skb, o.protocol).ok()?;
    let family = family_of(proto).filter(|f| wants_family(cfg, *f))?;
    let ip = match start {
        Start::Data => read::<u64>(skb, o.data).ok()?,
        Start::NetworkHeader => {
            let head: u64 = read(skb, o.head).ok()?;
            let nh: u16 = read(skb, o.network_header).ok()?;
            if nh == 0xffff { read::<u64>(skb, o.data).ok()? } else { head + nh as u64 }
        }
    };
    parse(&KernelPacket(ip), family)
}

/// The packet of an skb past the link layer (network header set), for the enrichment hooks.
#[inline(always)]
pub fn probe_packet(cfg: &Config, skb: u64) -> Option<Packet> {
    if skb == 0 {
        return None;
    }
    skb_packet(cfg, skb, Start::NetworkHeader)
}

#[inline(always)]
fn skb_device(cfg: &Config, skb: u64) -> Device {
    let dev = read::<u64>(skb, cfg.skb.dev).unwrap_or(0);
    device(cfg, dev)
}

/// Hops are only recorded for the probe; watch mode does not pay for them. `dev` is the
/// device the hook concerns, when the tracepoint passes it (0: take skb->dev).
#[inline(always)]
fn hop(skb: u64, dev: u64, hook: Hook, start: Start, value: i32) {
    let Some(cfg) = config() else { return };
    if cfg.mode != MODE_PROBE || skb == 0 {
        return;
    }
    let Some(p) = skb_packet(cfg, skb, start) else { return };
    if !is_probe(cfg, &p) {
        return;
    }
    let device = if dev != 0 { device(cfg, dev) } else { skb_device(cfg, skb) };
    emit(hook, skb, &p, &device, |e| e.value = value);
}

#[btf_tracepoint(function = "netif_receive_skb")]
pub fn netif_receive_skb(ctx: BtfTracePointContext) -> i32 {
    hop(ctx.arg::<u64>(0), 0, Hook::NetifReceive, Start::Data, 0);
    0
}

#[btf_tracepoint(function = "net_dev_xmit")]
pub fn net_dev_xmit(ctx: BtfTracePointContext) -> i32 {
    // (skb, rc, dev, skb_len). After a veth transmits, skb->dev is already the peer in the
    // other namespace: the device that sent is the `dev` argument.
    hop(ctx.arg::<u64>(0), ctx.arg::<u64>(2), Hook::NetDevXmit, Start::NetworkHeader, ctx.arg::<i32>(1));
    0
}

/// Probe packets, or (watch mode) packets of watched networks in watched namespaces.
#[inline(always)]
fn wanted(skb: u64, start: Start) -> Option<(&'static Config, Packet, Device)> {
    let cfg = config()?;
    if skb == 0 {
        return None;
    }
    let p = skb_packet(cfg, skb, start)?;
    if is_probe(cfg, &p) {
        return Some((cfg, p, skb_device(cfg, skb)));
    }
    let dev = skb_device(cfg, skb);
    if is_watched(cfg, &p, dev.netns) {
        return Some((cfg, p, dev));
    }
    None
}

#[btf_tracepoint(function = "kfree_skb")]
pub fn kfree_skb(ctx: BtfTracePointContext) -> i32 {
    // (skb, location[, reason[, rx_sk]]): reason arrived in 5.17.
    let skb = ctx.arg::<u64>(0);
    let Some((cfg, p, dev)) = wanted(skb, Start::NetworkHeader) else { return 0 };
    let location = ctx.arg::<u64>(1);
    let reason = if cfg.args.kfree_reason == 2 { ctx.arg::<u32>(2) } else { 0 };
    emit(Hook::KfreeSkb, skb, &p, &dev, |e| {
        e.location = location;
        e.reason = reason;
    });
    0
}

#[btf_tracepoint(function = "icmp_send")]
pub fn icmp_send(ctx: BtfTracePointContext) -> i32 {
    // (skb_in, type, code): the packet the error is about.
    let skb = ctx.arg::<u64>(0);
    let Some((_, p, dev)) = wanted(skb, Start::NetworkHeader) else { return 0 };
    let (kind, code) = (ctx.arg::<i32>(1) as u8, ctx.arg::<i32>(2) as u8);
    emit(Hook::IcmpSend, skb, &p, &dev, |e| {
        e.icmp_type = kind;
        e.icmp_code = code;
    });
    0
}

#[btf_tracepoint(function = "tcp_send_reset")]
pub fn tcp_send_reset(ctx: BtfTracePointContext) -> i32 {
    // (sk, skb): before 6.10 a reset carries no reason.
    reset(ctx.arg::<u64>(1), 0)
}

/// tcp_send_reset(sk, skb, reason) of 6.10+. A separate program: the verifier refuses a
/// read of a third argument the kernel's tracepoint does not have, even on a branch the
/// configuration never takes.
#[btf_tracepoint(function = "tcp_send_reset")]
pub fn tcp_reset_rsn(ctx: BtfTracePointContext) -> i32 {
    reset(ctx.arg::<u64>(1), ctx.arg::<u32>(2))
}

/// `skb` is the packet being answered with a reset (NULL for resets of established sockets,
/// which carry no packet; some kernels' tracepoint has no skb at all: see config).
#[inline(always)]
fn reset(skb: u64, reason: u32) -> i32 {
    let Some(cfg) = config() else { return 0 };
    let skb = if cfg.args.reset_skb == 1 { skb } else { 0 };
    let Some((_, p, dev)) = wanted(skb, Start::NetworkHeader) else { return 0 };
    emit(Hook::TcpSendReset, skb, &p, &dev, |e| e.reason = reason);
    0
}
