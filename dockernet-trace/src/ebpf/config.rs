//! The `Config` the programs read: filter settings plus the running kernel's layout, taken from
//! BTF (structures, tracepoint prototypes) and tracefs (classic tracepoint records).
use dockernet_trace_common::{ArgLayout, Config, NO_ARG, TracepointOffsets};

use crate::kernel::{KernelBtf, KernelError, tracefs};

/// A configuration with every kernel-dependent field filled in and no filter set (mode off).
pub fn for_kernel(btf: &KernelBtf) -> Result<Config, KernelError> {
    Ok(Config {
        skb: btf.skb_offsets()?,
        tp: tracepoint_offsets(),
        args: arg_layout(btf),
        ..Config::default()
    })
}

/// Arguments of BTF tracepoints whose prototypes changed over time.
pub fn arg_layout(btf: &KernelBtf) -> ArgLayout {
    let kfree = btf.tracepoint_args("kfree_skb").unwrap_or(2);
    let reset = btf.tracepoint_args("tcp_send_reset").unwrap_or(0);
    ArgLayout {
        // (skb, location) before 5.17; (skb, location, reason[, rx_sk]) since.
        kfree_reason: if kfree >= 3 { 2 } else { NO_ARG },
        // (sk, skb) since 5.x; (sk, skb, reason) since 6.10 (see hooks: tcp_reset_rsn).
        reset_skb: if reset >= 2 { 1 } else { NO_ARG },
        _pad: [0; 2],
    }
}

/// Offsets of the classic tracepoints' fields; a tracepoint whose format cannot be read keeps
/// zeros, and its hook reports itself unavailable (see `hooks`).
pub fn tracepoint_offsets() -> TracepointOffsets {
    let mut t = TracepointOffsets::default();
    if let Ok(f) = tracefs::format("fib", "fib_table_lookup") {
        let o = |n: &str| f.get(n).map(|x| x.offset).unwrap_or(0);
        t.fib_tb_id = o("tb_id");
        t.fib_err = o("err");
        t.fib_oif = o("oif");
        t.fib_proto = o("proto");
        t.fib_src = o("src");
        t.fib_dst = o("dst");
        t.fib_gw4 = o("gw4");
        t.fib_sport = o("sport");
        t.fib_dport = o("dport");
        t.fib_name = o("name");
    }
    if let Ok(f) = tracefs::format("neigh", "neigh_update") {
        let o = |n: &str| f.get(n).map(|x| x.offset).unwrap_or(0);
        t.neigh_dev = o("dev");
        t.neigh_key4 = o("primary_key4");
        t.neigh_state = o("new_state");
    }
    if let Ok(f) = tracefs::format("neigh", "neigh_create") {
        let o = |n: &str| f.get(n).map(|x| x.offset).unwrap_or(0);
        t.neigh_create_dev = o("dev");
        t.neigh_create_key4 = o("primary_key4");
    }
    t
}
