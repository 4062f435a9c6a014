//! The DNS leg explained: its hops for the report (the source's queries and the forwarded
//! ones), and, when the name did not resolve, the verdict (`verdict::dns`), decided from the
//! kernel's events of the query whose path matters and the model's faults on that path.
use super::{
    DnsLeg, DnsReport,
    flows::{FORWARDED, QUERY},
};
use crate::{
    dns::{QueryResult, Resolution},
    doctor,
    error::Result,
    explain::Names,
    kernel::Kallsyms,
    netfilter::{self, Ruleset},
    probe::Answer,
    trace::{
        collect::ProbeRecord,
        endpoints::Endpoints,
        explanation::{Explanation, rules_after},
        facts::Facts,
        hops::{self, Hop},
        sockets::Sockets,
        verdict::{
            self, Context,
            dns::{DnsOutcome, Leg},
        },
    },
};

/// The leg's hops, both flows, for the report.
pub fn report(leg: &DnsLeg, names: &Names) -> DnsReport {
    DnsReport { resolution: leg.resolution.clone(), hops: hops::hops(&leg.events, names, &leg.flows) }
}

/// Why the name did not resolve: the verdict (leg "dns"), no target probes.
pub async fn unresolved(ends: &Endpoints, leg: &DnsLeg, before: Ruleset, lost: u64) -> Result<Explanation> {
    let t = &ends.topology;
    let names = Names::new(t).with_named_namespaces();
    let report = report(leg, &names);
    let path = leg.plan.path.as_ref();
    // The query whose path matters: the forwarded one when the embedded DNS forwards.
    let flow = if path.is_some_and(|p| p.server.forwarded) { FORWARDED } else { QUERY };
    let mut facts = Facts::gather(&leg.events, &names, &leg.flows, &mut Kallsyms::default());
    facts.drops.retain(|d| d.probe == flow);
    // The leg's one flow is its "probe 1" in the verdict's evidence.
    facts.drops.iter_mut().for_each(|d| d.probe = 0);
    let leg_hops: Vec<Hop> = report.hops.iter().filter(|h| h.probe == flow).cloned().collect();
    let upstream_answered = report.hops.iter().any(|h| h.probe == FORWARDED && !h.forward);
    let outcome = DnsOutcome {
        resolution: &leg.resolution,
        resolv_conf: &leg.resolv_conf,
        server: path.map(|p| &p.server),
        forwarded_seen: leg.flows.forwarded_seen(),
        upstream_answered,
        budget: leg.budget,
    };
    let verdict = match path {
        None => verdict::dns::decide(None, &outcome),
        Some(p) => {
            let after = rules_after(&facts, &before, None).await?;
            let deltas = netfilter::diff(&before, &after);
            let doctor = doctor::diagnose(t, &after);
            let probes = records(&leg.resolution);
            let sender_netns = if p.server.from_host { 0 } else { ends.source_netns };
            let cx = Context {
                topology: t,
                from: &p.sender,
                to: &p.target,
                plan: &p.plan,
                probes: &probes,
                hops: &leg_hops,
                facts: &facts,
                deltas: &deltas,
                rules: &after,
                source_netns: names.netns_label(sender_netns),
                findings: verdict::on_path(&doctor.findings, t, &p.plan, &p.sender, &p.target),
                lost,
                // The server's sockets are not read: the DNS verdict weighs the answers.
                sockets: &Sockets::default(),
            };
            verdict::dns::decide(Some(&cx), &outcome)
        }
    };
    Ok(Explanation { verdict, leg: Leg::Dns, hops: vec![], probes: vec![], dns: Some(report) })
}

/// The source's queries as probe records, for the rules that read a probe's socket (a query
/// the stack refused to send is a probe that could not be sent).
fn records(r: &Resolution) -> Vec<ProbeRecord> {
    r.attempts
        .iter()
        .enumerate()
        .map(|(i, a)| ProbeRecord {
            index: i as u16,
            sport: a.sport,
            answer: match &a.result {
                QueryResult::Timeout => Answer::NoAnswer,
                QueryResult::PortUnreachable => Answer::PortUnreachable,
                QueryResult::NetworkError { errno, error } => {
                    Answer::Unreachable { errno: *errno, error: error.clone() }
                }
                _ => Answer::UdpReply,
            },
            elapsed_ms: a.elapsed.as_secs_f64() * 1000.0,
        })
        .collect()
}
