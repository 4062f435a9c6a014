//! `cargo xtask bench`: the performance figures of issue 6, measured in a lab with the release
//! binary, printed and written to BENCHMARKS.md. A benchmark, never a timed test: a missed goal
//! is reported plainly, with what was measured, and does not fail the task.
//!
//! 1. TCP throughput between two containers on one bridge (iperf3 in their namespaces), with
//!    `watch` attached and without, alternating, median of the per-pair ratios (goal ≥ 0.97).
//! 2. Start to verdict of a trace, for a dropped and a healthy path (goals ≤ 2.0 s, ≤ 1.0 s):
//!    time to the verdict on stdout, and to process exit (detaching comes after the verdict).
//! 3. Attach + detach of all programs, from `kernel-check --json` (goal ≤ 200 ms).
//! 4. Events lost for a watched, dropped flow while iperf3 fills the bridge (goal 0).
//! 5. Peak RSS of the tool during a trace and during watch (goal ≤ 50 MB), measured by GNU time.
use std::{
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    sync::mpsc::{Receiver, channel},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use dockernet_trace_common::programs;
use dockernet_trace_tests::{Container, Lab, LabOptions, lab::tool_path};
use serde_json::Value;

const PAIRS: usize = 7;
const IPERF_SECONDS: &str = "5";
const TRACE_RUNS: usize = 5;
const FLOOD: u64 = 2000;

/// One line of the results table.
struct Figure {
    what: String,
    value: String,
    goal: String,
    met: bool,
    detail: String,
}

fn figure(what: &str, value: String, goal: &str, met: bool, detail: String) -> Figure {
    Figure { what: what.into(), value, goal: goal.into(), met, detail }
}

/// The containers the figures use: c1/c2 share `benchnet`; mysql (heima-net, tcp/3306) and
/// nacos (default bridge) share nothing, so nacos → mysql is dropped by isolation.
struct World {
    c1: Container,
    c2_ip: String,
    nacos: Container,
    mysql_ip: String,
}

pub fn run() -> Result<()> {
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
    println!("bench: {} in a fresh lab (this takes a few minutes)", bin.display());
    let lab = Lab::start(LabOptions::default())?;
    let w = world(&lab)?;
    let mut figures = Vec::new();
    let (tput, watch_rss) = throughput(&lab, &w)?;
    figures.push(tput);
    let (drop_fig, ok_fig, trace_rss) = trace_times(&lab)?;
    figures.extend([drop_fig, ok_fig]);
    figures.push(attach_detach(&lab)?);
    let (lost, flood_rss) = lost_events(&lab, &w)?;
    figures.push(lost);
    let rss = trace_rss.max(watch_rss.max(flood_rss));
    figures.push(figure(
        "peak RSS (trace / watch)",
        format!("{:.1} MB / {:.1} MB", mb(trace_rss), mb(watch_rss.max(flood_rss))),
        "≤ 50 MB",
        mb(rss) <= 50.0,
        "GNU time's %M: the peak of the tool's process and of the children it ran (iptables-save, nft), without the xtask's own memory".into(),
    ));
    lab.down();
    let report = render(&figures);
    print!("\n{report}");
    std::fs::write(super::root().join("BENCHMARKS.md"), &report).context("writing BENCHMARKS.md")?;
    println!("bench: written to BENCHMARKS.md");
    Ok(())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn world(lab: &Lab) -> Result<World> {
    lab.create_network("benchnet", &["--subnet", "172.28.0.0/16"])?;
    lab.create_network("heima-net", &["--subnet", "172.18.0.0/16"])?;
    let c1 = lab.run("c1", &["--network", "benchnet"], &[])?;
    let c2 = lab.run("c2", &["--network", "benchnet"], &[])?;
    let mysql = lab.server("mysql", 3306, &["--network", "heima-net"])?;
    let nacos = lab.run("nacos", &[], &[])?;
    lab.spawn_in(&c2.netns_path(), &["iperf3", "-s", "-p", "5201"])?;
    Ok(World { c1, c2_ip: c2.ip("benchnet").to_string(), nacos, mysql_ip: mysql.ip("heima-net").to_string() })
}

/// The tool in the lab's namespace, as `Lab::tool` runs it, under GNU time in a process group
/// of its own. `time` forks the tool from a process of about a megabyte, so the peak RSS it
/// reports is the tool's own: wait4 on a child the xtask spawned itself would include the
/// xtask's high-water mark, which the kernel carries over an exec.
struct ToolCommand {
    cmd: Command,
    rss_file: PathBuf,
}

fn tool(lab: &Lab, args: &[&str]) -> ToolCommand {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let rss_file = std::env::temp_dir().join(format!("dnt-bench-rss.{}.{n}", std::process::id()));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg("nsenter")
        .arg(format!("--net={}", lab.netns_path()))
        .arg(tool_path())
        .args(args)
        .env("DOCKER_HOST", lab.docker_host())
        .env("NO_COLOR", "1")
        .process_group(0);
    ToolCommand { cmd, rss_file }
}

/// A started tool: its `time` process (also its process group) and where the figure goes.
struct ToolChild {
    child: Child,
    rss_file: PathBuf,
}

impl ToolCommand {
    fn spawn(mut self, stdout: Stdio, stderr: Stdio) -> Result<ToolChild> {
        let child = self.cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr).spawn()?;
        Ok(ToolChild { child, rss_file: self.rss_file })
    }
}

impl ToolChild {
    /// SIGINT to the tool (`time` ignores it while it waits).
    fn interrupt(&self) {
        // SAFETY: kill(2) on the process group of our own child, which is not reaped yet.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGINT) };
    }

    /// Waits for the tool; its exit code and peak RSS (kB).
    fn wait(mut self) -> Result<(i32, u64)> {
        let status = self.child.wait()?;
        let text = std::fs::read_to_string(&self.rss_file).context("GNU time wrote no figure")?;
        let _ = std::fs::remove_file(&self.rss_file);
        // "Command exited with non-zero status 1" may come first; the figure is the last line.
        let rss = text.lines().last().and_then(|l| l.trim().parse().ok());
        let rss = rss.with_context(|| format!("GNU time wrote {text:?}"))?;
        Ok((status.code().unwrap_or(-1), rss))
    }
}

/// Lines of a child's pipe, as they come.
fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `watch --json` that has attached (its ready line came).
struct Watch {
    tool: ToolChild,
    stdout: Receiver<String>,
}

fn start_watch(lab: &Lab) -> Result<Watch> {
    let mut tool = tool(lab, &["watch", "--json"]).spawn(Stdio::piped(), Stdio::piped())?;
    let stdout = lines(tool.child.stdout.take().context("stdout")?);
    let stderr = lines(tool.child.stderr.take().context("stderr")?);
    loop {
        let l = stderr.recv_timeout(Duration::from_secs(60)).context("watch never said it was watching")?;
        if l.contains("dockernet-trace: watching") {
            break;
        }
    }
    std::thread::spawn(move || stderr.iter().for_each(drop));
    Ok(Watch { tool, stdout })
}

/// SIGINT, then the summary line and the peak RSS.
fn stop_watch(w: Watch) -> Result<(Value, Vec<Value>, u64)> {
    w.tool.interrupt();
    let (code, rss) = w.tool.wait()?;
    let all: Vec<Value> = w.stdout.iter().filter_map(|l| serde_json::from_str(&l).ok()).collect();
    let summary =
        all.last().filter(|s| s["kind"] == "summary").cloned().context("watch printed no summary")?;
    anyhow::ensure!(code == 0, "watch exited with {code}");
    Ok((summary, all, rss))
}

/// iperf3 from c1 to c2 for IPERF_SECONDS; received Gbit/s.
fn iperf(lab: &Lab, w: &World) -> Result<f64> {
    let ns = format!("--net={}", w.c1.netns_path());
    let mut last = String::new();
    for _ in 0..50 {
        match lab.host(&["nsenter", &ns, "iperf3", "-c", &w.c2_ip, "-p", "5201", "-t", IPERF_SECONDS, "-J"]) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out)?;
                if let Some(bps) = v["end"]["sum_received"]["bits_per_second"].as_f64() {
                    return Ok(bps / 1e9);
                }
                // e.g. "the server is busy running a test" while the last run winds down.
                last = v["error"].as_str().unwrap_or("no sum_received in its JSON").to_string();
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200)); // the server may still be starting
    }
    bail!("iperf3 from c1 to {} never ran: {last}", w.c2_ip)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn throughput(lab: &Lab, w: &World) -> Result<(Figure, u64)> {
    let (mut ratios, mut rows, mut rss) = (Vec::new(), Vec::new(), 0);
    let _stats = BpfStats::enable();
    let (mut run_ns, mut runs, mut watched) = (0u64, 0u64, Duration::ZERO);
    for pair in 0..PAIRS {
        let (mut off, mut on) = (0.0, 0.0);
        // ABBA order, so a drift of the machine over time does not favour one side.
        for watching in if pair % 2 == 0 { [false, true] } else { [true, false] } {
            if watching {
                let watch = start_watch(lab)?;
                let t = Instant::now();
                on = iperf(lab, w)?;
                watched += t.elapsed();
                let (ns, n) = program_runtime();
                (run_ns, runs) = (run_ns + ns, runs + n);
                rss = rss.max(stop_watch(watch)?.2);
            } else {
                off = iperf(lab, w)?;
            }
        }
        println!("bench: throughput pair {}: {off:.2} Gbit/s without watch, {on:.2} with", pair + 1);
        ratios.push(on / off);
        rows.push(format!("{off:.2}/{on:.2}"));
    }
    let m = median(ratios.clone());
    // What the ratio cannot resolve on a noisy VM: the CPU time the kernel programs took.
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let share = run_ns as f64 / (watched.as_nanos() as f64 * cpus) * 100.0;
    let detail = format!(
        "{PAIRS} pairs of {IPERF_SECONDS} s iperf3 runs c1 → c2 on one bridge, Gbit/s without/with: {}; ratios {}; while watching, the watch's kernel programs ran {runs} times for {:.1} ms of CPU in all ({:.0} ns a run), {share:.3} % of the machine's CPU time",
        rows.join(", "),
        ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", "),
        run_ns as f64 / 1e6,
        if runs == 0 { 0.0 } else { run_ns as f64 / runs as f64 },
    );
    Ok((
        figure(
            "TCP throughput with watch / without (median)",
            format!("{m:.3}"),
            "≥ 0.97",
            m >= 0.97,
            detail,
        ),
        rss,
    ))
}

