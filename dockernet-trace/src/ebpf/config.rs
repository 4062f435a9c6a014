//! The `Config` the programs read: what the user asked for (a probe's flow, or the watched
//! networks) plus the running kernel's layout, taken from BTF (structures, tracepoint
//! prototypes). This is the one place that turns a request into the kernel's terms, network
//! byte order included (pwru's `GetConfig` does the same for its flags).
use std::net::{IpAddr, Ipv4Addr};

use aya::maps::lpm_trie::Key;
use dockernet_trace_common::{
    ArgLayout, Config, DNS_ADDRS, FAMILY_V4, FAMILY_V6, Ipv4Prefix, Ipv6Prefix, MODE_PROBE, MODE_WATCH,
    NO_ARG, PROBE_ADDRS,
};
use ipnet::{Ipv4Net, Ipv6Net};

use crate::{
    flow::IpFamily,
    kernel::{KernelBtf, KernelError},
    probe::ProbePorts,
};

/// `base` (the kernel's layout) set to follow the probes `ports` of `family` and the addresses
/// on their path (`addrs`: ends, NAT forms, gateways; the first PROBE_ADDRS of the family are
/// used).
pub fn for_probe(base: Config, ports: &ProbePorts, family: IpFamily, addrs: &[IpAddr]) -> Config {
    let mut cfg = base;
    cfg.mode = MODE_PROBE;
    cfg.probe_proto = ports.proto.number();
    cfg.probe_port = ports.base;
    cfg.probe_port_count = ports.count;
    cfg.probe_family = match family {
        IpFamily::V4 => FAMILY_V4,
        IpFamily::V6 => FAMILY_V6,
    };
    cfg.probe_addrs = [0; PROBE_ADDRS];
    cfg.probe_addrs6 = [[0; 4]; PROBE_ADDRS];
    let (mut v4, mut v6) = (cfg.probe_addrs.iter_mut(), cfg.probe_addrs6.iter_mut());
    for a in addrs {
        match a {
            IpAddr::V4(a) => v4.next().map(|slot| *slot = u32::from(*a).to_be()),
            IpAddr::V6(a) => v6.next().map(|slot| *slot = words(a)),
        };
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
    // The source's own queries are IPv4, to IPv4 nameservers.
    let addrs: Vec<IpAddr> = addrs.iter().copied().map(IpAddr::V4).collect();
    let mut cfg = for_probe(base, ports, IpFamily::V4, &addrs);
    cfg.dns_port = dns_port;
    for (slot, a) in cfg.dns_addrs.iter_mut().zip(nameservers) {
        *slot = u32::from(*a).to_be();
    }
    cfg
}

/// An IPv6 address as the four words the kernel reads its bytes as (`u32::from_ne_bytes`).
fn words(a: &std::net::Ipv6Addr) -> [u32; 4] {
    let o = a.octets();
    std::array::from_fn(|i| u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
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
/// The IPv6 route layout likewise (see `route6_layout` of the session): without it
/// fib6_table_lookup stays detached.
pub fn for_kernel(btf: &KernelBtf) -> Result<(Config, Layout, Layout), KernelError> {
    let route = btf.route_offsets();
    let route6 = btf.route6_offsets();
    let cfg = Config {
        skb: btf.skb_offsets()?,
        route: route.as_ref().copied().unwrap_or_default(),
        route6: route6.as_ref().copied().unwrap_or_default(),
        args: arg_layout(btf),
        ..Config::default()
    };
    Ok((cfg, route.map(drop).map_err(|e| e.to_string()), route6.map(drop).map_err(|e| e.to_string())))
}

/// Whether BTF described a group of structures the programs read (else why not).
pub type Layout = Result<(), String>;

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
        let cfg = for_probe(Config::default(), &ports, IpFamily::V4, &["172.18.0.2".parse().unwrap()]);
        assert_eq!(
            (cfg.mode, cfg.probe_proto, cfg.probe_port, cfg.probe_port_count),
            (MODE_PROBE, 17, 40000, 3)
        );
        assert_eq!(cfg.probe_addrs[0].to_ne_bytes(), [172, 18, 0, 2]);
        assert_eq!(cfg.probe_addrs[1], 0);
        assert_eq!(cfg.probe_family, FAMILY_V4);
        let addrs =
            ["fd00:18::2".parse().unwrap(), "172.18.0.9".parse().unwrap(), "fd00:18::1".parse().unwrap()];
        let cfg = for_probe(Config::default(), &ports, IpFamily::V6, &addrs);
        assert_eq!(cfg.probe_family, FAMILY_V6);
        assert_eq!(cfg.probe_addrs6[0][0].to_ne_bytes(), [0xfd, 0, 0, 0x18]);
        assert_eq!(cfg.probe_addrs6[0][3].to_ne_bytes(), [0, 0, 0, 2]);
        assert_eq!(cfg.probe_addrs6[1][3].to_ne_bytes(), [0, 0, 0, 1]);
        assert_eq!((cfg.probe_addrs6[2], cfg.probe_addrs[0].to_ne_bytes()), ([0; 4], [172, 18, 0, 9]));
        let key = watch_key(&"172.18.0.0/16".parse().unwrap());
        assert_eq!((key.prefix_len(), key.data().to_ne_bytes()), (16, [172, 18, 0, 0]));
        let key = watch_key6(&"fd00:18::/64".parse().unwrap());
        assert_eq!((key.prefix_len(), key.data()[..4].to_vec()), (64, vec![0xfd, 0, 0, 0x18]));
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
        let cfg = for_probe(cfg, &target, IpFamily::V4, &["172.18.0.2".parse().unwrap()]);
        assert_eq!((cfg.dns_port, cfg.dns_addrs), (0, [0; DNS_ADDRS]));
    }
}
