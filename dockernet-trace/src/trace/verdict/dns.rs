//! The verdict when the target's name did not resolve as the source resolves it (CONTRACT's
//! `verdict.leg` "dns"): a fault on the way to the nameserver when the kernel and the model
//! show one, by the same rules, cause codes and fixes as for any probe (a subnet that swallows
//! the nameserver's address, a firewall rule on udp/53, no route); else `dns_failure`, with
//! what the nameserver answered, or that it never did.
use std::{net::IpAddr, path::Path, time::Duration};

use super::{Context, Location, TraceVerdict, drops, silent};
use crate::{
    cause::Cause,
    dns::{QueryResult, QueryType, Rcode, Resolution, ResolutionError, UpstreamNetns},
    trace::dns_leg::plan::Server,
};

/// Which part of the path a verdict is about (CONTRACT's `verdict.leg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    /// Resolving the target's name.
    Dns,
    /// The path to the target itself.
    Target,
}

impl Leg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Target => "target",
        }
    }
}

/// What the DNS leg showed, beside the path's facts (which are in the `Context`).
pub struct DnsOutcome<'a> {
    pub resolution: &'a Resolution,
    pub resolv_conf: &'a Path,
    /// The nameserver whose path is explained; None when there is no IPv4 one to follow.
    pub server: Option<&'a Server>,
    /// The kernel saw the embedded DNS forward the query, and its upstream's answer come back.
    pub forwarded_seen: bool,
    pub upstream_answered: bool,
    pub budget: Duration,
}

impl DnsOutcome<'_> {
    fn name(&self) -> String {
        self.resolution.name.to_string()
    }

    fn seen_from(&self) -> &str {
        &self.resolution.seen_from
    }

    fn in_container(&self) -> bool {
        self.seen_from().starts_with("container:")
    }

    /// "10.0.0.2", or "127.0.0.11 (Docker's embedded DNS, forwarding to 10.0.0.2)".
    fn asked(&self) -> String {
        let ns: Vec<String> = self.resolution.nameservers.iter().map(ToString::to_string).collect();
        let ns = ns.join(", ");
        match self.upstreams() {
            Some(up) if !up.is_empty() => format!("{ns} (Docker's embedded DNS, forwarding to {up})"),
            Some(_) => format!("{ns} (Docker's embedded DNS, which has no upstream to forward to)"),
            None => ns,
        }
    }

    fn upstreams(&self) -> Option<String> {
        let u = self.resolution.upstreams.as_ref().filter(|_| self.resolution.via_embedded_dns())?;
        Some(u.servers.iter().map(|s| s.addr.to_string()).collect::<Vec<_>>().join(", "))
    }
}

pub fn decide(cx: Option<&Context>, o: &DnsOutcome) -> TraceVerdict {
    let error = o.resolution.error.unwrap_or(ResolutionError::Timeout);
    let mut v = if error == ResolutionError::NoNameserver {
        no_nameserver(o)
    } else {
        let on_the_way = cx.filter(|_| !path_worked(o, error)).and_then(|cx| on_the_way(cx, o));
        match on_the_way {
            Some(v) => about_dns(v, o),
            None => failure(cx, o, error),
        }
    };
    let mut evidence = evidence(o);
    evidence.append(&mut v.evidence);
    evidence.dedup();
    v.evidence = evidence;
    v
}

/// A nameserver's reply came back: whatever it said, the way there and back works.
fn replied(r: &QueryResult) -> bool {
    matches!(
        r,
        QueryResult::Answer(_) | QueryResult::NoData | QueryResult::Rcode(_) | QueryResult::Malformed(_)
    )
}

fn path_worked(o: &DnsOutcome, error: ResolutionError) -> bool {
    if o.upstream_answered {
        return true;
    }
    match o.server {
        // The embedded DNS passes on its upstream's negative answer; SERVFAIL or silence may
        // mean the upstream was never reached.
        Some(s) if s.forwarded => {
            matches!(error, ResolutionError::Nxdomain | ResolutionError::NoData | ResolutionError::Refused)
        }
        _ => o.resolution.attempts.iter().any(|a| replied(&a.result)),
    }
}

/// What stopped the query on its way, by the rules that explain any probe.
fn on_the_way(cx: &Context, o: &DnsOutcome) -> Option<TraceVerdict> {
    forwarded_without_route(cx, o)
        .or_else(|| silent::wrong_way(cx))
        .or_else(|| drops::dropped(cx))
        .or_else(|| silent::decide(cx))
        .filter(|v| !matches!(v.cause, Cause::Ok | Cause::Unknown | Cause::NoListener | Cause::DnsFailure))
}

