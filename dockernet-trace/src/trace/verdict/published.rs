//! Verdicts about ports Docker publishes on the host: who really answered a published port
//! (dockerd's mere reservation of it, or docker-proxy forwarding in the container's place),
//! and a port published only on other host addresses, or sought on the source's own loopback.
use std::net::IpAddr;

use super::{Context, Location, TraceVerdict};
use crate::{
    cause::Cause,
    explain::NetnsLabel,
    probe::Answer,
    trace::{
        plan::PublishedElsewhere,
        sockets::{HostHolder, Proxy},
    },
};

/// A published port "answered", but the probe never reached the container behind it: the host
/// answered itself. dockerd (Docker 20.10 without the userland proxy) only reserves the port:
/// its socket completes handshakes and forwards nothing, so DNAT is missing. docker-proxy
/// forwards to the container on its own connection: reachable, and said so.
pub fn answered_instead(cx: &Context) -> Option<TraceVerdict> {
    let d = cx.plan.dnat.as_ref()?;
    if !cx.probes.iter().any(|p| p.answer.reached()) {
        return None;
    }
    let target = NetnsLabel::Container(d.container.clone());
    if cx.hops.iter().any(|h| h.forward && h.netns == target) {
        return None;
    }
    let holder = cx.sockets.host_holder.as_ref();
    if let Some((h, proxy)) = holder.and_then(|h| h.proxy.as_ref().map(|p| (h, p))) {
        // Mixed outcomes are for the probes' own verdict (see outcome::partial).
        return cx.probes.iter().all(|p| p.answer.reached()).then(|| by_proxy(cx, h, proxy));
    }
    if holder.is_some_and(|h| h.command.as_deref() != Some("dockerd")) {
        return None;
    }
    let port = cx.to.port.unwrap_or(0);
    let mut evidence =
        vec![format!("the probe never reached {target}; the host itself completed the handshake")];
    if let Some(h) = holder {
        evidence.push(format!("port {port} on the host is held by {}, which only reserves it", who(h)));
    }
    let f = cx.finding(Cause::DnatMissing);
    evidence.extend(f.iter().flat_map(|f| f.evidence.iter().cloned()));
    let last = cx.last_forward_hop();
    Some(TraceVerdict {
        cause: Cause::DnatMissing,
        summary: format!(
            "port {port} is published for {} ({}:{}), but no DNAT sends it there: the host accepted the connection itself and nothing reaches the container",
            d.container, d.ip, d.port
        ),
        location: Location {
            iface: last.map(|h| h.iface.clone()),
            netns: Some(NetnsLabel::Host),
            ..Location::default()
        },
        evidence,
        fix: f
            .map(|f| f.fix.clone())
            .unwrap_or_else(|| vec!["systemctl restart docker   # rewrites Docker's NAT rules".into()]),
    })
}

fn who(h: &HostHolder) -> String {
    let name = h.command.clone().unwrap_or_else(|| "a process".into());
    h.pid.map_or(name.clone(), |p| format!("{name} (pid {p})"))
}

/// docker-proxy answered on the host and connects to the container itself.
fn by_proxy(cx: &Context, h: &HostHolder, proxy: &Proxy) -> TraceVerdict {
    let port = cx.to.port.unwrap_or(0);
    let container = proxy.container.clone().unwrap_or_else(|| proxy.ip.to_string());
    let dest = format!("{container} ({}:{})", proxy.ip, proxy.port);
    let mut evidence = vec![
        format!("the probe never reached container:{container}: {} holds port {port} on the host", who(h)),
        format!(
            "docker-proxy connects to {}:{} on its own, so {container} sees its clients come from the host's gateway address, not from {}",
            proxy.ip, proxy.port, cx.from.ip
        ),
    ];
    if let Some(f) = cx.finding(Cause::DnatMissing) {
        evidence.push(format!("no DNAT rule for the port: {}", f.summary));
    }
    if proxy.listening == Some(false) {
        return TraceVerdict {
            cause: Cause::NoListener,
            summary: format!(
                "{} answered port {port} on the host for {dest}, but nothing listens on {container}'s port {}: every connection it accepts is closed",
                who(h),
                proxy.port
            ),
            location: Location {
                netns: Some(NetnsLabel::Container(container.clone())),
                ..Location::default()
            },
            evidence,
            fix: vec![format!("start the service on port {} in {container}", proxy.port)],
        };
    }
    TraceVerdict {
        cause: Cause::Ok,
        summary: format!(
            "{} reached {}: {} answered on the host and forwards to {dest}",
            cx.from.name,
            cx.target(),
            who(h)
        ),
        location: Location { netns: Some(NetnsLabel::Host), ..Location::default() },
        evidence,
        fix: vec![],
    }
}

/// The probe was refused where a published port was expected: the port is published only on
/// other host addresses, or the destination is the source's own loopback.
pub fn refused_elsewhere(cx: &Context) -> Option<TraceVerdict> {
    let e = cx.plan.elsewhere.as_ref()?;
    let refused = cx.probes.iter().any(|p| matches!(p.answer, Answer::Refused | Answer::PortUnreachable));
    let answer = cx.facts.answers.iter().find(|a| a.kind.refuses());
    if !refused && answer.is_none() {
        return None;
    }
    let location = Location {
        iface: answer.map(|a| a.iface.clone()),
        netns: answer.map(|a| a.netns.clone()),
        function: answer.map(|a| a.kind.function(cx.plan.family()).to_string()),
        ..Location::default()
    };
    let port = cx.to.port.unwrap_or(0);
    let (summary, fix) =
        if e.own_loopback { own_loopback(cx, e, port) } else { other_addresses(cx, e, port) };
    Some(TraceVerdict { cause: Cause::NoListener, summary, location, evidence: bindings(e, port), fix })
}

fn bindings(e: &PublishedElsewhere, port: u16) -> Vec<String> {
    let on: Vec<String> = e.host_ips.iter().map(|ip| format!("{ip}:{port}")).collect();
    vec![format!("docker port {}: {} → {}", e.container, on.join(", "), e.container_port)]
}

fn other_addresses(cx: &Context, e: &PublishedElsewhere, port: u16) -> (String, Vec<String>) {
    let on: Vec<String> = e.host_ips.iter().map(IpAddr::to_string).collect();
    let dst = cx.to.ip;
    let summary = format!(
        "port {port} is published for {} only on {}, and the probe went to {dst}, which is not one of them: nothing listens on {dst}:{port}, so the host refused it",
        e.container,
        on.join(", ")
    );
    let mut fix = vec![format!(
        "publish it on every address (-p {port}:{}) or on {dst} (-p {dst}:{port}:{}) when creating {}",
        e.container_port, e.container_port, e.container
    )];
    if let Some(first) = e.host_ips.first() {
        fix.push(format!("or connect to {first}:{port}, where it is published"));
    }
    (summary, fix)
}

fn own_loopback(cx: &Context, e: &PublishedElsewhere, port: u16) -> (String, Vec<String>) {
    let src = &cx.from.name;
    let summary = format!(
        "{} in {src} is {src}'s own loopback, not the host's: port {port} is published on the host for {}, and nothing in {src} listens on it",
        cx.to.ip, e.container
    );
    let fix = vec![
        format!(
            "from {src}, use the host's address on {src}'s network (trace it: --from {src} --to host:{port})"
        ),
        format!(
            "or reach {} directly on a network they share, at its port {}",
            e.container, e.container_port
        ),
    ];
    (summary, fix)
}
