//! Time from start to a trace's verdict, and what it is spent on: the trace's own phase log
//! (`RUST_LOG=dockernet_trace=debug`: milliseconds since start at the end of each phase), the
//! probes' own durations from its JSON, and the detach after the verdict is printed. Also the
//! attach and detach of every program, from `kernel-check --json`.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use dockernet_trace_tests::Lab;
use serde_json::Value;

use super::{
    report::{Section, goal, stats},
    tool,
};

/// The phases the trace logs, in their usual order (trace/mod.rs; the model's end falls among
/// the loading's phases, which run beside it).
const PHASES: &[&str] = &[
    "kernel probe",
    "stale cleanup",
    "model",
    "load",
    "tracepoints",
    "enrichment",
    "tc",
    "rules before",
    "probes",
    "rules after",
    "verdict",
    "detached",
];

/// What the phases hold, under their table.
const PHASE_NOTE: &str = "\nEach figure is the time from the mark before it in the trace's log to its own. The loading (*kernel probe*, *stale cleanup*, *load*, *tracepoints*, *enrichment*) runs on a thread of its own from the start, beside the reading of Docker's and the kernel's view (*model*): the model's end falls among them, and they share the time they overlap. What each phase holds: *tracepoints* is the kernel's verifier checking each program (the tracepoint programs and, for a trace, the two tc classifiers, verified on every core at once, the costliest first, each tracepoint program attached as soon as it passes: `ebpf/verify.rs`; about 10 ms each for the larger programs: the IPv6 extension-header walk and the transport header are global eBPF functions the verifier checks once, and the programs are loaded for the trace's mode only (the global `LOADED_FOR`), and for an IPv4 target without their IPv6 code (`LOADED_V6`, when the target is known by the time the loading is ready), so the verifier skips the rest; before, 150–300 ms each; and the tracepoints' prototypes looked up in the kernel's BTF once each, not four times: ~1 ms a lookup) and attaching them, and (tcx) the classifiers on the path's interfaces as soon as they are verified, on a thread of their own beside the tracepoint programs' verification and attaches (each tcx attach waits for an RCU grace period, and the kernel takes them one at a time: the dropped path's four interfaces, both directions, are most of the difference between the two columns); *tc* is what is left of that (the interfaces a name's resolution decided, or cls_bpf filters on kernels without tcx); *probes* is the probes (each starts once the previous one's fate is known); *verdict* includes reading the target's socket tables (both at once, each in one read: a read of /proc/net/tcp walks the kernel's whole socket hash); *rules before/after* read the rule set (once per iptables backend, nft's own tables only; the read after, and the drop locations' kallsyms, start when every probe's fate is known, beside the grace of *probes*); *detached* waits for tcx links' RCU grace periods.";

/// (phase, ms since start) from the trace's debug log.
fn phases(stderr: &str) -> Vec<(String, f64)> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("dockernet_trace::trace] ").map(|(_, r)| r))
        .filter_map(|r| {
            let (what, ms) = r.rsplit_once(": ")?;
            let ms: f64 = ms.strip_suffix(" ms")?.parse().ok()?;
            PHASES.contains(&what).then(|| (what.to_string(), ms))
        })
        .collect()
}

/// What one kind of trace took, over its runs.
struct Timing {
    what: &'static str,
    args: Vec<&'static str>,
    verdict: Vec<f64>,
    exit: Vec<f64>,
    /// Per phase: its own duration (ms) in each run.
    phase_ms: BTreeMap<String, Vec<f64>>,
    /// Each probe's duration (ms), all runs.
    probe_ms: Vec<f64>,
}

pub struct Measured {
    pub section: Section,
    pub trace_rss_kb: u64,
}

