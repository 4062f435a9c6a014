//! Which netfilter rule dropped packets, from the rule counters that moved while they were
//! dropped, and whether the rule is Docker's isolation or another firewall. Two callers, one
//! knowledge:
//! - a trace knows exactly how many probe packets netfilter dropped: the rule whose counter
//!   moved by exactly that many wins, the table and chain the kernel named breaking ties
//!   ([`for_probe`]);
//! - a watch sees many flows in an interval: each flow gets a rule that could match it
//!   ([`compatible`]) and moved by its count, or by the interval's total ([`for_flows`]).
use std::collections::{BTreeSet, HashMap};

use crate::{
    cause::Cause,
    flow::{IpFamily, Proto, Tuple},
    netfilter::{
        Chain, CounterDelta, Family, IfaceMatch, Matches, Rule, Ruleset, Source, Table,
        docker::{DropCause, drop_cause},
        eval::{CtState, NamedRule},
    },
};

/// A dropping rule (or chain policy) whose counter moved, with where it lives in the rules.
pub struct Candidate<'a> {
    pub delta: &'a CounterDelta,
    /// The table, chain and rule the delta names, when the rule set has them.
    place: Option<(&'a Table, &'a Chain, Option<&'a Rule>)>,
}

impl<'a> Candidate<'a> {
    fn new(delta: &'a CounterDelta, rules: &'a Ruleset) -> Self {
        let place = rules
            .tables
            .iter()
            .filter(|t| t.name == delta.table && t.family == delta.family && t.source == delta.source)
            .find_map(|t| {
                let c = t.chain(&delta.chain)?;
                match &delta.rule {
                    Some(text) => c.rules.iter().find(|r| &r.text == text).map(|r| (t, c, Some(r))),
                    None => Some((t, c, None)),
                }
            });
        Self { delta, place }
    }

    fn rule(&self) -> Option<&'a Rule> {
        self.place.and_then(|(_, _, r)| r)
    }

    /// The rule (or policy) as the evaluator names it, when the rule set holds it.
    pub fn named(&self) -> Option<NamedRule> {
        let (t, c, r) = self.place?;
        match r {
            Some(r) => {
                let i = c.rules.iter().position(|x| std::ptr::eq(x, r))?;
                Some(NamedRule::rule(t, c, i, r))
            }
            None => Some(NamedRule::policy(t, c)),
        }
    }

    /// Docker's isolation or another firewall (`ingress`: the device the packet came in by,
    /// when known). A rule the rule set does not hold is a firewall's.
    pub fn cause(&self, ingress: Option<&str>) -> Cause {
        match self.place {
            Some((t, c, r)) => match drop_cause(t, c, r, ingress) {
                DropCause::NetworkIsolation => Cause::NetworkIsolation,
                DropCause::FirewallDrop => Cause::FirewallDrop,
            },
            None => Cause::FirewallDrop,
        }
    }

    /// The rule as `iptables -S` (or nft) prints it; for a policy, `-P CHAIN POLICY`.
    pub fn rule_text(&self) -> Option<String> {
        let d = self.delta;
        d.rule.clone().or_else(|| d.policy.as_ref().map(|p| format!("-P {} {p}", d.chain)))
    }

    /// The command that removes the rule (or opens the policy), for iptables (ip6tables for
    /// an IPv6 table).
    pub fn delete_command(&self) -> Option<String> {
        let d = self.delta;
        let table_arg = if d.table == "filter" { String::new() } else { format!("-t {} ", d.table) };
        let tool = if d.family == Family::Ip6 { "ip6tables" } else { "iptables" };
        match (&d.rule, d.source) {
            (Some(text), Source::Iptables { .. }) if text.starts_with("-A ") => {
                Some(format!("{tool} {table_arg}{}", text.replacen("-A ", "-D ", 1)))
            }
            (None, Source::Iptables { .. }) => Some(format!(
                "{tool} {table_arg}-P {} ACCEPT   # or add an ACCEPT rule for this traffic",
                d.chain
            )),
            _ => None,
        }
    }
}

