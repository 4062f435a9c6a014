//! `report FILE`: a recording of `watch --record` summarised: totals, the top causes,
//! containers and rules, a timeline with the host's changes on it, and the bursts of drops
//! with the change that came just before each; the same as one JSON object with `--json`.
//! The file is read line by line (see [`recording`](super::recording)), so memory does not
//! grow with its length.
use std::{path::Path, time::SystemTime};

use serde::Serialize;

use super::{
    bursts::{Burst, Bursts},
    line::{Kind, SummaryLine},
    output::change_phrase,
    recording::{Item, Recording},
    summary::{Totals, top},
    timeline::{Timeline, TimelineBuilder},
};
use crate::{
    cli::ReportArgs,
    error::{Error, Result},
    style::{self, BOLD, DIM, WARN},
};

/// How many entries each "top" list keeps.
const TOP: usize = 10;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub schema: u32,
    pub file: String,
    /// First and last event (UTC); null when the recording holds no event.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Event lines in the file, and the events they stand for (the sum of their counts).
    pub lines: usize,
    pub events: u64,
    /// Change lines (changes of the host's network seen while watching).
    pub changes: usize,
    /// The recording ends with watch's summary (the watch ended normally).
    pub complete: bool,
    /// The last line was cut short (a killed watch, a full disk) and is left out.
    pub truncated: bool,
    pub lost_events: u64,
    pub kinds: Vec<Count>,
    pub causes: Vec<Count>,
    pub containers: Vec<Count>,
    pub rules: Vec<Count>,
    pub timeline: Timeline,
    /// Bursts of drops in time order, each with the change just before it.
    pub bursts: Vec<Burst>,
    /// Smaller bursts left out to keep the list short.
    pub bursts_left_out: usize,
}

/// What a recording adds up to, line by line.
#[derive(Default)]
struct Tally {
    totals: Totals,
    span: Option<(SystemTime, SystemTime)>,
    lines: usize,
    changes: usize,
    summaries: Vec<SummaryLine>,
    timeline: TimelineBuilder,
    bursts: Bursts,
}

impl Tally {
    fn add(&mut self, item: Item) {
        match item {
            Item::Event(t, e) => {
                self.lines += 1;
                self.totals.add(&e);
                self.span = Some(match self.span {
                    Some((a, b)) => (a.min(t), b.max(t)),
                    None => (t, t),
                });
                self.timeline.add_event(t, e.cause.code(), e.count);
                self.bursts.add_event(t, &e);
            }
            Item::Change(t, c) => {
                self.changes += 1;
                self.bursts.add_change(t, &c);
                self.timeline.add_change(t, c);
            }
            Item::Summary(s) => self.summaries.push(s),
        }
    }

    fn finish(self, path: &Path, truncated: bool) -> Report {
        let stamp = |t: Option<SystemTime>| t.map(super::line::timestamp);
        let (bursts, bursts_left_out) = self.bursts.finish();
        Report {
            schema: super::line::SCHEMA,
            file: path.display().to_string(),
            from: stamp(self.span.map(|s| s.0)),
            to: stamp(self.span.map(|s| s.1)),
            lines: self.lines,
            events: self.totals.total,
            changes: self.changes,
            complete: !self.summaries.is_empty(),
            truncated,
            lost_events: self.summaries.iter().map(|s| s.lost_events).sum(),
            kinds: counts(&self.totals.kinds),
            causes: counts(&self.totals.causes),
            containers: counts(&self.totals.containers),
            rules: counts(&self.totals.rules),
            timeline: self.timeline.finish(),
            bursts,
            bursts_left_out,
        }
    }
}

/// Reads and sums up a recording; a file that is not one is a usage error naming the line at
/// fault. A cut last line is left out and marked in `truncated`.
pub fn read(path: &Path) -> Result<Report> {
    let mut rec = Recording::open(path)?;
    let mut tally = Tally::default();
    for item in rec.by_ref() {
        tally.add(item?);
    }
    if tally.lines == 0 && tally.changes == 0 && tally.summaries.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no watch lines (is it a `watch --record` file?)",
            path.display()
        )));
    }
    Ok(tally.finish(path, rec.cut_line.is_some()))
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> Vec<Count> {
    top(m, TOP).into_iter().map(|(k, n)| Count { name: k.to_string(), count: n }).collect()
}

/// `HH:MM:SS` of a CONTRACT timestamp.
fn clock(t: &str) -> &str {
    let time = t.split('T').nth(1).unwrap_or(t);
    time.split('.').next().unwrap_or(time).trim_end_matches('Z')
}

