//! The kernel's observations of one trace, sorted into the kinds of fact the verdict reasons
//! about: drops, route lookups, ICMP errors, resets, neighbour states, netfilter verdicts.
use std::net::IpAddr;

use dockernet_trace_common::Hook;

use super::{
    hops::{iface, locate},
    nftrace::Step,
};
use crate::{
    ebpf::{KernelEvent, events::Detail},
    explain::{
        DropKind, Names, NetnsLabel,
        neighbour::NeighbourState,
        route_failure::{FibOutcome, RouteError},
    },
    flow::{IcmpMessage, IpFamily, Tuple},
    kernel::{DropReason, Kallsyms},
    probe::Locate,
};

/// The kernel freed a probe packet as a drop.
#[derive(Clone, Debug)]
pub struct DropSighting {
    pub t_ns: u64,
    pub probe: u16,
    pub forward: bool,
    pub netns: NetnsLabel,
    pub iface: String,
    pub reason: DropReason,
    /// The kernel function that freed the packet (from kallsyms), e.g. nft_do_chain.
    pub function: Option<String>,
    /// The caller as `symbol+offset` (or the raw address).
    pub location: String,
    pub tuple: Tuple,
}

impl DropSighting {
    pub fn kind(&self) -> DropKind {
        DropKind::at(&self.reason, self.function.as_deref())
    }
}

/// One route lookup the kernel made for the probe's addresses, and its result.
#[derive(Clone, Debug)]
pub struct RouteSighting {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub table: u32,
    /// 0 on success, a negative errno on failure.
    pub err: i32,
    pub oif: String,
    pub gateway: Option<IpAddr>,
}

impl RouteSighting {
    /// The lookup failed (not merely "try the next table").
    pub fn failure(&self) -> Option<RouteError> {
        FibOutcome::of_lookup(self.dst, self.table, self.err).failure()
    }
}

/// How the kernel answered a probe in the target's (or a router's) place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// An ICMP (ICMPv6) error about the probe.
    IcmpError(IcmpMessage),
    /// A TCP reset.
    Reset,
}

impl AnswerKind {
    /// Reset, or port unreachable: nothing listens.
    pub fn refuses(self) -> bool {
        match self {
            Self::Reset => true,
            Self::IcmpError(m) => m.is_port_unreachable(),
        }
    }

    /// The kernel function that sends such an answer for a packet of `family`.
    pub fn function(self, family: IpFamily) -> &'static str {
        match (self, family) {
            (Self::IcmpError(_), IpFamily::V4) => "icmp_send",
            (Self::IcmpError(_), IpFamily::V6) => "icmp6_send",
            (Self::Reset, IpFamily::V4) => "tcp_v4_send_reset",
            (Self::Reset, IpFamily::V6) => "tcp_v6_send_reset",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Answered {
    /// Which probe (0-based) it answers.
    pub probe: u16,
    pub kind: AnswerKind,
    pub netns: NetnsLabel,
    pub iface: String,
    pub tuple: Tuple,
}

#[derive(Clone, Debug)]
pub struct Neighbour {
    pub addr: IpAddr,
    pub iface: String,
    pub state: NeighbourState,
    pub created: bool,
}

#[derive(Clone, Debug)]
pub struct Netfilter {
    pub hook: String,
    pub verdict: Option<i32>,
    pub table: Option<String>,
    pub chain: Option<String>,
    pub iface: String,
}

#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub drops: Vec<DropSighting>,
    pub routes: Vec<RouteSighting>,
    pub answers: Vec<Answered>,
    pub neighbours: Vec<Neighbour>,
    pub netfilter: Vec<Netfilter>,
    /// NAT rewrites seen (tuple after the rewrite).
    pub nat: Vec<(String, Tuple)>,
    /// netfilter's own trace of the probe (only with --allow-system-changes).
    pub nftrace: Vec<Step>,
    /// Probes whose ICMPv6 error was seen already (only its first sighting is where it was
    /// sent).
    icmpv6_answered: Vec<u16>,
}

impl Facts {
    pub fn gather(events: &[KernelEvent], names: &Names, ports: &dyn Locate, syms: &mut Kallsyms) -> Self {
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
            f.add(e, names, ports, syms);
        }
        f
    }

