//! What watching costs the host, beside what users would run instead. Each workload runs
//! without a break through a round, cut into windows: unobserved, under one observer,
//! unobserved, under the next, …, unobserved. An observer's ratio is its window's figure over
//! the mean of the unobserved windows on either side, so the machine's slow drift, and how a
//! workload's run happened to start (from one 3-s run of iperf3 to the next, TCP bulk ranged
//! from 5.2 to 10.9 Gbit/s here), cancel out; the noise within a run remains, and each goal
//! shows it. The observers' order turns every round.
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::Result;
use dockernet_trace_tests::Lab;
use serde_json::Value;

use super::{
    meter::host_busy_seconds,
    observer::{self, Observer},
    report::{Goal, Section, goal, median_interval, stats},
    workload::{self, Running, Workload, World},
};

/// After a workload starts: TCP's slow start, ab's first connections.
const WARM_UP: Duration = Duration::from_secs(1);
/// Before each window: an observer that has just said it is ready, or just ended, and the
/// flood just resumed, leave the window alone.
const SETTLE: Duration = Duration::from_millis(500);

/// An observer's figures in one of `Rows`' maps (none if it did not take part).
fn series<'a>(map: &'a BTreeMap<&'static str, Vec<f64>>, o: Observer) -> &'a [f64] {
    map.get(o.title()).map(Vec::as_slice).unwrap_or(&[])
}

/// One workload's rounds.
#[derive(Default)]
struct Rows {
    /// Every unobserved window's figure.
    base: Vec<f64>,
    /// Per observer: ratio of each round.
    ratio: BTreeMap<&'static str, Vec<f64>>,
    /// Per observer: ratio of each round per second of the host's CPU (see `Window`).
    per_cpu_ratio: BTreeMap<&'static str, Vec<f64>>,
    /// Per observer: CPU cores its process used during its window.
    cpu: BTreeMap<&'static str, Vec<f64>>,
    /// The flood with watch: (sent while watch was attached, counted by watch, lost events)
    /// of each round.
    flood: Vec<(u64, u64, u64)>,
    /// Peak RSS of watch (kB).
    rss: u64,
}

pub struct Measured {
    pub section: Section,
    pub watch_rss_kb: u64,
}

/// `loads`: the workloads to measure (empty: all).
pub fn run(lab: &Lab, w: &World, loads: &[Workload], quick: bool) -> Result<Measured> {
    // Nine rounds: the median's interval (see `median_interval`) is then 96 %.
    let (rounds, window) = if quick { (3, Duration::from_secs(1)) } else { (9, Duration::from_secs(2)) };
    let _tracefs = observer::TraceFs::ensure();
    let mut all: Vec<(Workload, Rows)> = Vec::new();
    for load in workload::ALL.into_iter().filter(|l| loads.is_empty() || loads.contains(l)) {
        let mut rows = Rows::default();
        let observers = observers(load);
        for round in 0..rounds {
            let n = observers.len();
            let order: Vec<Observer> = (0..n).map(|k| observers[(k + round) % n]).collect();
            let said = one_round(lab, w, load, &order, window, &mut rows)?;
            println!("bench: {} round {}/{rounds}: {said}", load.title(), round + 1);
        }
        all.push((load, rows));
    }
    let watch_rss_kb = all.iter().map(|(_, r)| r.rss).max().unwrap_or(0);
    Ok(Measured { section: render(&all, rounds, window), watch_rss_kb })
}

/// What users would run, and for the flood also the floor: a program doing nothing on
/// kfree_skb, which every dropped packet calls.
fn observers(load: Workload) -> Vec<Observer> {
    let mut all = observer::ALL.to_vec();
    if load == Workload::Flood {
        all.push(Observer::EmptyProgram);
    }
    all
}

/// The table's columns.
const COLUMNS: [Observer; 4] =
    [Observer::Watch, Observer::Tcpdump, Observer::Bpftrace, Observer::EmptyProgram];

