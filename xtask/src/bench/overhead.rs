//! What watching costs the host, beside what users would run instead: each workload without
//! any observer and with each observer, in rounds (the order turns every round, so a drift of
//! the machine favours no one), ratio observed / unobserved within a round.
use std::collections::BTreeMap;

use anyhow::Result;
use dockernet_trace_tests::Lab;
use serde_json::Value;

use super::{
    observer::{self, Observer},
    report::{Goal, Section, goal, median_interval, stats},
    workload::{self, Workload, World},
};

/// One workload's rounds.
#[derive(Default)]
struct Rows {
    /// Unobserved figure of each round.
    base: Vec<f64>,
    /// Per observer: ratio of each round.
    ratio: BTreeMap<&'static str, Vec<f64>>,
    /// Per observer: CPU cores its process used.
    cpu: BTreeMap<&'static str, Vec<f64>>,
    /// The flood with watch: (sent, counted by watch, lost events) of each round.
    flood: Vec<(u64, u64, u64)>,
    /// Peak RSS of watch (kB).
    rss: u64,
}

fn key(o: Option<Observer>) -> &'static str {
    o.map(Observer::title).unwrap_or("none")
}

pub struct Measured {
    pub section: Section,
    pub watch_rss_kb: u64,
}

pub fn run(lab: &Lab, w: &World, quick: bool) -> Result<Measured> {
    // Nine rounds: the median of five moved by ±5 % from run to run on this noisy VM.
    let (rounds, secs) = if quick { (3, 2) } else { (9, 3) };
    let _tracefs = observer::TraceFs::ensure();
    let mut all: Vec<(Workload, Rows)> = Vec::new();
    for load in workload::ALL {
        let mut rows = Rows::default();
        let order: Vec<Option<Observer>> =
            std::iter::once(None).chain(observer::ALL.iter().copied().map(Some)).collect();
        for round in 0..rounds {
            let mut values: BTreeMap<&'static str, f64> = BTreeMap::new();
            for k in 0..order.len() {
                let who = order[(k + round) % order.len()];
                let v = one(lab, w, load, who, secs, &mut rows)?;
                values.insert(key(who), v);
            }
            let base = values["none"];
            rows.base.push(base);
            for o in observer::ALL {
                rows.ratio.entry(o.title()).or_default().push(values[o.title()] / base);
            }
            println!(
                "bench: {} round {}/{rounds}: {}",
                load.title(),
                round + 1,
                values.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join(", ")
            );
        }
        all.push((load, rows));
    }
    let watch_rss_kb = all.iter().map(|(_, r)| r.rss).max().unwrap_or(0);
    Ok(Measured { section: render(&all, rounds, secs), watch_rss_kb })
}

/// One run of `load` under `who`; its figure.
fn one(
    lab: &Lab,
    w: &World,
    load: Workload,
    who: Option<Observer>,
    secs: u64,
    rows: &mut Rows,
) -> Result<f64> {
    let Some(o) = who else { return Ok(load.run(lab, w, secs)?.value) };
    let mut running = o.start(lab)?;
    running.mark();
    let outcome = load.run(lab, w, secs)?;
    let seen = running.stop()?;
    rows.cpu.entry(o.title()).or_default().push(seen.cpu_cores);
    if let Some(stopped) = seen.watch {
        rows.rss = rows.rss.max(stopped.rss_kb);
        if let Some(sent) = outcome.sent {
            let counted = flow_count(&stopped.lines, w.nacos.ip("bridge"), &w.mysql_ip);
            let lost = stopped.summary["lost_events"].as_u64().unwrap_or(u64::MAX);
            rows.flood.push((sent, counted, lost));
        }
    }
    Ok(outcome.value)
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
    let ratios = rows.ratio.get(Observer::Watch.title()).map(Vec::as_slice).unwrap_or(&[]);
    let (r, interval) = (stats(ratios), median_interval(ratios));
    let measured = match interval {
        Some(i) => {
            format!("{:.3} ({:.0} % interval {:.3}–{:.3})", r.median, i.confidence * 100.0, i.low, i.high)
        }
        None => "—".into(),
    };
    let cost = format!("watch costs {:.1} % of the rate", (1.0 - r.median) * 100.0);
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

fn render(all: &[(Workload, Rows)], rounds: usize, secs: u64) -> Section {
    let mut sec = Section::new("overhead", "Cost of watching, beside what users would run instead");
    sec.line(format!(
        "Each workload runs {secs} s, in {rounds} rounds; a round runs it unobserved and under each observer, in an order that turns every round. Ratio = the figure observed / the round's unobserved figure (1.00 = no cost); median (min–max) over the rounds; each goal also shows the interval that holds the true median with the chance given (order statistics of the rounds: no assumption about the noise's shape). Workloads between containers of one bridge (c1 → c2, c1 → web), the flood from nacos (default bridge) to mysql (heima-net), all dropped by Docker's isolation. The observer's own CPU (its process, and the children it ran and waited for, such as watch's iptables-save and nft: user + system, while the workload ran) in cores.\n"
    ));
    let mut head = "| workload | unobserved |".to_string();
    let mut rule = "|---|---|".to_string();
    for o in observer::ALL {
        head.push_str(&format!(" {} | CPU |", o.title()));
        rule.push_str("---|---|");
    }
    sec.line(format!("{head}\n{rule}"));
    for (load, rows) in all {
        let mut row = format!("| {} | {} {} |", load.title(), stats(&rows.base).show(2), load.unit());
        for o in observer::ALL {
            let r = rows.ratio.get(o.title()).map(|v| stats(v).show(2)).unwrap_or_default();
            let c = rows.cpu.get(o.title()).map(|v| stats(v).show(2)).unwrap_or_default();
            row.push_str(&format!(" {r} | {c} |"));
        }
        sec.line(row);
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
            sec.line(format!("\nFlood under watch, per round: {}.", detail.join("; ")));
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
