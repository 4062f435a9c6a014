//! Verdicts for a probe netfilter dropped or rejected: the rule, from the ruleset evaluator run
//! on the probe as the kernel saw it, cross-checked by the counters that moved
//! (explain::dropping_rule; the counters alone, or nftrace's own account, when it cannot
//! name it), and whether Docker's isolation, a broken shared network, a subnet conflict or
//! another firewall is to blame.
use super::{
    Context, TraceVerdict, direct_access,
    drops::{drop_line, drop_location},
};
use crate::{
    cause::Cause,
    explain::{
        dropping_rule::{Blamed, Counters, DroppingRule, How, dropping_rule},
        netfilter_path::{DropDevice, Dropped, HostView},
        rule_attribution::{self, Attributed},
    },
    netfilter::eval::{CtState, Evaluator},
    probe::Answer,
    trace::facts::DropSighting,
    words::count,
};

pub fn netfilter_drop(cx: &Context, d: &DropSighting, mut evidence: Vec<String>) -> TraceVerdict {
    let hint = cx.facts.dropping_chain();
    evidence.extend(judged_by(cx, hint));
    let n = cx.facts.netfilter_drops();
    let family = cx.plan.family();
    let counted = rule_attribution::for_probe(cx.deltas, cx.rules, (family, n), Some(&d.iface), hint);
    if let Some(a) = &counted {
        let verb = if a.rejects { "rejected" } else { "dropped" };
        evidence.push(format!(
            "{} {}: counter moved by {} ({} {verb}){}",
            a.table,
            a.rule.as_deref().unwrap_or(&a.chain),
            a.packets,
            count(n, "probe packet"),
            if a.exact { "" } else { ", other traffic too" }
        ));
    }
    let Some(found) = evaluated(cx, d, counted.as_ref()) else {
        // Dropped inside a container: its own rules, not the host's we read.
        return match counted {
            Some(a) if a.cause == Cause::NetworkIsolation => isolation(cx, d, a.rule.clone(), evidence),
            Some(a) => counted_only(cx, d, a, evidence),
            None => unidentified(cx, d, evidence),
        };
    };
    evidence.extend(found.evidence.iter().cloned());
    let Some(first) = found.rules.first() else {
        return unidentified(cx, d, evidence);
    };
    if found.named().is_some_and(|b| b.rejects().is_some()) {
        // The kernel's NETFILTER_DROP is a reject's drop too: say what the rule did.
        evidence[0] = drop_line(d, "rejected");
    }
    if found.cause == Cause::NetworkIsolation {
        return isolation(cx, d, Some(first.rule.listed()), evidence);
    }
    if let Some(v) = found.named().and_then(|b| direct_access::decide(cx, d, &b.rule, &evidence)) {
        return v;
    }
    firewall(cx, d, &found, counted, evidence)
}

/// The evaluator's answer for a drop in the host's namespace (None elsewhere).
fn evaluated(cx: &Context, d: &DropSighting, counted: Option<&Attributed>) -> Option<DroppingRule> {
    if !d.netns.is_host() {
        return None;
    }
    let host = HostView::of(cx.topology);
    let entered = cx.hops.iter().find(|h| h.forward && h.probe == d.probe && h.netns.is_host());
    let local_origin = cx.source_netns.is_host();
    let iif = entered
        .filter(|h| {
            use dockernet_trace_common::Hook;
            !local_origin && matches!(h.hook, Hook::TcIngress | Hook::NetifReceive)
        })
        .map(|h| h.iface.clone());
    let dropped = Dropped {
        tuple: d.tuple,
        entry: entered.map(|h| h.tuple),
        local_origin,
        iif,
        // The route lookups seen are not told apart by namespace (the source's own comes
        // first): the host's routes say where it goes.
        oif: None,
        drop_device: DropDevice::Device(d.iface.clone()),
        // Each probe is a connection of its own: its packets towards the target are its first.
        ct: d.forward.then_some(CtState::New),
        hook: None,
    };
    let counters = Counters {
        deltas: Some(cx.deltas),
        strict: true,
        pick: counted.and_then(|a| a.named.clone().map(|r| (r, a.exact))),
    };
    Some(dropping_rule(&Evaluator::new(cx.rules), cx.rules, &host, &dropped, &counters))
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
fn isolation(
    cx: &Context,
    d: &DropSighting,
    rule: Option<String>,
    mut evidence: Vec<String>,
) -> TraceVerdict {
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
        location: drop_location(d, rule),
        evidence,
        fix,
    }
}