/// One round of `load`: an unobserved window, then each observer's window followed by an
/// unobserved one. The ratios go into `rows`; returns the round's figures, in words.
fn one_round(
    lab: &Lab,
    w: &World,
    load: Workload,
    order: &[Observer],
    window: Duration,
    rows: &mut Rows,
) -> Result<String> {
    let mut running = load.start(w)?;
    std::thread::sleep(WARM_UP);
    let mut unobserved = vec![measure(load, &mut running, window, None)?];
    let mut observed = Vec::new();
    for &o in order {
        // The flood pauses while the observer attaches and detaches: what is sent in between
        // is what a watch must count.
        running.pause();
        let obs = o.start(lab)?;
        let sent_before = running.count()?;
        running.resume();
        let seen = measure(load, &mut running, window, Some(&obs))?;
        running.pause();
        let sent = running.count()? - sent_before;
        let stopped = obs.stop()?;
        running.resume();
        observed.push((o, seen));
        if let Some(s) = stopped {
            rows.rss = rows.rss.max(s.rss_kb);
            if load == Workload::Flood {
                let counted = flow_count(&s.lines, w.nacos.ip("bridge"), &w.mysql_ip);
                let lost = s.summary["lost_events"].as_u64().unwrap_or(u64::MAX);
                rows.flood.push((sent, counted, lost));
            }
        }
        unobserved.push(measure(load, &mut running, window, None)?);
    }
    running.stop()?;
    let mut said = vec![format!("none {:.2}", unobserved[0].value)];
    for (i, (o, seen)) in observed.into_iter().enumerate() {
        let (before, after) = (unobserved[i], unobserved[i + 1]);
        let around = (before.value + after.value) / 2.0;
        let around_per_cpu = (before.per_cpu + after.per_cpu) / 2.0;
        rows.ratio.entry(o.title()).or_default().push(seen.value / around);
        rows.per_cpu_ratio.entry(o.title()).or_default().push(seen.per_cpu / around_per_cpu);
        rows.cpu.entry(o.title()).or_default().push(seen.observer_cpu);
        said.push(format!("{} {:.2}, none {:.2}", o.title(), seen.value, after.value));
    }
    rows.base.extend(unobserved.iter().map(|w| w.value));
    Ok(said.join(", "))
}

/// One window's figures.
#[derive(Clone, Copy)]
struct Window {
    /// The workload's figure per second.
    value: f64,
    /// The same per second of CPU the host worked (`host_busy_seconds`): without idle time
    /// and without the time the hypervisor gave other machines.
    per_cpu: f64,
    /// The observer's own CPU (its process), in cores.
    observer_cpu: f64,
}

/// One window of a running workload, with the observer, if any, attached throughout.
fn measure(
    load: Workload,
    running: &mut Running,
    window: Duration,
    observer: Option<&observer::Running>,
) -> Result<Window> {
    std::thread::sleep(SETTLE);
    let cpu0 = observer.map(|o| o.cpu_seconds());
    let (count0, busy0, t0) = (running.count()?, host_busy_seconds()?, Instant::now());
    std::thread::sleep(window);
    let (count1, busy1, secs) = (running.count()?, host_busy_seconds()?, t0.elapsed().as_secs_f64());
    let observer_cpu = match (observer, cpu0) {
        (Some(o), Some(c0)) => (o.cpu_seconds() - c0).max(0.0) / secs,
        _ => 0.0,
    };
    running.check_alive()?;
    let count = count1.saturating_sub(count0);
    Ok(Window { value: load.figure(count, secs), per_cpu: load.figure(count, busy1 - busy0), observer_cpu })
}

/// Packets of the flow src → dst that watch reported (any reason, any place).
fn flow_count(lines: &[Value], src: &str, dst: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l["kind"] != "summary" && l["src"]["ip"] == src && l["dst"]["ip"] == dst)
        .map(|l| l["count"].as_u64().unwrap_or(0))
        .sum()
}

/// The goal of a workload's ratio: met when the median reaches the target. Its interval
/// (see `median_interval`) says whether a shortfall exceeds what this machine's noise could
/// make of a ratio that truly meets the goal.
fn ratio_goal(title: &str, rows: &Rows, target: f64) -> Goal {
    let ratios = series(&rows.ratio, Observer::Watch);
    let (r, interval) = (stats(ratios), median_interval(ratios));
    let show = |v: &[f64]| match median_interval(v) {
        Some(i) => format!(
            "{:.3} ({:.0} % interval {:.3}–{:.3})",
            stats(v).median,
            i.confidence * 100.0,
            i.low,
            i.high
        ),
        None => "—".into(),
    };
    let per_cpu = series(&rows.per_cpu_ratio, Observer::Watch);
    let measured = format!("{}; per second of the host's CPU {}", show(ratios), show(per_cpu));
    let mut cost = format!("watch costs {:.1} % of the rate", (1.0 - r.median) * 100.0);
    if let Some(floor) = rows.ratio.get(Observer::EmptyProgram.title()) {
        // What a packet took unobserved, and what watch added to it (1/rate each).
        let per_packet_ns = 1e6 / stats(&rows.base).median.max(0.001);
        let added_ns = per_packet_ns * (1.0 / r.median.max(0.001) - 1.0);
        cost.push_str(&format!(
            ": {added_ns:.0} ns more per dropped packet, which took {per_packet_ns:.0} ns unobserved; {:.1} % with a program doing nothing on kfree_skb, the least any drop counter there costs",
            (1.0 - stats(floor).median) * 100.0
        ));
    }
    let why = match interval {
        Some(i) if r.median < target && i.high >= target => {
            format!("{cost}; the interval includes the goal: within this run's noise")
        }
        Some(i) if r.median < target => {
            format!("{cost}; the whole interval is below the goal (≤ {:.3})", i.high)
        }
        _ => cost,
    };
    goal(
        &format!("{title}: rate with watch / without (median)"),
        measured,
        &format!("≥ {target}"),
        r.median >= target,
        why,
    )
}