/// kernel.bpf_stats_enabled on while it lives (the kernel then times every program run), put
/// back as it was afterwards.
struct BpfStats(Option<String>);

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> Self {
        let before = std::fs::read_to_string(BPF_STATS).ok();
        let _ = std::fs::write(BPF_STATS, "1");
        Self(before)
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Some(v) = &self.0 {
            let _ = std::fs::write(BPF_STATS, v.trim());
        }
    }
}

/// Programs of dockernet-trace's object that `watch` attaches, by the names bpftool shows
/// (bpftool here cannot tell which process holds a program; nothing else on the benchmark
/// machine loads programs of these names).
const WATCH_PROGRAMS: &[&str] = &[
    programs::KFREE_SKB,
    programs::ICMP_SEND,
    programs::TCP_SEND_RESET,
    programs::TCP_RESET_RSN,
    programs::FIB_TABLE_LOOKUP,
    programs::NEIGH_UPDATE,
];

/// Run time (ns) and run count of the watch's programs, from bpftool.
fn program_runtime() -> (u64, u64) {
    let Ok(out) = Command::new("bpftool").args(["prog", "show", "--json"]).output() else { return (0, 0) };
    let progs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    progs
        .iter()
        .filter(|p| p["name"].as_str().is_some_and(|n| WATCH_PROGRAMS.contains(&n)))
        .fold((0, 0), |(ns, n), p| {
            (ns + p["run_time_ns"].as_u64().unwrap_or(0), n + p["run_cnt"].as_u64().unwrap_or(0))
        })
}

