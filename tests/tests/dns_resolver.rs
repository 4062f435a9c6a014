//! The dns module against a real DNS server: two network namespaces of the test's own joined
//! by a veth, a client that resolves from its namespace and a tiny server in the other (see
//! `dns_server`). No Docker, no eBPF: the queries, their ports and ids, the fallbacks and the
//! error kinds, as the wire shows them.
use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    time::{Duration, Instant},
};

use dockernet_trace::dns::{
    AnswerSource, DnsName, HostsFile, QueryResult, Rcode, ResolutionError, ResolveOptions, ResolverConfig,
    ResolverView, Transport, resolve,
};
use dockernet_trace_tests::{
    dns_server::{Behaviour, DnsServer},
    lab::cmd::{quiet, sh},
};

const PREFIX: &str = "dntdns";
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 253, 0, 2);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 253, 0, 1);
/// Held by the server's namespace, with nothing listening on port 53.
const CLOSED_IP: Ipv4Addr = Ipv4Addr::new(10, 253, 0, 3);
/// On the link, but nobody has it: ARP fails, the query goes nowhere.
const NOBODY_IP: Ipv4Addr = Ipv4Addr::new(10, 253, 0, 9);
/// Not routed from the client (it has no default route).
const UNROUTED_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const DB: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 7);

/// A client and a server namespace; removed on drop (and, if the test was killed, by the
/// next run: the names carry the owner's pid).
struct Pair {
    client: String,
    server: String,
}

impl Pair {
    fn new() -> Pair {
        remove_stale();
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{PREFIX}{}-{seq}", std::process::id());
        let pair = Pair { client: format!("{id}-c"), server: format!("{id}-s") };
        for ns in [&pair.client, &pair.server] {
            sh(&["ip", "netns", "add", ns]).unwrap();
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]).unwrap();
        }
        let (c, s) = (&pair.client, &pair.server);
        sh(&["ip", "-n", c, "link", "add", "dns0", "type", "veth", "peer", "name", "dns1", "netns", s])
            .unwrap();
        sh(&["ip", "-n", c, "addr", "add", &format!("{CLIENT_IP}/24"), "dev", "dns0"]).unwrap();
        sh(&["ip", "-n", s, "addr", "add", &format!("{SERVER_IP}/24"), "dev", "dns1"]).unwrap();
        sh(&["ip", "-n", s, "addr", "add", &format!("{CLOSED_IP}/24"), "dev", "dns1"]).unwrap();
        sh(&["ip", "-n", c, "link", "set", "dns0", "up"]).unwrap();
        sh(&["ip", "-n", s, "link", "set", "dns1", "up"]).unwrap();
        // A datagram sent before the veth has carrier is lost: wait until both ends are up.
        wait_until_up(c, "dns0");
        wait_until_up(s, "dns1");
        pair
    }

    fn path(ns: &str) -> String {
        format!("/run/netns/{ns}")
    }

    /// The client's view with this resolv.conf and hosts file.
    fn view(&self, resolv_conf: &str, hosts: &str) -> ResolverView {
        ResolverView {
            seen_from: format!("netns:{}", self.client),
            netns: Some(PathBuf::from(Pair::path(&self.client))),
            resolv_conf_path: PathBuf::from("(test)"),
            config: ResolverConfig::parse(resolv_conf),
            hosts: HostsFile::parse(hosts),
            upstreams: None,
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        quiet(&["ip", "netns", "del", &self.client]);
        quiet(&["ip", "netns", "del", &self.server]);
    }
}

/// Readiness: the link's operational state is UP (carrier on both ends).
fn wait_until_up(ns: &str, dev: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = sh(&["ip", "-n", ns, "-o", "link", "show", dev]).unwrap();
        if state.contains("state UP") {
            return;
        }
        assert!(Instant::now() < deadline, "{ns}/{dev} never came up: {state}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Namespaces of this test whose owner process is gone.
fn remove_stale() {
    let Ok(list) = sh(&["ip", "netns", "list"]) else { return };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else { continue };
        let alive = pid.parse::<u32>().is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            quiet(&["ip", "netns", "del", name]);
        }
    }
}

