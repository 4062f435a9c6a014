use std::time::Duration;

use super::*;
use crate::dns::{Attempt, DnsName, QueryType, Transport, Upstream, UpstreamOrigin, Upstreams};

fn attempt(server: &str, result: QueryResult) -> Attempt {
    Attempt {
        server: server.parse().unwrap(),
        name: DnsName::parse("db.corp.example").unwrap(),
        qtype: QueryType::A,
        transport: Transport::Udp,
        id: 7,
        sport: 41000,
        truncated: false,
        result,
        elapsed: Duration::from_millis(3),
    }
}

/// A container on a user-defined network, asking 127.0.0.11, which forwards to 10.0.0.2.
fn embedded(error: ResolutionError, result: QueryResult) -> Resolution {
    Resolution {
        name: DnsName::parse("db.corp.example").unwrap(),
        seen_from: "container:app".into(),
        nameservers: vec![crate::dns::EMBEDDED_DNS],
        upstreams: Some(Upstreams {
            servers: vec![Upstream { addr: "10.0.0.2".parse().unwrap(), from: UpstreamNetns::Container }],
            origin: UpstreamOrigin::DockerRunDns,
        }),
        addresses: vec![],
        source: None,
        error: Some(error),
        attempts: vec![attempt("127.0.0.11", result)],
        deadline_hit: false,
    }
}

fn upstream() -> Server {
    Server { addr: "10.0.0.2".parse().unwrap(), forwarded: true, from_host: false }
}

fn outcome<'a>(r: &'a Resolution, server: Option<&'a Server>, answered: bool) -> DnsOutcome<'a> {
    DnsOutcome {
        resolution: r,
        resolv_conf: Path::new("/proc/100/root/etc/resolv.conf"),
        server,
        forwarded_seen: true,
        upstream_answered: answered,
        budget: Duration::from_secs(1),
    }
}

#[test]
fn nxdomain_through_the_embedded_dns_names_the_upstream_that_said_it() {
    let r = embedded(ResolutionError::Nxdomain, QueryResult::Rcode(Rcode::Nxdomain));
    let s = upstream();
    let v = decide(None, &outcome(&r, Some(&s), true));
    assert_eq!(v.cause, Cause::DnsFailure);
    assert!(
        v.summary.contains("10.0.0.2 (through Docker's embedded DNS at 127.0.0.11) answered NXDOMAIN"),
        "{}",
        v.summary
    );
    assert!(v.fix[0].starts_with("nslookup db.corp.example 10.0.0.2"), "{:?}", v.fix);
    assert!(
        v.evidence
            .iter()
            .any(|e| e.contains("forwards to 10.0.0.2 (from the container's namespace) (docker run --dns)"))
    );
    assert!(
        v.evidence.iter().any(|e| e.starts_with(
            "query 1: A db.corp.example to 127.0.0.11 over udp from port 41000: answered NXDOMAIN"
        )),
        "{:?}",
        v.evidence
    );
}

#[test]
fn a_name_without_an_ipv4_address_is_said_to_exist() {
    let r = embedded(ResolutionError::NoData, QueryResult::NoData);
    let v = decide(None, &outcome(&r, Some(&upstream()), true));
    assert_eq!(v.cause, Cause::DnsFailure);
    assert!(v.summary.contains("exists but has no IPv4 address (A record)"), "{}", v.summary);
    // Asked for AAAA only (-6), then after A as well (a source with IPv6): the record asked.
    let mut r = embedded(ResolutionError::NoData, QueryResult::NoData);
    r.attempts[0].qtype = QueryType::Aaaa;
    let v = decide(None, &outcome(&r, Some(&upstream()), true));
    assert!(v.summary.contains("has no IPv6 address (AAAA record)"), "{}", v.summary);
    assert!(v.fix.iter().any(|f| f.starts_with("add an AAAA record")), "{:?}", v.fix);
    r.attempts.insert(0, attempt("127.0.0.11", QueryResult::NoData));
    let v = decide(None, &outcome(&r, Some(&upstream()), true));
    assert!(v.summary.contains("has no address (A or AAAA record)"), "{}", v.summary);
}

#[test]
fn silence_says_whether_the_forwarded_query_left() {
    let r = embedded(ResolutionError::Timeout, QueryResult::Timeout);
    let s = upstream();
    let v = decide(None, &outcome(&r, Some(&s), false));
    assert!(v.summary.contains("no nameserver answered for db.corp.example within 1000 ms"), "{}", v.summary);
    assert!(v.summary.contains("forwarded the query to 10.0.0.2 and no answer came back"), "{}", v.summary);
    let mut o = outcome(&r, Some(&s), false);
    o.forwarded_seen = false;
    assert!(decide(None, &o).summary.contains("the kernel saw no query forwarded to 10.0.0.2"));
}

#[test]
fn a_closed_port_53_and_a_file_without_nameserver() {
    let mut r = embedded(ResolutionError::Timeout, QueryResult::PortUnreachable);
    r.nameservers = vec!["10.0.0.9".parse().unwrap()];
    r.upstreams = None;
    r.attempts = vec![attempt("10.0.0.9", QueryResult::PortUnreachable)];
    let v = decide(None, &outcome(&r, None, false));
    assert!(v.summary.starts_with("nothing listens on port 53 at 10.0.0.9"), "{}", v.summary);
    let mut r = embedded(ResolutionError::NoNameserver, QueryResult::Timeout);
    (r.nameservers, r.upstreams, r.attempts) = (vec![], None, vec![]);
    let v = decide(None, &outcome(&r, None, false));
    assert_eq!(v.cause, Cause::DnsFailure);
    assert!(v.summary.contains("/proc/100/root/etc/resolv.conf names no nameserver"), "{}", v.summary);
    assert!(v.fix[0].contains("docker run --dns"), "{:?}", v.fix);
    assert!(v.evidence[0].ends_with("nameserver none"), "{:?}", v.evidence);
}

#[test]
fn a_reply_means_the_path_worked_unless_the_embedded_dns_failed_alone() {
    let s = upstream();
    // The embedded DNS's SERVFAIL may hide an upstream it never reached.
    let r = embedded(ResolutionError::Servfail, QueryResult::Rcode(Rcode::Servfail));
    assert!(!path_worked(&outcome(&r, Some(&s), false), ResolutionError::Servfail));
    assert!(path_worked(&outcome(&r, Some(&s), true), ResolutionError::Servfail));
    let r = embedded(ResolutionError::Nxdomain, QueryResult::Rcode(Rcode::Nxdomain));
    assert!(path_worked(&outcome(&r, Some(&s), false), ResolutionError::Nxdomain));
    // Asked directly: any reply shows the way there and back works.
    let direct = Server { forwarded: false, ..upstream() };
    let mut r = embedded(ResolutionError::Servfail, QueryResult::Rcode(Rcode::Servfail));
    r.attempts = vec![attempt("10.0.0.2", QueryResult::Rcode(Rcode::Servfail))];
    assert!(path_worked(&outcome(&r, Some(&direct), false), ResolutionError::Servfail));
    r.attempts = vec![attempt("10.0.0.2", QueryResult::Timeout)];
    assert!(!path_worked(&outcome(&r, Some(&direct), false), ResolutionError::Timeout));
}
