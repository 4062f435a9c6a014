//! Does a packet belong to what user space asked for? The few comparisons every packet pays,
//! cheapest first: what is in the configuration, then one array word, and only for packets
//! that pass those a hash or trie lookup.
use aya_ebpf::maps::lpm_trie::Key;
use dockernet_trace_common::{Config, MODE_PROBE, MODE_WATCH, net16_slot};

use crate::{
    maps::{WATCH_NET16, WATCH_NETNS, WATCH_NETS},
    packet::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, Packet},
};

/// The probe's flow, in any NAT-translated form: same protocol, one of the probes' ports (ICMP:
/// echo identifier) as either port, and one address of the probe's path. NAT keeps ports unless
/// they collide, which the random, high probe port makes unlikely; NAT never rewrites both
/// addresses to ones outside the path (the ends, their gateways, the host's own, DNAT targets).
/// Or a name lookup of the DNS leg (see `is_dns`).
#[inline(always)]
pub fn is_probe(cfg: &Config, p: &Packet) -> bool {
    (may_be_probe_flow(cfg, p)
        && p.flow_proto() == cfg.probe_proto
        && (p.sport.wrapping_sub(cfg.probe_port) < cfg.probe_port_count
            || p.dport.wrapping_sub(cfg.probe_port) < cfg.probe_port_count))
        || is_dns(cfg, p)
}

/// What the IPv4 header alone tells (before the transport header is read): the packet may be
/// the probe's (see `may_be_probe_flow`) or a name lookup's (see `may_be_dns`).
#[inline(always)]
pub fn may_be_probe(cfg: &Config, p: &Packet) -> bool {
    may_be_probe_flow(cfg, p) || may_be_dns(cfg, p)
}

/// The protocol is the probe's or ICMP (an error quoting the probe), and an address is on the
/// probe's path.
#[inline(always)]
fn may_be_probe_flow(cfg: &Config, p: &Packet) -> bool {
    cfg.mode == MODE_PROBE
        && (p.proto == cfg.probe_proto || p.proto == IPPROTO_ICMP)
        && (is_probe_addr(cfg, p.daddr) || is_probe_addr(cfg, p.saddr))
}

/// A lookup may be on: user space set `dns_port`, the protocol is UDP, TCP or ICMP (an error
/// quoting a query), and an address is a nameserver's.
#[inline(always)]
fn may_be_dns(cfg: &Config, p: &Packet) -> bool {
    cfg.mode == MODE_PROBE
        && cfg.dns_port != 0
        && (p.proto == IPPROTO_UDP || p.proto == IPPROTO_TCP || p.proto == IPPROTO_ICMP)
        && (is_dns_addr(cfg, p.daddr) || is_dns_addr(cfg, p.saddr))
}

/// Name resolution: a query to a nameserver's DNS port (whatever port it leaves from: Docker's
/// embedded DNS forwards from ports of its own), its answer, or an ICMP error quoting the query
/// (whose sender is the nameserver or a router, so either address may be the nameserver's).
/// Off (one comparison) unless user space set `dns_port`.
#[inline(always)]
fn is_dns(cfg: &Config, p: &Packet) -> bool {
    let port = cfg.dns_port;
    if cfg.mode != MODE_PROBE || port == 0 || (p.dport != port && p.sport != port) {
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

/// Is `addr` in a /16 that some watched prefix touches? One array word: no false negatives,
/// and for addresses far from Docker's networks no false positives either.
#[inline(always)]
fn in_watched_net16(addr: u32) -> bool {
    let slot = net16_slot(addr);
    WATCH_NET16.get(slot >> 6).is_some_and(|w| w & (1u64 << (slot & 63)) != 0)
}

#[inline(always)]
fn watched_addr(addr: u32) -> bool {
    in_watched_net16(addr) && WATCH_NETS.get(Key::new(32, addr)).is_some()
}

/// Watch mode, first pass (IPv4 header only): could an address of the packet be watched?
#[inline(always)]
pub fn may_be_watched(cfg: &Config, p: &Packet) -> bool {
    cfg.mode == MODE_WATCH && (in_watched_net16(p.saddr) || in_watched_net16(p.daddr))
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
