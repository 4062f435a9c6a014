//! `cargo xtask bench`: the performance figures of issues 6 and 14, measured in a lab with the
//! release binary, printed and written to BENCHMARKS.md. A benchmark, never a timed test: a
//! goal that is not met is reported plainly, with what was measured and why, and does not fail
//! the task.
//!
//! Sections (`--only` picks some):
//! - overhead: each workload (TCP bulk, 64-byte UDP, HTTP connections, an isolation drop
//!   flood) running without a break, cut into windows: unobserved, under `watch`, under
//!   `tcpdump -i any`, under a bpftrace kfree_skb counter (and for the flood under a program
//!   doing nothing on kfree_skb, the floor), each between unobserved ones; ratios, the
//!   observers' CPU, and for the flood whether watch counted every dropped packet and lost no
//!   event;
//! - cost: the kernel programs' run time per run (bpf_stats) for packets that are not the
//!   tool's business, and for drops a watch counts;
//! - verdict: a trace's start → verdict and its phases; attach + detach (kernel-check);
//! - scale: doctor, a trace and watch's start at 5/50/150 containers, 2/10/30 networks,
//!   100/2k/10k extra iptables rules;
//! - recording: `report` on a 200k-line recording (it must stream);
//! - pwru: in the 6.12 VM, pwru beside a trace on the isolation scenario.
mod blast;
mod bpfstats;
mod cost;
mod empty_program;
mod meter;
mod observer;
mod overhead;
mod pwru;
mod recording;
mod report;
mod scale;
mod tool;
mod verdict;
mod workload;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use dockernet_trace_tests::{Lab, LabOptions};

use report::{Section, goal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Overhead,
    Cost,
    Verdict,
    Scale,
    Recording,
    Pwru,
}

const ORDER: &[&str] = &["overhead", "cost", "verdict", "memory", "scale", "recording", "pwru"];

#[derive(Args, Default)]
pub struct BenchArgs {
    /// Fewer and shorter repetitions (a few minutes instead of about 25).
    #[arg(long)]
    quick: bool,
    /// Only these sections (comma-separated); the others keep their last figures in
    /// BENCHMARKS.md.
    #[arg(long, value_delimiter = ',', value_enum)]
    only: Vec<Part>,
    /// The overhead section's workloads (comma-separated; all by default).
    #[arg(long, value_delimiter = ',', value_enum)]
    load: Vec<workload::Workload>,
    /// Print only; leave BENCHMARKS.md alone.
    #[arg(long)]
    no_write: bool,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let wanted = |p: Part| args.only.is_empty() || args.only.contains(&p);
    if !args.load.is_empty() && !args.no_write && wanted(Part::Overhead) {
        // The section would lose the other workloads' rows.
        anyhow::bail!("--load measures part of the overhead section: add --no-write");
    }
    super::setup::run()?;
    super::build::run()?;
    // `cargo build` honours CARGO_TARGET_DIR; so does the binary we measure.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| super::root().join("target"));
    let bin = std::env::var_os("DNT_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| target.join("release/dockernet-trace"));
    // SAFETY: still single-threaded; the lab reads DNT_BIN when it runs the tool.
    unsafe { std::env::set_var("DNT_BIN", &bin) };
    println!(
        "bench: {} (this takes {})",
        bin.display(),
        if args.quick { "a few minutes" } else { "about 25 minutes" }
    );
    let mut sections: Vec<Section> = Vec::new();
    let lab_parts = [Part::Overhead, Part::Cost, Part::Verdict];
    if lab_parts.iter().any(|p| wanted(*p)) {
        let lab = Lab::start(LabOptions::default())?;
        let w = workload::world(&lab)?;
        let (mut watch_rss, mut trace_rss) = (None, None);
        if wanted(Part::Overhead) {
            let m = overhead::run(&lab, &w, &args.load, args.quick)?;
            watch_rss = Some(m.watch_rss_kb);
            sections.push(m.section);
        }
        if wanted(Part::Cost) {
            sections.push(cost::run(&lab, &w, args.quick)?);
        }
        if wanted(Part::Verdict) {
            let m = verdict::run(&lab, args.quick)?;
            trace_rss = Some(m.trace_rss_kb);
            sections.push(m.section);
        }
        if let (Some(t), Some(w)) = (trace_rss, watch_rss) {
            sections.push(memory(t, w));
        }
        lab.down();
    }
    if wanted(Part::Scale) {
        sections.push(scale::run(args.quick)?);
    }
    if wanted(Part::Recording) {
        sections.push(recording::run(&bin, args.quick)?);
    }
    if wanted(Part::Pwru) {
        sections.push(pwru::run(args.quick)?);
    }
    for s in &sections {
        println!("\n{}", s.markdown());
    }
    for s in &sections {
        s.print_goals();
    }
    if !args.no_write {
        let path = super::root().join("BENCHMARKS.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let new = report::merge(&old, &sections, ORDER);
        std::fs::write(&path, new).context("writing BENCHMARKS.md")?;
        println!("bench: written to BENCHMARKS.md");
    }
    Ok(())
}

fn memory(trace_kb: u64, watch_kb: u64) -> Section {
    let mb = |kb: u64| kb as f64 / 1024.0;
    let mut s = Section::new("memory", "Peak memory in the small lab");
    s.line("GNU time's %M: the peak RSS of the tool's process and of the children it ran (iptables-save, nft), without the xtask's own memory; the trace's over the verdict runs, watch's over the overhead rounds (the flood included).");
    let worst = mb(trace_kb.max(watch_kb));
    s.goals.push(goal(
        "peak RSS (trace / watch)",
        format!("{:.1} MB / {:.1} MB", mb(trace_kb), mb(watch_kb)),
        "≤ 50 MB",
        worst <= 50.0,
        format!("{worst:.1} MB"),
    ));
    s
}
