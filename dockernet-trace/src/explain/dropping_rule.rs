//! Which netfilter rule dropped (or rejected) a packet, whose it is, and how to let the packet
//! through: the ruleset evaluator run on the packet as the kernel saw it at each hook
//! ([`super::netfilter_path`]), cross-checked by the rule's counter where it keeps one; the
//! counters alone when the evaluator cannot name the rule (rules it could not read, listings
//! cut short, several rules that may have) — and that said. Trace and watch both ask
//! [`dropping_rule`], so one drop gets one explanation.
use super::netfilter_path::{Dropped, HostView, Site, walk};
use crate::{
    cause::Cause,
    netfilter::{
        CounterDelta, Ruleset,
        docker::{DropCause, drop_cause},
        eval::{Action, Decision, Evaluator, Fate, Hook, NamedRule, Outcome, Packet, Step},
        fix::{Fix, Traffic, fix_at},
        owner::{Owner, owner},
    },
};

/// What the counters say about the drop.
#[derive(Clone, Debug, Default)]
pub struct Counters<'a> {
    /// The counters that moved between a reading before the drop and one after; None when no
    /// reading covers it.
    pub deltas: Option<&'a [CounterDelta]>,
    /// Every drop counted in `deltas` is this packet's own (a trace's probes): a rule whose
    /// counter stood still did not drop it. A watch's flows share the counters.
    pub strict: bool,
    /// The rule the counters alone point to, and whether it moved by exactly the drops.
    pub pick: Option<(NamedRule, bool)>,
}

/// A rule (or policy) to blame, with where the packet met it and the fix.
#[derive(Clone, Debug)]
pub struct Blamed {
    pub rule: NamedRule,
    pub hook: Option<Hook>,
    pub owner: Owner,
    /// None for Docker's own rules (Docker's configuration is what to change).
    pub fix: Option<Fix>,
    /// What the rule needed that the rules could not be sure of (for ranked candidates).
    pub assuming: Vec<String>,
}

impl Blamed {
    /// A reject (with how it answers), else a drop.
    pub fn rejects(&self) -> Option<&crate::netfilter::RejectWith> {
        match &self.rule.action {
            Action::Reject(w) => Some(w),
            _ => None,
        }
    }
}

/// How the rule was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// The evaluator named it; `counted`: its counter moved (Some(true)), did not move in a
    /// watch's interval (Some(false)), or it keeps none or was not read again (None).
    Evaluated {
        counted: Option<bool>,
    },
    /// The evaluator ranked several; of them only this one's counter moved.
    CountedAmongCandidates,
    /// The counters named it (the evaluator could not); `exact`: it moved by exactly the drops.
    Counted {
        exact: bool,
    },
    /// The evaluator could only rank the rules that may have; nothing told them apart.
    Ranked,
    Unknown,
}

/// The answer.
#[derive(Clone, Debug)]
pub struct DroppingRule {
    /// NetworkIsolation for Docker's isolation, FirewallDrop for anything else.
    pub cause: Cause,
    pub how: How,
    /// The rule: the one named, or the likeliest of the ranked candidates first.
    pub rules: Vec<Blamed>,
    /// What the evaluation showed and what limited it, for `evidence`.
    pub evidence: Vec<String>,
}

impl DroppingRule {
    /// The rule that was named (not a ranked guess).
    pub fn named(&self) -> Option<&Blamed> {
        match self.how {
            How::Ranked | How::Unknown => None,
            _ => self.rules.first(),
        }
    }
}

/// Which rule dropped the packet `d` describes (see the module documentation).
pub fn dropping_rule(
    ev: &Evaluator,
    rs: &Ruleset,
    host: &HostView,
    d: &Dropped,
    counters: &Counters,
) -> DroppingRule {
    let w = walk(ev, host, d);
    let sites = w.drop_sites();
    let mut evidence = w.notes.clone();
    evidence.extend(limits(&sites));
    let ranked = ranked(&sites);
    let exact = match (sites.as_slice(), w.ambiguous) {
        ([s], false) => match s.evaluation.dropped_by() {
            Decision::Exact(o) => Some((*s, o)),
            _ => None,
        },
        _ => None,
    };
    let mut answer = Answer { rs, host, walked: &w.sites, evidence: &mut evidence };
    let (how, rules) = if let Some((s, o)) = exact {
        answer.evaluated(s, o, counters)
    } else {
        answer.undecided(&sites, &ranked, counters)
    };
    if w.sites.is_empty() || (sites.is_empty() && how != How::Unknown) {
        evidence.push(
            "the rules as read let this packet through at every hook it met: the rule below is from the counters"
                .into(),
        );
    }
    let cause = rules.first().map_or(Cause::FirewallDrop, |b| cause_of(rs, host, &b.rule, d));
    DroppingRule { cause, how, rules, evidence }
}

struct Answer<'a, 'e> {
    rs: &'a Ruleset,
    host: &'a HostView,
    /// Every hook the packet met.
    walked: &'a [Site],
    evidence: &'e mut Vec<String>,
}

