//! BTF tracepoints about routing and neighbours. They get the kernel's own structures (a
//! `flowi4`, a `neighbour` of the ARP or the neighbour discovery table) and read them through
//! offsets user space resolved from BTF into `Config::route` (IPv6 routes: `route6`, in
//! route6.rs). Raw tracepoints rather than classic ones: a classic tracepoint formats its
//! whole record before our program looks at it, and detaching one waits for RCU grace periods.
use aya_ebpf::{EbpfContext, macros::btf_tracepoint, programs::BtfTracePointContext};
use dockernet_trace_common::{Config, FAMILY_V4, FAMILY_V6, Hook, IFNAMSIZ, MODE_PROBE, MODE_WATCH};

use crate::{
    context::{Kmem, Probed, config, device, layout, mode, read},
    emit::emit_raw,
    filter::{is_probe_addr, is_probe_addr6, is_watched_addr, is_watched_addr6, netns_watched},
    packet::{IPPROTO_TCP, IPPROTO_UDP, Packet, v4_bytes},
};

pub(crate) const EAGAIN: i32 = 11;
const NUD_FAILED: u8 = 0x20;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// The name of the `struct net_device` at `dev` ("-" when there is none, as the kernel's own
/// tracepoint prints it).
#[inline(always)]
pub(crate) fn dev_name(dev: u64) -> [u8; IFNAMSIZ] {
    let mut name = [0u8; IFNAMSIZ];
    if dev == 0 {
        name[0] = b'-';
    } else {
        name = Probed::get::<[u8; IFNAMSIZ]>(dev, layout!(dev_name));
    }
    name
}

/// Route lookups about the probe (matched on addresses: the input path clears the ports), and
/// in watch mode failed lookups to or from watched networks (a container whose packets the
/// host cannot route onwards is as much an incident as one nobody can reach). A lookup has no
/// namespace: user space reports it through the drop of its packet, which has one.
#[btf_tracepoint(function = "fib_table_lookup")]
pub fn fib_table_lookup(ctx: BtfTracePointContext) -> i32 {
    // (tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err)
    let Some(cfg) = config() else { return 0 };
    let mode = mode(cfg);
    let err = ctx.arg::<i32>(3);
    // -EAGAIN means "try the next table": not a failure worth reporting while watching.
    let failed = err != 0 && err != -EAGAIN;
    // Every routed packet comes here: a watch only wants failures, which the error tells
    // without reading anything.
    // An IPv6 probe's routes are decided in fib6_table_lookup.
    match mode {
        MODE_WATCH if failed => {}
        MODE_PROBE if cfg.probe_family == FAMILY_V4 => {}
        _ => return 0,
    }
    let r = &cfg.route;
    let flp = ctx.arg::<u64>(1);
    if flp == 0 {
        return 0;
    }
    let Ok(dst) = read::<u32>(flp, r.fl4_daddr) else { return 0 };
    let wanted_dst = if mode == MODE_PROBE { is_probe_addr(cfg, dst) } else { is_watched_addr(cfg, dst) };
    let Ok(src) = read::<u32>(flp, r.fl4_saddr) else { return 0 };
    // A watch also wants failures from a watched source (a container whose packets the host
    // cannot route onwards); a trace wants its destination first.
    if !wanted_dst && !(mode == MODE_WATCH && is_watched_addr(cfg, src)) {
        return 0;
    }
    let proto: u8 = read(flp, r.fl4_proto).unwrap_or(0);
    // Like the kernel's own tracepoint: ports only for TCP and UDP (the union holds ICMP
    // type/code otherwise), in host order.
    let (sport, dport) = if proto == IPPROTO_TCP || proto == IPPROTO_UDP {
        (
            u16::from_be(read::<u16>(flp, r.fl4_sport).unwrap_or(0)),
            u16::from_be(read::<u16>(flp, r.fl4_dport).unwrap_or(0)),
        )
    } else {
        (0, 0)
    };
    if mode == MODE_PROBE {
        let p =
            Packet { family: FAMILY_V4, saddr: src, daddr: dst, proto, sport, dport, ..Packet::default() };
        let probe = (src == 0 || is_probe_addr(cfg, src)) && (sport == 0 || crate::filter::is_probe(cfg, &p));
        if !probe {
            return 0;
        }
    }
    let table = ctx.arg::<u32>(0);
    let oif = read::<i32>(flp, r.fl4_oif).unwrap_or(0) as u32;
    let nhc = ctx.arg::<u64>(2);
    let (mut gateway, mut dev) = (0u32, 0u64);
    if nhc != 0 {
        dev = read(nhc, r.nhc_dev).unwrap_or(0);
        if read::<u8>(nhc, r.nhc_gw_family).unwrap_or(0) == AF_INET {
            gateway = read(nhc, r.nhc_gw).unwrap_or(0);
        }
    }
    let name = dev_name(dev);
    emit_raw(Hook::FibLookup, |e| {
        e.proto = proto;
        e.family = FAMILY_V4;
        e.saddr = v4_bytes(src);
        e.daddr = v4_bytes(dst);
        e.sport = sport;
        e.dport = dport;
        e.value = err;
        e.table = table;
        e.aux = oif;
        e.addr = v4_bytes(gateway);
        e.ifname = name;
    });
    0
}

