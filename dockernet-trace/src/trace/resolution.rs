//! CONTRACT's `resolution` object (the target's name as the source resolved it), built at the
//! edge from the DNS leg, and its lines for people: one or two before the path, and the leg's
//! hops when the name did not resolve.
use std::fmt::Write;

use serde::Serialize;

use super::{dns_leg::DnsReport, report::HopJson};
use crate::{
    dns::{AnswerSource, Attempt, QueryResult, ResolutionError, Transport},
    style::{BAD, BOLD, DIM, OK, paint},
};

/// One query the source sent (the C library's view: which nameserver, which name, what came back).
#[derive(Serialize)]
pub struct QueryJson {
    pub server: String,
    pub name: String,
    pub qtype: String,
    pub transport: &'static str,
    pub sport: u16,
    pub id: u16,
    /// `answer`, `no_data`, `nxdomain`, `servfail`, `refused`, `rcode_N`, `timeout`,
    /// `port_unreachable`, `network_error`, `malformed`.
    pub result: String,
    /// The result as a sentence (the addresses, the error's text).
    pub detail: String,
    pub elapsed_ms: f64,
}

impl From<&Attempt> for QueryJson {
    fn from(a: &Attempt) -> Self {
        Self {
            server: a.server.to_string(),
            name: a.name.to_string(),
            qtype: a.qtype.to_string(),
            transport: if a.transport == Transport::Udp { "udp" } else { "tcp" },
            sport: a.sport,
            id: a.id,
            result: result_code(&a.result),
            detail: a.result.to_string(),
            elapsed_ms: a.elapsed.as_secs_f64() * 1000.0,
        }
    }
}

fn result_code(r: &QueryResult) -> String {
    use crate::dns::Rcode;
    match r {
        QueryResult::Answer(_) => "answer".into(),
        QueryResult::NoData => "no_data".into(),
        QueryResult::Rcode(Rcode::Nxdomain) => "nxdomain".into(),
        QueryResult::Rcode(Rcode::Servfail) => "servfail".into(),
        QueryResult::Rcode(Rcode::Refused) => "refused".into(),
        QueryResult::Rcode(Rcode::Other(n)) => format!("rcode_{n}"),
        QueryResult::Timeout => "timeout".into(),
        QueryResult::PortUnreachable => "port_unreachable".into(),
        QueryResult::NetworkError { .. } => "network_error".into(),
        QueryResult::Malformed(_) => "malformed".into(),
    }
}

/// CONTRACT's `error`. A name that exists without an IPv4 address (NOERROR, no A record) is
/// reported as `nxdomain`, the contract's code for a negative answer; the summary and the
/// query's own `result` (`no_data`) say which it was.
fn error_code(e: ResolutionError) -> &'static str {
    match e {
        ResolutionError::NoData => ResolutionError::Nxdomain.code(),
        other => other.code(),
    }
}

#[derive(Serialize)]
pub struct ResolutionJson {
    pub name: String,
    pub seen_from: String,
    pub nameservers: Vec<String>,
    pub upstreams: Vec<String>,
    pub answer: Option<String>,
    pub error: Option<&'static str>,
    /// `hosts_file` or `nameserver` (null when unresolved).
    pub source: Option<&'static str>,
    pub queries: Vec<QueryJson>,
    /// What the kernel saw of the queries: `probe` 0 is the source's own, 1 a query Docker's
    /// embedded DNS forwarded to its upstream.
    pub hops: Vec<HopJson>,
}

