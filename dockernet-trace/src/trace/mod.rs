//! The trace: send the probes, follow them through the kernel, explain where and why they
//! stopped. `run` reads as the steps it takes, each in a module of its own:
//! model ([`endpoints`]) → plan ([`plan`]) → attach ([`attach`]) → collect ([`collect`]) →
//! explain ([`explanation`], through `crate::explain` and [`verdict`]) → report ([`report`]).
pub mod attach;
pub mod collect;
pub mod endpoints;
pub mod exited;
pub mod explanation;
pub mod facts;
pub mod hops;
pub mod nftrace;
pub mod plan;
pub mod report;
pub mod request;
pub mod spinner;
pub mod text;
pub mod verdict;

use std::time::Instant;

use self::{plan::Plan, report::TraceReport, spinner::Spinner};
use crate::{
    cli::TraceArgs,
    error::{Error, Result, require_privileges},
    netfilter::{self, Ruleset},
    probe::ProbePorts,
};

pub async fn run(args: &TraceArgs) -> Result<u8> {
    let started = Instant::now();
    let phase = |what: &str| log::debug!("{what}: {} ms", started.elapsed().as_millis());
    let (from, to) = request::parse(args)?;
    require_privileges()?;
    let spinner = Spinner::start("reading Docker and the kernel's view of the network");
    let ends = endpoints::resolve(args, &from, &to).await?;
    let probes = ProbePorts::new(args.proto, args.count as u16);
    let plan = Plan::new(&ends.topology, &ends.from, &ends.to, probes);
    phase("model and plan");
    // The rules before the probes, read while the programs are loaded.
    let before = tokio::task::spawn_blocking(netfilter::snapshot);
    let mut attached = attach::attach(&plan).await?;
    let before = rules(before).await?;
    phase("attached");
    spinner.say(format!("probing {} → {}", ends.from.name, args.to.as_deref().unwrap_or_default()));
    let collected = collect::collect(args, &plan, &ends.from, &mut attached).await?;
    phase("probes");
    spinner.say("explaining".into());
    let seen = attached.visibility();
    let explained = explanation::explain(&ends, &plan, collected, before, seen.lost).await?;
    phase("verdict");
    spinner.clear();
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let report = TraceReport::new(&ends, args.proto, explained, seen, elapsed_ms);
    report.print(args.output.json);
    // Detaching waits for RCU grace periods (tens of ms per tcx link): the verdict is out
    // first, then the programs go.
    drop(attached);
    phase("detached");
    Ok(if report.reachable { 0 } else { 1 })
}

/// The rules read in the background; none when reading them failed.
async fn rules(read: tokio::task::JoinHandle<Result<Ruleset, netfilter::NetfilterError>>) -> Result<Ruleset> {
    Ok(read.await.map_err(|e| Error::Usage(e.to_string()))?.unwrap_or_default())
}
