//! Verdicts for probes the kernel answered or dropped: a reset or ICMP error (nothing
//! listens, or the host answered instead of the container behind a published port), or a
//! drop with its reason, function and — for netfilter — its rule.
use super::{Context, Location, Verdict, netfilter::attribute};
use crate::{cause::Cause, probe::Answer, trace::facts::Drop};

/// The target (or the host, for a published port without DNAT) answered with a reset or an
/// ICMP port unreachable.
pub fn refused(cx: &Context) -> Option<Verdict> {
    // A REJECT rule answers like a closed port, but netfilter dropped the probe first: that
    // drop, and the rule behind it, is the story (see `dropped`).
    if cx.facts.drops.iter().any(|d| d.forward && d.reason == "NETFILTER_DROP") {
        return None;
    }
    let refused = cx.probes.iter().any(|p| matches!(p.answer, Answer::Refused | Answer::PortUnreachable));
    let answer = cx.facts.answers.iter().find(|a| a.kind == "reset" || a.icmp == Some((3, 3)));
    if !refused && answer.is_none() {
        return None;
    }
    let netns = answer.map(|a| a.netns.clone());
    let iface = answer.map(|a| a.iface.clone());
    let function = Some(
        if answer.is_some_and(|a| a.kind == "icmp") { "icmp_send" } else { "tcp_v4_send_reset" }.to_string(),
    );
    let port = cx.to.port.unwrap_or(0);
    let who = netns.clone().unwrap_or_else(|| "the target".into());
    if let Some(d) = &cx.plan.dnat {
        // Docker publishes this port for a container, yet the host itself answered.
        let from_host = netns.as_deref() == Some("host");
        if from_host {
            let f = cx.finding(Cause::DnatMissing);
            return Some(Verdict {
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
    Some(Verdict {
        cause: Cause::NoListener,
        summary: format!("the probe reached {who}, which answered that nothing listens on port {port}"),
        location: Location { iface, netns, function, rule: None, drop_reason: None },
        evidence: cx
            .facts
            .drops
            .iter()
            .filter(|d| d.reason == "NO_SOCKET")
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
pub fn answered_by_host_instead(cx: &Context) -> Option<Verdict> {
    let d = cx.plan.dnat.as_ref()?;
    let target = format!("container:{}", d.container);
    if cx.hops.iter().any(|h| h.forward && h.netns == target) {
        return None;
    }
    let proto = if cx.plan.proto == crate::cli::Proto::Udp { "udp" } else { "tcp" };
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
    Some(Verdict {
        cause: Cause::DnatMissing,
        summary: format!(
            "port {port} is published for {} ({}:{}), but no DNAT sends it there: the host accepted the connection itself and nothing reaches the container",
            d.container, d.ip, d.port
        ),
        location: Location {
            iface: last.map(|h| h.iface.clone()),
            netns: Some("host".into()),
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

fn drop_location(d: &Drop, rule: Option<String>) -> Location {
    Location {
        iface: Some(d.iface.clone()),
        netns: Some(d.netns.clone()),
        function: d.function.clone(),
        drop_reason: Some(d.reason.clone()),
        rule,
    }
}

fn drop_line(d: &Drop) -> String {
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
pub fn dropped(cx: &Context) -> Option<Verdict> {
    let d = cx.facts.decisive_drop()?;
    let evidence = vec![drop_line(d)];
    match d.reason.as_str() {
        "NETFILTER_DROP" => Some(netfilter_drop(cx, d, evidence)),
        "BRIDGE_INGRESS_STP_STATE" => Some(with_finding(cx, d, Cause::BridgePortBlocked, evidence, || {
            format!("bridge port {} is not forwarding (STP), so the bridge dropped the probe", d.iface)
        })),
        r if r.starts_with("NEIGH_") => Some(neighbour(cx, d, evidence)),
        "IP_INNOROUTES" | "IP_OUTNOROUTES" => Some(no_route(cx, d, evidence)),
        _ => {
            // A reason we have no dedicated rule for: a fault the model found where the packet
            // was dropped (its interface, or host-wide like ip_forward) explains it; otherwise
            // the raw facts (see `unknown`).
            let f = cx.findings.iter().copied().find(|f| f.iface.as_deref().is_none_or(|i| i == d.iface))?;
            Some(cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence))
        }
    }
}

fn with_finding(
    cx: &Context,
    d: &Drop,
    cause: Cause,
    evidence: Vec<String>,
    summary: impl Fn() -> String,
) -> Verdict {
    match cx.finding(cause) {
        Some(f) => cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence),
        None => {
            Verdict { cause, summary: summary(), location: drop_location(d, None), evidence, fix: vec![] }
        }
    }
}

fn netfilter_drop(cx: &Context, d: &Drop, mut evidence: Vec<String>) -> Verdict {
    let hint = cx.facts.dropping_chain();
    if !cx.facts.nftrace.is_empty() {
        let path: Vec<String> = cx
            .facts
            .nftrace
            .iter()
            .filter(|s| s.rule.is_some() || s.verdict == "drop")
            .take(12)
            .map(|s| format!("{} {}: {}", s.table, s.chain, s.verdict))
            .collect();
        evidence.push(format!("nftrace: {}", path.join(" → ")));
    } else if let Some((table, chain)) = hint {
        evidence.push(format!(
            "netfilter table {table}{} judged it last",
            chain.map(|c| format!(", base chain {c}")).unwrap_or_default()
        ));
    }
    let n = cx.facts.netfilter_drops();
    let Some(a) = attribute(cx.deltas, cx.rules, n, Some(&d.iface), hint) else {
        if let Some(step) = cx.facts.nftrace.iter().find(|s| s.verdict == "drop") {
            // No counter told, but netfilter's own trace names the rule.
            let isolation = step.chain.starts_with("DOCKER-ISOLATION") || step.chain == "DOCKER-INTERNAL";
            return Verdict {
                cause: if isolation { Cause::NetworkIsolation } else { Cause::FirewallDrop },
                summary: format!("netfilter dropped the probe in table {}, chain {}", step.table, step.chain),
                location: drop_location(d, step.rule.clone().or(Some(format!("policy {}", step.verdict)))),
                evidence,
                fix: vec![format!(
                    "nft -a list chain {} {} {}   # find the rule's handle, then: nft delete rule ... handle N",
                    step.family, step.table, step.chain
                )],
            };
        }
        evidence.push(
            "no rule counter moved by the number of drops (a rule without counters, or a non-iptables hook)"
                .into(),
        );
        return Verdict {
            cause: Cause::FirewallDrop,
            summary: format!(
                "a netfilter rule on {} dropped the probe (the rule could not be identified)",
                d.iface
            ),
            location: drop_location(d, None),
            evidence,
            fix: vec!["inspect: iptables-save -c; nft list ruleset".into()],
        };
    };
    evidence.push(format!(
        "{} {}: counter moved by {} ({} dropped probe packets){}",
        a.table,
        a.rule.as_deref().unwrap_or(&a.chain),
        a.packets,
        n,
        if a.exact { "" } else { ", other traffic too" }
    ));
    let location = drop_location(d, a.rule.clone());
    if a.cause == Cause::NetworkIsolation && share_a_network(cx) {
        // Docker says they share a network, so the probe should never have crossed the
        // isolation rules: it left the source another way, because the shared link is broken.
        for cause in [Cause::LinkDown, Cause::VethDetached, Cause::BridgeDown, Cause::BridgePortBlocked] {
            if let Some(f) = cx.finding(cause) {
                evidence.push(format!(
                    "{} and {} share a network, yet the probe was routed between networks",
                    cx.from.name, cx.to.name
                ));
                return cx.from_finding(f, f.summary.clone(), None, evidence);
            }
        }
    }
    // Isolation is between containers; an address that no container holds but that falls in
    // a Docker subnet is the host's routing taking someone else's address into Docker.
    let dst = cx.plan.dnat.as_ref().map(|x| x.ip).unwrap_or(cx.to.ip);
    if a.cause == Cause::NetworkIsolation
        && cx.topology.container_by_ip(dst).is_none()
        && let Some(f) = cx.finding(Cause::SubnetConflict)
    {
        evidence.push(format!("no container holds {dst}, yet the host routes it into a Docker network"));
        return cx.from_finding(f, f.summary.clone(), None, evidence);
    }
    if a.cause == Cause::NetworkIsolation {
        let net = cx.plan.dnat.as_ref().map(|x| x.network.clone()).or_else(|| cx.to.network.clone());
        let src = cx.from.container.as_ref().map(|c| c.name.clone());
        let fix = match (&net, &src) {
            (Some(net), Some(src)) => vec![format!("docker network connect {net} {src}")],
            _ => vec![
                "connect both containers to a common network: docker network connect NETWORK CONTAINER"
                    .into(),
            ],
        };
        return Verdict {
            cause: Cause::NetworkIsolation,
            summary: format!(
                "{} and {} share no Docker network, and Docker's isolation rule dropped the probe on {}",
                cx.from.name,
                cx.plan.dnat.as_ref().map(|x| x.container.clone()).unwrap_or_else(|| cx.to.name.clone()),
                d.iface
            ),
            location,
            evidence,
            fix,
        };
    }
    let rejected = a.rule.as_deref().is_some_and(|r| r.contains("-j REJECT"));
    if rejected && cx.probes.iter().any(|p| matches!(p.answer, Answer::Refused | Answer::PortUnreachable)) {
        evidence.push("the probe was refused: the REJECT rule answered in the target's place".into());
    }
    Verdict {
        cause: Cause::FirewallDrop,
        summary: format!(
            "the firewall rule `{}` (table {}, chain {}) {} the probe",
            a.rule.as_deref().unwrap_or("policy"),
            a.table,
            a.chain,
            if rejected { "rejected" } else { "dropped" }
        ),
        location,
        evidence,
        fix: a.delete.into_iter().collect(),
    }
}

/// Both ends are containers that Docker has on a common network.
fn share_a_network(cx: &Context) -> bool {
    let t = cx.topology;
    let get = |e: &crate::model::ResolvedEndpoint| e.container.as_ref().and_then(|c| t.container(&c.id).ok());
    match (get(cx.from), get(cx.to)) {
        (Some(a), Some(b)) => !t.shared_networks(a, b).is_empty(),
        _ => false,
    }
}

fn neighbour(cx: &Context, d: &Drop, evidence: Vec<String>) -> Verdict {
    // A missing neighbour is the symptom; a detached veth, a down link or a subnet that belongs
    // elsewhere is the cause when the model finds one on the path.
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
    Verdict {
        cause: Cause::NeighborUnreachable,
        summary: format!(
            "nobody answered ARP for the next hop of {} on {}, so the packet was dropped",
            d.tuple.dst, d.iface
        ),
        location: drop_location(d, None),
        evidence,
        fix: vec![format!("check that {} exists and is up on the link of {}", d.tuple.dst, d.iface)],
    }
}

fn no_route(cx: &Context, d: &Drop, evidence: Vec<String>) -> Verdict {
    for cause in [Cause::IpForwardDisabled, Cause::BridgeGatewayMissing, Cause::BridgeDown, Cause::LinkDown] {
        if let Some(f) = cx.finding(cause) {
            return cx.from_finding(f, f.summary.clone(), Some(drop_location(d, None)), evidence);
        }
    }
    Verdict {
        cause: Cause::NoRoute,
        summary: format!("{} has no route to {}", d.netns, d.tuple.dst),
        location: drop_location(d, None),
        evidence,
        fix: vec![format!("ip route get {}   # in {}", d.tuple.dst, d.netns)],
    }
}
