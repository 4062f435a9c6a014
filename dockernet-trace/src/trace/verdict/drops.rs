//! Verdicts for probes the kernel answered or dropped: a reset or ICMP error (nothing
//! listens, or the host answered instead of the container behind a published port), or a
//! drop with its reason, function and — for netfilter — its rule.
use super::{Context, Location, TraceVerdict, firewall::netfilter_drop};
use crate::{
    cause::Cause,
    explain::{DropKind, NetnsLabel},
    probe::Answer,
    trace::facts::{AnswerKind, DropSighting},
};

/// The target (or the host, for a published port without DNAT) answered with a reset or an
/// ICMP port unreachable.
pub fn refused(cx: &Context) -> Option<TraceVerdict> {
    // A REJECT rule answers like a closed port, but netfilter dropped the probe first: that
    // drop, and the rule behind it, is the story (see `dropped`).
    if cx.facts.drops.iter().any(|d| d.forward && d.kind() == DropKind::Netfilter) {
        return None;
    }
    let refused = cx.probes.iter().any(|p| matches!(p.answer, Answer::Refused | Answer::PortUnreachable));
    let answer = cx.facts.answers.iter().find(|a| a.kind.refuses());
    if !refused && answer.is_none() {
        return None;
    }
    let netns = answer.map(|a| a.netns.clone());
    let family = cx.plan.family();
    let location = Location {
        iface: answer.map(|a| a.iface.clone()),
        netns: netns.clone(),
        function: Some(answer.map_or(AnswerKind::Reset, |a| a.kind).function(family).to_string()),
        rule: None,
        drop_reason: None,
    };
    let port = cx.to.port.unwrap_or(0);
    if let Some(d) = &cx.plan.dnat
        && netns.as_ref().is_some_and(NetnsLabel::is_host)
    {
        // Docker publishes this port for a container, yet the host itself answered.
        let f = cx.finding(Cause::DnatMissing);
        return Some(TraceVerdict {
            cause: Cause::DnatMissing,
            summary: format!(
                "port {port} is published for {} ({}:{}), but no DNAT sent the probe there: the host itself answered that nothing listens",
                d.container, d.ip, d.port
            ),
            location,
            evidence: f.map(|f| f.evidence.clone()).unwrap_or_default(),
            fix: f
                .map(|f| f.fix.clone())
                .unwrap_or_else(|| vec!["systemctl restart docker   # rewrites Docker's NAT rules".into()]),
        });
    }
    let (who, summary, port) = refuser(cx, netns.as_ref(), port);
    let place = if who == "the host" { "on the host".to_string() } else { format!("in {who}") };
    Some(TraceVerdict {
        cause: Cause::NoListener,
        summary,
        location,
        evidence: cx
            .facts
            .drops
            .iter()
            .filter(|d| d.kind() == DropKind::NoListener)
            .take(1)
            .map(|d| format!("{} found no socket for port {port} ({} in {})", d.netns, d.reason, d.location))
            .collect(),
        fix: vec![format!(
            "start the service on port {port} {place}, or trace the port it really listens on"
        )],
    })
}

/// Who refused, the sentence, and the port that matters (behind DNAT: the container's).
fn refuser(cx: &Context, netns: Option<&NetnsLabel>, port: u16) -> (String, String, u16) {
    match (&cx.plan.dnat, netns) {
        (Some(d), Some(NetnsLabel::Container(c))) if *c == d.container => (
            c.clone(),
            format!(
                "the probe reached {c} ({}) through port {port} published on the host, and {c} answered that nothing listens on its port {}",
                d.ip, d.port
            ),
            d.port,
        ),
        (_, netns) => {
            let who = match netns {
                Some(NetnsLabel::Container(c)) => c.clone(),
                Some(NetnsLabel::Host) => "the host".into(),
                Some(other) => other.to_string(),
                None => "the target".into(),
            };
            let summary =
                format!("the probe reached {who}, which answered that nothing listens on port {port}");
            (who, summary, port)
        }
    }
}

pub(super) fn drop_location(d: &DropSighting, rule: Option<String>) -> Location {
    Location {
        iface: Some(d.iface.clone()),
        netns: Some(d.netns.clone()),
        function: d.function.clone(),
        drop_reason: Some(d.reason.clone()),
        rule,
    }
}

/// What the kernel showed of a drop, as one line of evidence; `verb` says what happened
/// ("dropped", or "rejected" for a REJECT rule).
pub(super) fn drop_line(d: &DropSighting, verb: &str) -> String {
    format!(
        "probe {} {} {} → {} {verb} in {} on {} at {} ({})",
        d.probe + 1,
        if d.forward { "packet" } else { "answer" },
        d.tuple.src_str(),
        d.tuple.dst_str(),
        d.netns,
        d.iface,
        d.location,
        d.reason
    )
}

