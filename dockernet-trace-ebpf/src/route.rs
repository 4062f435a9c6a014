//! Classic tracepoints about routing and neighbours. Their records are laid out by the kernel's
//! `format` files, whose offsets user space reads from tracefs into `Config::tp`.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use dockernet_trace_common::{Hook, IFNAMSIZ};

use crate::{
    context::config,
    emit::emit_raw,
    filter::{is_probe_addr, is_watched_addr},
    packet::Packet,
};

const EAGAIN: i32 = 11;
const NUD_FAILED: u8 = 0x20;

#[inline(always)]
fn at<T>(ctx: &TracePointContext, off: u16) -> Option<T> {
    // SAFETY: the offset comes from the tracepoint's own format description; read_at goes
    // through bpf_probe_read.
    unsafe { ctx.read_at::<T>(off as usize) }.ok()
}

/// Route lookups about the probe (matched on addresses: the input path clears the ports), and
/// in watch mode failed lookups for watched networks.
#[tracepoint]
pub fn fib_table_lookup(ctx: TracePointContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let t = &cfg.tp;
    let (Some(src), Some(dst)) = (at::<u32>(&ctx, t.fib_src), at::<u32>(&ctx, t.fib_dst)) else {
        return 0;
    };
    let err: i32 = at(&ctx, t.fib_err).unwrap_or(0);
    let sport: u16 = at(&ctx, t.fib_sport).unwrap_or(0);
    let dport: u16 = at(&ctx, t.fib_dport).unwrap_or(0);
    let proto: u8 = at(&ctx, t.fib_proto).unwrap_or(0);
    let p = Packet { saddr: src, daddr: dst, proto, sport, dport, ..Packet::default() };
    let probe = is_probe_addr(cfg, dst)
        && (src == 0 || is_probe_addr(cfg, src))
        && (sport == 0 || crate::filter::is_probe(cfg, &p));
    // -EAGAIN means "try the next table": not a failure worth reporting while watching.
    let failed = err != 0 && err != -EAGAIN;
    if !probe && !(failed && is_watched_addr(cfg, dst)) {
        return 0;
    }
    let table = at(&ctx, t.fib_tb_id).unwrap_or(0);
    let oif = at::<i32>(&ctx, t.fib_oif).unwrap_or(0) as u32;
    let gateway = at(&ctx, t.fib_gw4).unwrap_or(0);
    let name = at::<[u8; IFNAMSIZ]>(&ctx, t.fib_name).unwrap_or([0; IFNAMSIZ]);
    emit_raw(Hook::FibLookup, |e| {
        e.proto = proto;
        e.saddr = src;
        e.daddr = dst;
        e.sport = sport;
        e.dport = dport;
        e.value = err;
        e.table = table;
        e.aux = oif;
        e.gateway = gateway;
        e.ifname = name;
    });
    0
}

/// Copies a `__data_loc char[]` field (offset in the low 16 bits, length in the high 16).
#[inline(always)]
fn data_loc_name(ctx: &TracePointContext, field: u16) -> [u8; IFNAMSIZ] {
    let mut name = [0u8; IFNAMSIZ];
    if let Some(loc) = at::<u32>(ctx, field) {
        let off = (loc & 0xffff) as u16;
        if let Some(n) = at::<[u8; IFNAMSIZ]>(ctx, off) {
            name = n;
        }
    }
    name
}

#[inline(always)]
fn neigh_event(ctx: &TracePointContext, hook: Hook, key: u32, dev_field: u16, state: u8) {
    let name = data_loc_name(ctx, dev_field);
    emit_raw(hook, |e| {
        e.aux = key;
        e.value = state as i32;
        e.ifname = name;
    });
}

/// Neighbour (ARP) state changes for addresses on the probe's path; failures while watching.
#[tracepoint]
pub fn neigh_update(ctx: TracePointContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let t = &cfg.tp;
    let Some(key) = at::<u32>(&ctx, t.neigh_key4) else { return 0 };
    let state: u8 = at(&ctx, t.neigh_state).unwrap_or(0);
    if is_probe_addr(cfg, key) || (state == NUD_FAILED && is_watched_addr(cfg, key)) {
        neigh_event(&ctx, Hook::NeighUpdate, key, t.neigh_dev, state);
    }
    0
}

/// A neighbour entry is created: resolution of a next hop starts.
#[tracepoint]
pub fn neigh_create(ctx: TracePointContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let t = &cfg.tp;
    let Some(key) = at::<u32>(&ctx, t.neigh_create_key4) else { return 0 };
    if is_probe_addr(cfg, key) {
        neigh_event(&ctx, Hook::NeighCreate, key, t.neigh_create_dev, 0);
    }
    0
}