fn render(all: &[(Workload, Rows)], rounds: usize, window: Duration) -> Section {
    let mut sec = Section::new("overhead", "Cost of watching, beside what users would run instead");
    sec.line(format!(
        "Each workload runs without a break through a round, {rounds} rounds in all; a round cuts it into windows of {:.0} s: unobserved, under one observer, unobserved, under the next, …, unobserved (each window opens {:.1} s after the observer said it was ready, or had ended; the flood pauses while an observer attaches and detaches). Ratio = an observer's figure / the mean of the unobserved windows on either side (1.00 = no cost): the machine's slow drift, and the luck of a workload's start, cancel out; the noise within a run remains (each goal's interval shows it). The observers' order turns every round. Median (min–max) over the rounds; each goal also shows the interval that holds the true median with the chance given (order statistics of the rounds: no assumption about the noise's shape). Figures from the kernel's counters in the containers' namespaces (bytes received on c2's eth0, UDP datagrams delivered to its sockets, TCP connections c1 opened) or, for the flood, the packets the sender sent. Workloads between containers of one bridge (c1 → c2, c1 → web), the flood from nacos (default bridge) to mysql (heima-net), all dropped by Docker's isolation. The observer's own CPU (its process, and the children it ran and waited for, such as watch's iptables-save and nft: user + system, during its window) in cores. For the flood, a fourth observer: a program that does nothing (two instructions the bench loads itself) on the raw tracepoint kfree_skb, the part of a drop's cost no counter on that tracepoint avoids.\n",
        window.as_secs_f64(),
        SETTLE.as_secs_f64()
    ));
    let mut head = "| workload | unobserved |".to_string();
    let mut rule = "|---|---|".to_string();
    for o in COLUMNS {
        head.push_str(&format!(" {} | CPU |", o.title()));
        rule.push_str("---|---|");
    }
    sec.line(format!("{head}\n{rule}"));
    for (load, rows) in all {
        let mut row = format!("| {} | {} {} |", load.title(), stats(&rows.base).show(2), load.unit());
        for o in COLUMNS {
            let r = stats(series(&rows.ratio, o)).show(2);
            let c = stats(series(&rows.cpu, o)).show(2);
            row.push_str(&format!(" {r} | {c} |"));
        }
        sec.line(row);
    }
    sec.line(format!(
        "\nThe same ratios per second of the host's CPU (user, system and interrupts, all cores; not idle, and not the time the hypervisor gave other machines: /proc/stat), which takes out this VM's varying share of the host while keeping what an observer adds to the work:\n\n| workload | {} |\n|---|{}",
        COLUMNS.map(Observer::title).join(" | "),
        "---|".repeat(COLUMNS.len())
    ));
    for (load, rows) in all {
        let cells: Vec<String> =
            COLUMNS.iter().map(|&o| stats(series(&rows.per_cpu_ratio, o)).show(2)).collect();
        sec.line(format!("| {} | {} |", load.title(), cells.join(" | ")));
    }
    for (load, rows) in all {
        let target = match load {
            Workload::Flood => 0.95,
            Workload::Http => 0.98,
            _ => 0.99,
        };
        sec.goals.push(ratio_goal(load.title(), rows, target));
        if *load == Workload::Flood && !rows.flood.is_empty() {
            let detail: Vec<String> =
                rows.flood.iter().map(|(s, c, l)| format!("{s} sent / {c} counted / {l} lost")).collect();
            sec.line(format!(
                "\nFlood under watch, per round (sent while it was attached: from its ready line to its stop): {}.",
                detail.join("; ")
            ));
            let lost: u64 = rows.flood.iter().map(|f| f.2).sum();
            let missing: u64 = rows.flood.iter().map(|f| f.0.saturating_sub(f.1)).sum();
            let extra: u64 = rows.flood.iter().map(|f| f.1.saturating_sub(f.0)).sum();
            sec.goals.push(goal(
                "flood: events lost by watch (all rounds)",
                lost.to_string(),
                "0",
                lost == 0,
                format!("the ring buffer overflowed {lost} times"),
            ));
            let rate = stats(&rows.base).median;
            sec.goals.push(goal(
                "flood: dropped packets counted by watch / sent",
                format!("{} missing, {extra} extra, at {rate:.0}k packets/s unobserved", missing),
                "0 missing, ≥ 150k packets/s",
                missing == 0 && extra == 0 && rate >= 150.0,
                if rate < 150.0 {
                    format!("the flood reached only {rate:.0}k packets/s on this machine")
                } else {
                    format!("{missing} sent packets not in watch's counts, {extra} more counted than sent")
                },
            ));
        }
    }
    sec
}
