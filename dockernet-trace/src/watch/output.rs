//! Where the lines go: stdout as text (coloured on a terminal) or JSON, and the recording file
//! (JSON, flushed per line so that a killed watch still leaves every line it reported).
use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
};

use super::{
    line::{ChangeLine, ChangeWhat, EventLine, Kind, Peer, SummaryLine},
    summary::top,
};
use crate::{
    error::{Error, Result},
    style::{self, BAD, BOLD, DIM, WARN},
};

pub struct Output {
    json: bool,
    record: Option<(PathBuf, File)>,
}

impl Output {
    /// Opens (creates or truncates) the recording file first, so a bad path fails before
    /// anything is attached.
    pub fn open(json: bool, record: Option<&Path>) -> Result<Self> {
        let record = match record {
            Some(p) => {
                let f = File::create(p)
                    .map_err(|e| Error::Usage(format!("cannot write the recording {}: {e}", p.display())))?;
                Some((p.to_path_buf(), f))
            }
            None => None,
        };
        Ok(Self { json, record })
    }

    pub fn event(&mut self, l: &EventLine) {
        let json = serde_json::to_string(l).unwrap_or_default();
        self.record(&json);
        if self.json {
            stdout_line(&json);
        } else {
            style::print(&format!("{}\n", text(l)));
        }
    }

    pub fn change(&mut self, c: &ChangeLine) {
        let json = serde_json::to_string(c).unwrap_or_default();
        self.record(&json);
        if self.json {
            stdout_line(&json);
        } else {
            style::print(&format!("{}\n", change_text(c)));
        }
    }

    pub fn summary(&mut self, s: &SummaryLine) {
        let json = serde_json::to_string(s).unwrap_or_default();
        self.record(&json);
        if self.json {
            stdout_line(&json);
        } else {
            style::print(&summary_text(s));
        }
    }

    fn record(&mut self, json: &str) {
        let Some((path, f)) = &mut self.record else { return };
        if let Err(e) = writeln!(f, "{json}").and_then(|()| f.flush()) {
            note(&format!("writing {} failed ({e}); recording stopped", path.display()));
            self.record = None;
        }
    }
}

