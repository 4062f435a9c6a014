//! The kernel programs' own cost per run (bpf_stats), for packets that are not the tool's
//! business, and for dropped packets a watch counts.
use std::{collections::BTreeMap, process::Stdio, time::Duration};

use anyhow::Result;
use dockernet_trace_tests::Lab;

use super::{
    bpfstats::{self, BpfStats, Runs},
    report::{Section, goal, stats},
    tool,
    workload::{Workload, World},
};

/// Runs with fewer than this many program runs say nothing about a per-run cost.
const MIN_RUNS: u64 = 1000;
const TARGET_NS: f64 = 200.0;

/// One measured situation: per program, ns per run of each repeat.
struct Scenario {
    title: String,
    out_of_scope: bool,
    per_prog: BTreeMap<String, Vec<(f64, u64)>>,
    /// The flood a watch counts: per repeat, the kfree_skb program's share of the time each
    /// dropped packet took (see `drop_share`).
    share: Vec<f64>,
}

impl Scenario {
    fn new(title: &str, out_of_scope: bool) -> Self {
        Self { title: title.into(), out_of_scope, per_prog: BTreeMap::new(), share: Vec::new() }
    }

    fn add(&mut self, runs: BTreeMap<String, Runs>) {
        for (name, r) in runs.into_iter().filter(|(_, r)| r.count > 0) {
            self.per_prog.entry(name).or_default().push((r.per_run(), r.count));
        }
    }
}

/// A watch with `args`, the workload, and the watch's programs' runs during it, with the
/// workload's rate.
fn watch_during(
    lab: &Lab,
    w: &World,
    args: &[&str],
    load: Workload,
    secs: u64,
) -> Result<(BTreeMap<String, Runs>, f64)> {
    let watch = tool::start_watch(lab, args)?;
    let pid = watch.tool.tool_pid().unwrap_or(0);
    let before = bpfstats::of_process(pid);
    let rate = load.run(w, secs)?;
    let after = bpfstats::of_process(pid);
    let names = bpfstats::names();
    tool::stop_watch(watch)?;
    Ok((bpfstats::by_name(&before, &after, &names), rate))
}

/// The share of a dropped packet's time that watch's kfree_skb program took: its run time per
/// packet (one run for each) over the time the sender took per packet, both measured with the
/// program attached. Unlike the overhead section's ratios, it does not depend on how fast this
/// machine happened to run during one window or the next: a slower minute slows the packet
/// and the program alike. It leaves out what the kernel spends calling the program and the
/// caches it disturbs (the overhead section measures those), and includes bpf_stats' own
/// timing of each run.
fn drop_share(runs: &BTreeMap<String, Runs>, packets_per_s: f64) -> Option<f64> {
    let r = runs.get(dockernet_trace_common::programs::KFREE_SKB)?;
    (r.count > 0 && packets_per_s > 0.0).then(|| r.per_run() * packets_per_s / 1e9)
}

