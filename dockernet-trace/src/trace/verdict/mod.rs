//! The verdict: one cause code, a sentence, the place, the evidence and the fix, decided from
//! what the kernel showed (answers, drops, route lookups, hops), the rule counters that moved,
//! and the faults the model finds on the expected path. Each rule below looks at one kind of
//! outcome and either decides or passes; the first that decides wins.
mod by_design;
mod direct_access;
pub mod dns;
mod drops;
mod firewall;
mod outcome;
mod path;
mod published;
mod silent;

pub use path::on_path;

use super::{collect::ProbeRecord, facts::Facts, hops::Hop, plan::Plan, sockets::Sockets};
use crate::{
    cause::{Cause, Finding},
    explain::NetnsLabel,
    flow::Proto,
    kernel::DropReason,
    model::{ResolvedEndpoint, Topology},
    netfilter::{CounterDelta, Ruleset},
    probe::Answer,
    words::count,
};

/// Where the probe stopped, or the faulty object (CONTRACT's `verdict.location`).
#[derive(Clone, Debug, Default)]
pub struct Location {
    pub iface: Option<String>,
    pub netns: Option<NetnsLabel>,
    pub function: Option<String>,
    pub drop_reason: Option<DropReason>,
    pub rule: Option<String>,
}

/// The verdict of a trace (CONTRACT's `verdict`; not a netfilter rule's verdict).
#[derive(Clone, Debug)]
pub struct TraceVerdict {
    pub cause: Cause,
    pub summary: String,
    pub location: Location,
    pub evidence: Vec<String>,
    pub fix: Vec<String>,
}

/// Everything a verdict may consult.
pub struct Context<'a> {
    pub topology: &'a Topology,
    pub from: &'a ResolvedEndpoint,
    pub to: &'a ResolvedEndpoint,
    pub plan: &'a Plan,
    pub probes: &'a [ProbeRecord],
    pub hops: &'a [Hop],
    pub facts: &'a Facts,
    pub deltas: &'a [CounterDelta],
    pub rules: &'a Ruleset,
    /// The source's namespace, named as hops name it.
    pub source_netns: NetnsLabel,
    /// Faults of the model that lie on the expected path.
    pub findings: Vec<&'a Finding>,
    /// Events the kernel could not deliver (ring buffer full).
    pub lost: u64,
    /// The sockets at the probe's end, read after the probes.
    pub sockets: &'a Sockets,
}

impl Context<'_> {
    pub fn target(&self) -> String {
        match self.to.port {
            Some(p) if self.plan.proto != Proto::Icmp => format!("{}:{p}", self.to.name),
            _ => self.to.name.clone(),
        }
    }

    /// A path finding of this cause, if the model found one.
    pub fn finding(&self, cause: Cause) -> Option<&Finding> {
        self.findings.iter().copied().find(|f| f.cause == cause)
    }

    /// The last hop of a probe packet travelling towards the target.
    pub fn last_forward_hop(&self) -> Option<&Hop> {
        self.hops.iter().rev().find(|h| h.forward)
    }
}

impl Context<'_> {
    /// A verdict that rests on a fault the model found on the path. `observed` is where the
    /// kernel showed the probe stop, when it did; otherwise the place is the fault's own. A
    /// bridge, or a bridge port, at fault is the location itself (CONTRACT.md: the location
    /// names the faulty object), and where the probe was last seen goes into the evidence.
    pub fn from_finding(
        &self,
        f: &Finding,
        summary: String,
        observed: Option<Location>,
        mut evidence: Vec<String>,
    ) -> TraceVerdict {
        let object =
            matches!(f.cause, Cause::BridgeGatewayMissing | Cause::BridgeDown | Cause::BridgePortBlocked);
        let location = match observed {
            Some(l) if object && f.iface.is_some() && l.iface != f.iface => {
                evidence.push(format!("last seen: {}", seen_at(&l)));
                self.faulty_object(f)
            }
            Some(mut l) => {
                if l.iface.is_none() {
                    l.iface = f.iface.clone();
                }
                l
            }
            None => {
                if object && let Some(h) = self.last_forward_hop() {
                    evidence.push(format!("last seen: {} {} ({})", h.netns, h.iface, h.hook.name()));
                }
                self.faulty_object(f)
            }
        };
        evidence.extend(f.evidence.iter().cloned());
        TraceVerdict { cause: f.cause, summary, location, evidence, fix: f.fix.clone() }
    }

    /// The interface a finding names, in the namespace that holds it.
    fn faulty_object(&self, f: &Finding) -> Location {
        Location {
            netns: f.iface.as_deref().and_then(|i| {
                if self.topology.link_by_name(i).is_some() {
                    Some(NetnsLabel::Host)
                } else {
                    f.container.clone().map(NetnsLabel::Container)
                }
            }),
            iface: f.iface.clone(),
            ..Location::default()
        }
    }
}

