//! The `Config` the programs read: what the user asked for (a probe's flow, or the watched
//! networks) plus the running kernel's layout, taken from BTF (structures, tracepoint
//! prototypes). This is the one place that turns a request into the kernel's terms, network
//! byte order included (pwru's `GetConfig` does the same for its flags).
use std::net::IpAddr;

use aya::maps::lpm_trie::Key;
use dockernet_trace_common::{
    ArgLayout, Config, Ipv4Prefix, Ipv6Prefix, MODE_PROBE, MODE_WATCH, NO_ARG, PROBE_ADDRS,
};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::{
    kernel::{KernelBtf, KernelError},
    probe::ProbePorts,
};

/// `base` (the kernel's layout) set to follow the probes `ports` and the addresses on their
/// path (`addrs`: ends, NAT forms, gateways; the first PROBE_ADDRS are used).
pub fn for_probe(base: Config, ports: &ProbePorts, addrs: &[IpAddr]) -> Config {
    let mut cfg = base;
    cfg.mode = MODE_PROBE;
    cfg.probe_proto = ports.proto.number();
    cfg.probe_port = ports.base;
    cfg.probe_port_count = ports.count;
    cfg.probe_addrs = [0; PROBE_ADDRS];
    let v4 = addrs.iter().filter_map(|a| match a {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    });
    for (slot, a) in cfg.probe_addrs.iter_mut().zip(v4) {
        *slot = u32::from(a).to_be();
    }
    cfg
}

/// `base` set to report the drops, route failures and resets of the watched prefixes
/// (`WATCH_NETS`), in the watched namespaces only (`WATCH_NETNS`).
pub fn for_watch(base: Config) -> Config {
    Config { mode: MODE_WATCH, watch_netns_only: 1, ..base }
}

/// The `WATCH_NETS` key of an IPv4 prefix.
pub fn watch_key(p: &Ipv4Net) -> Key<Ipv4Prefix> {
    Key::new(u32::from(p.prefix_len()), u32::from(p.network()).to_be())
}

/// The `WATCH_NETS6` key of an IPv6 prefix.
pub fn watch_key6(p: &Ipv6Net) -> Key<Ipv6Prefix> {
    Key::new(u32::from(p.prefix_len()), p.network().octets())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Proto;

    #[test]
    fn addresses_and_prefixes_go_in_network_byte_order() {
        let ports = ProbePorts { proto: Proto::Udp, base: 40000, count: 3 };
        let cfg = for_probe(Config::default(), &ports, &["172.18.0.2".parse().unwrap()]);
        assert_eq!(
            (cfg.mode, cfg.probe_proto, cfg.probe_port, cfg.probe_port_count),
            (MODE_PROBE, 17, 40000, 3)
        );
        assert_eq!(cfg.probe_addrs[0].to_ne_bytes(), [172, 18, 0, 2]);
        assert_eq!(cfg.probe_addrs[1], 0);
        let key = watch_key(&"172.18.0.0/16".parse().unwrap());
        assert_eq!((key.prefix_len(), key.data().to_ne_bytes()), (16, [172, 18, 0, 0]));
        let key = watch_key6(&"fd00:18::/64".parse().unwrap());
        assert_eq!((key.prefix_len(), key.data()[..4].to_vec()), (64, vec![0xfd, 0, 0, 0x18]));
        let w = for_watch(cfg);
        assert_eq!((w.mode, w.watch_netns_only), (MODE_WATCH, 1));
    }
}
