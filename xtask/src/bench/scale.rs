//! The control plane at scale: `doctor`, a dropped-path trace and the start of `watch`, with 5,
//! 50 and 150 containers over 2, 10 and 30 networks, and 100, 2k and 10k extra iptables rules
//! (a chain DOCKER-USER jumps to, of rules that match nothing here). A lab of its own, grown
//! level by level.
use std::{io::Write, process::Stdio, time::Instant};

use anyhow::{Context, Result};
use dockernet_trace_tests::{Lab, LabOptions};

use super::{
    report::{Section, goal, stats},
    tool,
};

/// (containers, networks) in all, the default bridge counted.
const LEVELS: &[(usize, usize)] = &[(5, 2), (50, 10), (150, 30)];
const RULES: &[usize] = &[100, 2_000, 10_000];
const CHAIN: &str = "BENCH-EXTRA";

struct Row {
    containers: usize,
    networks: usize,
    rules: usize,
    doctor: Vec<f64>,
    trace: Vec<f64>,
    watch: Vec<f64>,
    /// A container started while watching: seconds from `docker run` to watch's note that it
    /// watches it, and watch's CPU seconds meanwhile.
    late: Vec<f64>,
    late_cpu: Vec<f64>,
    /// Peak RSS (kB) of doctor, trace, watch.
    rss: [u64; 3],
}

pub fn run(quick: bool) -> Result<Section> {
    let lab = Lab::start(LabOptions::default())?;
    let (levels, rules, runs) = if quick { (&LEVELS[..2], RULES, 1) } else { (LEVELS, RULES, 3) };
    let mut rows = Vec::new();
    let (mut have_nets, mut have_ctrs) = (1, 0);
    for &(containers, networks) in levels {
        while have_nets < networks {
            let n = have_nets;
            lab.create_network(&format!("scale{n}"), &["--subnet", &format!("10.210.{n}.0/24")])?;
            have_nets += 1;
        }
        grow(&lab, have_ctrs, containers, networks)?;
        have_ctrs = containers;
        for &n in rules {
            extra_rules(&lab, n)?;
            println!("bench: scale {containers} containers, {networks} networks, {n} extra rules");
            let mut row = Row {
                containers,
                networks,
                rules: n,
                doctor: vec![],
                trace: vec![],
                watch: vec![],
                late: vec![],
                late_cpu: vec![],
                rss: [0; 3],
            };
            for _ in 0..runs {
                measure(&lab, &mut row)?;
            }
            rows.push(row);
        }
    }
    lab.down();
    Ok(render(&rows, runs))
}

/// Container `i` and the network it is on (round robin; network 0 is the default bridge).
fn placement(i: usize, networks: usize) -> (String, String) {
    let net = i % networks;
    (format!("sc{i}"), if net == 0 { "bridge".into() } else { format!("scale{net}") })
}

