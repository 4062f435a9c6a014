//! BTF tracepoints that receive a `struct sk_buff *`: hops, drops, ICMP errors and resets.
//!
//! These fire for every packet in every namespace, so each rejects what is not wanted with the
//! cheapest test that can: the mode and the drop reason (no memory read), the skb's protocol
//! (one read: IPv4, or IPv6 when the probe is IPv6 or a watch has IPv6 prefixes), the IP
//! header against the probe's addresses, the watched /16s (IPv4) or the IPv6 trie, and only
//! then the transport header, the device and the maps.
use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use dockernet_trace_common::{Config, FAMILY_V4, Hook, MODE_PROBE, MODE_WATCH, RefusedRoute, drop_policy};

use crate::{
    context::{Device, Kmem, Probed, Typed, config, device, device_id, layout, mode, skb_dev},
    counting::count_incident,
    emit::emit,
    filter::{is_probe, may_be_probe, may_be_watched, wants_family},
    kernel_packet::KernelPacket,
    maps::DROP_POLICY,
    packet::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, Packet, family_of, parse_ip, parse_l4},
};

/// Where the IP header is, at this hook.
#[derive(Clone, Copy)]
enum Start {
    /// `skb->data`: on receive, after the link-layer header was pulled.
    Data,
    /// `skb->head + skb->network_header`: once the stack has set the network header.
    NetworkHeader,
}

/// The address of the skb's IP header and its family, if the configuration wants that family.
#[inline(always)]
fn ip_header<M: Kmem>(cfg: &Config, skb: u64, start: Start) -> Option<(KernelPacket, u8)> {
    if skb == 0 {
        return None;
    }
    let family = family_of(M::get::<u16>(skb, layout!(protocol)))?;
    if !wants_family(cfg, family) {
        return None;
    }
    let at = match start {
        Start::Data => M::get::<u64>(skb, layout!(data)),
        Start::NetworkHeader => {
            let nh = M::get::<u16>(skb, layout!(network_header));
            if nh == 0xffff {
                M::get::<u64>(skb, layout!(data))
            } else {
                M::get::<u64>(skb, layout!(head)) + nh as u64
            }
        }
    };
    (at != 0).then_some((KernelPacket(at), family))
}

/// The probe's packet in this skb, if it is one (probe mode).
#[inline(always)]
fn probe_at<M: Kmem>(cfg: &Config, skb: u64, start: Start) -> Option<Packet> {
    let (b, family) = ip_header::<M>(cfg, skb, start)?;
    let mut p = Packet::default();
    let l4 = parse_ip(&b, family, &mut p)?;
    if !may_be_probe(cfg, &p) {
        return None;
    }
    parse_l4(&b, &mut p, l4);
    is_probe(cfg, &p).then_some(p)
}

/// The packet of an skb past the link layer, if it is the probe's (for the enrichment hooks,
/// whose kprobe variants see the skb as a number).
#[inline(always)]
pub fn probe_packet(cfg: &Config, skb: u64) -> Option<Packet> {
    probe_at::<Probed>(cfg, skb, Start::NetworkHeader)
}

/// Watch mode: whether the skb holds a packet one of whose addresses may be watched (the
/// exact test comes with the counting), read into `p` (all zero) with its transport header,
/// and `policy` does not say its protocol is no incident.
#[inline(always)]
fn watched_at(cfg: &Config, skb: u64, policy: u8, p: &mut Packet) -> bool {
    let Some((b, family)) = ip_header::<Typed>(cfg, skb, Start::NetworkHeader) else { return false };
    let Some(l4) = parse_ip(&b, family, p) else { return false };
    if !may_be_watched(cfg, p) {
        return false;
    }
    parse_l4(&b, p, l4);
    let ignored = match p.flow_proto() {
        IPPROTO_ICMP | IPPROTO_ICMPV6 => policy & drop_policy::IGNORE_ICMP != 0,
        IPPROTO_TCP => policy & drop_policy::IGNORE_TCP != 0,
        _ => false,
    };
    !ignored
}

#[inline(always)]
fn skb_device(skb: u64) -> Device {
    device::<Typed>(skb_dev::<Typed>(skb))
}

/// A drop or reset in watch mode: counted per flow, reason and place (see `counting`).
#[inline(always)]
fn watch_incident(cfg: &Config, hook: Hook, skb: u64, policy: u8, reason: u32, location: u64) {
    let mut p = Packet::default();
    if !watched_at(cfg, skb, policy, &mut p) {
        return;
    }
    let dev_ptr = skb_dev::<Typed>(skb);
    let dev = device_id::<Typed>(dev_ptr);
    let route = || {
        if policy & drop_policy::ROUTE_ERROR != 0 {
            refused_route(cfg, skb, dev_ptr, p.family)
        } else {
            RefusedRoute::default()
        }
    };
    count_incident(cfg, hook, skb, &p, dev_ptr, &dev, reason, location, route);
}