/// A line on stdout; a closed stdout (`| head`) is not worth a panic.
fn stdout_line(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

/// A note for the person (and the tests' ready signal) on stderr, never mixed into stdout.
pub fn note(msg: &str) {
    eprintln!("dockernet-trace: {msg}");
}

fn peer(p: &Peer) -> String {
    let addr = match p.port {
        Some(port) => format!("{}:{port}", p.ip),
        None => p.ip.to_string(),
    };
    match (&p.container, &p.network) {
        (Some(c), Some(n)) => format!("{} {addr} ({n})", style::paint(BOLD, c)),
        (None, Some(n)) => format!("{addr} ({n})"),
        (Some(c), None) => format!("{} {addr}", style::paint(BOLD, c)),
        (None, None) => addr,
    }
}

/// One readable line per folded event.
pub fn text(l: &EventLine) -> String {
    let (label, colour) = match l.kind {
        Kind::Drop => ("DROP ", BAD),
        Kind::RouteFailure => ("ROUTE", WARN),
        Kind::Reset => ("RESET", WARN),
        Kind::Summary => ("", DIM),
    };
    let time = l.t.split('T').nth(1).unwrap_or(&l.t).trim_end_matches('Z');
    let mut s = format!(
        "{} {} {} → {} {}",
        style::paint(DIM, time),
        style::paint(colour, label),
        peer(&l.src),
        peer(&l.dst),
        l.proto
    );
    if l.count > 1 {
        s.push_str(&format!(" ×{}", l.count));
    }
    match (&l.iface, &l.netns) {
        (Some(i), Some(n)) => s.push_str(&format!(" on {i} in {n}")),
        (None, Some(n)) => s.push_str(&format!(" in {n}")),
        (Some(i), None) => s.push_str(&format!(" on {i}")),
        (None, None) => {}
    }
    if let Some(r) = &l.drop_reason {
        s.push_str(&format!(" {r}"));
    }
    if let Some(f) = &l.function {
        s.push_str(&format!(" at {f}"));
    }
    s.push_str(&format!(": {}", style::paint(BOLD, l.cause.code())));
    if let Some(r) = &l.rule {
        s.push_str(&format!(" `{r}`"));
    }
    s
}

/// A change in a few words: `br-73a00eba170c lost 172.18.0.1/16`, `container start web`.
pub fn change_phrase(c: &ChangeLine) -> String {
    let iface = c.iface.as_deref().unwrap_or("?");
    let detail = c.detail.as_deref().unwrap_or("?");
    // A Docker event names its container (else its network) as its subject.
    let (named_container, named_network) = match &c.what {
        ChangeWhat::Event(_) => (c.container.is_some(), c.container.is_none()),
        _ => (false, false),
    };
    let mut s = match &c.what {
        ChangeWhat::AddressAdded => format!("{iface} got {detail}"),
        ChangeWhat::AddressRemoved => format!("{iface} lost {detail}"),
        ChangeWhat::LinkUp => format!("{iface} up"),
        ChangeWhat::LinkDown => format!("{iface} down"),
        ChangeWhat::PortJoined => format!("{iface} joined {detail}"),
        ChangeWhat::PortLeft => format!("{iface} left {detail}"),
        ChangeWhat::StpState => format!("{iface} {detail}"),
        ChangeWhat::RouteAdded => format!("route {detail} added"),
        ChangeWhat::RouteRemoved => format!("route {detail} removed"),
        ChangeWhat::RulesChanged => format!("rules changed: {detail}"),
        ChangeWhat::Sysctl => detail.to_string(),
        ChangeWhat::Event(what) => {
            let subject = c.container.as_deref().or(c.network.as_deref()).unwrap_or_default();
            format!("{what} {subject}").trim_end().to_string()
        }
    };
    if let Some(n) = c.network.as_deref().filter(|_| !named_network) {
        s.push_str(&format!(" ({n})"));
    }
    if let Some(n) = c.container.as_deref().filter(|_| !named_container) {
        s.push_str(&format!(" (container {n})"));
    }
    s
}

/// One readable line per change.
pub fn change_text(c: &ChangeLine) -> String {
    let time = c.t.split('T').nth(1).unwrap_or(&c.t).trim_end_matches('Z');
    format!("{} {} {}", style::paint(DIM, time), style::paint(BOLD, "CHANGE"), change_phrase(c))
}

fn counts(m: &std::collections::BTreeMap<String, u64>) -> String {
    let v: Vec<String> = top(m, usize::MAX).into_iter().map(|(k, n)| format!("{k} {n}")).collect();
    if v.is_empty() { "-".into() } else { v.join(", ") }
}

pub fn summary_text(s: &SummaryLine) -> String {
    let mut out = format!(
        "{} {} events in {:.1} s, {} lost\n",
        style::paint(BOLD, "summary:"),
        s.total,
        s.duration_s,
        s.lost_events
    );
    out.push_str(&format!("  causes:     {}\n", counts(&s.causes)));
    out.push_str(&format!("  containers: {}\n", counts(&s.containers)));
    for (i, (rule, n)) in top(&s.rules, usize::MAX).into_iter().enumerate() {
        let head = if i == 0 { "  rules:     " } else { "             " };
        out.push_str(&format!("{head} {n:>6}  {rule}\n"));
    }
    if s.lost_events > 0 {
        out.push_str(&format!(
            "  {}\n",
            style::paint(
                WARN,
                "the kernel dropped events it could not hand over (ring buffer full): counts are low"
            )
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cause::Cause;

    #[test]
    fn a_line_reads_as_a_sentence() {
        let l: EventLine = serde_json::from_str(
            r#"{"schema":1,"t":"2026-11-21T22:41:24.281Z","kind":"drop",
            "src":{"ip":"172.17.0.2","port":40112,"container":"loner","network":"bridge"},
            "dst":{"ip":"172.18.0.2","port":3306,"container":"mysql","network":"heima-net"},
            "proto":"tcp","iface":"docker0","netns":"host","function":"nft_do_chain","drop_reason":"NETFILTER_DROP",
            "cause":"network_isolation","rule":"-A DOCKER-ISOLATION-STAGE-2 -o br-e685d9c814c0 -j DROP","count":3}"#,
        )
        .unwrap();
        assert_eq!(l.cause, Cause::NetworkIsolation);
        let t = text(&l);
        for part in [
            "22:41:24.281",
            "loner",
            "172.17.0.2:40112 (bridge)",
            "mysql",
            "×3",
            "on docker0 in host",
            "NETFILTER_DROP at nft_do_chain",
            "network_isolation",
            "`-A DOCKER-ISOLATION-STAGE-2",
        ] {
            assert!(t.contains(part), "{part} missing in {t}");
        }
    }

    #[test]
    fn changes_read_as_a_few_words() {
        let c: ChangeLine = serde_json::from_str(
            r#"{"schema":1,"t":"2026-11-21T03:12:44.102Z","kind":"change","source":"netlink",
            "what":"address_removed","iface":"br-73a00eba170c","network":"heima-net","detail":"172.18.0.1/16"}"#,
        )
        .unwrap();
        assert_eq!(change_phrase(&c), "br-73a00eba170c lost 172.18.0.1/16 (heima-net)");
        assert!(change_text(&c).contains("03:12:44.102") && change_text(&c).contains("CHANGE"));
        let d = ChangeLine {
            what: ChangeWhat::Event("network disconnect".into()),
            iface: None,
            container: Some("web".into()),
            detail: None,
            ..c.clone()
        };
        assert_eq!(change_phrase(&d), "network disconnect web (heima-net)");
        let n = ChangeLine { container: None, network: Some("fa".into()), ..d.clone() };
        assert_eq!(change_phrase(&n), "network disconnect fa");
        let b = ChangeLine { iface: Some("br-9160face9b76".into()), network: Some("fa".into()), ..c };
        assert!(
            change_phrase(&b).ends_with("(fa)"),
            "a network named inside the bridge's name is still named"
        );
    }

    #[test]
    fn recording_is_written_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.jsonl");
        let mut o = Output::open(true, Some(&path)).unwrap();
        o.record("{\"a\":1}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n", "flushed before the next line");
        let e = Output::open(false, Some(Path::new("/nonexistent/dir/rec.jsonl"))).err().unwrap();
        assert!(e.to_string().contains("/nonexistent/dir/rec.jsonl"), "{e}");
    }
}
