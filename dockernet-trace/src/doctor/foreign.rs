//! Tables and chains Docker did not write (firewalld's, ufw's, an admin's own `nft` table, a
//! policy of INPUT) that drop traffic every Docker network needs: each flow of [`flows`] is
//! evaluated hook by hook, and a certain drop by a foreign rule or policy is a finding with
//! that rule and its exact fix. What the other checks already report (DOCKER-USER rules,
//! Docker's FORWARD policy with its ACCEPTs gone, missing NAT) is left to them.
use std::{collections::BTreeSet, net::IpAddr};

use super::flows::{Flow, Kind, flows};
use crate::{
    cause::{Cause, Finding},
    flow::IpFamily,
    model::Topology,
    netfilter::{
        Family, Ruleset, Source,
        docker::manages_ip6tables,
        eval::{Decision, Evaluation, Evaluator, Fate, Hook, NamedRule, Outcome},
        fix::{Fix, fix},
        owner::{Owner, owner},
    },
};

/// `services`: the host's TCP services ([`super::flows::host_services`]).
pub fn drops(
    t: &Topology,
    rs: &Ruleset,
    services: &[(IpAddr, u16)],
    findings: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    // Rules that could not be read may drop what the checks below pass: say so.
    notes.extend(rs.gaps().map(|g| format!("the firewall checks may miss rules: {g}")));
    let ev = Evaluator::new(rs);
    let bridges: BTreeSet<String> = t.docker.networks.iter().filter_map(|n| n.bridge.clone()).collect();
    // One finding per rule, network and container, saying every flow the rule stops.
    let mut found: Vec<Found> = vec![];
    for flow in flows(t, services) {
        let Some((e, o)) = first_stop(rs, &ev, &flow, notes) else { continue };
        let rule = o.by.clone().expect("a stop has a decider");
        let f = finding(rs, &flow, &e, &o);
        let mut fix = fix(rs, &e, &o, &bridges, &flow.traffic(e.hook, &e.packet));
        if let Some(f) = fix.as_mut().filter(|_| docker_ip6_forward_policy(rs, &rule)) {
            f.alternatives
                .push("or: systemctl restart docker   # writes Docker's ip6tables ACCEPTs again".into());
        }
        match found.iter_mut().find(|x| {
            x.rule.same(&rule) && x.finding.network == f.network && x.finding.container == f.container
        }) {
            Some(x) => {
                x.add(&flow);
                x.fixes.extend(fix);
            }
            None => {
                let mut x = Found { rule, whats: vec![], fixes: fix.into_iter().collect(), finding: f };
                x.add(&flow);
                found.push(x);
            }
        }
    }
    findings.extend(found.into_iter().map(Found::finish));
}

/// What one rule stops for one network (and container), gathered over its flows.
struct Found {
    rule: NamedRule,
    /// Each kind of traffic it stops, with the families it stops it in (in the order met).
    whats: Vec<(String, Vec<IpFamily>)>,
    fixes: Vec<Fix>,
    finding: Finding,
}

impl Found {
    fn add(&mut self, flow: &Flow) {
        let text = what(flow);
        match self.whats.iter_mut().find(|(t, _)| *t == text) {
            Some((_, families)) => families.push(flow.family),
            None => self.whats.push((text, vec![flow.family])),
        }
        // A rule that stops both families' traffic (an `inet` table's) breaks both.
        if self.finding.family != Some(flow.family) {
            self.finding.family = None;
        }
    }

    /// The summary says every flow; the fix gives each command once, alternatives last.
    fn finish(self) -> Finding {
        let mut f = self.finding;
        let whats: Vec<String> = self
            .whats
            .iter()
            .map(|(text, families)| {
                match (families.contains(&IpFamily::V4), families.contains(&IpFamily::V6)) {
                    (true, true) => format!("{text} over IPv4 and IPv6"),
                    (false, true) => format!("{text} over IPv6"),
                    _ => text.clone(),
                }
            })
            .collect();
        f.summary = format!("{} {}: `{}`", f.summary, whats.join(", and "), self.rule.text);
        let lines = self
            .fixes
            .iter()
            .flat_map(|x| &x.commands)
            .chain(self.fixes.iter().flat_map(|x| &x.alternatives));
        for l in lines {
            if !f.fix.contains(l) {
                f.fix.push(l.clone());
            }
        }
        f
    }
}