/// The skb's route when it is an error route: its errno (`dst_entry.error`, what `ip_error`
/// and IPv6's discard routes refuse a packet for; the kernel keeps it negated for IPv6), 0
/// without a route or for a working one; and for IPv4 whether the device the packet came in
/// by forwarded at that moment (without forwarding, `ip_error` refuses whatever the route).
/// A watch learns a route failure from the dropped packet itself, rather than from the route
/// lookups' tracepoints, which every routed packet of the host would pay for.
#[inline(always)]
fn refused_route(cfg: &Config, skb: u64, dev: u64, family: u8) -> RefusedRoute {
    // The low bit says whether the route is held by reference: not part of the address.
    let dst = Typed::get::<u64>(skb, layout!(refdst)) & !1;
    if dst == 0 {
        return RefusedRoute::default();
    }
    // (The route and the device's IPv4 settings are plain numbers to the verifier, and the
    // configuration's offsets unknown to it: read through the helper.)
    let error = Probed::get::<i16>(dst, cfg.route.dst_error).unsigned_abs().min(255) as u8;
    let mut forwarding_off = false;
    if error != 0 && family == FAMILY_V4 {
        let in_dev = Probed::get::<u64>(dev, cfg.route.dev_ip_ptr);
        forwarding_off = in_dev != 0 && Probed::get::<i32>(in_dev, cfg.route.in_dev_forwarding) == 0;
    }
    RefusedRoute { error, forwarding_off: forwarding_off as u8 }
}

/// Hops are only recorded for the probe; watch mode does not pay for them. `dev` is the
/// device the hook concerns, when the tracepoint passes it (0: take skb->dev).
#[inline(always)]
fn hop(skb: u64, dev: u64, hook: Hook, start: Start, value: i32) {
    let Some(cfg) = config() else { return };
    if mode(cfg) != MODE_PROBE {
        return;
    }
    let Some(p) = probe_at::<Typed>(cfg, skb, start) else { return };
    let device = if dev != 0 { device::<Typed>(dev) } else { skb_device(skb) };
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

#[btf_tracepoint(function = "kfree_skb")]
pub fn kfree_skb(ctx: BtfTracePointContext) -> i32 {
    // (skb, location[, reason[, rx_sk]]): reason arrived in 5.17.
    let Some(cfg) = config() else { return 0 };
    let skb = ctx.arg::<u64>(0);
    let location = ctx.arg::<u64>(1);
    let reason = if cfg.args.kfree_reason == 2 { ctx.arg::<u32>(2) } else { 0 };
    match mode(cfg) {
        MODE_WATCH => {
            // The reason first: it costs no memory read, and most drops of a healthy host
            // (TCP discarding what it already has) are no incident.
            let policy = DROP_POLICY.get(reason).copied().unwrap_or(0);
            if policy & drop_policy::IGNORE == 0 {
                watch_incident(cfg, Hook::KfreeSkb, skb, policy, reason, location);
            }
        }
        MODE_PROBE => {
            let Some(p) = probe_at::<Typed>(cfg, skb, Start::NetworkHeader) else { return 0 };
            emit(Hook::KfreeSkb, skb, &p, &skb_device(skb), |e| {
                e.location = location;
                e.reason = reason;
            });
        }
        _ => {}
    }
    0
}

/// The kernel answers a packet with an ICMP error (probe mode: `watch` reports the drop that
/// comes with it instead).
#[btf_tracepoint(function = "icmp_send")]
pub fn icmp_send(ctx: BtfTracePointContext) -> i32 {
    // (skb_in, type, code): the packet the error is about.
    let Some(cfg) = config() else { return 0 };
    if mode(cfg) != MODE_PROBE {
        return 0;
    }
    let skb = ctx.arg::<u64>(0);
    let Some(p) = probe_at::<Typed>(cfg, skb, Start::NetworkHeader) else { return 0 };
    let (kind, code) = (ctx.arg::<i32>(1) as u8, ctx.arg::<i32>(2) as u8);
    emit(Hook::IcmpSend, skb, &p, &skb_device(skb), |e| {
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
    match mode(cfg) {
        MODE_WATCH => watch_incident(cfg, Hook::TcpSendReset, skb, 0, reason, 0),
        MODE_PROBE => {
            let Some(p) = probe_at::<Typed>(cfg, skb, Start::NetworkHeader) else { return 0 };
            emit(Hook::TcpSendReset, skb, &p, &skb_device(skb), |e| e.reason = reason);
        }
        _ => {}
    }
    0
}
