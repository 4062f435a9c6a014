//! The explain step of a trace: the kernel's events named and sorted into hops and facts, the
//! rule counters read again when netfilter dropped a probe, the model's faults on the path,
//! and the verdict decided from all of them.
use super::{
    collect::{Collected, ProbeRecord},
    endpoints::Endpoints,
    exited,
    facts::Facts,
    hops::{self, Hop},
    plan::Plan,
    verdict::{self, Context, TraceVerdict},
};
use crate::{
    doctor,
    error::{Error, Result},
    explain::Names,
    kernel::Kallsyms,
    netfilter::{self, Ruleset},
};

pub struct Explanation {
    pub verdict: TraceVerdict,
    pub hops: Vec<Hop>,
    pub probes: Vec<ProbeRecord>,
}

/// `before`: the rules as they were before the probes; `lost`: events the kernel could not
/// deliver.
pub async fn explain(
    ends: &Endpoints,
    plan: &Plan,
    collected: Collected,
    before: Ruleset,
    lost: u64,
) -> Result<Explanation> {
    let t = &ends.topology;
    let names = Names::new(t).with_named_namespaces();
    let hops = hops::hops(&collected.events, &names, &plan.ports);
    let mut facts = Facts::gather(&collected.events, &names, &plan.ports, &mut Kallsyms::default());
    facts.nftrace = collected.nftrace;
    let after = rules_after(&facts, &before).await?;
    let deltas = netfilter::diff(&before, &after);
    let doctor = doctor::diagnose(t, &after);
    let cx = Context {
        topology: t,
        from: &ends.from,
        to: &ends.to,
        plan,
        probes: &collected.probes,
        hops: &hops,
        facts: &facts,
        deltas: &deltas,
        rules: &after,
        source_netns: names.netns_label(ends.source_netns),
        findings: verdict::on_path(&doctor.findings, t, plan, &ends.from, &ends.to),
        lost,
    };
    let verdict = exited::with_target_exit(verdict::decide(&cx), &ends.to);
    Ok(Explanation { verdict, hops, probes: collected.probes })
}

/// The rules after the probes. Counters only matter when netfilter dropped a probe; reading
/// the rules again costs a few hundred milliseconds of iptables-save.
async fn rules_after(facts: &Facts, before: &Ruleset) -> Result<Ruleset> {
    if facts.netfilter_drops() == 0 && facts.nftrace.is_empty() {
        return Ok(before.clone());
    }
    let read = tokio::task::spawn_blocking(netfilter::snapshot).await;
    Ok(read.map_err(|e| Error::Usage(e.to_string()))?.unwrap_or_default())
}
