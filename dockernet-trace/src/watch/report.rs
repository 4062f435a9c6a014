//! `report FILE`: a recording of `watch --record` summarised: totals, the top causes,
//! containers and rules, and a timeline; the same as one JSON object with `--json`.
use std::{path::Path, time::SystemTime};

use serde::Serialize;

use super::{
    line::{EventLine, Line, SummaryLine, parse_timestamp},
    summary::{Totals, top},
    timeline::{self, Timeline},
};
use crate::{
    cli::ReportArgs,
    error::{Error, Result},
    style::{self, BOLD, DIM},
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
    /// The recording ends with watch's summary (the watch ended normally).
    pub complete: bool,
    pub lost_events: u64,
    pub kinds: Vec<Count>,
    pub causes: Vec<Count>,
    pub containers: Vec<Count>,
    pub rules: Vec<Count>,
    pub timeline: Timeline,
}

/// A recording: its event lines with their times, and the summary lines.
pub type Recording = (Vec<(SystemTime, EventLine)>, Vec<SummaryLine>);

/// Reads a recording; a file that is not one is a usage error naming the line at fault.
pub fn load(path: &Path) -> Result<Recording> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mut events = Vec::new();
    let mut summaries = Vec::new();
    for (n, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: String| {
            Error::Usage(format!("{} is not a `watch --record` file: line {}: {why}", path.display(), n + 1))
        };
        match Line::parse(l).map_err(bad)? {
            Line::Event(e) => {
                let t = parse_timestamp(&e.t).ok_or_else(|| bad(format!("bad time {:?}", e.t)))?;
                events.push((t, e));
            }
            Line::Summary(s) => summaries.push(s),
        }
    }
    if events.is_empty() && summaries.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no watch lines (is it a `watch --record` file?)",
            path.display()
        )));
    }
    Ok((events, summaries))
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> Vec<Count> {
    top(m, TOP).into_iter().map(|(k, n)| Count { name: k.to_string(), count: n }).collect()
}

pub fn build(path: &Path, events: &[(SystemTime, EventLine)], summaries: &[SummaryLine]) -> Report {
    let mut totals = Totals::default();
    for (_, e) in events {
        totals.add(e);
    }
    let first = events.iter().map(|(t, _)| *t).min();
    let last = events.iter().map(|(t, _)| *t).max();
    let stamp = |t: Option<SystemTime>| t.map(super::line::timestamp);
    let series: Vec<(SystemTime, String, u64)> =
        events.iter().map(|(t, e)| (*t, e.cause.code().to_string(), e.count)).collect();
    Report {
        schema: super::line::SCHEMA,
        file: path.display().to_string(),
        from: stamp(first),
        to: stamp(last),
        lines: events.len(),
        events: totals.total,
        complete: !summaries.is_empty(),
        lost_events: summaries.iter().map(|s| s.lost_events).sum(),
        kinds: counts(&totals.kinds),
        causes: counts(&totals.causes),
        containers: counts(&totals.containers),
        rules: counts(&totals.rules),
        timeline: timeline::build(&series),
    }
}

pub fn text(r: &Report) -> String {
    let mut s = format!("{} {}\n", style::paint(BOLD, "recording"), r.file);
    let span = match (&r.from, &r.to) {
        (Some(a), Some(b)) => format!(", {a} → {b}"),
        _ => String::new(),
    };
    s.push_str(&format!("  {} events in {} lines{span}; {} lost\n", r.events, r.lines, r.lost_events));
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
    let unit = match r.timeline.bucket_s {
        1 => "second",
        60 => "minute",
        _ => "hour",
    };
    s.push_str(&format!(
        "{} {}\n",
        style::paint(BOLD, "timeline"),
        style::paint(DIM, format!("(per {unit}, UTC; empty {unit}s left out)"))
    ));
    let max = r.timeline.buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in r.timeline.buckets.iter().filter(|b| b.count > 0) {
        let time = b.t.split('T').nth(1).unwrap_or(&b.t).trim_end_matches(".000Z");
        let bar = "█".repeat(((b.count * 40).div_ceil(max)) as usize);
        let causes: Vec<String> = top(&b.causes, 3).into_iter().map(|(c, n)| format!("{c} {n}")).collect();
        s.push_str(&format!("  {time}  {bar} {} {}\n", b.count, style::paint(DIM, causes.join(", "))));
    }
    s
}

pub fn run(args: &ReportArgs) -> Result<u8> {
    let (events, summaries) = load(&args.file)?;
    let r = build(&args.file, &events, &summaries);
    if args.output.json {
        println!("{}", serde_json::to_string(&r).unwrap_or_default());
    } else {
        style::print(&text(&r));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const DROP: &str = r#"{"schema":1,"t":"2026-11-21T22:41:24.281Z","kind":"drop","src":{"ip":"172.17.0.2","port":null,"container":"nacos","network":"bridge"},"dst":{"ip":"172.18.0.2","port":null,"container":"mysql","network":"heima-net"},"proto":"icmp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"network_isolation","rule":"-A DOCKER-ISOLATION-STAGE-2 -o br-e685d9c814c0 -j DROP","count":3}"#;
    const FW: &str = r#"{"schema":1,"t":"2026-11-21T22:41:26.100Z","kind":"drop","src":{"ip":"172.17.0.2","port":null,"container":"nacos","network":"bridge"},"dst":{"ip":"10.201.0.7","port":null,"container":null,"network":null},"proto":"icmp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP","cause":"firewall_drop","rule":"-A DOCKER-USER -s 172.17.0.2/32 -j DROP","count":2}"#;
    const SUMMARY: &str = r#"{"schema":1,"t":"2026-11-21T22:41:30.000Z","kind":"summary","duration_s":8.0,"total":5,"kinds":{"drop":5},"causes":{},"containers":{},"rules":{},"lost_events":1}"#;

    fn file(lines: &[&str]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        f
    }

    #[test]
    fn summarises_causes_containers_rules_and_time() {
        let f = file(&[DROP, "", FW, SUMMARY]);
        let (events, summaries) = load(f.path()).unwrap();
        let r = build(f.path(), &events, &summaries);
        assert_eq!((r.lines, r.events, r.complete, r.lost_events), (2, 5, true, 1));
        assert_eq!(r.causes[0], Count { name: "network_isolation".into(), count: 3 });
        assert_eq!(r.containers[0], Count { name: "nacos".into(), count: 5 });
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.from.as_deref(), Some("2026-11-21T22:41:24.281Z"));
        let counts: Vec<u64> = r.timeline.buckets.iter().map(|b| b.count).collect();
        assert_eq!((r.timeline.bucket_s, counts), (1, vec![3, 0, 2]));
        let t = text(&r);
        assert!(
            t.contains("5 events in 2 lines") && t.contains("network_isolation") && t.contains("22:41:26"),
            "{t}"
        );
    }

    #[test]
    fn a_recording_cut_short_is_still_read() {
        let f = file(&[DROP]);
        let (events, summaries) = load(f.path()).unwrap();
        let r = build(f.path(), &events, &summaries);
        assert!(!r.complete);
        assert!(text(&r).contains("no summary line"));
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let e = load(file(&[DROP, "garbage"]).path()).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("not JSON") && !e.contains('\n'), "{e}");
        let e = load(file(&[]).path()).unwrap_err().to_string();
        assert!(e.contains("holds no watch lines"), "{e}");
        let e = load(Path::new("/nonexistent/rec.jsonl")).unwrap_err().to_string();
        assert!(e.contains("cannot read /nonexistent/rec.jsonl"), "{e}");
    }
}