fn zone() -> Vec<(&'static str, Behaviour)> {
    vec![
        ("db.corp.example", Behaviour::Answer(vec![DB])),
        ("big.example", Behaviour::Truncated(vec![DB, Ipv4Addr::new(10, 0, 3, 8)])),
        ("silent.example", Behaviour::Silent),
        ("broken.example", Behaviour::Servfail),
        ("private.example", Behaviour::Refused),
        ("v6only.example", Behaviour::Answer(vec![])),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn name(s: &str) -> DnsName {
    DnsName::parse(s).unwrap()
}

fn opts(sport: u16, budget_ms: u64) -> ResolveOptions {
    let mut o = ResolveOptions::new(sport, Duration::from_millis(budget_ms));
    o.first_id = 0x4000;
    o
}

fn ip(v4: Ipv4Addr) -> IpAddr {
    IpAddr::V4(v4)
}

#[test]
fn dns_queries_from_a_namespace_against_a_real_server() {
    let pair = Pair::new();
    let server = DnsServer::start(&Pair::path(&pair.server), SERVER_IP, &zone()).unwrap();
    let rt = runtime();
    let conf = format!("nameserver {SERVER_IP}\nsearch corp.example\noptions timeout:1 attempts:1\n");
    let view = pair.view(&conf, "10.9.9.9 pinned.example\n");

    // An answer over UDP, from the port we chose, with our id, seen by the server from there.
    let r = rt.block_on(resolve(&view, &name("db.corp.example"), &opts(41001, 3000))).unwrap();
    assert_eq!((r.answer(), r.error), (Some(IpAddr::V4(DB)), None));
    assert_eq!(
        r.source,
        Some(AnswerSource::Nameserver { server: ip(SERVER_IP), name: name("db.corp.example.") })
    );
    assert_eq!(r.attempts.len(), 1);
    let a = &r.attempts[0];
    assert_eq!(
        (a.server, a.transport, a.sport, a.id, a.truncated),
        (ip(SERVER_IP), Transport::Udp, 41001, 0x4000, false)
    );
    let seen = server.seen();
    assert_eq!(
        seen.last().map(|s| (s.from, s.name.as_str(), s.tcp)),
        Some(((CLIENT_IP, 41001).into(), "db.corp.example", false))
    );

    // A short name goes through the search list first (ndots:1): db -> db.corp.example.
    let r = rt.block_on(resolve(&view, &name("db"), &opts(41002, 3000))).unwrap();
    assert_eq!(r.answer(), Some(IpAddr::V4(DB)));
    assert_eq!(r.attempts.iter().map(|a| a.name.to_string()).collect::<Vec<_>>(), ["db.corp.example"]);

    // /etc/hosts first: nothing is sent.
    let before = server.seen().len();
    let r = rt.block_on(resolve(&view, &name("pinned.example"), &opts(41003, 3000))).unwrap();
    assert_eq!(
        (r.answer(), r.source.clone()),
        (Some(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9))), Some(AnswerSource::HostsFile))
    );
    assert!(r.attempts.is_empty() && server.seen().len() == before);

    // NXDOMAIN for the name and for its search expansion (enough dots: as is first).
    let r = rt.block_on(resolve(&view, &name("nope.example"), &opts(41004, 3000))).unwrap();
    assert_eq!((r.answer(), r.error), (None, Some(ResolutionError::Nxdomain)));
    let names: Vec<String> = r.attempts.iter().map(|a| a.name.to_string()).collect();
    assert_eq!(names, ["nope.example", "nope.example.corp.example"]);
    assert!(r.attempts.iter().all(|a| a.result == QueryResult::Rcode(Rcode::Nxdomain)));

    // Truncated over UDP: the same question again over TCP, from the same port.
    let r = rt.block_on(resolve(&view, &name("big.example"), &opts(41005, 3000))).unwrap();
    assert_eq!(r.addresses, vec![ip(DB), ip(Ipv4Addr::new(10, 0, 3, 8))]);
    let steps: Vec<_> = r.attempts.iter().map(|a| (a.transport, a.truncated, a.sport, a.id)).collect();
    assert_eq!(steps, [(Transport::Udp, true, 41005, 0x4000), (Transport::Tcp, false, 41005, 0x4000)]);
    assert!(
        server.seen().iter().any(|s| s.tcp && s.name == "big.example" && s.from == (CLIENT_IP, 41005).into())
    );

    // SERVFAIL goes on to the search list, then says servfail; REFUSED stops at once.
    let r = rt.block_on(resolve(&view, &name("broken.example"), &opts(41006, 3000))).unwrap();
    assert_eq!(r.error, Some(ResolutionError::Servfail));
    let r = rt.block_on(resolve(&view, &name("private.example"), &opts(41007, 3000))).unwrap();
    assert_eq!((r.error, r.attempts.len()), (Some(ResolutionError::Refused), 1));

    // A name without an A record: no data as is, NXDOMAIN with the search domain; glibc
    // reports what the name as is got.
    let r = rt.block_on(resolve(&view, &name("v6only.example"), &opts(41008, 3000))).unwrap();
    assert_eq!(r.error, Some(ResolutionError::NoData), "{r:?}");
    let results: Vec<_> = r.attempts.iter().map(|a| a.result.clone()).collect();
    assert_eq!(results, [QueryResult::NoData, QueryResult::Rcode(Rcode::Nxdomain)]);
}