/// The first hook on the flow's way that certainly stops it by a foreign rule, with the
/// outcome that did; a foreign rule that only may stop it is a note.
fn first_stop(
    rs: &Ruleset,
    ev: &Evaluator,
    flow: &Flow,
    notes: &mut Vec<String>,
) -> Option<(Evaluation, Outcome)> {
    let mut steps = flow.steps.clone();
    let mut i = 0;
    while let Some((hook, packet)) = steps.get(i).cloned() {
        i += 1;
        let e = ev.evaluate(hook, &packet);
        if e.certainly_stops() {
            let o = match e.decision() {
                Decision::Exact(o) => o.clone(),
                Decision::Candidates(c) => c[0].clone(),
                Decision::None => return None,
            };
            return o.by.as_ref().is_some_and(|r| foreign(rs, r, &o)).then_some((e, o));
        }
        let maybe: Vec<&Outcome> = e
            .outcomes
            .iter()
            .filter(|o| o.fate.may_stop() && o.by.as_ref().is_some_and(|r| foreign(rs, r, o)))
            .collect();
        if !maybe.is_empty() {
            notes.push(may_stop_note(flow, &e, &maybe));
        }
        if e.outcomes.iter().any(|o| o.fate.may_stop()) {
            return None;
        }
        // After the published port's prerouting: on to the container, if the DNAT is there.
        if let (Hook::Prerouting, Some((ip, port))) = (hook, flow.dnat_to) {
            let Decision::Exact(o) = e.decision() else { return None };
            if o.packet.dst != ip || o.packet.dport != Some(port) {
                return None; // no DNAT: the NAT check says so
            }
            let p = o.packet.clone().oif(&flow.bridge);
            steps.extend([(Hook::Forward, p.clone()), (Hook::Postrouting, p)]);
        }
    }
    None
}

/// Not Docker's, and not what another check reports: DOCKER-USER's rules (docker_user.rs),
/// and filter FORWARD's policy in Docker's IPv4 iptables tables (firewall.rs, which weighs it
/// against Docker's ACCEPTs). ip6tables' FORWARD policy is judged here, by the IPv6 flows.
fn foreign(rs: &Ruleset, rule: &NamedRule, o: &Outcome) -> bool {
    if owner(rs, rule, &o.path) == Owner::Docker || rule.chain == "DOCKER-USER" {
        return false;
    }
    !iptables_forward_policy(rule, Family::Ip)
}

/// ip6tables' filter FORWARD policy where Docker writes ip6tables rules: what stops the flow is
/// that Docker's ACCEPTs for it are not reached (flushed, or FORWARD's jumps to its chains
/// gone), which restarting Docker repairs.
fn docker_ip6_forward_policy(rs: &Ruleset, rule: &NamedRule) -> bool {
    iptables_forward_policy(rule, Family::Ip6) && manages_ip6tables(rs)
}

/// The policy of iptables' (`Ip`) or ip6tables' (`Ip6`) filter FORWARD.
fn iptables_forward_policy(rule: &NamedRule, family: Family) -> bool {
    rule.is_policy()
        && matches!(rule.source, Source::Iptables { .. })
        && rule.family == family
        && rule.table == "filter"
        && rule.chain == "FORWARD"
}

fn what(flow: &Flow) -> String {
    match &flow.kind {
        Kind::Outbound => format!("connections of {}'s containers out of the host", flow.network),
        Kind::Replies => format!("replies to {}'s containers", flow.network),
        Kind::Published { host_port, proto } => format!(
            "clients outside the host on published port {host_port}/{proto} of {}",
            flow.container.as_deref().unwrap_or("a container")
        ),
        Kind::WithinNetwork => format!("{}'s containers talking to each other", flow.network),
        Kind::ToHost { port } => format!("{}'s containers reaching the host's tcp/{port}", flow.network),
    }
}

fn verb(fate: &Fate) -> String {
    match fate {
        Fate::Rejected(with) => format!("rejects ({with})"),
        _ => "drops".into(),
    }
}

/// Who the rule belongs to, as a person would say it.
fn whose(rs: &Ruleset, rule: &NamedRule, o: &Outcome) -> String {
    match (owner(rs, rule, &o.path), rule.source) {
        (Owner::Firewalld, _) => format!("firewalld ({rule})"),
        (Owner::Ufw, _) => format!("ufw ({rule})"),
        (_, Source::Nft) => rule.to_string(),
        (_, Source::Iptables { .. }) => format!("iptables {rule}"),
    }
}

fn finding(rs: &Ruleset, flow: &Flow, e: &Evaluation, o: &Outcome) -> Finding {
    let rule = o.by.as_ref().expect("a stop has a decider");
    let exact = matches!(e.decision(), Decision::Exact(_));
    let mut evidence = vec![
        format!("{}: {}", rule, rule.text),
        format!(
            "{} at {}: {}",
            e.packet,
            e.hook,
            o.path.iter().map(|s| s.chain.as_str()).collect::<Vec<_>>().join(" → ")
        ),
    ];
    if !exact {
        evidence.push("other rules may have decided first (see the notes)".into());
    }
    evidence.extend(e.gaps.iter().cloned());
    Finding {
        cause: Cause::FirewallDrop,
        network: Some(flow.network.clone()),
        iface: Some(flow.bridge.clone()),
        container: flow.container.clone(),
        // Completed with what it stops and the rule by the caller.
        summary: format!("{} {}", whose(rs, rule, o), verb(&o.fate)),
        fix: vec![],
        evidence,
        // A trace weighs it when it goes over this family (see `Found`: both, when it stops both).
        family: Some(flow.family),
    }
}

fn may_stop_note(flow: &Flow, e: &Evaluation, maybe: &[&Outcome]) -> String {
    let rules: Vec<String> =
        maybe.iter().filter_map(|o| o.by.as_ref().map(|r| format!("{r}: {}", r.text))).collect();
    format!(
        "{} may be stopped at {} by {} (it depends on what the rules could not be sure of)",
        what(flow),
        e.hook,
        rules.join("; ")
    )
}

#[cfg(test)]
#[path = "foreign_tests.rs"]
mod tests;
