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
    let iface = answer.map(|a| a.iface.clone());
    let family = cx.plan.family();
    let function = Some(answer.map_or(AnswerKind::Reset, |a| a.kind).function(family).to_string());
    let port = cx.to.port.unwrap_or(0);
    let who = netns.as_ref().map(|n| n.to_string()).unwrap_or_else(|| "the target".into());
    if let Some(d) = &cx.plan.dnat {
        // Docker publishes this port for a container, yet the host itself answered.
        let from_host = netns.as_ref().is_some_and(NetnsLabel::is_host);
        if from_host {
            let f = cx.finding(Cause::DnatMissing);
            return Some(TraceVerdict {
                cause: Cause::DnatMissing,
                summary: format!(
                    "port {port} is published for {} ({}:{}), but no DNAT sent the probe there: the host itself answered that nothing listens",
                    d.container, d.ip, d.port
                ),
                location: Location { iface, netns, function, rule: None, drop_reason: None },
                evidence: f.map(|f| f.evidence.clone()).unwrap_or_default(),
                fix: f.map(|f| f.fix.clone()).unwrap_or_else(|| {
                    vec!["systemctl restart docker   # rewrites Docker's NAT rules".into()]
                }),
            });
        }
    }
    Some(TraceVerdict {
        cause: Cause::NoListener,
        summary: format!("the probe reached {who}, which answered that nothing listens on port {port}"),
        location: Location { iface, netns, function, rule: None, drop_reason: None },
        evidence: cx
            .facts
            .drops
            .iter()
            .filter(|d| d.kind() == DropKind::NoListener)
            .take(1)
            .map(|d| {
                format!("{} dropped it in {} ({}): no socket on port {port}", d.netns, d.location, d.reason)
            })
            .collect(),
        fix: vec![format!(
            "start the service on port {port} in {who}, or trace the port it really listens on"
        )],
    })
}

/// A published port "answered", but the probe never reached the container behind it: the
/// host accepted the connection itself (Docker 20.10 without the userland proxy holds the port
/// in dockerd, which completes handshakes and forwards nothing) because no DNAT sent it on.
pub fn answered_by_host_instead(cx: &Context) -> Option<TraceVerdict> {
    let d = cx.plan.dnat.as_ref()?;
    let target = NetnsLabel::Container(d.container.clone());
    if cx.hops.iter().any(|h| h.forward && h.netns == target) {
        return None;
    }
    let proto = if cx.plan.proto == crate::flow::Proto::Udp { "udp" } else { "tcp" };
    let port = cx.to.port.unwrap_or(0);
    let listener = crate::model::listeners::host_listener(proto, port);
    if listener.as_ref().is_some_and(|l| l.serves()) {
        return None;
    }
    let holder = listener.and_then(|l| l.command.map(|c| format!("{c} (pid {})", l.pid.unwrap_or(0))));
    let mut evidence =
        vec![format!("the probe never reached {target}; the host itself completed the handshake")];
    if let Some(h) = holder {
        evidence.push(format!("port {port} on the host is held by {h}, which only reserves it"));
    }
    let f = cx.finding(Cause::DnatMissing);
    evidence.extend(f.iter().flat_map(|f| f.evidence.iter().cloned()));
    let last = cx.hops.iter().rev().find(|h| h.forward);
    Some(TraceVerdict {
        cause: Cause::DnatMissing,
        summary: format!(
            "port {port} is published for {} ({}:{}), but no DNAT sends it there: the host accepted the connection itself and nothing reaches the container",
            d.container, d.ip, d.port
        ),
        location: Location {
            iface: last.map(|h| h.iface.clone()),
            netns: Some(NetnsLabel::Host),
            function: None,
            drop_reason: None,
            rule: None,
        },
        evidence,
        fix: f
            .map(|f| f.fix.clone())
            .unwrap_or_else(|| vec!["systemctl restart docker   # rewrites Docker's NAT rules".into()]),
    })
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

fn drop_line(d: &DropSighting) -> String {
    format!(
        "probe {} {} {} → {} dropped in {} on {} at {} ({})",
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
    let evidence = vec![drop_line(d)];
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