/// A trace whose probes (UDP to a closed port of c2) share addresses with the 64-byte UDP
/// workload from c1 to c2's iperf3 server: every packet on its interfaces but the probe's is
/// "not ours" only by its ports, the last thing the filter looks at.
fn trace_during_udp(lab: &Lab, w: &World) -> Result<BTreeMap<String, Runs>> {
    let c2_target = format!("{}:7777", w.c2_ip);
    let args = ["--from", "c1", "--to", &c2_target, "--proto", "udp", "--count", "20", "--json"];
    // The background traffic, flowing before the trace starts and until it has ended.
    let bg = Workload::Udp.start(w)?;
    let mut trace = tool::tool(lab, &args).spawn(Stdio::null(), Stdio::null())?;
    // Sampled while it runs (its programs go with it); the last sample counts.
    let (mut last, mut names) = (BTreeMap::new(), BTreeMap::new());
    while trace.child.try_wait()?.is_none() {
        if let Some(pid) = trace.tool_pid() {
            let now = bpfstats::of_process(pid);
            if now.keys().any(|id| !names.contains_key(id)) {
                names = bpfstats::names();
            }
            if !now.is_empty() {
                last = now;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    trace.wait()?;
    bg.stop()?;
    Ok(bpfstats::by_name(&BTreeMap::new(), &last, &names))
}

pub fn run(lab: &Lab, w: &World, quick: bool) -> Result<Section> {
    let _stats = BpfStats::enable();
    let (repeats, secs) = if quick { (1, 2) } else { (3, 3) };
    let mut scenarios = vec![
        Scenario::new("watch --network heima-net, TCP bulk on benchnet (drops of TCP housekeeping)", true),
        Scenario::new("watch --network heima-net, 64-byte UDP on benchnet", true),
        Scenario::new("watch --network heima-net, HTTP connections on benchnet", true),
        Scenario::new("watch --network benchnet, isolation flood nacos → mysql (dropped, not watched)", true),
        Scenario::new(
            "trace c1 → c2:7777/udp, 64-byte UDP c1 → c2 (iperf3) beside it (tc + tracepoints)",
            true,
        ),
        Scenario::new("watch (everything), isolation flood nacos → mysql: every drop counted", false),
    ];
    for r in 0..repeats {
        println!("bench: cost round {}/{repeats}", r + 1);
        let heima = ["--network", "heima-net"];
        scenarios[0].add(watch_during(lab, w, &heima, Workload::Tcp, secs)?.0);
        scenarios[1].add(watch_during(lab, w, &heima, Workload::Udp, secs)?.0);
        scenarios[2].add(watch_during(lab, w, &heima, Workload::Http, secs)?.0);
        scenarios[3].add(watch_during(lab, w, &["--network", "benchnet"], Workload::Flood, secs)?.0);
        scenarios[4].add(trace_during_udp(lab, w)?);
        let (runs, rate) = watch_during(lab, w, &[], Workload::Flood, secs)?;
        scenarios[5].share.extend(drop_share(&runs, rate));
        scenarios[5].add(runs);
    }
    Ok(render(&scenarios, repeats))
}

fn render(scenarios: &[Scenario], repeats: usize) -> Section {
    let mut sec = Section::new("cost", "Kernel programs' cost per run (bpf_stats)");
    sec.line(format!(
        "`sysctl kernel.bpf_stats_enabled=1` while the tool runs (restored after); run_time_ns / run_cnt of each of the tool's programs, read from /proc/PID/fdinfo of the tool's own program fds, over the workload; median (min–max) of {repeats} repeat(s), with the runs of one repeat. Programs with fewer than {MIN_RUNS} runs are listed but not judged.\n"
    ));
    sec.line("| situation | program | ns per run | runs |\n|---|---|---|---|");
    let mut worst: Option<(f64, String)> = None;
    for s in scenarios {
        for (prog, v) in &s.per_prog {
            let st = stats(&v.iter().map(|x| x.0).collect::<Vec<_>>());
            let runs = v.iter().map(|x| x.1).max().unwrap_or(0);
            sec.line(format!("| {} | {prog} | {} | {runs} |", s.title, st.show(0)));
            if s.out_of_scope && runs >= MIN_RUNS && worst.as_ref().is_none_or(|w| st.median > w.0) {
                worst = Some((st.median, format!("{prog} in \"{}\"", s.title)));
            }
        }
    }
    for s in scenarios.iter().filter(|s| !s.share.is_empty()) {
        let st = stats(&s.share.iter().map(|x| x * 100.0).collect::<Vec<_>>());
        sec.line(format!(
            "\nIn \"{}\", the kfree_skb program took {} % of each dropped packet's time (its run time per packet over the time the sender took per packet, with the program attached; median (min–max) of {} repeat(s)). Unlike a ratio of two windows' rates, this does not move with the machine's speed from one window to the next. It leaves out the kernel's call of the program and the caches the program disturbs, and includes bpf_stats' own timing: the program alone would allow a rate ratio of about {:.3}.",
            s.title,
            st.show(1),
            s.share.len(),
            1.0 - st.median / 100.0
        ));
    }
    let (ns, which) = worst.unwrap_or((0.0, "no program ran often enough".into()));
    sec.goals.push(goal(
        "slowest program, packets outside the watched scope / not the probe (median ns per run)",
        format!("{ns:.0} ns ({which})"),
        "≤ 200 ns",
        ns <= TARGET_NS,
        format!("{which} takes {ns:.0} ns a run"),
    ));
    sec
}
