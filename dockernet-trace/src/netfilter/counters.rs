//! Which counters moved between two snapshots. The trace sends N probes, and the rule whose
//! counter moved by exactly N drop verdicts is the one that dropped them.
use std::collections::HashMap;

use serde::Serialize;

use super::{
    model::{Counter, Family, Ruleset, Source, Table, Verdict},
    target::Target,
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterDelta {
    pub family: Family,
    pub table: String,
    pub source: Source,
    pub chain: String,
    /// The rule's text; None when the chain policy counter moved.
    pub rule: Option<String>,
    /// The rule's target (None for a policy).
    pub target: Option<Target>,
    /// The chain policy, when `rule` is None.
    pub policy: Option<Verdict>,
    pub packets: u64,
    pub bytes: u64,
}

impl CounterDelta {
    pub fn is_policy(&self) -> bool {
        self.rule.is_none()
    }

    /// True when the packets counted here were dropped (DROP/REJECT rule or DROP policy).
    pub fn drops(&self) -> bool {
        match (&self.target, &self.policy) {
            (Some(t), _) => t.drops(),
            (None, Some(p)) => *p == Verdict::Drop,
            _ => false,
        }
    }
}

/// Identifies one counter across snapshots. iptables rules have no handle, so a rule is its
/// text plus how many identical rules come before it in the chain; that survives rules being
/// inserted or deleted elsewhere between the two snapshots. Borrowed from the snapshots: with
/// thousands of rules, copies of every text would be megabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key<'a> {
    Policy { chain: &'a str },
    Handle { chain: &'a str, handle: u64 },
    Text { chain: &'a str, text: &'a str, nth: usize },
}

type TableKey<'a> = (&'a Family, &'a str, Source);

fn counters(table: &Table) -> Vec<(Key<'_>, Counter)> {
    let mut out = vec![];
    for chain in &table.chains {
        if let Some(c) = chain.policy_counter {
            out.push((Key::Policy { chain: &chain.name }, c));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for rule in &chain.rules {
            let key = match rule.handle {
                Some(handle) => Key::Handle { chain: &chain.name, handle },
                None => {
                    let nth = seen.entry(rule.text.as_str()).or_default();
                    *nth += 1;
                    Key::Text { chain: &chain.name, text: &rule.text, nth: *nth }
                }
            };
            if let Some(c) = rule.counter {
                out.push((key, c));
            }
        }
    }
    out
}

/// Every rule and chain policy whose packet counter moved from `before` to `after`.
///
/// A rule missing from `before` counts from zero. A counter that went down was reset (the
/// rule was replaced, or `iptables -Z`), so its whole value is the delta.
pub fn diff(before: &Ruleset, after: &Ruleset) -> Vec<CounterDelta> {
    let mut old: HashMap<(TableKey<'_>, Key<'_>), Counter> = HashMap::new();
    for t in &before.tables {
        let tk = (&t.family, t.name.as_str(), t.source);
        old.extend(counters(t).into_iter().map(|(k, c)| ((tk, k), c)));
    }
    let mut out = vec![];
    for t in &after.tables {
        let tk = (&t.family, t.name.as_str(), t.source);
        for (k, now) in counters(t) {
            let was = old.get(&(tk, k)).copied().unwrap_or_default();
            let (packets, bytes) = if now.packets >= was.packets {
                (now.packets - was.packets, now.bytes.saturating_sub(was.bytes))
            } else {
                (now.packets, now.bytes)
            };
            if packets == 0 {
                continue;
            }
            out.push(delta(t, &k, packets, bytes));
        }
    }
    out
}

fn delta(t: &Table, key: &Key, packets: u64, bytes: u64) -> CounterDelta {
    let (chain, rule) = match key {
        Key::Policy { chain } => (chain, None),
        Key::Handle { chain, handle } => {
            (chain, t.chain(chain).and_then(|c| c.rules.iter().find(|r| r.handle == Some(*handle))))
        }
        Key::Text { chain, text, .. } => {
            (chain, t.chain(chain).and_then(|c| c.rules.iter().find(|r| r.text == **text)))
        }
    };
    let policy = if rule.is_none() { t.chain(chain).and_then(|c| c.policy.clone()) } else { None };
    CounterDelta {
        family: t.family.clone(),
        table: t.name.clone(),
        source: t.source,
        chain: chain.to_string(),
        rule: rule.map(|r| r.text.clone()),
        target: rule.map(|r| r.target.clone()),
        policy,
        packets,
        bytes,
    }
}

/// The deltas that dropped exactly `packets` packets: the candidates for "this rule dropped
/// our probes".
pub fn dropped_exactly(deltas: &[CounterDelta], packets: u64) -> Vec<&CounterDelta> {
    deltas.iter().filter(|d| d.drops() && d.packets == packets).collect()
}
