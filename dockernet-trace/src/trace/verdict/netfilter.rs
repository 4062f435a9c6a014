//! Which netfilter rule dropped the probes: the one whose counter moved by exactly the number
//! of drops the kernel reported (enrichment, where present, names the table and base chain
//! when several counters moved), and whether it is Docker's isolation or another firewall.
use crate::{
    cause::Cause,
    netfilter::{
        CounterDelta, Ruleset,
        docker::{DropCause, drop_cause},
    },
};

pub struct Attributed {
    pub cause: Cause,
    pub table: String,
    pub chain: String,
    /// The rule as `iptables -S` (or nft) prints it; None for a chain policy.
    pub rule: Option<String>,
    pub packets: u64,
    pub exact: bool,
    pub delete: Option<String>,
}

pub fn attribute(
    deltas: &[CounterDelta],
    rules: &Ruleset,
    drops: u64,
    ingress: Option<&str>,
    chain_hint: Option<(&str, Option<&str>)>,
) -> Option<Attributed> {
    let dropping: Vec<&CounterDelta> = deltas.iter().filter(|d| d.drops() && d.packets > 0).collect();
    let exact: Vec<&CounterDelta> = dropping.iter().copied().filter(|d| d.packets == drops).collect();
    let in_chain =
        |d: &&CounterDelta| chain_hint.is_some_and(|(t, c)| d.table == t && c.is_some_and(|c| d.chain == c));
    let in_table = |d: &&CounterDelta| chain_hint.is_none_or(|(t, _)| d.table == t);
    let pick = exact
        .iter()
        .find(|d| in_chain(d))
        .or_else(|| exact.iter().find(|d| in_table(d)))
        .or(exact.first())
        .map(|d| (*d, true))
        .or_else(|| {
            // Other traffic hit the same rule meanwhile: the smallest count at or above ours.
            dropping.iter().filter(|d| d.packets >= drops).min_by_key(|d| d.packets).map(|d| (*d, false))
        })?;
    let (d, exact) = pick;
    let cause = match &d.rule {
        None => Cause::FirewallDrop,
        Some(text) => {
            let found = rules
                .tables
                .iter()
                .filter(|t| t.name == d.table && t.family == d.family && t.source == d.source)
                .find_map(|t| {
                    let c = t.chain(&d.chain)?;
                    c.rules.iter().find(|r| &r.text == text).map(|r| (t, c, r))
                });
            match found.map(|(t, c, r)| drop_cause(t, c, Some(r), ingress)) {
                Some(DropCause::NetworkIsolation) => Cause::NetworkIsolation,
                _ => Cause::FirewallDrop,
            }
        }
    };
    let table_arg = if d.table == "filter" { String::new() } else { format!("-t {} ", d.table) };
    let delete = match (&d.rule, d.source) {
        (Some(text), crate::netfilter::Source::Iptables { .. }) if text.starts_with("-A ") => {
            Some(format!("iptables {table_arg}{}", text.replacen("-A ", "-D ", 1)))
        }
        (None, crate::netfilter::Source::Iptables { .. }) => Some(format!(
            "iptables {table_arg}-P {} ACCEPT   # or add an ACCEPT rule for this traffic",
            d.chain
        )),
        _ => None,
    };
    Some(Attributed {
        cause,
        table: d.table.clone(),
        chain: d.chain.clone(),
        rule: d.rule.clone().or_else(|| d.policy.as_ref().map(|p| format!("-P {} {p}", d.chain))),
        packets: d.packets,
        exact,
        delete,
    })
}
