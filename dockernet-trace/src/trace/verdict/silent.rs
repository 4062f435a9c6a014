//! Verdicts for probes that vanished without a drop: the route took the packet the wrong
//! way, it left the host without source NAT, the stack refused to send it, or it stalled
//! waiting for a neighbour. The kernel's route lookups and hops say where; the model says why.
use dockernet_trace_common::Hook;

use super::{Context, Location, TraceVerdict};
use crate::{
    cause::Cause,
    explain::{NetnsLabel, neighbour},
    flow::IpFamily,
    model::EndpointIssue,
    netfilter::docker::manages_ip6tables,
    probe::Answer,
};

pub fn decide(cx: &Context) -> Option<TraceVerdict> {
    stack_error(cx).or_else(|| unmasqueraded(cx)).or_else(|| stalled(cx))
}

fn route_line(cx: &Context) -> Option<String> {
    let dst = cx.plan.final_dst();
    cx.facts.route_for(dst).map(|r| {
        format!(
            "route lookup for {dst} (table {}) chose {}{}",
            r.table,
            r.oif,
            r.gateway.map(|g| format!(" via {g}")).unwrap_or_default()
        )
    })
}

/// The source's own stack refused to send (no route, unreachable): connect() failed at once.
fn stack_error(cx: &Context) -> Option<TraceVerdict> {
    let (_errno, error) = cx.probes.iter().find_map(|p| match &p.answer {
        Answer::Unreachable { errno, error } if *errno != 0 => Some((*errno, error.clone())),
        _ => None,
    })?;
    let mut evidence: Vec<String> = cx
        .facts
        .failed_routes()
        .map(|r| format!("route lookup for {} in table {} failed with error {}", r.dst, r.table, r.err))
        .collect();
    evidence.extend(route_line(cx));
    let location = Location {
        netns: Some(cx.source_netns.clone()),
        function: Some(cx.plan.family().route_lookup().into()),
        ..Location::default()
    };
    if cx.from.issue == Some(EndpointIssue::NoNetwork) {
        return Some(TraceVerdict {
            cause: Cause::NoRoute,
            summary: format!(
                "{} runs with --network none: it has only loopback, so it can reach nothing",
                cx.from.name
            ),
            location,
            evidence,
            fix: vec![format!("docker network connect bridge {}", cx.from.name)],
        });
    }
    for cause in [Cause::LinkDown, Cause::BridgeGatewayMissing, Cause::BridgeDown, Cause::IpForwardDisabled] {
        if let Some(f) = cx.finding(cause) {
            let summary = format!("{} (the probe failed at once: {error})", f.summary);
            return Some(cx.from_finding(f, summary, None, evidence));
        }
    }
    Some(TraceVerdict {
        cause: Cause::NoRoute,
        summary: format!("{} cannot send to {}: {error}", cx.from.name, cx.target()),
        location,
        evidence,
        fix: vec![format!("ip route get {}   # in {}", cx.plan.dst, cx.from.name)],
    })
}

/// The host routed a Docker address anywhere but its network's bridge.
pub fn wrong_way(cx: &Context) -> Option<TraceVerdict> {
    let expected = cx.plan.expected_oif.as_deref()?;
    let dst = cx.plan.final_dst();
    let chosen = cx.facts.route_for(dst).map(|r| r.oif.clone());
    let went = cx
        .hops
        .iter()
        .rev()
        .find(|h| h.forward && h.netns.is_host() && h.hook != Hook::KfreeSkb)
        .map(|h| h.iface.clone());
    let wrong = chosen.as_deref().is_some_and(|c| c != expected && cx.topology.link_by_name(c).is_some());
    if !wrong || cx.plan.leaves_host {
        return None;
    }
    let chosen = chosen.unwrap_or_default();
    let mut evidence: Vec<String> = route_line(cx).into_iter().collect();
    evidence.push(format!("expected: {expected}, the bridge of {}", cx.plan.networks.join(", ")));
    if let Some(w) = &went {
        evidence.push(format!("last seen on the host: {w}"));
    }
    if let Some(d) = cx.facts.decisive_drop() {
        evidence.push(format!("then dropped in {} on {} ({})", d.netns, d.iface, d.reason));
    }
    let location = Location {
        iface: Some(chosen.clone()),
        netns: Some(NetnsLabel::Host),
        function: Some(cx.plan.family().route_lookup().into()),
        ..Location::default()
    };
    for cause in [Cause::BridgeGatewayMissing, Cause::BridgeDown, Cause::SubnetConflict] {
        if let Some(f) = cx.finding(cause) {
            let summary = format!("{}; the probe for {dst} left through {chosen} instead", f.summary);
            return Some(cx.from_finding(f, summary, Some(location), evidence));
        }
    }
    Some(TraceVerdict {
        cause: Cause::NoRoute,
        summary: format!("the host routes {dst} through {chosen} instead of {expected}"),
        location,
        evidence,
        fix: vec![format!("ip route get {dst}; ip route show dev {expected}")],
    })
}

