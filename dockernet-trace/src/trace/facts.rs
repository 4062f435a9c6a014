//! The kernel's observations of one trace, sorted into the kinds of fact the verdict reasons
//! about: drops, route lookups, ICMP errors, resets, neighbour states, netfilter verdicts.
use std::net::Ipv4Addr;

use dockernet_trace_common::Hook;
use serde::Serialize;

use super::hops::{Places, ProbePorts};
use crate::{
    ebpf::{KernelEvent, Tuple, events::Detail},
    kernel::Kallsyms,
};

#[derive(Clone, Debug, Serialize)]
pub struct Drop {
    pub t_ns: u64,
    pub probe: u16,
    pub forward: bool,
    pub netns: String,
    pub iface: String,
    pub reason: String,
    /// The kernel function that freed the packet (from kallsyms), e.g. nft_do_chain.
    pub function: Option<String>,
    pub location: String,
    pub tuple: Tuple,
}

#[derive(Clone, Debug, Serialize)]
pub struct RouteLookup {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub table: u32,
    /// 0 on success, a negative errno on failure.
    pub err: i32,
    pub oif: String,
    pub gateway: Option<Ipv4Addr>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Answered {
    /// `icmp` (the kernel sent an ICMP error about the probe) or `reset`.
    pub kind: &'static str,
    pub netns: String,
    pub iface: String,
    pub icmp: Option<(u8, u8)>,
    pub tuple: Tuple,
}

#[derive(Clone, Debug, Serialize)]
pub struct Neighbour {
    pub addr: Ipv4Addr,
    pub iface: String,
    pub state: u8,
    pub created: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Netfilter {
    pub hook: String,
    pub verdict: Option<i32>,
    pub table: Option<String>,
    pub chain: Option<String>,
    pub iface: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Facts {
    pub drops: Vec<Drop>,
    pub routes: Vec<RouteLookup>,
    pub answers: Vec<Answered>,
    pub neighbours: Vec<Neighbour>,
    pub netfilter: Vec<Netfilter>,
    /// NAT rewrites seen (tuple after the rewrite).
    pub nat: Vec<(String, Tuple)>,
    /// netfilter's own trace of the probe (only with --allow-system-changes).
    pub nftrace: Vec<super::nftrace::Step>,
}

pub const NUD_INCOMPLETE: u8 = 0x01;
pub const NUD_FAILED: u8 = 0x20;

impl Facts {
    pub fn gather(events: &[KernelEvent], places: &Places, ports: ProbePorts, syms: &mut Kallsyms) -> Self {
        let mut events: Vec<&KernelEvent> = events.iter().collect();
        events.sort_by_key(|e| e.t_ns);
        let locations: Vec<u64> = events
            .iter()
            .filter_map(|e| match e.detail {
                Detail::Drop { location, .. } => Some(location),
                _ => None,
            })
            .collect();
        syms.resolve_many(&locations);
        let mut f = Facts::default();
        for e in events {
            let netns = places.netns_label(e.place.netns);
            let iface = places.iface(e);
            let located = ports.locate_event(e);
            match (&e.detail, e.tuple, located) {
                (Detail::Drop { reason, location }, Some(tuple), Some((probe, forward))) => {
                    let sym = syms.resolve(*location);
                    f.drops.push(Drop {
                        t_ns: e.t_ns,
                        probe,
                        forward,
                        netns,
                        iface,
                        reason: reason.clone(),
                        function: sym.as_ref().map(|s| s.name.clone()),
                        location: sym.map(|s| s.to_string()).unwrap_or_else(|| format!("{location:#x}")),
                        tuple,
                    });
                }
                (Detail::Route { table, err, gateway, .. }, Some(t), _) => f.routes.push(RouteLookup {
                    src: t.src,
                    dst: t.dst,
                    table: *table,
                    err: *err,
                    oif: e.place.ifname.clone(),
                    gateway: (!gateway.is_unspecified()).then_some(*gateway),
                }),
                (Detail::IcmpError { icmp_type, icmp_code }, Some(tuple), Some(_)) => {
                    f.answers.push(Answered {
                        kind: "icmp",
                        netns,
                        iface,
                        icmp: Some((*icmp_type, *icmp_code)),
                        tuple,
                    })
                }
                (Detail::Reset { .. }, Some(tuple), Some(_)) => {
                    f.answers.push(Answered { kind: "reset", netns, iface, icmp: None, tuple })
                }
                (Detail::Neighbour { addr, state, created }, _, _) => {
                    f.neighbours.push(Neighbour { addr: *addr, iface, state: *state, created: *created })
                }
                (Detail::Netfilter { hook, verdict }, Some(_), Some(_)) => f.netfilter.push(Netfilter {
                    hook: hook.clone(),
                    verdict: *verdict,
                    table: None,
                    chain: None,
                    iface,
                }),
                (Detail::NfTable { table, chain }, Some(_), Some(_)) => f.netfilter.push(Netfilter {
                    hook: String::new(),
                    verdict: None,
                    table: Some(table.clone()),
                    chain: Some(chain.clone()).filter(|c| !c.is_empty()),
                    iface,
                }),
                (Detail::Nat { rewrites }, Some(t), Some(_)) if e.hook == Hook::NatRewrite => {
                    f.nat.push((rewrites.to_string(), t))
                }
                _ => {}
            }
        }
        f
    }

    /// The first drop of a packet travelling towards the target, else the first of an answer.
    pub fn decisive_drop(&self) -> Option<&Drop> {
        self.drops.iter().find(|d| d.forward).or_else(|| self.drops.first())
    }

    /// How many probe packets netfilter dropped (to match against rule counters).
    pub fn netfilter_drops(&self) -> u64 {
        self.drops.iter().filter(|d| d.reason == "NETFILTER_DROP").count() as u64
    }

    /// Failed route lookups (other than "try the next table").
    pub fn failed_routes(&self) -> impl Iterator<Item = &RouteLookup> {
        self.routes.iter().filter(|r| r.err != 0 && r.err != -11)
    }

    /// The interface a successful lookup chose for `dst`, with the table.
    pub fn route_for(&self, dst: Ipv4Addr) -> Option<&RouteLookup> {
        self.routes.iter().find(|r| r.dst == dst && r.err == 0 && !r.oif.is_empty())
    }

    /// The chain (and table) where netfilter dropped the probe: from nftrace when it ran,
    /// else the last base chain the enrichment hooks saw before the drop.
    pub fn dropping_chain(&self) -> Option<(&str, Option<&str>)> {
        if let Some(s) = self.nftrace.iter().find(|s| s.verdict == "drop" || s.verdict == "reject") {
            return Some((s.table.as_str(), Some(s.chain.as_str())));
        }
        let drop_at = self.netfilter.iter().position(|n| n.verdict.is_some_and(|v| v < 0));
        let upto = drop_at.map(|i| &self.netfilter[..=i]).unwrap_or(&self.netfilter[..]);
        upto.iter().rev().find_map(|n| n.table.as_deref().map(|t| (t, n.chain.as_deref())))
    }
}
