//! A trace's report for people: a traceroute through the kernel, then the verdict.
use std::fmt::Write;

use super::report::{HopJson, TraceReport, VerdictJson};
use crate::{
    cause::Cause,
    style::{BAD, BOLD, DIM, FIX, OK, WARN, paint},
    words::count,
};

fn fmt_ms(ns: u64) -> String {
    format!("{:>9.3} ms", ns as f64 / 1e6)
}

/// Lines of one probe's hops; the 5-tuple is shown where it changed (NAT) and on the first.
pub(super) fn probe_hops(out: &mut String, hops: &[&HopJson]) {
    let mut last_tuple = String::new();
    let mut last_packet = None;
    let t0 = hops.first().map(|h| h.t_ns).unwrap_or(0);
    for h in hops {
        // The tuple shows where it changed (NAT) and with each new kind of packet (the answer,
        // an ICMP error and the packet it quotes).
        let tuple = format!("{} → {}", h.src, h.dst);
        let show = if tuple != last_tuple || h.packet != last_packet { tuple.clone() } else { String::new() };
        last_tuple = tuple;
        last_packet = h.packet.clone();
        let dir = if h.forward { "→" } else { "←" };
        let mut line = format!(
            "  {} {dir} {:<22} {:<16} {:<18} {:<10} {}",
            fmt_ms(h.t_ns - t0),
            h.netns,
            h.iface,
            h.hook,
            h.packet.clone().unwrap_or_default(),
            paint(DIM, show)
        );
        match (&h.drop_reason, h.after_delivery) {
            (Some(r), true) => {
                line = format!("{line} {}", paint(DIM, format!("· consumed after delivery ({r})")))
            }
            (Some(r), false) => line = format!("{line} {}", paint(BAD, format!("✗ dropped: {r}"))),
            (None, _) => {}
        }
        if h.inferred {
            line = format!("{line} {}", paint(DIM, "(inferred from the ports' bridge)"));
        } else if let Some(b) = h.bridge.as_ref().filter(|b| **b != h.iface) {
            line = format!("{line} {}", paint(DIM, format!("(bridge {b})")));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The report for people: each probe's hops (repeated paths folded), then the verdict.
pub fn text(r: &TraceReport) -> String {
    let mut out = String::new();
    let proto = r.to.proto.clone().unwrap_or_default();
    let probes = match r.probes.len() {
        0 => "no probe sent".to_string(),
        n => count(n as u64, "probe"),
    };
    let _ = writeln!(
        out,
        "{} {} ({}) → {} ({}), {proto}, {probes}",
        paint(BOLD, "dockernet-trace"),
        r.from.name,
        r.from.ip.as_deref().unwrap_or("no address"),
        r.to.port.map(|p| format!("{}:{p}", r.to.name)).unwrap_or_else(|| r.to.name.clone()),
        r.to.ip.as_deref().unwrap_or("no address"),
    );
    if let Some(dns) = &r.resolution {
        super::resolution::lines(&mut out, dns);
    }
    let mut shown: Vec<Vec<(String, String, &str)>> = Vec::new();
    for p in &r.probes {
        let hops: Vec<&HopJson> = r.hops.iter().filter(|h| h.probe == p.index).collect();
        let shape: Vec<(String, String, &str)> =
            hops.iter().map(|h| (h.netns.clone(), h.iface.clone(), h.hook)).collect();
        let answer = p.answer.name().replace('_', " ");
        if shown.contains(&shape) && !shape.is_empty() {
            let _ = writeln!(
                out,
                "{}",
                paint(DIM, format!("probe {}: same path ({answer}, {:.1} ms)", p.index + 1, p.elapsed_ms))
            );
            continue;
        }
        let _ = writeln!(
            out,
            "\n{}",
            paint(BOLD, format!("probe {}: {answer} after {:.1} ms", p.index + 1, p.elapsed_ms))
        );
        if hops.is_empty() {
            let _ =
                writeln!(out, "  {}", paint(WARN, "the kernel saw no packet of this probe on any interface"));
        }
        probe_hops(&mut out, &hops);
        shown.push(shape);
    }
    verdict(&mut out, &r.verdict);
    for n in &r.notes {
        let _ = writeln!(out, "{}", paint(DIM, format!("note: {n}")));
    }
    let c = &r.coverage;
    let _ = writeln!(
        out,
        "{}",
        paint(
            DIM,
            format!(
                "coverage: tc {} · tracepoints {} · kprobes {} · fentry {} · {} ms",
                c.tc, c.tracepoints, c.kprobes, c.fentry, r.elapsed_ms
            )
        )
    );
    out
}

/// The cause and sentence, where, the rule, the evidence and the fix.
fn verdict(out: &mut String, v: &VerdictJson) {
    let (mark, style) = if v.cause == Cause::Ok { ("✓", OK) } else { ("✗", BAD) };
    let _ = writeln!(out, "\n{} {}: {}", paint(style, mark), paint(style, v.cause), v.summary);
    let l = &v.location;
    let place: Vec<String> = [l.netns.clone(), l.iface.clone(), l.function.clone(), l.drop_reason.clone()]
        .into_iter()
        .flatten()
        .collect();
    if !place.is_empty() && v.cause != Cause::Ok {
        let _ = writeln!(out, "  where: {}", place.join(", "));
    }
    if let Some(rule) = &l.rule {
        let _ = writeln!(out, "  rule:  {rule}");
    }
    for e in &v.evidence {
        let _ = writeln!(out, "  {}", paint(DIM, format!("seen:  {e}")));
    }
    for f in &v.fix {
        let _ = writeln!(out, "  {} {f}", paint(FIX, "fix:  "));
    }
}