/// The embedded DNS could not send to its upstream (a failed route lookup): dockerd saw the
/// error, the source only silence.
fn forwarded_without_route(cx: &Context, o: &DnsOutcome) -> Option<TraceVerdict> {
    let s = o.server.filter(|s| s.forwarded)?;
    let failed = cx.facts.failed_routes().find(|r| r.dst == IpAddr::V4(s.addr))?;
    let evidence = vec![format!(
        "route lookup for {} in table {} failed with error {}",
        failed.dst, failed.table, failed.err
    )];
    let location = Location {
        netns: Some(cx.source_netns.clone()),
        function: Some("fib_table_lookup".into()),
        ..Location::default()
    };
    for cause in [Cause::LinkDown, Cause::BridgeGatewayMissing, Cause::BridgeDown, Cause::IpForwardDisabled] {
        if let Some(f) = cx.finding(cause) {
            return Some(cx.from_finding(f, f.summary.clone(), Some(location), evidence));
        }
    }
    Some(TraceVerdict {
        cause: Cause::NoRoute,
        summary: format!("{} has no route to {}", cx.source_netns, s.addr),
        location,
        evidence,
        fix: vec![format!("ip route get {}   # in {}", s.addr, cx.source_netns)],
    })
}

/// A path verdict, told as the reason the name does not resolve.
fn about_dns(mut v: TraceVerdict, o: &DnsOutcome) -> TraceVerdict {
    let (who, server) = match o.server {
        Some(s) if s.forwarded => ("Docker's embedded DNS".to_string(), s.addr.to_string()),
        Some(s) => (o.seen_from().to_string(), s.addr.to_string()),
        None => (o.seen_from().to_string(), "its nameserver".into()),
    };
    v.summary = format!(
        "{} does not resolve as {} resolves it: {who}'s query to {server} is stopped on its way ({})",
        o.name(),
        o.seen_from(),
        v.summary
    );
    v
}

fn no_nameserver(o: &DnsOutcome) -> TraceVerdict {
    let file = o.resolv_conf.display();
    let (why, fix) = if o.in_container() {
        (
            ", and inside a container the C library's fallback, 127.0.0.1, serves nothing",
            vec![
                "give the container a nameserver: docker run --dns ADDRESS (or \"dns\" in /etc/docker/daemon.json)"
                    .to_string(),
                format!("or restore the file Docker writes: docker restart {}", o.seen_from().trim_start_matches("container:")),
            ],
        )
    } else {
        ("", vec![format!("add a line `nameserver ADDRESS` to {file}")])
    };
    TraceVerdict {
        cause: Cause::DnsFailure,
        summary: format!("{} names no nameserver, so {} cannot be resolved{why}", file, o.name()),
        location: Location::default(),
        evidence: vec![],
        fix,
    }
}

/// What the queries asked for, as a person says it: the address and the record.
fn asked_for(r: &Resolution) -> (&'static str, &'static str) {
    let asked = |t: QueryType| r.attempts.iter().any(|a| a.qtype == t);
    match (asked(QueryType::A), asked(QueryType::Aaaa)) {
        (true, true) => ("address", "A or AAAA record"),
        (false, true) => ("IPv6 address", "AAAA record"),
        _ => ("IPv4 address", "A record"),
    }
}

