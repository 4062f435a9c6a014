//! The `Config` the programs read: what the user asked for (a probe's flow, or the watched
//! networks) plus the running kernel's layout, taken from BTF (structures, tracepoint
//! prototypes). This is the one place that turns a request into the kernel's terms, network
//! byte order included (pwru's `GetConfig` does the same for its flags).
use std::net::Ipv4Addr;

use aya::maps::lpm_trie::Key;
use dockernet_trace_common::{
    ArgLayout, Config, DNS_ADDRS, Ipv4Prefix, MODE_PROBE, MODE_WATCH, NO_ARG, PROBE_ADDRS,
};
use ipnet::Ipv4Net;

use crate::{
    kernel::{KernelBtf, KernelError},
    probe::ProbePorts,
};

/// `base` (the kernel's layout) set to follow the probes `ports` and the addresses on their
/// path (`addrs`: ends, NAT forms, gateways; the first PROBE_ADDRS are used).
pub fn for_probe(base: Config, ports: &ProbePorts, addrs: &[Ipv4Addr]) -> Config {
    let mut cfg = base;
    cfg.mode = MODE_PROBE;
    cfg.probe_proto = ports.proto.number();
    cfg.probe_port = ports.base;
    cfg.probe_port_count = ports.count;
    cfg.probe_addrs = [0; PROBE_ADDRS];
    for (slot, a) in cfg.probe_addrs.iter_mut().zip(addrs) {
        *slot = u32::from(*a).to_be();
    }
    cfg.dns_port = 0;
    cfg.dns_addrs = [0; DNS_ADDRS];
    cfg
}

/// `base` set to follow a name resolution: the source's own queries (from `ports`, UDP, to the
/// path's `addrs`, as any probe), and every UDP/TCP packet to or from port `dns_port` of a
/// `nameservers` address (the first DNS_ADDRS are used), whatever its other port: the queries
/// Docker's embedded DNS forwards, and a TCP retry after truncation.
pub fn for_dns(
    base: Config,
    ports: &ProbePorts,
    addrs: &[Ipv4Addr],
    dns_port: u16,
    nameservers: &[Ipv4Addr],
) -> Config {
    let mut cfg = for_probe(base, ports, addrs);
    cfg.dns_port = dns_port;
    for (slot, a) in cfg.dns_addrs.iter_mut().zip(nameservers) {
        *slot = u32::from(*a).to_be();
    }
    cfg
}

/// `base` set to report the drops, route failures and resets of the watched prefixes
/// (`WATCH_NETS`), in the watched namespaces only (`WATCH_NETNS`).
pub fn for_watch(base: Config) -> Config {
    Config { mode: MODE_WATCH, watch_netns_only: 1, ..base }
}

/// The `WATCH_NETS` key of a prefix.
pub fn watch_key(p: &Ipv4Net) -> Key<Ipv4Prefix> {
    Key::new(u32::from(p.prefix_len()), u32::from(p.network()).to_be())
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
        let w = for_watch(cfg);
        assert_eq!((w.mode, w.watch_netns_only), (MODE_WATCH, 1));
    }

    #[test]
    fn a_dns_leg_follows_port_53_of_its_nameservers_and_a_probe_turns_it_off() {
        let ports = ProbePorts { proto: Proto::Udp, base: 40003, count: 1 };
        let ns: Vec<Ipv4Addr> = vec!["127.0.0.11".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let cfg = for_dns(Config::default(), &ports, &ns, 53, &ns);
        assert_eq!((cfg.probe_proto, cfg.probe_port, cfg.dns_port), (17, 40003, 53));
        assert_eq!(cfg.dns_addrs[1].to_ne_bytes(), [10, 0, 0, 2]);
        assert_eq!(cfg.dns_addrs[2], 0);
        let target = ProbePorts { proto: Proto::Tcp, base: 40000, count: 3 };
        let cfg = for_probe(cfg, &target, &["172.18.0.2".parse().unwrap()]);
        assert_eq!((cfg.dns_port, cfg.dns_addrs), (0, [0; DNS_ADDRS]));
    }
}
