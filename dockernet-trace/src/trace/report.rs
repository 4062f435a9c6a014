//! The trace's report as CONTRACT.md fixes it: JSON objects built here, at the edge, from the
//! typed verdict, hops and endpoints (`text` renders the same for people).
use serde::Serialize;

use super::{
    attach::Visibility,
    collect::ProbeRecord,
    endpoints::Endpoints,
    explanation::Explanation,
    hops::Hop,
    resolution::ResolutionJson,
    text,
    verdict::{Location, TraceVerdict, dns::Leg},
};
use crate::{
    cause::Cause,
    ebpf::{Coverage, hooks::HookStatus},
    flow::Proto,
    model::{EndpointIssue, ResolvedEndpoint},
    probe::Answer,
};

pub const SCHEMA: u32 = 1;

#[derive(Serialize)]
pub struct EndpointJson {
    pub kind: &'static str,
    pub name: String,
    /// null when the endpoint has no address (a name that did not resolve).
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
}

impl EndpointJson {
    /// An endpoint; the target (`proto` given) with its port and protocol.
    pub fn of(e: &ResolvedEndpoint, proto: Option<Proto>) -> Self {
        Self {
            kind: e.kind.name(),
            name: e.name.clone(),
            ip: Some(e.ip).filter(|ip| !ip.is_unspecified()).map(|ip| ip.to_string()),
            netns: e.netns.as_ref().map(|n| n.to_string()),
            port: proto.and(e.port),
            proto: proto.map(Proto::name),
        }
    }
}

#[derive(Serialize)]
pub struct LocationJson {
    pub iface: Option<String>,
    pub netns: Option<String>,
    pub function: Option<String>,
    pub drop_reason: Option<String>,
    pub rule: Option<String>,
}

impl From<Location> for LocationJson {
    fn from(l: Location) -> Self {
        Self {
            iface: l.iface,
            netns: l.netns.map(|n| n.to_string()),
            function: l.function,
            drop_reason: l.drop_reason.map(|r| r.to_string()),
            rule: l.rule,
        }
    }
}

#[derive(Serialize)]
pub struct VerdictJson {
    pub cause: Cause,
    /// `dns` when the verdict is about resolving the target's name, else `target`.
    pub leg: &'static str,
    pub summary: String,
    pub location: LocationJson,
    pub evidence: Vec<String>,
    pub fix: Vec<String>,
}

impl VerdictJson {
    pub fn of(v: TraceVerdict, leg: Leg) -> Self {
        Self {
            cause: v.cause,
            leg: leg.name(),
            summary: v.summary,
            location: v.location.into(),
            evidence: v.evidence,
            fix: v.fix,
        }
    }
}

#[derive(Serialize)]
pub struct HopJson {
    pub seq: usize,
    /// Nanoseconds since the first hop.
    pub t_ns: u64,
    pub netns: String,
    pub iface: String,
    pub hook: &'static str,
    pub src: String,
    pub dst: String,
    pub probe: u16,
    pub forward: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_reason: Option<String>,
    /// The probe had already been delivered (or answered) when the kernel freed this packet:
    /// consumed, not dropped on the way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_delivery: bool,
    /// The bridge that forwarded the packet (br_forward hops).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// Not seen by the kernel, inferred from the host's links.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inferred: bool,
}

impl From<Hop> for HopJson {
    fn from(h: Hop) -> Self {
        Self {
            seq: h.seq,
            t_ns: h.t_ns,
            netns: h.netns.to_string(),
            iface: h.iface,
            hook: h.hook.name(),
            src: h.tuple.src_str(),
            dst: h.tuple.dst_str(),
            probe: h.probe,
            forward: h.forward,
            packet: h.packet,
            drop_reason: h.drop_reason.map(|r| r.to_string()),
            after_delivery: h.after_delivery,
            bridge: h.bridge,
            inferred: h.inferred,
        }
    }
}

#[derive(Serialize)]
pub struct ProbeJson {
    pub index: u16,
    pub sport: u16,
    #[serde(flatten)]
    pub answer: Answer,
    pub elapsed_ms: f64,
}

impl From<ProbeRecord> for ProbeJson {
    fn from(p: ProbeRecord) -> Self {
        Self { index: p.index, sport: p.sport, answer: p.answer, elapsed_ms: p.elapsed_ms }
    }
}

#[derive(Serialize)]
pub struct TraceReport {
    pub schema: u32,
    pub from: EndpointJson,
    pub to: EndpointJson,
    pub reachable: bool,
    pub verdict: VerdictJson,
    /// The target's name as the source resolved it (targets named by DNS only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionJson>,
    pub hops: Vec<HopJson>,
    pub coverage: Coverage,
    pub probes: Vec<ProbeJson>,
    /// Hooks that could not run here, and other remarks.
    pub notes: Vec<String>,
    pub elapsed_ms: u64,
}

impl TraceReport {
    pub fn new(ends: &Endpoints, proto: Proto, e: Explanation, seen: Visibility, elapsed_ms: u64) -> Self {
        let mut notes = Self::notes_from(&seen.hooks);
        notes.extend(ends.topology.docker.notes.iter().cloned());
        notes.extend(host_network_notes(&ends.from, &ends.to));
        TraceReport {
            schema: SCHEMA,
            from: EndpointJson::of(&ends.from, None),
            to: EndpointJson::of(&ends.to, Some(proto)),
            reachable: e.verdict.cause == Cause::Ok,
            verdict: VerdictJson::of(e.verdict, e.leg),
            resolution: e.dns.map(ResolutionJson::from),
            hops: e.hops.into_iter().map(HopJson::from).collect(),
            coverage: seen.coverage,
            probes: e.probes.into_iter().map(ProbeJson::from).collect(),
            notes,
            elapsed_ms,
        }
    }

    /// One note per missing tracepoint; the kprobe/fentry enrichment hooks, which are often
    /// all missing together, in one line.
    pub fn notes_from(hooks: &[HookStatus]) -> Vec<String> {
        let missing = hooks.iter().filter(|h| !h.attached);
        let (enrich, other): (Vec<&HookStatus>, Vec<&HookStatus>) =
            missing.partition(|h| h.hook.contains('('));
        let mut notes: Vec<String> = other
            .iter()
            .map(|h| format!("{} not attached: {}", h.hook, h.note.clone().unwrap_or_default()))
            .collect();
        if let Some(first) = enrich.first() {
            let names: Vec<&str> =
                enrich.iter().map(|h| h.hook.split(" (").next().unwrap_or(h.hook)).collect();
            notes.push(format!(
                "kprobe/fentry enrichment unavailable here ({}): {}",
                first.note.clone().unwrap_or_default(),
                names.join(", ")
            ));
        }
        notes
    }

    /// On stdout: one JSON object, or the text for people.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).unwrap_or_default());
        } else {
            crate::style::print(&text::text(self));
        }
    }
}

/// Endpoints in the host's namespace (`--network host`) take the host's path.
fn host_network_notes(from: &ResolvedEndpoint, to: &ResolvedEndpoint) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(EndpointIssue::HostNetwork) = &from.issue {
        notes.push(format!(
            "{} uses the host's network namespace: its packets take the host's path",
            from.name
        ));
    }
    if let Some(EndpointIssue::HostNetwork) = &to.issue {
        notes.push(format!(
            "{} uses the host's network namespace: it is reached at the host's own addresses, with no bridge or NAT on the way",
            to.name
        ));
    }
    notes
}
