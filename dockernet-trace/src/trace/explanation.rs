//! The explain step of a trace: the kernel's events named and sorted into hops and facts, the
//! rule counters read again when netfilter dropped a probe, the model's faults on the path,
//! and the verdict decided from all of them.
use super::{
    bridge_hops,
    collect::{Collected, ProbeRecord},
    dns_leg::DnsReport,
    early_reads::RulesRead,
    endpoints::Endpoints,
    exited,
    facts::Facts,
    hops::{self, Hop},
    phase::Phases,
    plan::Plan,
    sockets,
    verdict::{self, Context, TraceVerdict, dns::Leg},
};
use crate::{
    doctor,
    error::{Error, Result},
    explain::Names,
    model::Topology,
    netfilter::{self, Ruleset},
};

pub struct Explanation {
    pub verdict: TraceVerdict,
    /// What the verdict is about: the target's path, or resolving its name.
    pub leg: Leg,
    pub hops: Vec<Hop>,
    pub probes: Vec<ProbeRecord>,
    /// The name resolution, when the target was named by DNS.
    pub dns: Option<DnsReport>,
}

/// The doctor's checks that read no rule counter, on the rules before the probes: on a thread
/// of their own while the probes fly (tens of ms with thousands of rules); the rules come
/// back with their findings.
pub struct EarlyChecks(tokio::task::JoinHandle<(Ruleset, doctor::Uncounted)>);

impl EarlyChecks {
    pub fn start(t: &Topology, before: Ruleset) -> Self {
        let t = t.clone();
        EarlyChecks(tokio::task::spawn_blocking(move || {
            let found = doctor::uncounted(&t, &before);
            (before, found)
        }))
    }
}

/// `checks`: the rules as they were before the probes and the checks made on them; `lost`:
/// events the kernel could not deliver.
pub async fn explain(
    ends: &Endpoints,
    plan: &Plan,
    collected: Collected,
    checks: EarlyChecks,
    lost: u64,
    phases: Phases,
) -> Result<Explanation> {
    let t = &ends.topology;
    let (before, uncounted) =
        checks.0.await.map_err(|e| Error::Usage(format!("checking the host's configuration failed: {e}")))?;
    let names = Names::new(t).with_named_namespaces();
    let mut hops = hops::hops(&collected.events, &names, &plan.ports);
    let reached: Vec<u16> = collected.probes.iter().filter(|p| p.answer.reached()).map(|p| p.index).collect();
    hops::mark_after_delivery(&mut hops, |i| reached.contains(&i), &names.netns_label(ends.source_netns));
    let hops = bridge_hops::add_bridges(hops, t);
    let mut early = collected.early;
    let mut facts = Facts::gather(&collected.events, &names, &plan.ports, &mut early.kallsyms().await);
    facts.nftrace = collected.nftrace;
    let after = rules_after(&facts, &before, early.rules).await?;
    phases.mark("rules after");
    let deltas = netfilter::diff(&before, &after);
    drop(before); // megabytes with thousands of rules; the counters' moves are what it was for
    let doctor = uncounted.with_counted(t, &after);
    let sockets = sockets::read(ends, plan, &names).await;
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
        sockets: &sockets,
    };
    let verdict = exited::with_target_exit(verdict::decide(&cx), &ends.to);
    Ok(Explanation { verdict, leg: Leg::Target, hops, probes: collected.probes, dns: None })
}

/// The rules after the probes (`early`: the read `collect` started). Counters only matter
/// when netfilter dropped a probe; reading the rules again costs ~0.1 s of iptables-save.
pub async fn rules_after(facts: &Facts, before: &Ruleset, early: Option<RulesRead>) -> Result<Ruleset> {
    if facts.netfilter_drops() == 0 && facts.nftrace.is_empty() {
        return Ok(before.clone());
    }
    let read = match early {
        Some(read) => read.await,
        None => tokio::task::spawn_blocking(netfilter::snapshot).await,
    };
    Ok(read.map_err(|e| Error::Usage(e.to_string()))?.unwrap_or_default())
}
