//! Does a packet belong to what user space asked for? The few comparisons every packet pays,
//! cheapest first: the family (from `skb->protocol`, against the configuration), then what is
//! in the configuration, then one array word (IPv4 watch), and only for packets that pass
//! those a hash or trie lookup.
use aya_ebpf::maps::lpm_trie::Key;
use dockernet_trace_common::{Config, FAMILY_V4, FAMILY_V6, MODE_PROBE, MODE_WATCH, net16_slot};

use crate::{
    context::{mode, v6_loaded},
    maps::{WATCH_NET16, WATCH_NETNS, WATCH_NETS, WATCH_NETS6},
    packet::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, Packet, is_unspecified6, word},
};

/// Is a packet of `family` (from `skb->protocol`) worth parsing? A probe's packets are of its
/// family; a watch parses IPv6 only while it watches an IPv6 prefix. One comparison on the
/// configuration, before any packet byte is read.
#[inline(always)]
pub fn wants_family(cfg: &Config, family: u8) -> bool {
    if family == FAMILY_V6 && !v6_loaded() {
        return false;
    }
    match mode(cfg) {
        // (The DNS leg's lookups go to IPv4 nameservers, whatever the probe's family.)
        MODE_PROBE => family == cfg.probe_family || (cfg.dns_port != 0 && family == FAMILY_V4),
        MODE_WATCH => family != FAMILY_V6 || cfg.watch_v6 != 0,
        _ => false,
    }
}

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

/// What the IP header alone tells (before the transport header is read): the packet may be
/// the probe's (see `may_be_probe_flow`) or a name lookup's (see `may_be_dns`).
#[inline(always)]
pub fn may_be_probe(cfg: &Config, p: &Packet) -> bool {
    may_be_probe_flow(cfg, p) || may_be_dns(cfg, p)
}

/// The protocol is the probe's or ICMP / ICMPv6 (an error quoting the probe), and an address is on the
/// probe's path.
#[inline(always)]
fn may_be_probe_flow(cfg: &Config, p: &Packet) -> bool {
    mode(cfg) == MODE_PROBE
        && (p.proto == cfg.probe_proto || p.proto == IPPROTO_ICMP || p.proto == IPPROTO_ICMPV6)
        && on_probe_path(cfg, p)
}

/// An address of the packet is on the probe's path.
#[inline(always)]
fn on_probe_path(cfg: &Config, p: &Packet) -> bool {
    if v6_loaded() && p.family == FAMILY_V6 {
        is_probe_addr6(cfg, &p.daddr6) || is_probe_addr6(cfg, &p.saddr6)
    } else {
        is_probe_addr(cfg, p.daddr) || is_probe_addr(cfg, p.saddr)
    }
}

/// A lookup may be on: user space set `dns_port`, the protocol is UDP, TCP or ICMP (an error
/// quoting a query), and an address is a nameserver's (IPv4: the DNS leg's nameservers are;
/// an IPv6 packet's IPv4 address fields are zero, which no slot holds).
#[inline(always)]
fn may_be_dns(cfg: &Config, p: &Packet) -> bool {
    mode(cfg) == MODE_PROBE
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
    if mode(cfg) != MODE_PROBE || port == 0 || (p.dport != port && p.sport != port) {
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

/// IPv4 addresses the probe's path involves (ends, translations, gateways); 0 ends the list.
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

/// The same for IPv6 addresses (compared word by word: no memcmp in eBPF).
#[inline(always)]
pub fn is_probe_addr6(cfg: &Config, addr: &[u8; 16]) -> bool {
    if is_unspecified6(addr) {
        return false;
    }
    let a = [word(addr, 0), word(addr, 1), word(addr, 2), word(addr, 3)];
    let mut i = 0;
    while i < cfg.probe_addrs6.len() {
        let s = &cfg.probe_addrs6[i];
        if s[0] == a[0] && s[1] == a[1] && s[2] == a[2] && s[3] == a[3] {
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

/// IPv6 has no bitmap in front of its trie: IPv6 packets get here only while a watch has an
/// IPv6 prefix (`wants_family`), and the trie is its own cheap rejection.
#[inline(always)]
fn watched_addr6(addr: &[u8; 16]) -> bool {
    WATCH_NETS6.get(Key::new(128, *addr)).is_some()
}

/// Watch mode, first pass (IP header only): could an address of the packet be watched? For
/// IPv4 the /16 bitmap; for IPv6 the trie itself.
#[inline(always)]
pub fn may_be_watched(cfg: &Config, p: &Packet) -> bool {
    if mode(cfg) != MODE_WATCH {
        return false;
    }
    if p.family == FAMILY_V6 {
        cfg.watch_v6 != 0 && (watched_addr6(&p.saddr6) || watched_addr6(&p.daddr6))
    } else {
        in_watched_net16(p.saddr) || in_watched_net16(p.daddr)
    }
}

/// Watch mode: an address of the packet lies in a watched prefix, and the namespace (when
/// known and when user space restricts namespaces) is watched.
#[inline(always)]
pub fn is_watched(cfg: &Config, p: &Packet, netns: u32) -> bool {
    if mode(cfg) != MODE_WATCH || !netns_watched(cfg, netns) {
        return false;
    }
    if p.family == FAMILY_V6 {
        cfg.watch_v6 != 0 && (watched_addr6(&p.saddr6) || watched_addr6(&p.daddr6))
    } else {
        watched_addr(p.saddr) || watched_addr(p.daddr)
    }
}

/// Watch mode: is namespace `netns` (0: unknown) one user space watches?
#[inline(always)]
pub fn netns_watched(cfg: &Config, netns: u32) -> bool {
    cfg.watch_netns_only == 0 || netns == 0 || WATCH_NETNS.get_ptr(&netns).is_some()
}

#[inline(always)]
pub fn is_watched_addr(cfg: &Config, addr: u32) -> bool {
    mode(cfg) == MODE_WATCH && watched_addr(addr)
}

#[inline(always)]
pub fn is_watched_addr6(cfg: &Config, addr: &[u8; 16]) -> bool {
    mode(cfg) == MODE_WATCH && cfg.watch_v6 != 0 && watched_addr6(addr)
}