#[test]
fn dns_nameservers_that_do_not_answer_within_the_budget() {
    let pair = Pair::new();
    let _server = DnsServer::start(&Pair::path(&pair.server), SERVER_IP, &zone()).unwrap();
    let rt = runtime();

    // A server that never answers: timeout, within the budget (it never hangs past it).
    let view = pair.view(&format!("nameserver {SERVER_IP}\noptions timeout:5 attempts:3\n"), "");
    let started = Instant::now();
    let r = rt.block_on(resolve(&view, &name("silent.example"), &opts(41011, 600))).unwrap();
    let took = started.elapsed();
    assert_eq!(r.error, Some(ResolutionError::Timeout));
    assert!(r.deadline_hit);
    assert!(r.attempts.iter().all(|a| a.result == QueryResult::Timeout), "{:?}", r.attempts);
    assert!(took < Duration::from_millis(600 + 1500), "took {took:?}");

    // Nothing listens on the first server's port 53: ICMP port unreachable, then the next
    // server answers.
    let conf = format!("nameserver {CLOSED_IP}\nnameserver {SERVER_IP}\noptions timeout:1\n");
    let r =
        rt.block_on(resolve(&pair.view(&conf, ""), &name("db.corp.example"), &opts(41012, 3000))).unwrap();
    assert_eq!(r.answer(), Some(IpAddr::V4(DB)));
    let results: Vec<_> = r.attempts.iter().map(|a| (a.server, a.result.clone())).collect();
    assert_eq!(
        results,
        [(ip(CLOSED_IP), QueryResult::PortUnreachable), (ip(SERVER_IP), QueryResult::Answer(vec![ip(DB)]))]
    );

    // Only unreachable servers: no route, and an address nobody holds. The error is timeout
    // (no nameserver answered) and each attempt says why.
    let conf = format!("nameserver {UNROUTED_IP}\nnameserver {NOBODY_IP}\noptions timeout:1 attempts:1\n");
    let r =
        rt.block_on(resolve(&pair.view(&conf, ""), &name("db.corp.example"), &opts(41013, 2000))).unwrap();
    assert_eq!(r.error, Some(ResolutionError::Timeout));
    assert!(
        matches!(&r.attempts[0].result, QueryResult::NetworkError { errno, .. } if *errno == libc::ENETUNREACH),
        "{:?}",
        r.attempts[0]
    );
    assert_eq!(r.attempts[1].server, ip(NOBODY_IP));
    assert!(
        matches!(
            r.attempts[1].result,
            QueryResult::Timeout | QueryResult::NetworkError { errno: libc::EHOSTUNREACH, .. }
        ),
        "{:?}",
        r.attempts[1]
    );

    // No nameserver at all: nothing is sent.
    let r = rt
        .block_on(resolve(&pair.view("search corp.example\n", ""), &name("db"), &opts(41014, 1000)))
        .unwrap();
    assert_eq!((r.error, r.attempts.len()), (Some(ResolutionError::NoNameserver), 0));
}

#[test]
fn dns_a_gone_namespace_is_one_line() {
    let pair = Pair::new();
    let mut view = pair.view(&format!("nameserver {SERVER_IP}\n"), "");
    view.netns = Some(PathBuf::from("/run/netns/dntdns-no-such-namespace"));
    let e = runtime()
        .block_on(resolve(&view, &name("db.corp.example"), &opts(41021, 1000)))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot send a DNS query from /run/netns/dntdns-no-such-namespace"), "{e}");
    assert!(!e.contains('\n'));
}