/// No fault on the way: what the nameserver said, or that it never answered.
fn failure(cx: Option<&Context>, o: &DnsOutcome, error: ResolutionError) -> TraceVerdict {
    let r = o.resolution;
    let (name, seen) = (o.name(), o.seen_from());
    let answered_by = match (o.server, answering_server(r)) {
        // The kernel saw the upstream's reply: the embedded DNS passed on what it said.
        (Some(s), Some(local)) if s.forwarded && o.upstream_answered => {
            format!("{} (through Docker's embedded DNS at {local})", s.addr)
        }
        (_, Some(server)) => server.to_string(),
        (_, None) => o.asked(),
    };
    let check =
        |server: &str| format!("nslookup {name} {server}   # from the host: what that nameserver answers");
    let target_server = o.server.map(|s| s.addr.to_string()).unwrap_or_else(|| answered_by.clone());
    let (summary, fix) = match error {
        ResolutionError::Nxdomain => (
            format!("{name} does not exist as {seen} resolves it: {answered_by} answered NXDOMAIN"),
            vec![check(&target_server), dns_setting(o)],
        ),
        ResolutionError::NoData => {
            let (what, record) = asked_for(r);
            (
                format!(
                    "{name} exists but has no {what} ({record}) as {seen} resolves it: {answered_by} answered NOERROR without one (reported as nxdomain)"
                ),
                vec![check(&target_server), format!("add an {record} for the name, or trace an address")],
            )
        }
        ResolutionError::Servfail => (
            format!("{answered_by} answered SERVFAIL: it could not resolve {name} for {seen}"),
            vec![check(&target_server), dns_setting(o)],
        ),
        ResolutionError::Refused => (
            format!("{answered_by} refused to resolve {name} for {seen}"),
            vec![check(&target_server), dns_setting(o)],
        ),
        _ => (silence(o), vec![check(&target_server), dns_setting(o)]),
    };
    let last = cx.and_then(Context::last_forward_hop);
    TraceVerdict {
        cause: Cause::DnsFailure,
        summary,
        location: Location {
            iface: last.map(|h| h.iface.clone()),
            netns: last.map(|h| h.netns.clone()),
            ..Location::default()
        },
        evidence: vec![],
        fix,
    }
}

/// The server that gave the decisive reply.
fn answering_server(r: &Resolution) -> Option<IpAddr> {
    r.attempts.iter().rev().find(|a| replied(&a.result)).map(|a| a.server)
}

fn silence(o: &DnsOutcome) -> String {
    let r = o.resolution;
    let refused = r.attempts.iter().find(|a| a.result == QueryResult::PortUnreachable);
    if let Some(a) = refused {
        return format!(
            "nothing listens on port 53 at {} (ICMP port unreachable), so {} does not resolve as {} resolves it",
            a.server,
            o.name(),
            o.seen_from()
        );
    }
    let forwarded = match o.server {
        Some(s) if s.forwarded && o.forwarded_seen => {
            format!("; the embedded DNS forwarded the query to {} and no answer came back", s.addr)
        }
        Some(s) if s.forwarded => format!("; the kernel saw no query forwarded to {}", s.addr),
        _ => String::new(),
    };
    format!(
        "no nameserver answered for {} within {} ms: {} asked {}{forwarded}",
        o.name(),
        o.budget.as_millis(),
        o.seen_from(),
        o.asked()
    )
}

fn dns_setting(o: &DnsOutcome) -> String {
    if o.in_container() {
        "if another nameserver should answer: docker run --dns ADDRESS (or \"dns\" in /etc/docker/daemon.json)".into()
    } else {
        format!("if another nameserver should answer: change {}", o.resolv_conf.display())
    }
}

fn evidence(o: &DnsOutcome) -> Vec<String> {
    let r = o.resolution;
    let ns: Vec<String> = r.nameservers.iter().map(ToString::to_string).collect();
    let mut out = vec![format!(
        "{} reads {}: nameserver {}",
        o.seen_from(),
        o.resolv_conf.display(),
        if ns.is_empty() { "none".into() } else { ns.join(", ") }
    )];
    if let Some(u) = r.upstreams.as_ref().filter(|_| r.via_embedded_dns()) {
        let list: Vec<String> = u
            .servers
            .iter()
            .map(|s| match s.from {
                UpstreamNetns::Container => format!("{} (from the container's namespace)", s.addr),
                UpstreamNetns::Host => format!("{} (from the host's namespace)", s.addr),
            })
            .collect();
        out.push(format!("Docker's embedded DNS forwards to {} ({})", list.join(", "), u.origin.describe()));
    }
    for (i, a) in r.attempts.iter().enumerate() {
        let rcode = match &a.result {
            QueryResult::Rcode(Rcode::Other(n)) => format!(" (rcode {n})"),
            _ => String::new(),
        };
        out.push(format!(
            "query {}: {} {} to {} over {} from port {}: {}{rcode} after {:.1} ms",
            i + 1,
            a.qtype,
            a.name,
            a.server,
            if a.transport == crate::dns::Transport::Udp { "udp" } else { "tcp" },
            a.sport,
            a.result,
            a.elapsed.as_secs_f64() * 1000.0
        ));
    }
    if r.deadline_hit {
        out.push(format!(
            "the time budget ({} ms, --timeout) ran out before every query was tried",
            o.budget.as_millis()
        ));
    }
    out
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