/// Dropping rules and policies whose counters moved, in tables that see packets of `family`
/// (`ip` or `ip6`, `inet`, and the bridge and netdev families, which see frames of both).
fn dropping(deltas: &[CounterDelta], family: IpFamily) -> impl Iterator<Item = &CounterDelta> {
    let sees = move |f: &Family| f.carries(family) || matches!(f, Family::Bridge | Family::Netdev);
    deltas.iter().filter(move |d| d.drops() && d.packets > 0 && sees(&d.family))
}

/// The rule that dropped a trace's probes.
pub struct Attributed {
    pub cause: Cause,
    pub table: String,
    pub chain: String,
    /// The rule as `iptables -S` (or nft) prints it; `-P CHAIN POLICY` for a chain policy.
    pub rule: Option<String>,
    pub packets: u64,
    /// The counter moved by exactly the probe's drops (else other traffic hit it too).
    pub exact: bool,
    pub delete: Option<String>,
    /// The rule as the evaluator names it (for the cross-check with the evaluation).
    pub named: Option<NamedRule>,
    /// The chain's policy did it (no rule matched).
    pub policy: Option<crate::netfilter::Verdict>,
    /// A REJECT rule: it answered the probe as it dropped it.
    pub rejects: bool,
}

/// The rule whose counter moved by the `drops` probe packets (of `family`) netfilter dropped;
/// `chain_hint` (table, base chain) is where the kernel saw netfilter judge the probe last,
/// `ingress` the device it was dropped on.
pub fn for_probe(
    deltas: &[CounterDelta],
    rules: &Ruleset,
    (family, drops): (IpFamily, u64),
    ingress: Option<&str>,
    chain_hint: Option<(&str, Option<&str>)>,
) -> Option<Attributed> {
    let dropping: Vec<&CounterDelta> = dropping(deltas, family).collect();
    let exact: Vec<&CounterDelta> = dropping.iter().copied().filter(|d| d.packets == drops).collect();
    let in_chain =
        |d: &&CounterDelta| chain_hint.is_some_and(|(t, c)| d.table == t && c.is_some_and(|c| d.chain == c));
    let in_table = |d: &&CounterDelta| chain_hint.is_none_or(|(t, _)| d.table == t);
    let (d, exact) = exact
        .iter()
        .find(|d| in_chain(d))
        .or_else(|| exact.iter().find(|d| in_table(d)))
        .or(exact.first())
        .map(|d| (*d, true))
        .or_else(|| {
            // Other traffic hit the same rule meanwhile: the smallest count at or above ours.
            dropping.iter().filter(|d| d.packets >= drops).min_by_key(|d| d.packets).map(|d| (*d, false))
        })?;
    let c = Candidate::new(d, rules);
    Some(Attributed {
        cause: c.cause(ingress),
        table: d.table.clone(),
        chain: d.chain.clone(),
        rule: c.rule_text(),
        packets: d.packets,
        exact,
        delete: c.delete_command(),
        named: c.named(),
        policy: d.policy.clone().filter(|_| d.rule.is_none()),
        rejects: matches!(d.target, Some(crate::netfilter::Target::Reject(_))),
    })
}

/// One flow's netfilter drops in a watch interval, and what is known about its path.
#[derive(Clone, Debug)]
pub struct FlowDrops {
    pub tuple: Tuple,
    pub count: u64,
    /// The device the drop was seen on, when it happened in the host's namespace.
    pub iface: Option<String>,
    /// The drop happened in the host's namespace (the rules we read are the host's).
    pub in_host: bool,
    /// Docker bridges of the source's and destination's networks.
    pub src_bridge: Option<String>,
    pub dst_bridge: Option<String>,
    /// Conntrack's state of the dropped packets, when the packets tell it (a SYN is new).
    pub ct: Option<CtState>,
}

/// The rule to blame for a flow, and whether it is Docker's isolation or another firewall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub rule: Option<String>,
    pub cause: Cause,
    /// The rule as the evaluator names it, when the counters named one the rule set holds.
    pub named: Option<NamedRule>,
}