/// A drop: netfilter (the rule), neighbour failure, no route, STP, or what the model says.
pub fn dropped(cx: &Context) -> Option<TraceVerdict> {
    let d = cx.facts.decisive_drop()?;
    let evidence = vec![drop_line(d, "dropped")];
    match d.kind() {
        DropKind::Netfilter => Some(netfilter_drop(cx, d, evidence)),
        DropKind::BridgePortBlocked => Some(with_finding(cx, d, evidence, || {
            format!("bridge port {} is not forwarding (STP), so the bridge dropped the probe", d.iface)
        })),
        DropKind::Neighbour => Some(neighbour(cx, d, evidence)),
        DropKind::NoRoute => Some(no_route(cx, d, evidence)),
        DropKind::NoListener | DropKind::Other => {
            // A reason we have no dedicated rule for: a fault the model found where the packet
            // was dropped (its interface, or host-wide like ip_forward) explains it; otherwise
            // the raw facts (see `unknown`).
            let f = cx.findings.iter().copied().find(|f| f.iface.as_deref().is_none_or(|i| i == d.iface))?;
            Some(cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence))
        }
    }
}

/// The fault the model found for the drop's cause, else the drop itself.
fn with_finding(
    cx: &Context,
    d: &DropSighting,
    evidence: Vec<String>,
    summary: impl Fn() -> String,
) -> TraceVerdict {
    let cause = d.kind().cause();
    match cx.finding(cause) {
        Some(f) => cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence),
        None => TraceVerdict {
            cause,
            summary: summary(),
            location: drop_location(d, None),
            evidence,
            fix: vec![],
        },
    }
}

fn neighbour(cx: &Context, d: &DropSighting, mut evidence: Vec<String>) -> TraceVerdict {
    // A missing neighbour is the symptom; a gateway address gone from the bridge, a detached
    // veth, a down link or a subnet that belongs elsewhere is the cause when the model finds
    // one on the path.
    if let Some((f, gw)) = gateway_unanswered(cx, d) {
        let protocol = crate::flow::IpFamily::of(&gw).neighbour_protocol();
        evidence
            .push(format!("nobody answers {protocol} for the gateway {gw}: the bridge no longer holds it"));
        return cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence);
    }
    for cause in [
        Cause::VethDetached,
        Cause::LinkDown,
        Cause::BridgePortBlocked,
        Cause::SubnetConflict,
        Cause::BridgeDown,
    ] {
        if let Some(f) = cx.finding(cause) {
            return cx.from_finding(f, f.summary.clone(), None, evidence);
        }
    }
    TraceVerdict {
        cause: d.kind().cause(),
        summary: format!(
            "nobody answered {} for the next hop of {} on {}, so the packet was dropped",
            crate::flow::IpFamily::of(&d.tuple.dst).neighbour_protocol(),
            d.tuple.dst,
            d.iface
        ),
        location: drop_location(d, None),
        evidence,
        fix: vec![format!("check that {} exists and is up on the link of {}", d.tuple.dst, d.iface)],
    }
}

/// A bridge that lost its gateway address no longer answers neighbour resolution for it: the
/// containers' packets to anything beyond their subnet wait for a gateway that is gone. The
/// finding, and the gateway, when the packet needed it.
fn gateway_unanswered<'a>(
    cx: &'a Context,
    d: &DropSighting,
) -> Option<(&'a crate::cause::Finding, std::net::IpAddr)> {
    let f = cx.finding(Cause::BridgeGatewayMissing)?;
    let net = f.network.as_deref().and_then(|n| cx.topology.network(n))?;
    let family = crate::flow::IpFamily::of(&d.tuple.dst);
    let gateway = net.subnets_of(family).find_map(|s| s.gateway)?;
    let asked = cx.facts.neighbours.iter().any(|n| n.addr == gateway);
    let beyond = net.subnet_of(d.tuple.dst).is_none() && net.subnet_of(d.tuple.src).is_some();
    (asked || beyond).then_some((f, gateway))
}

fn no_route(cx: &Context, d: &DropSighting, evidence: Vec<String>) -> TraceVerdict {
    for cause in [Cause::IpForwardDisabled, Cause::BridgeGatewayMissing, Cause::BridgeDown, Cause::LinkDown] {
        if let Some(f) = cx.finding(cause) {
            return cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence);
        }
    }
    TraceVerdict {
        cause: d.kind().cause(),
        summary: format!("{} has no route to {}", d.netns, d.tuple.dst),
        location: drop_location(d, None),
        evidence,
        fix: vec![format!("ip route get {}   # in {}", d.tuple.dst, d.netns)],
    }
}
