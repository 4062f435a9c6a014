//! Which netfilter rule dropped what `watch` saw, by counter differences: the rules are read at
//! start; when netfilter drops arrive they are read again (at most once per second) and the
//! rules whose drop counters moved are the candidates. A candidate must be able to match the
//! flow (addresses, protocol, port, interfaces as far as they are known); among those, the one
//! that moved by the number of drops of the interval wins. A flow keeps the rule it was last
//! given when the counters of an interval say nothing new (its drops were counted just before
//! the previous snapshot).
use std::{
    collections::{BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use crate::{
    cause::Cause,
    ebpf::{Tuple, events::Proto},
    netfilter::{
        self, Chain, CounterDelta, Family, IfaceMatch, Matches, Rule, Ruleset, Table,
        docker::{DropCause, drop_cause},
    },
};

/// Counters are read again at most once per flush, and flushes are a second apart; measured
/// from the start of one read to the next, with slack for the timer's jitter.
const MIN_INTERVAL: Duration = Duration::from_millis(950);

/// One flow's netfilter drops in the interval, and what is known about its path.
#[derive(Clone, Debug)]
pub struct Group {
    pub tuple: Tuple,
    pub count: u64,
    /// The device the drop was seen on, when it happened in the host's namespace.
    pub iface: Option<String>,
    /// The drop happened in the host's namespace (the rules we read are the host's).
    pub in_host: bool,
    /// Docker bridges of the source's and destination's networks.
    pub src_bridge: Option<String>,
    pub dst_bridge: Option<String>,
}

/// The rule to blame, and whether it is Docker's isolation or another firewall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub rule: Option<String>,
    pub cause: Cause,
}

impl Hit {
    fn unknown() -> Self {
        Hit { rule: None, cause: Cause::FirewallDrop }
    }
}

pub struct RuleTracker {
    last: Ruleset,
    read_at: Instant,
    remembered: HashMap<Tuple, Hit>,
}

impl RuleTracker {
    pub fn new(baseline: Ruleset) -> Self {
        let mut t = Self { last: baseline, read_at: Instant::now(), remembered: HashMap::new() };
        t.allow_read_now();
        t
    }

    /// Lets the next `attribute` read the counters at once (the last flush, at exit).
    pub fn allow_read_now(&mut self) {
        if let Some(t) = Instant::now().checked_sub(MIN_INTERVAL) {
            self.read_at = t;
        }
    }

    /// Reads the counters again (unless that was done less than a second ago) and attributes
    /// each group's drops.
    pub async fn attribute(&mut self, groups: &[Group], bridges: &BTreeSet<String>) -> Vec<Hit> {
        let mut deltas = Vec::new();
        if self.read_at.elapsed() >= MIN_INTERVAL {
            let started = Instant::now();
            match tokio::task::spawn_blocking(netfilter::snapshot).await {
                Ok(Ok(now)) => {
                    deltas = netfilter::diff(&self.last, &now);
                    self.last = now;
                    self.read_at = started;
                }
                Ok(Err(e)) => log::warn!("reading netfilter counters: {e}"),
                Err(e) => log::warn!("reading netfilter counters: {e}"),
            }
        }
        let hits = assign(&deltas, &self.last, groups, bridges, &self.remembered);
        for (g, h) in groups.iter().zip(&hits) {
            if h.rule.is_some() {
                self.remembered.insert(g.tuple, h.clone());
            }
        }
        hits
    }
}

struct Candidate<'a> {
    table: &'a Table,
    chain: &'a Chain,
    rule: Option<&'a Rule>,
    delta: &'a CounterDelta,
}

/// Dropping rules and policies whose counters moved, found in the rule set they came from.
fn candidates<'a>(deltas: &'a [CounterDelta], rules: &'a Ruleset) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    for d in
        deltas.iter().filter(|d| d.drops() && d.packets > 0 && !matches!(d.family, Family::Ip6 | Family::Arp))
    {
        let Some(table) =
            rules.tables.iter().find(|t| t.name == d.table && t.family == d.family && t.source == d.source)
        else {
            continue;
        };
        let Some(chain) = table.chain(&d.chain) else { continue };
        let rule = match &d.rule {
            Some(text) => match chain.rules.iter().find(|r| &r.text == text) {
                Some(r) => Some(r),
                None => continue,
            },
            None => None,
        };
        out.push(Candidate { table, chain, rule, delta: d });
    }
    out
}

