//! `fib6:fib6_table_lookup`, the IPv6 route decision: the counterpart of `fib_table_lookup`.
//! It receives the lookup's `flowi6`, the `fib6_result` and the `fib6_table` (read through
//! `Config::route6`); the next hop is a `fib6_nh`, which begins with the `fib_nh_common`
//! described by `Config::route`. The error is derived from the route's type as the kernel's
//! own tracepoint derives it (`ip6_rt_type_to_error`).
use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use dockernet_trace_common::{Config, FAMILY_V6, Hook, MODE_PROBE, MODE_WATCH};

use crate::{
    context::{config, mode, read, v6_loaded},
    emit::emit_raw,
    filter::{is_probe, is_probe_addr6, is_watched_addr6},
    packet::{IPPROTO_TCP, IPPROTO_UDP, Packet, is_unspecified6},
    route::{EAGAIN, dev_name},
};

const AF_INET6: u8 = 10;
/// The local table: IPv6 looks there first and misses for every address not the host's own.
const RT6_TABLE_LOCAL: u32 = 255;

/// `fib6_prop` of net/ipv6/route.c: the errno a route of type `rtn` (RTN_*) stands for.
#[inline(always)]
fn route_error(rtn: u8) -> i32 {
    match rtn {
        6 | 10 | 11 => -22, // blackhole, nat, xresolve: EINVAL
        7 => -113,          // unreachable: EHOSTUNREACH
        8 => -13,           // prohibit: EACCES
        9 => -EAGAIN,       // throw: try the next rule
        _ => 0,
    }
}

/// Route lookups about the probe (matched on addresses: the input path clears the ports),
/// and in watch mode failed lookups to or from watched IPv6 networks.
#[btf_tracepoint(function = "fib6_table_lookup")]
pub fn fib6_table_lookup(ctx: BtfTracePointContext) -> i32 {
    // (const struct net *net, const struct fib6_result *res, struct fib6_table *table,
    //  const struct flowi6 *flp)
    let Some(cfg) = config() else { return 0 };
    let mode = mode(cfg);
    let (res, table, flp) = (ctx.arg::<u64>(1), ctx.arg::<u64>(2), ctx.arg::<u64>(3));
    if res == 0 || table == 0 || flp == 0 || !wanted_mode(cfg, mode) {
        return 0;
    }
    let r6 = &cfg.route6;
    // The route's type first: a watch wants failures only, which it tells in one read.
    let err = route_error(read::<u8>(res, r6.res_type).unwrap_or(0));
    if mode == MODE_WATCH && (err == 0 || err == -EAGAIN) {
        return 0;
    }
    let tb_id: u32 = read(table, r6.tb6_id).unwrap_or(0);
    let (Ok(src), Ok(dst)) = (read::<[u8; 16]>(flp, r6.fl6_saddr), read::<[u8; 16]>(flp, r6.fl6_daddr))
    else {
        return 0;
    };
    let proto: u8 = read(flp, r6.fl6_proto).unwrap_or(0);
    let (sport, dport) = if proto == IPPROTO_TCP || proto == IPPROTO_UDP {
        (
            u16::from_be(read::<u16>(flp, r6.fl6_sport).unwrap_or(0)),
            u16::from_be(read::<u16>(flp, r6.fl6_dport).unwrap_or(0)),
        )
    } else {
        (0, 0)
    };
    let p = Packet { family: FAMILY_V6, saddr6: src, daddr6: dst, proto, sport, dport, ..Packet::default() };
    if !wanted(cfg, mode, &p, tb_id, err) {
        return 0;
    }
    let oif = read::<i32>(flp, r6.fl6_oif).unwrap_or(0) as u32;
    let (mut gateway, mut dev) = ([0u8; 16], 0u64);
    let nh: u64 = read(res, r6.res_nh).unwrap_or(0);
    if nh != 0 && err == 0 {
        let r = &cfg.route;
        dev = read(nh, r.nhc_dev).unwrap_or(0);
        if read::<u8>(nh, r.nhc_gw_family).unwrap_or(0) == AF_INET6 {
            gateway = read(nh, r.nhc_gw).unwrap_or([0; 16]);
        }
    }
    let name = dev_name(dev);
    emit_raw(Hook::FibLookup, |e| {
        e.proto = proto;
        e.family = FAMILY_V6;
        e.saddr = src;
        e.daddr = dst;
        e.sport = sport;
        e.dport = dport;
        e.value = err;
        e.table = tb_id;
        e.aux = oif;
        e.addr = gateway;
        e.ifname = name;
    });
    0
}

/// A trace of an IPv6 probe, or a watch of IPv6 prefixes.
#[inline(always)]
fn wanted_mode(cfg: &Config, mode: u32) -> bool {
    match mode {
        MODE_PROBE => v6_loaded() && cfg.probe_family == FAMILY_V6,
        MODE_WATCH => cfg.watch_v6 != 0,
        _ => false,
    }
}

#[inline(always)]
fn wanted(cfg: &Config, mode: u32, p: &Packet, table: u32, err: i32) -> bool {
    if mode == MODE_PROBE {
        return is_probe_addr6(cfg, &p.daddr6)
            && (is_unspecified6(&p.saddr6) || is_probe_addr6(cfg, &p.saddr6))
            && (p.sport == 0 || is_probe(cfg, p));
    }
    // A miss in the local table, or -EAGAIN, means "try the next table": no failure.
    let failed = err != 0 && err != -EAGAIN && table != RT6_TABLE_LOCAL;
    failed && (is_watched_addr6(cfg, &p.daddr6) || is_watched_addr6(cfg, &p.saddr6))
}
