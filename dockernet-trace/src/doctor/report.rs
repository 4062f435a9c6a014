//! doctor's output: text grouped by network (healthy ones in one line), or CONTRACT's JSON.
use std::fmt::Write;

use super::Diagnosis;
use crate::{
    cause::Finding,
    model::Topology,
    style::{BAD, BOLD, DIM, FIX, OK, paint},
};

pub fn json(d: &Diagnosis) -> String {
    serde_json::json!({"schema": 1, "findings": d.findings, "notes": d.notes}).to_string()
}

fn finding(out: &mut String, f: &Finding) {
    let _ = writeln!(out, "  {} {}  {}", paint(BAD, "✗"), paint(BAD, f.cause), f.summary);
    for e in &f.evidence {
        let _ = writeln!(out, "      {}", paint(DIM, format!("seen: {e}")));
    }
    for fix in &f.fix {
        let _ = writeln!(out, "      {} {}", paint(FIX, "fix:"), fix);
    }
}

pub fn text(t: &Topology, d: &Diagnosis) -> String {
    let mut out = String::new();
    let running = t.docker.containers.iter().filter(|c| c.is_running()).count();
    let _ = writeln!(
        out,
        "{} {} · {} · {}",
        paint(BOLD, "dockernet-trace doctor"),
        t.docker_host,
        count(t.docker.networks.len(), "network"),
        count(running, "running container")
    );
    let listed = |name: &str| t.docker.networks.iter().any(|n| n.name == name);
    let host: Vec<&Finding> =
        d.findings.iter().filter(|f| f.network.as_deref().is_none_or(|n| !listed(n))).collect();
    if !host.is_empty() {
        let _ = writeln!(out, "\n{}", paint(BOLD, "host"));
        host.iter().for_each(|f| finding(&mut out, f));
    }
    for n in &t.docker.networks {
        let subnets: Vec<String> = n.subnets.iter().map(|s| s.subnet.to_string()).collect();
        let what = match &n.bridge {
            Some(b) => format!("{b}, {}", subnets.join(" ")),
            None => n.driver.clone(),
        };
        let mine: Vec<&Finding> =
            d.findings.iter().filter(|f| f.network.as_deref() == Some(n.name.as_str())).collect();
        if mine.is_empty() {
            let members = t
                .docker
                .containers
                .iter()
                .filter(|c| c.is_running() && c.endpoint(&n.name).is_some())
                .count();
            let _ = writeln!(
                out,
                "{} network {} ({what}): ok, {}",
                paint(OK, "✓"),
                n.name,
                count(members, "container")
            );
        } else {
            let _ = writeln!(out, "\n{} ({what})", paint(BOLD, format!("network {}", n.name)));
            mine.iter().for_each(|f| finding(&mut out, f));
        }
    }
    for note in &d.notes {
        let _ = writeln!(out, "{}", paint(DIM, format!("note: {note}")));
    }
    let _ = writeln!(
        out,
        "\n{}",
        if d.findings.is_empty() {
            paint(OK, "no faults found")
        } else {
            paint(BAD, format!("{} found", count(d.findings.len(), "fault")))
        }
    );
    out
}

/// "1 container", "2 containers".
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