impl Answer<'_, '_> {
    /// The evaluator named one rule: kept unless its counter says otherwise.
    fn evaluated(&mut self, s: &Site, o: &Outcome, counters: &Counters) -> (How, Vec<Blamed>) {
        let rule = o.by.clone().expect("a drop has a decider");
        self.evidence.push(walked(s, o));
        let moved = counters.deltas.map(|ds| ds.iter().any(|x| rule.counted_by(x) && x.packets > 0));
        let keeps = keeps_counter(self.rs, &rule);
        let other_exact = counters.pick.as_ref().filter(|(p, exact)| *exact && !p.same(&rule));
        let disagree = counters.strict
            && ((keeps && moved == Some(false)) || (moved != Some(true) && other_exact.is_some()));
        if !disagree {
            let counted = if keeps { moved } else { None };
            self.evidence.push(match counted {
                Some(true) => "its counter moved: the counters agree".into(),
                Some(false) => "its counter did not move in this interval".into(),
                None if !keeps => "it keeps no counter: named by evaluating the rules alone".into(),
                None => "named by evaluating the rules (the counters were not read again)".into(),
            });
            return (How::Evaluated { counted }, vec![self.blame(s, o)]);
        }
        self.evidence.push(format!(
            "the counters disagree with the evaluation ({}): the rule is taken from the counters",
            if moved == Some(false) {
                "its counter did not move"
            } else {
                "another rule's counter moved by exactly the drops"
            }
        ));
        self.counters_pick(counters, &[])
    }