/// One trace: seconds to the verdict on stdout, seconds to exit, exit code, peak RSS.
fn timed_trace(lab: &Lab, args: &[&str]) -> Result<(f64, f64, i32, u64)> {
    let start = Instant::now();
    let mut tool = tool(lab, args).spawn(Stdio::piped(), Stdio::null())?;
    let mut out = tool.child.stdout.take().context("stdout")?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut first = [0u8; 1];
        let got = out.read(&mut first).unwrap_or(0);
        let _ = tx.send(Instant::now());
        if got > 0 {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        }
    });
    let (code, rss) = tool.wait()?;
    let exited = start.elapsed().as_secs_f64();
    let verdict = rx.recv().map(|t| t.duration_since(start).as_secs_f64()).unwrap_or(exited);
    Ok((verdict, exited, code, rss))
}

fn trace_times(lab: &Lab) -> Result<(Figure, Figure, u64)> {
    let mut rss = 0;
    let mut one = |what: &str, args: &[&str], want: i32, goal: f64| -> Result<Figure> {
        let (mut verdicts, mut exits) = (Vec::new(), Vec::new());
        for _ in 0..TRACE_RUNS {
            let (v, e, code, r) = timed_trace(lab, args)?;
            anyhow::ensure!(
                code == want,
                "`dockernet-trace {}` exited {code}, expected {want}",
                args.join(" ")
            );
            verdicts.push(v);
            exits.push(e);
            rss = rss.max(r);
        }
        let (mv, me) = (median(verdicts.clone()), median(exits.clone()));
        let worst = verdicts.iter().copied().fold(0.0, f64::max);
        println!("bench: {what}: verdict after {mv:.2} s, exit after {me:.2} s (median of {TRACE_RUNS})");
        Ok(figure(
            &format!("start → verdict, {what}"),
            format!("{mv:.2} s (exit {me:.2} s)"),
            &format!("≤ {goal:.1} s"),
            mv <= goal,
            format!(
                "`dockernet-trace {}`, median of {TRACE_RUNS} runs, slowest verdict {worst:.2} s; includes reading Docker, BTF, loading and attaching every program",
                args.join(" ")
            ),
        ))
    };
    let dropped = one("dropped path", &["--from", "nacos", "--to", "mysql:3306", "--json"], 1, 2.0)?;
    let healthy = one("healthy path", &["--from", "host", "--to", "mysql:3306", "--json"], 0, 1.0)?;
    Ok((dropped, healthy, rss))
}