    fn add(&mut self, e: &KernelEvent, names: &Names, ports: &dyn Locate, syms: &mut Kallsyms) {
        let netns = names.netns_label(e.place.netns);
        let iface = iface(names, e);
        let ours = locate(ports, e);
        match (&e.detail, e.tuple, ours) {
            (Detail::Drop { reason, location, .. }, Some(tuple), Some((probe, forward))) => {
                let sym = syms.resolve(*location);
                self.drops.push(DropSighting {
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
            (Detail::Route { table, err, gateway, .. }, Some(t), _) => self.routes.push(RouteSighting {
                src: t.src,
                dst: t.dst,
                table: *table,
                err: *err,
                oif: e.place.ifname.clone(),
                gateway: *gateway,
            }),
            (Detail::IcmpError { message }, Some(tuple), Some((probe, _))) => self.answers.push(Answered {
                probe,
                kind: AnswerKind::IcmpError(*message),
                netns,
                iface,
                tuple,
            }),
            (Detail::Hop { .. }, Some(tuple), Some((probe, false))) => self.icmpv6_answer(
                e.icmp,
                probe,
                Answered { probe, kind: AnswerKind::Reset, netns, iface, tuple },
            ),
            // A reset answers the packet it was made for: the probe's, where nothing listens.
            // A reset for a reply (the source turning away the target's SYN-ACK) is the
            // source's doing, not a refusal: its drop says so.
            (Detail::Reset { .. }, Some(tuple), Some((probe, true))) => {
                self.answers.push(Answered { probe, kind: AnswerKind::Reset, netns, iface, tuple })
            }
            (Detail::Neighbour { addr, state, created }, _, _) => {
                self.neighbours.push(Neighbour { addr: *addr, iface, state: *state, created: *created })
            }
            (Detail::Netfilter { hook, verdict }, Some(_), Some(_)) => self.netfilter.push(Netfilter {
                hook: hook.clone(),
                verdict: *verdict,
                table: None,
                chain: None,
                iface,
            }),
            (Detail::NfTable { table, chain }, Some(_), Some(_)) => self.netfilter.push(Netfilter {
                hook: String::new(),
                verdict: None,
                table: Some(table.clone()),
                chain: Some(chain.clone()).filter(|c| !c.is_empty()),
                iface,
            }),
            (Detail::Nat { rewrites }, Some(t), Some(_)) if e.hook == Hook::NatRewrite => {
                self.nat.push((rewrites.to_string(), t))
            }
            _ => {}
        }
    }

    /// IPv6 has no tracepoint where the kernel sends an ICMPv6 error: the error itself, first
    /// seen where it was sent (events come in time order), is the answer. `at` is that
    /// sighting, its kind still to be set.
    fn icmpv6_answer(&mut self, icmp: Option<IcmpMessage>, probe: u16, mut at: Answered) {
        let Some(m) = icmp.filter(|m| m.is_error() && m.family == IpFamily::V6) else { return };
        if self.icmpv6_answered.contains(&probe) {
            return;
        }
        self.icmpv6_answered.push(probe);
        at.kind = AnswerKind::IcmpError(m);
        self.answers.push(at);
    }

    /// The facts about the probes `keep` selects (route lookups, neighbours and netfilter
    /// verdicts carry no probe and are all kept): to explain the probes that stopped while
    /// others got through.
    pub fn of_probes(&self, keep: impl Fn(u16) -> bool) -> Facts {
        Facts {
            drops: self.drops.iter().filter(|d| keep(d.probe)).cloned().collect(),
            answers: self.answers.iter().filter(|a| keep(a.probe)).cloned().collect(),
            ..self.clone()
        }
    }

    /// The first drop of a packet travelling towards the target, else the first of an answer.
    pub fn decisive_drop(&self) -> Option<&DropSighting> {
        self.drops.iter().find(|d| d.forward).or_else(|| self.drops.first())
    }

    /// How many probe packets netfilter dropped (to match against rule counters).
    pub fn netfilter_drops(&self) -> u64 {
        self.drops.iter().filter(|d| d.kind() == DropKind::Netfilter).count() as u64
    }

    /// Failed route lookups (other than "try the next table").
    pub fn failed_routes(&self) -> impl Iterator<Item = &RouteSighting> {
        self.routes.iter().filter(|r| r.failure().is_some())
    }

    /// The interface a successful lookup chose for `dst`, with the table.
    pub fn route_for(&self, dst: IpAddr) -> Option<&RouteSighting> {
        self.routes.iter().find(|r| r.dst == dst && r.err == 0 && !r.oif.is_empty())
    }

    /// The chain (and table) where netfilter dropped the probe: from nftrace when it ran,
    /// else the last base chain the enrichment hooks saw before the drop.
    pub fn dropping_chain(&self) -> Option<(&str, Option<&str>)> {
        if let Some(s) = self.nftrace.iter().find(|s| s.ends_packet()) {
            return Some((s.table.as_str(), Some(s.chain.as_str())));
        }
        let drop_at = self.netfilter.iter().position(|n| n.verdict.is_some_and(|v| v < 0));
        let upto = drop_at.map(|i| &self.netfilter[..=i]).unwrap_or(&self.netfilter[..]);
        upto.iter().rev().find_map(|n| n.table.as_deref().map(|t| (t, n.chain.as_deref())))
    }
}