/// A location as one line of evidence: namespace, interface, function, reason.
fn seen_at(l: &Location) -> String {
    let parts: Vec<String> = [
        l.netns.as_ref().map(ToString::to_string),
        l.iface.clone(),
        l.function.clone(),
        l.drop_reason.as_ref().map(ToString::to_string),
    ]
    .into_iter()
    .flatten()
    .collect();
    parts.join(" ")
}

/// What each probe's socket saw, as evidence lines.
fn probe_evidence(cx: &Context) -> Vec<String> {
    cx.probes
        .iter()
        .map(|p| {
            let a = match &p.answer {
                Answer::Unreachable { error, .. } => format!("error: {error}"),
                other => other.name().replace('_', " "),
            };
            let id = if cx.plan.proto == Proto::Icmp { "id" } else { "source port" };
            format!("probe {} ({id} {}): {a} after {:.1} ms", p.index + 1, p.sport, p.elapsed_ms)
        })
        .collect()
}

pub fn decide(cx: &Context) -> TraceVerdict {
    let mut v = inconclusive(cx)
        .or_else(|| published::answered_instead(cx))
        .or_else(|| outcome::all_through(cx))
        .or_else(|| outcome::partial(cx))
        .unwrap_or_else(|| stopped(cx));
    let mut evidence = probe_evidence(cx);
    evidence.append(&mut v.evidence);
    evidence.dedup();
    v.evidence = evidence;
    v
}

/// Why the probes (all of those in `cx`) stopped.
/// A wrong route comes before drops: whatever drops the probe after it went the wrong way
/// (a gateway outside that knows nothing of container addresses) is a consequence.
fn stopped(cx: &Context) -> TraceVerdict {
    published::refused_elsewhere(cx)
        .or_else(|| drops::refused(cx))
        .or_else(|| by_design::decide(cx))
        .or_else(|| silent::wrong_way(cx))
        .or_else(|| silent::answer_wrong_way(cx))
        .or_else(|| drops::dropped(cx))
        .or_else(|| silent::decide(cx))
        .unwrap_or_else(|| unknown(cx))
}

fn inconclusive(cx: &Context) -> Option<TraceVerdict> {
    if cx.lost == 0 || cx.probes.iter().any(|p| p.answer.reached()) {
        return None;
    }
    Some(TraceVerdict {
        cause: Cause::Unknown,
        summary: format!(
            "inconclusive: the kernel lost {} while tracing (ring buffer full), so a drop may have gone unseen; run the trace again",
            count(cx.lost, "event")
        ),
        location: Location::default(),
        evidence: vec![format!("{} lost", count(cx.lost, "event"))],
        fix: vec![],
    })
}

fn unknown(cx: &Context) -> TraceVerdict {
    let mut evidence: Vec<String> = cx
        .facts
        .drops
        .iter()
        .map(|d| format!("dropped in {} on {} ({}, {})", d.netns, d.iface, d.location, d.reason))
        .collect();
    if let Some(h) = cx.last_forward_hop() {
        evidence.push(format!("last seen: {} {} ({})", h.netns, h.iface, h.hook.name()));
    }
    TraceVerdict {
        cause: Cause::Unknown,
        summary: format!(
            "{} did not reach {}, and what the kernel showed matches no known fault",
            cx.from.name,
            cx.target()
        ),
        location: cx
            .last_forward_hop()
            .map(|h| Location {
                iface: Some(h.iface.clone()),
                netns: Some(h.netns.clone()),
                ..Location::default()
            })
            .unwrap_or_default(),
        evidence,
        fix: vec![],
    }
}