pub fn run(lab: &Lab, quick: bool) -> Result<Measured> {
    let runs = if quick { 3 } else { 5 };
    let mut rss = 0;
    let mut timings = Vec::new();
    for (what, args, want, goal_s) in [
        ("dropped path", vec!["--from", "nacos", "--to", "mysql:3306", "--json"], 1, 0.5),
        ("healthy path", vec!["--from", "host", "--to", "mysql:3306", "--json"], 0, 0.3),
    ] {
        let mut t = Timing {
            what,
            args: args.clone(),
            verdict: vec![],
            exit: vec![],
            phase_ms: BTreeMap::new(),
            probe_ms: vec![],
        };
        for _ in 0..runs {
            let r = tool::timed_trace(lab, &args, true)?;
            anyhow::ensure!(
                r.code == want,
                "`dockernet-trace {}` exited {}, expected {want}",
                args.join(" "),
                r.code
            );
            rss = rss.max(r.rss_kb);
            t.verdict.push(r.verdict_s);
            t.exit.push(r.exit_s);
            let mut prev = 0.0;
            for (phase, at) in phases(&r.stderr) {
                t.phase_ms.entry(phase).or_default().push(at - prev);
                prev = at;
            }
            let json: Value = serde_json::from_str(r.stdout.trim()).context("the trace printed no JSON")?;
            for p in json["probes"].as_array().into_iter().flatten() {
                t.probe_ms.extend(p["elapsed_ms"].as_f64());
            }
        }
        println!(
            "bench: {what}: verdict after {:.2} s, exit after {:.2} s (median of {runs})",
            stats(&t.verdict).median,
            stats(&t.exit).median
        );
        timings.push((t, goal_s));
    }
    let mut sec = Section::new("verdict", "A trace's time to verdict, and what it is spent on");
    sec.line(format!(
        "{runs} runs each, seconds from spawning the tool to the first byte of its verdict on stdout, and to its exit; phases from the trace's own log (`RUST_LOG=dockernet_trace=debug`, milliseconds each phase took); median (min–max).\n"
    ));
    for (t, _) in &timings {
        sec.line(format!(
            "**{}** (`dockernet-trace {}`): verdict {} s, exit {} s; each probe {} ms\n",
            t.what,
            t.args.join(" "),
            stats(&t.verdict).show(2),
            stats(&t.exit).show(2),
            stats(&t.probe_ms).show(0)
        ));
    }
    let mut head = "| phase (ms) |".to_string();
    let mut rule = "|---|".to_string();
    for (t, _) in &timings {
        head.push_str(&format!(" {} |", t.what));
        rule.push_str("---|");
    }
    sec.line(format!("{head}\n{rule}"));
    for phase in PHASES {
        let mut row = format!("| {phase} |");
        for (t, _) in &timings {
            row.push_str(&format!(
                " {} |",
                t.phase_ms.get(*phase).map(|v| stats(v).show(0)).unwrap_or("—".into())
            ));
        }
        sec.line(row);
    }
    sec.line(PHASE_NOTE);
    for (t, goal_s) in &timings {
        let m = stats(&t.verdict).median;
        let slowest = t.phase_ms.iter().max_by(|a, b| stats(a.1).median.total_cmp(&stats(b.1).median));
        let why = slowest
            .map(|(p, v)| format!("the largest phase is {p} ({:.0} ms)", stats(v).median))
            .unwrap_or_default();
        sec.goals.push(goal(
            &format!("start → verdict, {}", t.what),
            format!("{m:.2} s"),
            &format!("≤ {goal_s} s"),
            m <= *goal_s,
            why,
        ));
    }
    sec.line(String::new());
    attach_detach(lab, runs, &mut sec)?;
    Ok(Measured { section: sec, trace_rss_kb: rss })
}

fn attach_detach(lab: &Lab, runs: usize, sec: &mut Section) -> Result<()> {
    let (mut attach, mut detach, mut load, mut probe) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let v = lab.tool(&["kernel-check", "--json"])?.json()?;
        let t = &v["timing"];
        attach.push(t["attach_ms"].as_f64().context("no timing in kernel-check")?);
        detach.push(t["detach_ms"].as_f64().unwrap_or(0.0));
        load.push(t["load_ms"].as_f64().unwrap_or(0.0));
        probe.push(t["probe_ms"].as_f64().unwrap_or(0.0));
    }
    sec.line(format!(
        "`kernel-check --json` (every tracepoint, the enrichment this kernel allows, tc on lo), ms: kernel probe (BTF) {}, object load {}, attach {}, detach {}.",
        stats(&probe).show(0),
        stats(&load).show(0),
        stats(&attach).show(0),
        stats(&detach).show(0)
    ));
    let total: Vec<f64> = attach.iter().zip(&detach).map(|(a, d)| a + d).collect();
    let m = stats(&total).median;
    sec.goals.push(goal(
        "attach + detach of all programs (kernel-check)",
        format!("{m:.0} ms"),
        "≤ 200 ms",
        m <= 200.0,
        format!("attach {:.0} ms, detach {:.0} ms", stats(&attach).median, stats(&detach).median),
    ));
    Ok(())
}
