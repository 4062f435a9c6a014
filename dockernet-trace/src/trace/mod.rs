//! The trace: send the probes, follow them through the kernel, explain where and why they
//! stopped. `run` reads as the steps it takes, each in a module of its own:
//! model ([`endpoints`]) → for a target named by DNS, its name resolved as the source resolves
//! it ([`dns_leg`]) → plan ([`plan`]) → attach ([`attach`]) → collect ([`collect`]) →
//! explain ([`explanation`], through `crate::explain` and [`verdict`]) → report ([`report`]).
pub mod attach;
pub mod bridge_hops;
pub mod collect;
pub mod dns_leg;
pub mod early_reads;
pub mod endpoints;
pub mod evidence;
pub mod exited;
pub mod explanation;
pub mod facts;
pub mod hops;
pub mod nftrace;
pub mod phase;
pub mod plan;
pub mod report;
pub mod request;
pub mod resolution;
pub mod sockets;
pub mod spinner;
pub mod text;
pub mod unprobed;
pub mod verdict;

use self::{explanation::Explanation, phase::Phases, plan::Plan, report::TraceReport, spinner::Spinner};
use crate::{
    cli::TraceArgs,
    error::{Error, Result, require_privileges},
    explain::Names,
    flow::IpFamily,
    netfilter::{self, Ruleset},
    probe::ProbePorts,
};

pub async fn run(args: &TraceArgs) -> Result<u8> {
    let phases = Phases::start();
    let started = phases.started();
    let (from, to) = request::parse(args)?;
    require_privileges()?;
    let pcap = args.pcap.as_deref().map(evidence::create).transpose()?;
    let spinner = Spinner::start("reading Docker and the kernel's view of the network");
    let loading = attach::Loading::start(phases);
    let mut ends = endpoints::resolve(args, &from, &to).await?;
    if let Some(verdict) = unprobed::verdict(&ends.to) {
        spinner.clear();
        let explained = explanation::Explanation {
            verdict,
            leg: verdict::dns::Leg::Target,
            hops: vec![],
            probes: vec![],
            dns: None,
        };
        let seen = attach::Visibility { lost: 0, coverage: Default::default(), hooks: vec![] };
        let report =
            TraceReport::new(&ends, args.proto, explained, seen, started.elapsed().as_millis() as u64);
        report.print(args.output.json);
        return Ok(1);
    }
    let probes = ProbePorts::new(args.proto, args.count as u16);
    phases.mark("model");
    // The rules before the probes, read while the programs are loaded.
    let before = tokio::task::spawn_blocking(netfilter::snapshot);
    // The plan, known now unless a name is resolved first: tc goes on its interfaces while
    // the tracepoint programs are verified.
    let early_plan = ends.dns_name.is_none().then(|| Plan::new(&ends.topology, &ends.from, &ends.to, probes));
    // (A name's answer is of the family its leg asks for: IPv6 with -6, or after no IPv4
    // address for a source with IPv6.)
    let asked = ends.dns_name.is_some().then(|| dns_leg::Asked::for_source(args, &ends));
    loading.ipv6(match (&early_plan, asked) {
        (Some(p), _) => p.family() == IpFamily::V6,
        (None, a) => a.is_some_and(dns_leg::Asked::may_be_ipv6),
    });
    loading.tc_ahead(early_plan.as_ref().map(|p| p.tc_ifaces.clone()).unwrap_or_default());
    let mut attached = loading.finish().await?;
    let before = rules(before).await?;
    phases.mark("rules before");
    let mut leg = None;
    if let (Some(name), Some(asked)) = (ends.dns_name.clone(), asked) {
        spinner.say(format!("resolving {name} as {} does", ends.from.name));
        let l = dns_leg::run(args, &ends, &from, &name, asked, &probes, &mut attached).await?;
        phases.mark("dns");
        match l.resolution.answer() {
            Some(ip) => ends.answered(&from, &to, ip).await?,
            None => {
                spinner.say("explaining".into());
                let lost = attached.visibility().lost;
                let explained = dns_leg::explain::unresolved(&ends, &l, before, lost).await?;
                return finish(args, phases, spinner, &ends, explained, attached, pcap);
            }
        }
        leg = Some(l);
    }
    // (After a name's resolution, the target it answered.)
    let plan = early_plan.unwrap_or_else(|| Plan::new(&ends.topology, &ends.from, &ends.to, probes));
    attached.follow(&plan)?;
    phases.mark("tc");
    spinner.say(format!("probing {} → {}", ends.from.name, args.to.as_deref().unwrap_or_default()));
    let checks = explanation::EarlyChecks::start(&ends.topology, before);
    let collected = collect::collect(args, &plan, &ends.from, &mut attached).await?;
    phases.mark("probes");
    spinner.say("explaining".into());
    let lost = attached.visibility().lost;
    let mut explained = explanation::explain(&ends, &plan, collected, checks, lost, phases).await?;
    if let Some(l) = &leg {
        let names = Names::new(&ends.topology).with_named_namespaces();
        explained.dns = Some(dns_leg::explain::report(l, &names));
    }
    finish(args, phases, spinner, &ends, explained, attached, pcap)
}

/// The report out, then the programs detached; the exit code.
fn finish(
    args: &TraceArgs,
    phases: Phases,
    spinner: Spinner,
    ends: &endpoints::Endpoints,
    explained: Explanation,
    attached: attach::Attached,
    pcap: Option<evidence::Evidence>,
) -> Result<u8> {
    phases.mark("verdict");
    spinner.clear();
    if let Some(pcap) = pcap {
        pcap.write(&explained.hops)?;
    }
    let elapsed_ms = phases.started().elapsed().as_millis() as u64;
    let report = TraceReport::new(ends, args.proto, explained, attached.visibility(), elapsed_ms);
    report.print(args.output.json);
    // Detaching waits for RCU grace periods (tens of ms per tcx link): the verdict is out
    // first, then the programs go.
    drop(attached);
    phases.mark("detached");
    Ok(if report.reachable { 0 } else { 1 })
}

/// The rules read in the background; none when reading them failed.
async fn rules(read: tokio::task::JoinHandle<Result<Ruleset, netfilter::NetfilterError>>) -> Result<Ruleset> {
    Ok(read.await.map_err(|e| Error::Usage(e.to_string()))?.unwrap_or_default())
}