/// A rule Docker did not write for isolation: the rule the evaluation named (or the counters,
/// or the ranked rules that may have), called a reject when it rejects, and the fix that
/// deletes or bypasses exactly that rule.
fn firewall(
    cx: &Context,
    d: &DropSighting,
    found: &DroppingRule,
    counted: Option<Attributed>,
    mut evidence: Vec<String>,
) -> TraceVerdict {
    let b = &found.rules[0];
    let did = match b.rejects() {
        Some(with) => format!("rejected the probe (answering with {with})"),
        None => "dropped the probe".into(),
    };
    if b.rejects().is_some()
        && found.how != How::Ranked
        && cx.probes.iter().any(|p| {
            matches!(p.answer, Answer::Refused | Answer::PortUnreachable | Answer::Unreachable { .. })
        })
    {
        evidence
            .push("the rule answered in the target's place: the target itself never saw the probe".into());
    }
    let whose = owner_words(b);
    let summary = match found.how {
        How::Ranked => format!(
            "one of {} rules that may have stopped the probe did, most likely{whose} `{}` ({}); see evidence",
            found.rules.len(),
            b.rule.text,
            b.rule.place()
        ),
        _ if b.rule.is_policy() => format!(
            "the policy {} of chain {} (table {}) {did}: no rule of the chain accepted it",
            b.rule.text.rsplit(' ').next().unwrap_or_default(),
            b.rule.chain,
            b.rule.table_words()
        ),
        _ => format!("the firewall rule{whose} `{}` ({}) {did}", b.rule.text, b.rule.place()),
    };
    let mut fix: Vec<String> = b.fix.as_ref().map(|f| f.lines()).unwrap_or_default();
    if fix.is_empty() {
        fix.extend(counted.and_then(|a| a.delete));
    }
    if found.how == How::Ranked {
        fix = ranked_fixes(&found.rules);
    }
    TraceVerdict {
        cause: Cause::FirewallDrop,
        summary,
        // A ranked guess is no rule to state as the one: the candidates are in the evidence.
        location: drop_location(d, (found.how != How::Ranked).then(|| b.rule.listed())),
        evidence,
        fix,
    }
}

/// " of firewalld" / " of ufw"; nothing for an admin's own rule.
fn owner_words(b: &Blamed) -> &'static str {
    use crate::netfilter::owner::Owner;
    match b.owner {
        Owner::Firewalld => " of firewalld",
        Owner::Ufw => " of ufw",
        Owner::Docker => " written by Docker",
        Owner::Other => "",
    }
}

/// For ranked candidates: each one's fix, numbered as the evidence ranks them.
fn ranked_fixes(rules: &[Blamed]) -> Vec<String> {
    rules
        .iter()
        .take(3)
        .enumerate()
        .flat_map(|(i, b)| {
            let lines = b.fix.as_ref().map(|f| f.lines()).unwrap_or_default();
            lines.into_iter().map(move |l| format!("{l}   # if it is candidate {}", i + 1))
        })
        .collect()
}

/// The counters named the rule of a drop the host's rules cannot be evaluated for.
fn counted_only(cx: &Context, d: &DropSighting, a: Attributed, mut evidence: Vec<String>) -> TraceVerdict {
    let rejected = a.rejects;
    if rejected {
        evidence[0] = drop_line(d, "rejected");
    }
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