impl From<DnsReport> for ResolutionJson {
    fn from(d: DnsReport) -> Self {
        let r = &d.resolution;
        let upstreams = r
            .upstreams
            .as_ref()
            .filter(|_| r.via_embedded_dns())
            .map(|u| u.servers.iter().map(|s| s.addr.to_string()).collect())
            .unwrap_or_default();
        Self {
            name: r.name.to_string(),
            seen_from: r.seen_from.clone(),
            nameservers: r.nameservers.iter().map(ToString::to_string).collect(),
            upstreams,
            answer: r.answer().map(|a| a.to_string()),
            error: r.error.map(error_code),
            source: r.source.as_ref().map(|s| match s {
                AnswerSource::HostsFile => "hosts_file",
                AnswerSource::Nameserver { .. } => "nameserver",
            }),
            queries: r.attempts.iter().map(QueryJson::from).collect(),
            hops: d.hops.into_iter().map(HopJson::from).collect(),
        }
    }
}

/// The name, how it resolved and through whom, in one or two lines.
pub fn lines(out: &mut String, r: &ResolutionJson) {
    let via = match (r.nameservers.is_empty(), r.upstreams.is_empty()) {
        (true, _) => "no nameserver".to_string(),
        (false, true) => r.nameservers.join(", "),
        (false, false) => format!("{} → {}", r.nameservers.join(", "), r.upstreams.join(", ")),
    };
    let ms: f64 = r.queries.iter().map(|q| q.elapsed_ms).sum();
    let line = match (&r.answer, r.error) {
        (Some(a), _) if r.source == Some("hosts_file") => {
            format!("{} {} → {a} from {}'s hosts file", paint(OK, "✓"), r.name, r.seen_from)
        }
        (Some(a), _) => format!(
            "{} {} → {a} as {} resolves it (via {via}, {ms:.1} ms)",
            paint(OK, "✓"),
            r.name,
            r.seen_from
        ),
        (None, e) => format!(
            "{} {} does not resolve as {} resolves it: {} (via {via})",
            paint(BAD, "✗"),
            r.name,
            r.seen_from,
            e.unwrap_or("no IPv4 address")
        ),
    };
    let _ = writeln!(out, "{} {line}", paint(BOLD, "dns"));
    if r.answer.is_none() {
        for (i, q) in r.queries.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}",
                paint(
                    DIM,
                    format!(
                        "query {}: {} {} to {} ({}): {} after {:.1} ms",
                        i + 1,
                        q.qtype,
                        q.name,
                        q.server,
                        q.transport,
                        q.detail,
                        q.elapsed_ms
                    )
                )
            );
        }
        for (flow, title) in [(0, "the source's DNS query"), (1, "the query Docker's embedded DNS forwarded")]
        {
            let hops: Vec<&HopJson> = r.hops.iter().filter(|h| h.probe == flow).collect();
            if !hops.is_empty() {
                let _ = writeln!(out, "\n{}", paint(BOLD, title));
                super::text::probe_hops(out, &hops);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_to_the_contracts_codes() {
        for (e, code) in [
            (ResolutionError::Nxdomain, "nxdomain"),
            (ResolutionError::NoData, "nxdomain"),
            (ResolutionError::Servfail, "servfail"),
            (ResolutionError::Refused, "refused"),
            (ResolutionError::Timeout, "timeout"),
            (ResolutionError::NoNameserver, "no_nameserver"),
        ] {
            assert_eq!(error_code(e), code);
        }
        // The query keeps what DNS really said.
        assert_eq!(result_code(&QueryResult::NoData), "no_data");
        assert_eq!(result_code(&QueryResult::Rcode(crate::dns::Rcode::Other(4))), "rcode_4");
    }

    #[test]
    fn people_get_one_line_for_a_resolved_name() {
        let r = ResolutionJson {
            name: "db.corp.example".into(),
            seen_from: "container:app".into(),
            nameservers: vec!["127.0.0.11".into()],
            upstreams: vec!["10.0.0.2".into()],
            answer: Some("10.0.3.7".into()),
            error: None,
            source: Some("nameserver"),
            queries: vec![],
            hops: vec![],
        };
        let mut out = String::new();
        lines(&mut out, &r);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.contains(
                "db.corp.example → 10.0.3.7 as container:app resolves it (via 127.0.0.11 → 10.0.0.2"
            ),
            "{out}"
        );
    }
}