/// The answer came back to the host, which routed it away from the source's bridge (the
/// network's route gone with the bridge's gateway address, or the bridge down): whatever then
/// dropped it (a FORWARD policy, the outside) is a consequence.
pub fn answer_wrong_way(cx: &Context) -> Option<TraceVerdict> {
    let net = cx.from.network.as_deref().and_then(|n| cx.topology.network(n))?;
    let expected = net.bridge.as_deref()?;
    let route = cx.facts.route_for(cx.from.ip)?;
    if route.oif == expected || cx.topology.link_by_name(&route.oif).is_none() {
        return None;
    }
    let f = [Cause::BridgeGatewayMissing, Cause::BridgeDown]
        .into_iter()
        .filter_map(|c| cx.finding(c))
        .find(|f| f.network.as_deref() == Some(net.name.as_str()))?;
    let src = cx.from.ip;
    let mut evidence = vec![
        format!("route lookup for the answer to {src} (table {}) chose {}", route.table, route.oif),
        format!("expected: {expected}, the bridge of {}", net.name),
    ];
    if let Some(d) = cx.facts.decisive_drop() {
        evidence.push(format!("then dropped in {} on {} ({})", d.netns, d.iface, d.reason));
    }
    let location = Location {
        iface: Some(route.oif.clone()),
        netns: Some(NetnsLabel::Host),
        function: Some(cx.plan.family().route_lookup().into()),
        ..Location::default()
    };
    let summary = format!("{}; the answer to {src} went to {} instead", f.summary, route.oif);
    Some(cx.from_finding(f, summary, Some(location), evidence))
}

/// The probe left the host through its uplink still carrying a container's private address.
fn unmasqueraded(cx: &Context) -> Option<TraceVerdict> {
    if !cx.plan.leaves_host {
        return None;
    }
    let out = cx.plan.expected_oif.as_deref()?;
    let hop = cx.hops.iter().find(|h| h.forward && h.netns.is_host() && h.iface == out)?;
    let src_ip = hop.tuple.src;
    let net = cx.topology.network_containing(src_ip)?;
    let family = IpFamily::of(&src_ip);
    // Docker NATs IPv6 only where it writes ip6tables rules and the network's IPv6 gateway
    // mode NATs; otherwise an unchanged IPv6 source is by design (routed).
    if family == IpFamily::V6 && !(net.masquerade6 && manages_ip6tables(cx.rules)) {
        return None;
    }
    let (src, dst) = (hop.tuple.src_str(), hop.tuple.dst_str());
    let mut evidence = vec![format!("probe left {out} as {src} → {dst} (source not translated)")];
    let location =
        Location { iface: Some(out.to_string()), netns: Some(NetnsLabel::Host), ..Location::default() };
    if let Some(f) = cx.finding(Cause::MasqueradeMissing) {
        let summary = format!("{}; the probe left {out} as {src}", f.summary);
        return Some(cx.from_finding(f, summary, Some(location), evidence));
    }
    evidence.push(format!("{src_ip} belongs to Docker network {}", net.name));
    Some(TraceVerdict {
        cause: Cause::MasqueradeMissing,
        summary: format!(
            "the probe left {out} with the private source {src_ip}: no source NAT, so no answer can come back"
        ),
        location,
        evidence,
        fix: net
            .subnets_of(family)
            .next()
            .map(|s| {
                format!(
                    "{} -t nat -A POSTROUTING -s {} ! -o {} -j MASQUERADE",
                    family.iptables(),
                    s.subnet,
                    net.bridge.clone().unwrap_or_default()
                )
            })
            .into_iter()
            .collect(),
    })
}

/// The probe stopped without a drop: waiting for ARP, or swallowed at a broken point the model
/// knows about. (Not a firewall: netfilter's drops always show as drops.)
fn stalled(cx: &Context) -> Option<TraceVerdict> {
    let last = cx.last_forward_hop();
    let location = last
        .map(|h| Location {
            iface: Some(h.iface.clone()),
            netns: Some(h.netns.clone()),
            ..Location::default()
        })
        .unwrap_or_default();
    let mut evidence: Vec<String> =
        last.map(|h| format!("last seen: {} {} ({})", h.netns, h.iface, h.hook.name())).into_iter().collect();
    if last.is_none() {
        evidence.push("the probe never appeared on any interface".into());
    }
    let pending = cx
        .facts
        .neighbours
        .iter()
        .find(|n| neighbour::failed(n.state) || neighbour::waiting(n.state) || n.created);
    if let Some(n) = pending {
        evidence.push(format!(
            "{} for {} on {} {}",
            IpFamily::of(&n.addr).neighbour_protocol(),
            n.addr,
            n.iface,
            if neighbour::failed(n.state) { "failed" } else { "got no answer" }
        ));
    }
    for cause in [
        Cause::VethDetached,
        Cause::LinkDown,
        Cause::BridgePortBlocked,
        Cause::BridgeDown,
        Cause::BridgeGatewayMissing,
        Cause::SubnetConflict,
        Cause::IpForwardDisabled,
    ] {
        if let Some(f) = cx.finding(cause) {
            return Some(cx.from_finding(f, f.summary.clone(), None, evidence));
        }
    }
    let n = pending?;
    Some(TraceVerdict {
        cause: Cause::NeighborUnreachable,
        summary: format!(
            "nobody answers {} for {} on {}: the next hop is not there",
            IpFamily::of(&n.addr).neighbour_protocol(),
            n.addr,
            n.iface
        ),
        location: Location { iface: Some(n.iface.clone()), ..location },
        evidence,
        fix: vec![format!("check that {} is up and on the link of {}", n.addr, n.iface)],
    })
}