/// Pure attribution, for `RuleTracker::attribute` and tests.
pub fn assign(
    deltas: &[CounterDelta],
    rules: &Ruleset,
    groups: &[Group],
    bridges: &BTreeSet<String>,
    remembered: &HashMap<Tuple, Hit>,
) -> Vec<Hit> {
    let all = candidates(deltas, rules);
    let total: u64 = groups.iter().filter(|g| g.in_host).map(|g| g.count).sum();
    groups
        .iter()
        .map(|g| {
            if !g.in_host {
                // A container's own firewall: its rules are not the ones we read.
                return Hit::unknown();
            }
            let fits: Vec<&Candidate> =
                all.iter().filter(|c| c.rule.is_none_or(|r| compatible(&r.matches, g, bridges))).collect();
            let rules_only: Vec<&Candidate> = fits.iter().copied().filter(|c| c.rule.is_some()).collect();
            let pick = rules_only
                .iter()
                .find(|c| c.delta.packets == g.count)
                .or_else(|| rules_only.iter().find(|c| c.delta.packets == total))
                .or_else(|| (rules_only.len() == 1).then(|| &rules_only[0]))
                .or_else(|| {
                    rules_only.iter().filter(|c| c.delta.packets >= g.count).min_by_key(|c| c.delta.packets)
                });
            if let Some(c) = pick {
                return hit(c, g);
            }
            if let Some(h) = remembered.get(&g.tuple) {
                return h.clone();
            }
            let policies = fits.iter().filter(|c| c.rule.is_none());
            match policies
                .filter(|c| c.delta.packets >= g.count)
                .min_by_key(|c| c.delta.packets)
                .or_else(|| rules_only.first())
            {
                Some(c) => hit(c, g),
                None => Hit::unknown(),
            }
        })
        .collect()
}

fn hit(c: &Candidate, g: &Group) -> Hit {
    let cause = match drop_cause(c.table, c.chain, c.rule, g.iface.as_deref()) {
        DropCause::NetworkIsolation => Cause::NetworkIsolation,
        DropCause::FirewallDrop => Cause::FirewallDrop,
    };
    let rule = c
        .rule
        .map(|r| r.text.clone())
        .or_else(|| c.delta.policy.as_ref().map(|p| format!("-P {} {p}", c.chain.name)));
    Hit { rule, cause }
}

/// Could this rule match the flow? Fields we cannot judge (conntrack state, marks, sets) do not
/// rule it out; interfaces are judged against every device the packet may have had.
pub fn compatible(m: &Matches, g: &Group, bridges: &BTreeSet<String>) -> bool {
    let v4 = |a: Ipv4Addr| IpAddr::V4(a);
    if m.src.as_ref().is_some_and(|s| !s.matches(&v4(g.tuple.src))) {
        return false;
    }
    if m.dst.as_ref().is_some_and(|d| !d.matches(&v4(g.tuple.dst))) {
        return false;
    }
    if let Some(p) = &m.proto
        && proto_is(&p.name, g.tuple.proto) == p.negated
    {
        return false;
    }
    if let Some(ports) = &m.dports {
        let has_ports = matches!(g.tuple.proto, Proto::Tcp | Proto::Udp);
        if !has_ports || !ports.matches(g.tuple.dport) {
            return false;
        }
    }
    let ins: Vec<&str> = g.iface.iter().chain(&g.src_bridge).map(String::as_str).collect();
    if m.in_iface.as_ref().is_some_and(|i| !iface_fits(i, &ins, None)) {
        return false;
    }
    let outs: Vec<&str> = g.dst_bridge.iter().chain(&g.iface).map(String::as_str).collect();
    // Without a Docker bridge for the destination, the packet leaves by a non-Docker device.
    let not_docker = g.dst_bridge.is_none().then_some(bridges);
    m.out_iface.as_ref().is_none_or(|o| iface_fits(o, &outs, not_docker))
}

fn iface_fits(m: &IfaceMatch, known: &[&str], not_docker: Option<&BTreeSet<String>>) -> bool {
    if known.iter().any(|i| m.matches(i)) {
        return true;
    }
    match not_docker {
        // Only a positive match on exactly a Docker bridge is ruled out.
        Some(bridges) => !m.exact().is_some_and(|name| bridges.contains(name)),
        None => known.is_empty(),
    }
}

fn proto_is(name: &str, p: Proto) -> bool {
    match name.parse::<u8>() {
        Ok(n) => n == p.number(),
        Err(_) => name.eq_ignore_ascii_case(&p.name()) || name == "all",
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
