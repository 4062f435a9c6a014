//! Does a packet belong to what user space asked for? The few comparisons every packet pays.
use aya_ebpf::maps::lpm_trie::Key;
use dockernet_trace_common::{Config, MODE_PROBE, MODE_WATCH};

use crate::{
    maps::{WATCH_NETNS, WATCH_NETS},
    packet::{IPPROTO_TCP, IPPROTO_UDP, Packet},
};

/// The probe's flow, in any NAT-translated form: same protocol, one of the probes' ports (ICMP:
/// echo identifier) as either port, and one address of the probe's path. NAT keeps ports unless
/// they collide, which the random, high probe port makes unlikely; NAT never rewrites both
/// addresses to ones outside the path (the ends, their gateways, the host's own, DNAT targets).
#[inline(always)]
pub fn is_probe(cfg: &Config, p: &Packet) -> bool {
    cfg.mode == MODE_PROBE
        && ((p.flow_proto() == cfg.probe_proto
            && (p.sport.wrapping_sub(cfg.probe_port) < cfg.probe_port_count
                || p.dport.wrapping_sub(cfg.probe_port) < cfg.probe_port_count)
            && (is_probe_addr(cfg, p.daddr) || is_probe_addr(cfg, p.saddr)))
            || is_dns(cfg, p))
}

/// Name resolution: a query to a nameserver's DNS port (whatever port it leaves from: Docker's
/// embedded DNS forwards from ports of its own), its answer, or an ICMP error quoting the query
/// (whose sender is the nameserver or a router, so either address may be the nameserver's).
/// Off (one comparison) unless user space set `dns_port`.
#[inline(always)]
fn is_dns(cfg: &Config, p: &Packet) -> bool {
    let port = cfg.dns_port;
    if port == 0 || (p.dport != port && p.sport != port) {
        return false;
    }
    let proto = p.flow_proto();
    if proto != IPPROTO_UDP && proto != IPPROTO_TCP {
        return false;
    }
    let quoted = p.inner_proto != 0;
    (p.dport == port && (is_dns_addr(cfg, p.daddr) || (quoted && is_dns_addr(cfg, p.saddr))))
        || (p.sport == port && is_dns_addr(cfg, p.saddr))
}

#[inline(always)]
fn is_dns_addr(cfg: &Config, addr: u32) -> bool {
    if addr == 0 {
        return false;
    }
    let mut i = 0;
    while i < cfg.dns_addrs.len() {
        if cfg.dns_addrs[i] == addr {
            return true;
        }
        i += 1;
    }
    false
}

/// Addresses the probe's path involves (ends, translations, gateways); 0 ends the list.
#[inline(always)]
pub fn is_probe_addr(cfg: &Config, addr: u32) -> bool {
    if addr == 0 {
        return false;
    }
    let mut i = 0;
    while i < cfg.probe_addrs.len() {
        if cfg.probe_addrs[i] == addr {
            return true;
        }
        i += 1;
    }
    false
}

#[inline(always)]
fn watched_addr(addr: u32) -> bool {
    WATCH_NETS.get(Key::new(32, addr)).is_some()
}

/// Watch mode: an address of the packet lies in a watched prefix, and the namespace (when
/// known and when user space restricts namespaces) is watched.
#[inline(always)]
pub fn is_watched(cfg: &Config, p: &Packet, netns: u32) -> bool {
    if cfg.mode != MODE_WATCH {
        return false;
    }
    netns_watched(cfg, netns) && (watched_addr(p.saddr) || watched_addr(p.daddr))
}

/// Watch mode: is namespace `netns` (0: unknown) one user space watches?
#[inline(always)]
pub fn netns_watched(cfg: &Config, netns: u32) -> bool {
    cfg.watch_netns_only == 0 || netns == 0 || WATCH_NETNS.get_ptr(&netns).is_some()
}

#[inline(always)]
pub fn is_watched_addr(cfg: &Config, addr: u32) -> bool {
    cfg.mode == MODE_WATCH && watched_addr(addr)
}