impl Hit {
    fn unknown() -> Self {
        Hit { rule: None, cause: Cause::FirewallDrop, named: None }
    }

    fn of(c: &Candidate, g: &FlowDrops) -> Self {
        Hit { rule: c.rule_text(), cause: c.cause(g.iface.as_deref()), named: c.named() }
    }
}

/// Candidates a watch can judge for flows of `family`: rules found in the rule set they came
/// from.
fn flow_candidates<'a>(
    deltas: &'a [CounterDelta],
    rules: &'a Ruleset,
    family: IpFamily,
) -> Vec<Candidate<'a>> {
    dropping(deltas, family).map(|d| Candidate::new(d, rules)).filter(|c| c.place.is_some()).collect()
}

/// Each flow's rule: one that could match it and moved by its count (or by the interval's
/// total, or the only one), else the rule the flow was last given (`remembered`: its drops were
/// counted before the previous reading), else a policy.
pub fn for_flows(
    deltas: &[CounterDelta],
    rules: &Ruleset,
    flows: &[FlowDrops],
    bridges: &BTreeSet<String>,
    remembered: &HashMap<Tuple, Hit>,
) -> Vec<Hit> {
    let by_family = [IpFamily::V4, IpFamily::V6].map(|f| (f, flow_candidates(deltas, rules, f)));
    let family_of = |g: &FlowDrops| IpFamily::of(&g.tuple.src);
    // The interval's total over the flows of each family (the rules of a family count only
    // its packets).
    let total = |f: IpFamily| -> u64 {
        flows.iter().filter(|g| g.in_host && family_of(g) == f).map(|g| g.count).sum()
    };
    flows
        .iter()
        .map(|g| {
            if !g.in_host {
                // A container's own firewall: its rules are not the ones we read.
                return Hit::unknown();
            }
            let family = family_of(g);
            let all = &by_family.iter().find(|(f, _)| *f == family).map(|(_, c)| c).expect("both families");
            let total = total(family);
            let fits: Vec<&Candidate> =
                all.iter().filter(|c| c.rule().is_none_or(|r| compatible(&r.matches, g, bridges))).collect();
            let rules_only: Vec<&Candidate> = fits.iter().copied().filter(|c| c.rule().is_some()).collect();
            let pick = rules_only
                .iter()
                .find(|c| c.delta.packets == g.count)
                .or_else(|| rules_only.iter().find(|c| c.delta.packets == total))
                .or_else(|| (rules_only.len() == 1).then(|| &rules_only[0]))
                .or_else(|| {
                    rules_only.iter().filter(|c| c.delta.packets >= g.count).min_by_key(|c| c.delta.packets)
                });
            if let Some(c) = pick {
                return Hit::of(c, g);
            }
            if let Some(h) = remembered.get(&g.tuple) {
                return h.clone();
            }
            let policies = fits.iter().filter(|c| c.rule().is_none());
            match policies
                .filter(|c| c.delta.packets >= g.count)
                .min_by_key(|c| c.delta.packets)
                .or_else(|| rules_only.first())
            {
                Some(c) => Hit::of(c, g),
                None => Hit::unknown(),
            }
        })
        .collect()
}

/// Could this rule match the flow? Fields we cannot judge (conntrack state, marks, sets) do not
/// rule it out; interfaces are judged against every device the packet may have had.
pub fn compatible(m: &Matches, g: &FlowDrops, bridges: &BTreeSet<String>) -> bool {
    if m.src.as_ref().is_some_and(|s| !s.matches(&g.tuple.src)) {
        return false;
    }
    if m.dst.as_ref().is_some_and(|d| !d.matches(&g.tuple.dst)) {
        return false;
    }
    if let Some(p) = &m.proto
        && proto_is(&p.name, g.tuple.proto) == p.negated
    {
        return false;
    }
    if let Some(ports) = &m.dports
        && (!g.tuple.proto.has_ports() || !ports.matches(g.tuple.dport))
    {
        return false;
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
#[path = "rule_attribution_tests.rs"]
mod tests;