/// The key (address) of a neighbour table entry, with its family: the ARP table's IPv4
/// addresses, the neighbour discovery table's IPv6 ones.
#[derive(Clone, Copy)]
struct NeighKey {
    family: u8,
    /// IPv4 key as read (`u32::from_ne_bytes`), when `family` is IPv4.
    v4: u32,
    bytes: [u8; 16],
}

impl NeighKey {
    #[inline(always)]
    fn on_probe_path(&self, cfg: &Config) -> bool {
        if self.family == FAMILY_V6 { is_probe_addr6(cfg, &self.bytes) } else { is_probe_addr(cfg, self.v4) }
    }

    #[inline(always)]
    fn watched(&self, cfg: &Config) -> bool {
        if self.family == FAMILY_V6 {
            is_watched_addr6(cfg, &self.bytes)
        } else {
            is_watched_addr(cfg, self.v4)
        }
    }
}

#[inline(always)]
fn neigh_key(cfg: &Config, tbl: u64, pkey: u64) -> Option<NeighKey> {
    if tbl == 0 || pkey == 0 {
        return None;
    }
    // `int family`, the first member of struct neigh_table.
    let family: u32 = read(tbl, cfg.route.tbl_family).ok()?;
    if family == AF_INET as u32 {
        let v4 = read::<u32>(pkey, 0).ok()?;
        return Some(NeighKey { family: FAMILY_V4, v4, bytes: v4_bytes(v4) });
    }
    if family == AF_INET6 as u32 {
        return Some(NeighKey { family: FAMILY_V6, v4: 0, bytes: read::<[u8; 16]>(pkey, 0).ok()? });
    }
    None
}

#[inline(always)]
fn neigh_event(hook: Hook, key: &NeighKey, dev: u64, state: u8) {
    let name = dev_name(dev);
    emit_raw(hook, |e| {
        e.family = key.family;
        e.addr = key.bytes;
        e.value = state as i32;
        e.ifname = name;
    });
}

/// Neighbour state changes (ARP, neighbour discovery) for addresses on the probe's path;
/// failures while watching.
#[btf_tracepoint(function = "neigh_update")]
pub fn neigh_update(ctx: BtfTracePointContext) -> i32 {
    // (struct neighbour *n, const u8 *lladdr, u8 new, u32 flags, u32 nlmsg_pid)
    let Some(cfg) = config() else { return 0 };
    let state = ctx.arg::<u8>(2);
    // A watch wants failures only; the new state is an argument, no read needed.
    let wanted = match mode(cfg) {
        MODE_WATCH => state == NUD_FAILED,
        mode => mode == MODE_PROBE,
    };
    let n = ctx.arg::<u64>(0);
    if !wanted || n == 0 {
        return 0;
    }
    let r = &cfg.route;
    let tbl: u64 = read(n, r.neigh_tbl).unwrap_or(0);
    let Some(key) = neigh_key(cfg, tbl, n + r.neigh_key as u64) else { return 0 };
    let dev: u64 = read(n, r.neigh_dev).unwrap_or(0);
    // A failure while watching counts only in a watched namespace (the entry's device's).
    let watched =
        || state == NUD_FAILED && key.watched(cfg) && netns_watched(cfg, device::<Probed>(dev).netns);
    if key.on_probe_path(cfg) || watched() {
        neigh_event(Hook::NeighUpdate, &key, dev, state);
    }
    0
}

/// A neighbour entry is created: resolution of a next hop starts.
#[btf_tracepoint(function = "neigh_create")]
pub fn neigh_create(ctx: BtfTracePointContext) -> i32 {
    // (struct neigh_table *tbl, struct net_device *dev, const void *pkey, ...)
    let Some(cfg) = config() else { return 0 };
    if mode(cfg) != MODE_PROBE {
        return 0;
    }
    // `pkey` is a `const void *`, an argument type that older verifiers (6.1 and 6.12 among
    // them) refuse to let a program load from its context (neither a struct pointer nor a
    // bare `void *`), so its slot in the argument array is copied instead.
    let pkey = read::<u64>(ctx.as_ptr() as u64 + 2 * 8, 0).unwrap_or(0);
    let Some(key) = neigh_key(cfg, ctx.arg::<u64>(0), pkey) else { return 0 };
    if key.on_probe_path(cfg) {
        neigh_event(Hook::NeighCreate, &key, ctx.arg::<u64>(1), 0);
    }
    0
}