fn plural(kind: Kind, n: u64) -> String {
    let word = match kind {
        Kind::Drop => "drop",
        Kind::RouteFailure => "route failure",
        Kind::Reset => "reset",
        Kind::Summary => "line",
    };
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `03:12:44 br-73a00eba170c lost 172.18.0.1/16 — from 03:12:45, 212 drops to heima-net,
/// cause bridge_gateway_missing`.
pub fn burst_text(b: &Burst) -> String {
    let target = match (b.dst_ip, &b.dst_container, &b.dst_network) {
        (Some(ip), Some(c), _) => format!("{ip} ({c})"),
        (Some(ip), None, _) => ip.to_string(),
        (None, _, Some(n)) => n.clone(),
        (None, _, None) => "addresses outside Docker's networks".into(),
    };
    let what = format!(
        "from {}, {} to {target}, cause {}",
        clock(&b.from),
        plural(b.kind, b.count),
        style::paint(BOLD, b.cause.code())
    );
    match &b.change_before {
        Some(c) => {
            let day = |t: &str| t.split('T').next().unwrap_or_default().to_string();
            let when = if day(&c.t) == day(&b.from) { clock(&c.t).to_string() } else { c.t.clone() };
            let note = if b.change_related { "" } else { " (not about this network)" };
            format!("{} {}{note} — {what}", style::paint(WARN, when), change_phrase(c))
        }
        None => format!("{what} {}", style::paint(DIM, "(no change recorded before it)")),
    }
}

fn timeline_text(r: &Report) -> String {
    let unit = match r.timeline.bucket_s {
        1 => "second",
        60 => "minute",
        _ => "hour",
    };
    let mut s = format!(
        "{} {}\n",
        style::paint(BOLD, "timeline"),
        style::paint(DIM, format!("(per {unit}, UTC; empty {unit}s left out)"))
    );
    let max = r.timeline.buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in r.timeline.buckets.iter().filter(|b| b.count > 0 || !b.changes.is_empty()) {
        let time = b.t.split('T').nth(1).unwrap_or(&b.t).trim_end_matches(".000Z");
        for c in &b.changes {
            s.push_str(&format!("  {time}  {} {}\n", style::paint(WARN, "change"), change_phrase(c)));
        }
        if b.more_changes > 0 {
            s.push_str(&format!(
                "  {time}  {}\n",
                style::paint(DIM, format!("{} more changes", b.more_changes))
            ));
        }
        if b.count > 0 {
            let bar = "█".repeat(((b.count * 40).div_ceil(max)) as usize);
            let causes: Vec<String> =
                top(&b.causes, 3).into_iter().map(|(c, n)| format!("{c} {n}")).collect();
            s.push_str(&format!("  {time}  {bar} {} {}\n", b.count, style::paint(DIM, causes.join(", "))));
        }
    }
    s
}

pub fn text(r: &Report) -> String {
    let mut s = format!("{} {}\n", style::paint(BOLD, "recording"), r.file);
    let span = match (&r.from, &r.to) {
        (Some(a), Some(b)) => format!(", {a} → {b}"),
        _ => String::new(),
    };
    s.push_str(&format!(
        "  {} events in {} lines{span}; {} changes; {} lost\n",
        r.events, r.lines, r.changes, r.lost_events
    ));
    if !r.complete {
        s.push_str("  no summary line: the watch was killed or is still running\n");
    }
    for (title, list) in [("causes", &r.causes), ("containers", &r.containers), ("rules", &r.rules)] {
        s.push_str(&format!("{}\n", style::paint(BOLD, format!("top {title}"))));
        if list.is_empty() {
            s.push_str("  -\n");
        }
        for c in list {
            s.push_str(&format!("  {:>7}  {}\n", c.count, c.name));
        }
    }
    s.push_str(&timeline_text(r));
    if !r.bursts.is_empty() {
        s.push_str(&format!(
            "{} {}\n",
            style::paint(BOLD, "bursts"),
            style::paint(DIM, "(and the change that came just before each)")
        ));
        for b in &r.bursts {
            s.push_str(&format!("  {}\n", burst_text(b)));
        }
        if r.bursts_left_out > 0 {
            s.push_str(&format!("  {} smaller bursts left out\n", r.bursts_left_out));
        }
    }
    s
}

pub fn run(args: &ReportArgs) -> Result<u8> {
    let r = read(&args.file)?;
    if r.truncated {
        eprintln!(
            "dockernet-trace: warning: the last line of {} was cut short (a watch killed mid-line or a full disk); \
             reported from the whole lines before it",
            args.file.display()
        );
    }
    if args.output.json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
    } else {
        style::print(&text(&r));
    }
    Ok(0)
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
