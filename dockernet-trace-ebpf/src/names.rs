//! Compile-time checks that every program, map and global carries the name user space looks it
//! up by (`dockernet_trace_common::{programs, maps, globals}`). A program's name is its function's name and a
//! map's is its static's, so renaming one without the constant fails the build here.
use dockernet_trace_common::{globals, maps, programs, same_name};

/// Does the path `stringify!` made (`crate :: skb :: kfree_skb`) end in the item `name`?
const fn is_named(path: &str, name: &str) -> bool {
    let (p, n) = (path.as_bytes(), name.as_bytes());
    if p.len() < n.len() {
        return false;
    }
    let start = p.len() - n.len();
    if start > 0 && p[start - 1] != b' ' && p[start - 1] != b':' {
        return false;
    }
    let (_, tail) = p.split_at(start);
    match core::str::from_utf8(tail) {
        Ok(tail) => same_name(tail, name),
        Err(_) => false,
    }
}

macro_rules! named {
    ($($item:path => $name:expr),* $(,)?) => {$(
        const _: () = assert!(is_named(stringify!($item), $name), stringify!($item));
        // Only type-checked: the item must exist under this path.
        const _: fn() = || {
            let _ = &$item;
        };
    )*};
}

named! {
    crate::tc::dnt_tc_ingress => programs::TC_INGRESS,
    crate::tc::dnt_tc_egress => programs::TC_EGRESS,
    crate::skb::kfree_skb => programs::KFREE_SKB,
    crate::skb::netif_receive_skb => programs::NETIF_RECEIVE_SKB,
    crate::skb::net_dev_xmit => programs::NET_DEV_XMIT,
    crate::skb::icmp_send => programs::ICMP_SEND,
    crate::skb::tcp_send_reset => programs::TCP_SEND_RESET,
    crate::skb::tcp_reset_rsn => programs::TCP_RESET_RSN,
    crate::route::fib_table_lookup => programs::FIB_TABLE_LOOKUP,
    crate::route6::fib6_table_lookup => programs::FIB6_TABLE_LOOKUP,
    crate::route::neigh_update => programs::NEIGH_UPDATE,
    crate::route::neigh_create => programs::NEIGH_CREATE,
    crate::enrich::dnt_fx_nf_hook => programs::FX_NF_HOOK,
    crate::enrich::dnt_kp_nf_hook => programs::KP_NF_HOOK,
    crate::enrich::dnt_fe_nft_chain => programs::FE_NFT_CHAIN,
    crate::enrich::dnt_kp_nft_chain => programs::KP_NFT_CHAIN,
    crate::enrich::dnt_kp_ipt_table => programs::KP_IPT_TABLE,
    crate::enrich::dnt_fe_br_forward => programs::FE_BR_FORWARD,
    crate::enrich::dnt_kp_br_forward => programs::KP_BR_FORWARD,
    crate::enrich::dnt_fe_br_pass_up => programs::FE_BR_PASS_UP,
    crate::enrich::dnt_kp_br_pass_up => programs::KP_BR_PASS_UP,
    crate::enrich::dnt_kp_nat => programs::KP_NAT,
    crate::maps::EVENTS => maps::EVENTS,
    crate::maps::CONFIG => maps::CONFIG,
    crate::maps::COUNTERS => maps::COUNTERS,
    crate::maps::WATCH_NETS => maps::WATCH_NETS,
    crate::maps::WATCH_NETS6 => maps::WATCH_NETS6,
    crate::maps::WATCH_NETNS => maps::WATCH_NETNS,
    crate::maps::WATCH_NET16 => maps::WATCH_NET16,
    crate::maps::DROP_POLICY => maps::DROP_POLICY,
    crate::maps::DROP_COUNTS => maps::DROP_COUNTS,
    crate::maps::NOISE_SITES => maps::NOISE_SITES,
    crate::context::SKB_LAYOUT => globals::SKB_LAYOUT,
    crate::context::LOADED_FOR => globals::LOADED_FOR,
    crate::context::LOADED_V6 => globals::LOADED_V6,
}