/// Starts containers `from..to`, four at a time.
fn grow(lab: &Lab, from: usize, to: usize, networks: usize) -> Result<()> {
    let todo: Vec<usize> = (from..to).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = todo
            .chunks(todo.len().div_ceil(4).max(1))
            .map(|chunk| {
                s.spawn(move || -> Result<()> {
                    for &i in chunk {
                        let (name, net) = placement(i, networks);
                        lab.run(&name, &["--network", &net], &[])?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a starter panicked"))?)
    })
}

/// Exactly `n` rules in CHAIN, which DOCKER-USER jumps to.
fn extra_rules(lab: &Lab, n: usize) -> Result<()> {
    let mut text = String::from("*filter\n");
    text.push_str(&format!(":{CHAIN} - [0:0]\n"));
    if lab.host(&["iptables", "-C", "DOCKER-USER", "-j", CHAIN]).is_err() {
        text.push_str(&format!("-I DOCKER-USER -j {CHAIN}\n"));
    }
    // Sources in 198.18.0.0/15 (benchmarking addresses): nothing in the lab matches.
    for i in 0..n {
        text.push_str(&format!(
            "-A {CHAIN} -s 198.18.{}.{}/32 -p tcp --dport {} -j DROP\n",
            i / 250,
            i % 250 + 1,
            1000 + i % 5000
        ));
    }
    text.push_str("COMMIT\n");
    // A chain declared in the input is flushed by iptables-restore, even with --noflush.
    let mut child = lab.command("iptables-restore").arg("--noflush").stdin(Stdio::piped()).spawn()?;
    child.stdin.take().context("stdin")?.write_all(text.as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "iptables-restore of {n} rules failed");
    Ok(())
}

fn measure(lab: &Lab, row: &mut Row) -> Result<()> {
    let t = Instant::now();
    let (_, rss) = tool::tool(lab, &["doctor", "--json"]).spawn(Stdio::null(), Stdio::null())?.wait()?;
    row.doctor.push(t.elapsed().as_secs_f64());
    row.rss[0] = row.rss[0].max(rss);
    // sc0 (default bridge) → sc1 (scale1): dropped by isolation.
    let r = tool::timed_trace(lab, &["--from", "sc0", "--to", "sc1:80", "--json"], false)?;
    anyhow::ensure!(r.code == 1, "the isolated trace exited {}: {}", r.code, r.stderr);
    row.trace.push(r.verdict_s);
    row.rss[1] = row.rss[1].max(r.rss_kb);
    let w = tool::start_watch(lab, &[])?;
    row.watch.push(w.ready_after.as_secs_f64());
    let (late, cpu) = container_started_while_watching(lab, &w)?;
    row.late.push(late);
    row.late_cpu.push(cpu);
    let stopped = tool::stop_watch(w)?;
    row.rss[2] = row.rss[2].max(stopped.rss_kb);
    Ok(())
}

/// Starts a container while `w` watches (then removes it): seconds from `docker run` to the
/// watch's note, and the watch's CPU seconds meanwhile.
fn container_started_while_watching(lab: &Lab, w: &tool::Watch) -> Result<(f64, f64)> {
    static LATE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("sclate{}", LATE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let pid = w.tool.tool_pid().context("the watch's pid")?;
    let (cpu0, t) = (tool::cpu_seconds(pid), Instant::now());
    lab.run(&name, &["--network", "bridge"], &[])?;
    let wanted = format!("now watching container {name}");
    let deadline = t + std::time::Duration::from_secs(30);
    loop {
        let l = w.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        if l.with_context(|| format!("watch never said: {wanted}"))?.contains(&wanted) {
            break;
        }
    }
    let (seconds, cpu) = (t.elapsed().as_secs_f64(), tool::cpu_seconds(pid) - cpu0);
    lab.docker(&["rm", "-f", &name])?;
    Ok((seconds, cpu))
}

fn render(rows: &[Row], runs: usize) -> Section {
    let mut sec = Section::new("scale", "Control plane at scale");
    sec.line(format!(
        "A lab of its own: containers (busybox, sleeping) spread round robin over the default bridge and `docker network create` networks; extra rules in a chain DOCKER-USER jumps to (`-s 198.18.x.y/32 -p tcp --dport N -j DROP`, matching nothing). Seconds: `doctor --json` to exit; a trace sc0 → sc1:80 (dropped by isolation) to its verdict; `watch` to its ready line; then a container started while it watches: seconds from `docker run` to watch's note `now watching container NAME` (Docker's own start of the container included), and watch's CPU (user + system, in ticks of 10 ms) meanwhile, in milliseconds: Docker's events name the container, and only it, the networks and the host's links are read again (reading everything again, as before, took 70–80 ms at 150 containers and 20–30 ms at 50). {runs} run(s) each, median (min–max); peak RSS (GNU time) in MB. Rules are read once per iptables backend, and nft lists only its own tables (`nft -j list chains`, then each table iptables-nft did not make).\n"
    ));
    sec.line("| containers | networks | extra rules | doctor s | trace verdict s | watch start s | container started while watching: s / watch CPU ms | RSS doctor / trace / watch MB |");
    sec.line("|---|---|---|---|---|---|---|---|");
    let mb = |kb: u64| kb as f64 / 1024.0;
    for r in rows {
        sec.line(format!(
            "| {} | {} | {} | {} | {} | {} | {} / {} | {:.0} / {:.0} / {:.0} |",
            r.containers,
            r.networks,
            r.rules,
            stats(&r.doctor).show(2),
            stats(&r.trace).show(2),
            stats(&r.watch).show(2),
            stats(&r.late).show(2),
            stats(&r.late_cpu.iter().map(|s| s * 1000.0).collect::<Vec<_>>()).show(0),
            mb(r.rss[0]),
            mb(r.rss[1]),
            mb(r.rss[2])
        ));
    }
    if let Some(top) = rows.iter().filter(|r| r.rules == 10_000).max_by_key(|r| r.containers) {
        let at = format!("{} containers, {} networks, 10k rules", top.containers, top.networks);
        let d = stats(&top.doctor).median;
        sec.goals.push(goal(
            &format!("doctor at {at}"),
            format!("{d:.2} s"),
            "≤ 0.3 s",
            d <= 0.3,
            format!("doctor takes {d:.2} s"),
        ));
        let t = stats(&top.trace).median;
        sec.goals.push(goal(
            &format!("dropped-path verdict at {at}"),
            format!("{t:.2} s"),
            "≤ 0.6 s",
            t <= 0.6,
            format!("{t:.2} s; the verdict section shows what a trace's time is spent on"),
        ));
        let worst = top.rss.iter().copied().max().unwrap_or(0);
        sec.goals.push(goal(
            &format!("peak RSS of doctor, trace, watch at {at}"),
            format!("{:.0} / {:.0} / {:.0} MB", mb(top.rss[0]), mb(top.rss[1]), mb(top.rss[2])),
            "≤ 40 MB each",
            mb(worst) <= 40.0,
            format!("the largest is {:.0} MB", mb(worst)),
        ));
    }
    sec
}
