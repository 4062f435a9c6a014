//! Verdicts for a probe netfilter dropped: the rule (explain::rule_attribution, from the
//! counters that moved, or nftrace's own account), and whether Docker's isolation, a broken
//! shared network, a subnet conflict or another firewall is to blame.
use super::{
    Context, TraceVerdict,
    drops::{drop_line, drop_location},
};
use crate::{
    cause::Cause,
    explain::rule_attribution::{self, Attributed},
    probe::Answer,
    trace::facts::DropSighting,
    words::count,
};

pub fn netfilter_drop(cx: &Context, d: &DropSighting, mut evidence: Vec<String>) -> TraceVerdict {
    let hint = cx.facts.dropping_chain();
    evidence.extend(judged_by(cx, hint));
    let n = cx.facts.netfilter_drops();
    let family = cx.plan.family();
    let Some(a) = rule_attribution::for_probe(cx.deltas, cx.rules, (family, n), Some(&d.iface), hint) else {
        return unidentified(cx, d, evidence);
    };
    let verb = if a.rejects { "rejected" } else { "dropped" };
    if a.rejects {
        // The kernel's NETFILTER_DROP is REJECT's drop too: say what the rule did.
        evidence[0] = drop_line(d, verb);
    }
    evidence.push(format!(
        "{} {}: counter moved by {} ({} {verb}){}",
        a.table,
        a.rule.as_deref().unwrap_or(&a.chain),
        a.packets,
        count(n, "probe packet"),
        if a.exact { "" } else { ", other traffic too" }
    ));
    if a.cause == Cause::NetworkIsolation {
        return isolation(cx, d, &a, evidence);
    }
    firewall(cx, d, a, evidence)
}

/// What netfilter's own trace, or the enrichment hooks, showed of the chains.
fn judged_by(cx: &Context, hint: Option<(&str, Option<&str>)>) -> Option<String> {
    if !cx.facts.nftrace.is_empty() {
        let path: Vec<String> = cx
            .facts
            .nftrace
            .iter()
            .filter(|s| s.rule.is_some() || s.is_drop())
            .take(12)
            .map(|s| format!("{} {}: {}", s.table, s.chain, s.verdict))
            .collect();
        return Some(format!("nftrace: {}", path.join(" → ")));
    }
    hint.map(|(table, chain)| {
        format!(
            "netfilter table {table}{} judged it last",
            chain.map(|c| format!(", base chain {c}")).unwrap_or_default()
        )
    })
}

/// No counter told which rule: nftrace may name it, else the rule stays unknown.
fn unidentified(cx: &Context, d: &DropSighting, mut evidence: Vec<String>) -> TraceVerdict {
    if let Some(step) = cx.facts.nftrace.iter().find(|s| s.is_drop()) {
        let isolation = step.chain.starts_with("DOCKER-ISOLATION") || step.chain == "DOCKER-INTERNAL";
        return TraceVerdict {
            cause: if isolation { Cause::NetworkIsolation } else { Cause::FirewallDrop },
            summary: format!("netfilter dropped the probe in table {}, chain {}", step.table, step.chain),
            location: drop_location(d, step.rule.clone().or(Some(format!("policy {}", step.verdict)))),
            evidence,
            fix: vec![format!(
                "nft -a list chain {} {} {}   # find the rule's handle, then: nft delete rule ... handle N",
                step.family, step.table, step.chain
            )],
        };
    }
    evidence.push(
        "no rule counter moved by the number of drops (a rule without counters, or a non-iptables hook)"
            .into(),
    );
    TraceVerdict {
        cause: Cause::FirewallDrop,
        summary: format!(
            "a netfilter rule on {} dropped the probe (the rule could not be identified)",
            d.iface
        ),
        location: drop_location(d, None),
        evidence,
        fix: vec![format!("inspect: {}-save -c; nft list ruleset", cx.plan.family().iptables())],
    }
}

/// Docker's isolation rule dropped it: unless the two share a network (then the shared link
/// is broken) or the address is no container's (then a subnet conflict routed it into Docker).
fn isolation(cx: &Context, d: &DropSighting, a: &Attributed, mut evidence: Vec<String>) -> TraceVerdict {
    if share_a_network(cx) {
        // Docker says they share a network, so the probe should never have crossed the
        // isolation rules: it left the source another way, because the shared link is broken.
        for cause in [Cause::LinkDown, Cause::VethDetached, Cause::BridgeDown, Cause::BridgePortBlocked] {
            if let Some(f) = cx.finding(cause) {
                evidence.push(format!(
                    "{} and {} share a network, yet the probe was routed between networks",
                    cx.from.name, cx.to.name
                ));
                return cx.from_finding(f, f.summary.clone(), None, evidence);
            }
        }
    }
    let dst = cx.plan.dnat.as_ref().map(|x| x.ip).unwrap_or(cx.to.ip);
    if cx.topology.container_by_ip(dst).is_none()
        && let Some(f) = cx.finding(Cause::SubnetConflict)
    {
        evidence.push(format!("no container holds {dst}, yet the host routes it into a Docker network"));
        return cx.from_finding(f, f.summary.clone(), None, evidence);
    }
    let net = cx.plan.dnat.as_ref().map(|x| x.network.clone()).or_else(|| cx.to.network.clone());
    let src = cx.from.container.as_ref().map(|c| c.name.clone());
    let fix = match (&net, &src) {
        (Some(net), Some(src)) => vec![format!("docker network connect {net} {src}")],
        _ => vec![
            "connect both containers to a common network: docker network connect NETWORK CONTAINER".into(),
        ],
    };
    TraceVerdict {
        cause: Cause::NetworkIsolation,
        summary: format!(
            "{} and {} share no Docker network, and Docker's isolation rule dropped the probe on {}",
            cx.from.name,
            cx.plan.dnat.as_ref().map(|x| x.container.clone()).unwrap_or_else(|| cx.to.name.clone()),
            d.iface
        ),
        location: drop_location(d, a.rule.clone()),
        evidence,
        fix,
    }
}

/// A rule Docker did not write for isolation.
fn firewall(cx: &Context, d: &DropSighting, a: Attributed, mut evidence: Vec<String>) -> TraceVerdict {
    let rejected = a.rejects;
    if rejected && cx.probes.iter().any(|p| matches!(p.answer, Answer::Refused | Answer::PortUnreachable)) {
        evidence.push("the probe was refused: the REJECT rule answered in the target's place".into());
    }
    let verb = if rejected { "rejected" } else { "dropped" };
    let summary = match (&a.policy, &a.rule) {
        (Some(policy), _) => format!(
            "the policy {policy} of chain {} (table {}) {verb} the probe: no rule of the chain accepted it",
            a.chain, a.table
        ),
        (None, Some(rule)) => {
            format!("the firewall rule `{rule}` (table {}, chain {}) {verb} the probe", a.table, a.chain)
        }
        (None, None) => format!("a rule of chain {} (table {}) {verb} the probe", a.chain, a.table),
    };
    TraceVerdict {
        cause: Cause::FirewallDrop,
        summary,
        location: drop_location(d, a.rule.clone()),
        evidence,
        fix: a.delete.into_iter().collect(),
    }
}

/// Both ends are containers that Docker has on a common network.
fn share_a_network(cx: &Context) -> bool {
    let t = cx.topology;
    let get = |e: &crate::model::ResolvedEndpoint| e.container.as_ref().and_then(|c| t.container(&c.id).ok());
    match (get(cx.from), get(cx.to)) {
        (Some(a), Some(b)) => !t.shared_networks(a, b).is_empty(),
        _ => false,
    }
}
