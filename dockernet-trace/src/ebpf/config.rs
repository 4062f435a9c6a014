//! The `Config` the programs read: filter settings plus the running kernel's layout, taken from
//! BTF (structures, tracepoint prototypes).
use dockernet_trace_common::{ArgLayout, Config, NO_ARG};

use crate::kernel::{KernelBtf, KernelError};

/// A configuration with every kernel-dependent field filled in and no filter set (mode off).
/// The route layout is optional: without it the route and neighbour hooks stay detached (see
/// `hooks`), with the reason kept in `route_layout`.
pub fn for_kernel(btf: &KernelBtf) -> Result<(Config, Result<(), String>), KernelError> {
    let route = btf.route_offsets();
    let cfg = Config {
        skb: btf.skb_offsets()?,
        route: route.as_ref().copied().unwrap_or_default(),
        args: arg_layout(btf),
        ..Config::default()
    };
    Ok((cfg, route.map(drop).map_err(|e| e.to_string())))
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