    /// Several rules (or hooks) may have: a counter may tell them apart, else the counters'
    /// own pick, else the ranking.
    fn undecided(
        &mut self,
        sites: &[&Site],
        ranked: &[(&Site, &Outcome)],
        counters: &Counters,
    ) -> (How, Vec<Blamed>) {
        if let Some(deltas) = counters.deltas {
            let moved: Vec<&(&Site, &Outcome)> = ranked
                .iter()
                .filter(|(_, o)| {
                    o.by.as_ref().is_some_and(|r| deltas.iter().any(|x| r.counted_by(x) && x.packets > 0))
                })
                .collect();
            if let [(s, o)] = moved.as_slice() {
                self.evidence.push(walked(s, o));
                self.evidence.push(format!(
                    "of the {} rules that may have, only this one's counter moved",
                    ranked.len()
                ));
                return (How::CountedAmongCandidates, vec![self.blame(s, o)]);
            }
        }
        let candidates: Vec<Blamed> = ranked.iter().map(|(s, o)| self.blame(s, o)).collect();
        if !candidates.is_empty() {
            let hooks: Vec<String> = sites.iter().map(|s| s.hook.to_string()).collect();
            self.evidence.push(format!(
                "the rules alone cannot tell which rule it was (at {}); the likeliest first: {}",
                hooks.join(" or "),
                candidates
                    .iter()
                    .take(5)
                    .enumerate()
                    .map(|(i, b)| ranked_line(i, b))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        self.counters_pick(counters, &candidates)
    }

    /// The counters' pick, else the ranked candidates, else nothing.
    fn counters_pick(&mut self, counters: &Counters, candidates: &[Blamed]) -> (How, Vec<Blamed>) {
        match &counters.pick {
            Some((rule, exact)) => {
                let hook = chain_hook(self.rs, rule);
                let b = match self.packet_at(hook) {
                    Some(entering) => {
                        self.blame_at(hook, &outcome_of(rule, entering.clone()), Some(entering))
                    }
                    None => {
                        let path = [Step { table: rule.table.clone(), chain: rule.chain.clone() }];
                        let owner = owner(self.rs, rule, &path);
                        Blamed { rule: rule.clone(), hook, owner, fix: None, assuming: vec![] }
                    }
                };
                (How::Counted { exact: *exact }, vec![b])
            }
            None if !candidates.is_empty() => (How::Ranked, candidates.to_vec()),
            None => (How::Unknown, vec![]),
        }
    }

    /// The packet as the walk saw it entering `hook`, else as the last hook saw it.
    fn packet_at(&self, hook: Option<Hook>) -> Option<&Packet> {
        let site = self.walked.iter().find(|s| Some(s.hook) == hook).or(self.walked.last());
        site.map(|s| &s.evaluation.packet)
    }

    fn blame(&self, s: &Site, o: &Outcome) -> Blamed {
        self.blame_at(Some(s.hook), o, Some(&s.evaluation.packet))
    }

    /// `entering`: the packet as it entered the hook (the traffic a fix lets through).
    fn blame_at(&self, hook: Option<Hook>, o: &Outcome, entering: Option<&Packet>) -> Blamed {
        let rule = o.by.clone().expect("a drop has a decider");
        let fix = hook
            .zip(entering)
            .and_then(|(h, p)| fix_at(self.rs, h, o, &self.host.bridges, &Traffic::exact(h, p)));
        Blamed {
            owner: owner(self.rs, &rule, &o.path),
            assuming: o.assumed.iter().filter(|a| a.matched).flat_map(|a| a.why.clone()).collect(),
            rule,
            hook,
            fix,
        }
    }
}

/// Every way a drop site may have dropped the packet: sure stops first, then the fewest
/// unknowns taken as matching, hook order breaking ties; each rule once.
fn ranked<'a>(sites: &[&'a Site]) -> Vec<(&'a Site, &'a Outcome)> {
    let mut all: Vec<(&Site, &Outcome)> = vec![];
    for s in sites {
        match s.evaluation.dropped_by() {
            Decision::Exact(o) => all.push((s, o)),
            Decision::Candidates(c) => all.extend(c.into_iter().map(|o| (*s, o))),
            Decision::None => {}
        }
    }
    all.retain(|(_, o)| o.by.is_some());
    all.sort_by_key(|(_, o)| (!o.fate.stops(), o.assumed.iter().filter(|a| a.matched).count()));
    let mut out: Vec<(&Site, &Outcome)> = vec![];
    for (s, o) in all {
        if !out.iter().any(|(_, x)| x.by.as_ref().zip(o.by.as_ref()).is_some_and(|(a, b)| a.same(b))) {
            out.push((s, o));
        }
    }
    out
}

/// What kept the evaluation from being sure: rules it could not read, listings cut short.
fn limits(sites: &[&Site]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for s in sites {
        for r in &s.evaluation.unreadable {
            push(format!("a rule that could not be read was taken as \"may match\": {r}: {}", r.text));
        }
        for g in &s.evaluation.gaps {
            push(format!("the rules as read may be incomplete: {g}"));
        }
    }
    out
}

/// `tcp 172.17.0.2:40000 → 10.0.0.7:3306 in docker0 out eth0 at forward: filter FORWARD →
/// DOCKER-USER: the rule`.
fn walked(s: &Site, o: &Outcome) -> String {
    let chains: Vec<String> = o.path.iter().map(|p| format!("{} {}", p.table, p.chain)).collect();
    let rule = o.by.as_ref().map(|r| r.text.as_str()).unwrap_or_default();
    format!(
        "the rules evaluated for {} at {}: {} → `{rule}`",
        s.evaluation.packet,
        s.hook,
        chains.join(" → ")
    )
}

fn ranked_line(i: usize, b: &Blamed) -> String {
    let mut s = format!("{}. {} `{}`", i + 1, b.rule, b.rule.text);
    if !b.assuming.is_empty() {
        s += &format!(" (if {})", b.assuming.join(", "));
    }
    s
}

/// Whether the rule (or policy) keeps a counter the counters can be checked against.
fn keeps_counter(rs: &Ruleset, rule: &NamedRule) -> bool {
    match rs.locate(rule) {
        Some((_, c, None)) => c.policy_counter.is_some(),
        Some((_, _, Some(r))) => r.counter.is_some(),
        None => false,
    }
}

/// Docker's isolation, or another firewall.
fn cause_of(rs: &Ruleset, host: &HostView, rule: &NamedRule, d: &Dropped) -> Cause {
    // The device the IP layer's rules see, as the walk gives it: a bridge port's bridge (a
    // container's packet comes in by its veth, and `-i` matches docker0, not the veth).
    let ingress = d.iif.as_deref().map(|i| host.ip_device(i));
    match rs.locate(rule).map(|(t, c, r)| drop_cause(t, c, r, ingress.as_deref())) {
        Some(DropCause::NetworkIsolation) => Cause::NetworkIsolation,
        _ => Cause::FirewallDrop,
    }
}

/// The hook of the base chain that reaches `rule`'s chain.
fn chain_hook(rs: &Ruleset, rule: &NamedRule) -> Option<Hook> {
    let (t, c, _) = rs.locate(rule)?;
    let mut todo = vec![c.name.as_str()];
    let mut seen = vec![];
    while let Some(name) = todo.pop() {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let chain = t.chain(name)?;
        if let Some(h) = chain.hook.as_deref() {
            return hook_named(h);
        }
        todo.extend(t.callers(name).map(|(caller, _)| caller.name.as_str()));
    }
    None
}

fn hook_named(name: &str) -> Option<Hook> {
    Some(match name {
        "prerouting" | "ingress" => Hook::Prerouting,
        "input" => Hook::Input,
        "forward" => Hook::Forward,
        "output" => Hook::Output,
        "postrouting" | "egress" => Hook::Postrouting,
        _ => return None,
    })
}

/// An outcome for a rule the counters named (for its owner and fix).
fn outcome_of(rule: &NamedRule, packet: Packet) -> Outcome {
    let fate = match &rule.action {
        Action::Reject(w) => Fate::Rejected(w.clone()),
        _ => Fate::Dropped,
    };
    Outcome {
        fate,
        by: Some(rule.clone()),
        accepted_by: vec![],
        assumed: vec![],
        path: vec![Step { table: rule.table.clone(), chain: rule.chain.clone() }],
        packet,
    }
}

#[cfg(test)]
#[path = "dropping_rule_tests.rs"]
mod tests;