fn attach_detach(lab: &Lab) -> Result<Figure> {
    let (mut totals, mut parts) = (Vec::new(), Vec::new());
    for _ in 0..TRACE_RUNS {
        let out = lab.tool(&["kernel-check", "--json"])?;
        let v = out.json()?;
        let t = &v["timing"];
        let (a, d) = (
            t["attach_ms"].as_f64().context("no timing in kernel-check")?,
            t["detach_ms"].as_f64().unwrap_or(0.0),
        );
        let (l, p) = (t["load_ms"].as_f64().unwrap_or(0.0), t["probe_ms"].as_f64().unwrap_or(0.0));
        totals.push(a + d);
        parts.push(format!("{a:.0}+{d:.0}"));
        if parts.len() == 1 {
            println!(
                "bench: kernel-check: probe {p:.0} ms, load {l:.0} ms, attach {a:.0} ms, detach {d:.0} ms"
            );
        }
    }
    let m = median(totals);
    Ok(figure(
        "attach + detach of all programs",
        format!("{m:.0} ms"),
        "≤ 200 ms",
        m <= 200.0,
        format!(
            "`kernel-check --json` timing (tracepoints, enrichment, tc on lo), attach+detach ms per run: {}; BTF parsing and object load are not included",
            parts.join(", ")
        ),
    ))
}

fn lost_events(lab: &Lab, w: &World) -> Result<(Figure, u64)> {
    let watch = start_watch(lab)?;
    let ns = format!("--net={}", w.c1.netns_path());
    let mut bulk = lab
        .command("nsenter")
        .args([&ns, "iperf3", "-c", &w.c2_ip, "-p", "5201", "-t", "8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    // The watched flow: nacos pings mysql, which it shares no network with, every 2 ms.
    let out = lab
        .exec(&w.nacos.name, &["ping", "-q", "-i", "0.002", "-W", "1", "-c", &FLOOD.to_string(), &w.mysql_ip])
        .unwrap_or_else(|e| e.to_string());
    let sent: u64 = out
        .lines()
        .find_map(|l| {
            l.split(" packets transmitted")
                .next()
                .filter(|_| l.contains("transmitted"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(FLOOD);
    let _ = bulk.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let (summary, lines, rss) = stop_watch(watch)?;
    let nacos_ip = w.nacos.ip("bridge");
    let reported: u64 = lines
        .iter()
        .filter(|l| {
            l["kind"] == "drop" && l["src"]["ip"] == nacos_ip && l["dst"]["ip"] == w.mysql_ip.as_str()
        })
        .map(|l| l["count"].as_u64().unwrap_or(0))
        .sum();
    let kernel_lost = summary["lost_events"].as_u64().unwrap_or(0);
    let missing = sent.saturating_sub(reported);
    println!("bench: flood under load: {sent} sent, {reported} reported, {kernel_lost} lost in the kernel");
    Ok((
        figure(
            "events lost for a watched flow under full load",
            format!("{}", missing.max(kernel_lost)),
            "0",
            missing == 0 && kernel_lost == 0,
            format!(
                "nacos → mysql ICMP every 2 ms ({sent} sent, all dropped by isolation) while iperf3 fills benchnet; {reported} reported by watch, lost_events {kernel_lost}"
            ),
        ),
        rss,
    ))
}

fn render(figures: &[Figure]) -> String {
    let mut s =
        String::from("# Benchmarks\n\nReproduce (as root, on the build machine): `cargo xtask bench`\n\n");
    s.push_str("Measured in an isolated lab (own network namespace and dockerd) with the release binary, on a 2-core x86_64 VM.\n\n");
    s.push_str("| figure | measured | goal | met |\n|---|---|---|---|\n");
    for f in figures {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            f.what,
            f.value,
            f.goal,
            if f.met { "yes" } else { "**no**" }
        ));
    }
    s.push_str("\n## How each was measured\n\n");
    for f in figures {
        s.push_str(&format!("- **{}**: {}\n", f.what, f.detail));
    }
    let missed: Vec<&Figure> = figures.iter().filter(|f| !f.met).collect();
    if !missed.is_empty() {
        s.push_str("\n## Goals missed\n\n");
        for f in missed {
            s.push_str(&format!("- {}: measured {}, goal {}.\n", f.what, f.value, f.goal));
        }
    }
    s
}
