//! The DNS leg of a trace to a name (issue 12, seed 004): the name resolved as the container
//! resolves it, by a DNS server of the test's own "outside" (in the sink namespace), through
//! Docker's embedded DNS (`--dns` on a user-defined network) or directly (the default bridge);
//! the queries followed in the kernel, the forwarded one included; a name that does not resolve
//! is a verdict (exit 1) that names what stopped the query, with the same causes and fixes as
//! any probe, and `doctor` finds the same faults without sending anything.
mod common;

use std::{net::Ipv4Addr, process::Command};

use common::{OUTSIDE_IP, assert_cause, outside_server, trace};
use dockernet_trace_tests::{
    Lab, LabOptions,
    dns_server::{Behaviour, DnsServer},
    lab::{LAB_IP, cmd, tool_path},
};
use serde_json::Value;

const NAME: &str = "db.corp.example";

fn outside() -> Ipv4Addr {
    OUTSIDE_IP.parse().unwrap()
}

/// A DNS server at `addr` in the sink namespace serving `zone`.
fn dns_server(lab: &Lab, addr: Ipv4Addr, zone: &[(&str, Behaviour)]) -> DnsServer {
    DnsServer::start(&format!("/run/netns/{}", lab.sink), addr, zone).unwrap()
}

fn resolution(json: &Value) -> &Value {
    &json["resolution"]
}

fn dns_hops(json: &Value) -> &Vec<Value> {
    json["resolution"]["hops"].as_array().unwrap()
}

/// A hop of the DNS leg's flow `probe` (0: the source's query, 1: the forwarded one).
fn dns_hop<'a>(json: &'a Value, probe: u64, netns: &str, iface: &str, forward: bool) -> Option<&'a Value> {
    dns_hops(json).iter().find(|h| {
        h["probe"] == probe && h["netns"] == netns && h["iface"] == iface && h["forward"] == forward
    })
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn text(json: &Value, key: &str) -> String {
    json["verdict"][key].to_string()
}

/// The trace of a name that did not resolve: exit 1, no address, the DNS leg's verdict.
fn assert_unresolved(code: i32, json: &Value, cause: &str, error: &str) {
    assert_cause(json, cause);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["reachable"], false);
    assert_eq!(json["verdict"]["leg"], "dns", "{json:#}");
    assert_eq!(json["to"]["ip"], Value::Null);
    assert_eq!(resolution(json)["error"], error, "{json:#}");
    assert_eq!(resolution(json)["answer"], Value::Null);
}

#[test]
fn a_name_resolved_through_the_embedded_dns_and_on_the_default_bridge() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    let server = dns_server(&lab, outside(), &[(NAME, Behaviour::Answer(vec![outside()]))]);
    lab.create_network("app-net", &[]).unwrap();
    lab.run("app", &["--network", "app-net", "--dns", OUTSIDE_IP], &[]).unwrap();
    lab.run("legacy", &["--dns", OUTSIDE_IP], &[]).unwrap();

    // A user-defined network: the container asks 127.0.0.11, dockerd forwards from the
    // container's namespace to --dns; the trace goes on to the answer.
    let (code, json) = trace(&lab, &["--from", "app", "--to", &format!("{NAME}:80")]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["verdict"]["leg"], "target");
    assert_eq!(json["to"]["ip"], OUTSIDE_IP);
    assert_eq!(json["to"]["name"], NAME);
    let r = resolution(&json);
    assert_eq!((r["name"].as_str(), r["seen_from"].as_str()), (Some(NAME), Some("container:app")), "{r:#}");
    assert_eq!(strs(&r["nameservers"]), ["127.0.0.11"]);
    assert_eq!(strs(&r["upstreams"]), [OUTSIDE_IP]);
    assert_eq!((r["answer"].as_str(), &r["error"]), (Some(OUTSIDE_IP), &Value::Null));
    // The kernel followed both: the container's own query, and the one dockerd forwarded out
    // through the uplink (masqueraded) and its answer back.
    assert!(dns_hops(&json).iter().any(|h| h["probe"] == 0 && h["netns"] == "container:app"), "{r:#}");
    let out = dns_hop(&json, 1, "host", "uplink0", true).unwrap_or_else(|| panic!("no forwarded hop: {r:#}"));
    assert_eq!(out["dst"], format!("{OUTSIDE_IP}:53"));
    assert!(out["src"].as_str().unwrap().starts_with(LAB_IP), "{out}");
    assert!(dns_hop(&json, 1, "host", "uplink0", false).is_some(), "the answer came back: {r:#}");
    assert!(server.seen().iter().any(|s| s.name == NAME && s.from.ip().to_string() == LAB_IP));
    // The target's own path is the trace's hops, apart from the DNS leg's.
    assert!(
        json["hops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["dst"] == format!("{OUTSIDE_IP}:80") || h["src"] == format!("{OUTSIDE_IP}:80")),
        "{:#}",
        json["hops"]
    );

    // The default bridge: the container asks the nameserver itself, from the tool's port.
    let (code, json) = trace(&lab, &["--from", "legacy", "--to", &format!("{NAME}:80")]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    let r = resolution(&json);
    assert_eq!(strs(&r["nameservers"]), [OUTSIDE_IP]);
    assert!(strs(&r["upstreams"]).is_empty());
    assert_eq!(r["answer"], OUTSIDE_IP);
    let sport = r["queries"][0]["sport"].as_u64().unwrap();
    let first = dns_hop(&json, 0, "container:legacy", "eth0", true).unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(first["src"].as_str().unwrap().rsplit(':').next(), Some(sport.to_string().as_str()));
    assert!(dns_hop(&json, 0, "host", "uplink0", true).is_some(), "{r:#}");

    // People see the DNS leg in a line before the path.
    let out = lab.tool(&["--from", "app", "--to", &format!("{NAME}:80")]).unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out.stdout.lines().find(|l| l.starts_with("dns ")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains(&format!("{NAME} → {OUTSIDE_IP} as container:app resolves it")), "{line}");
    assert!(line.contains(&format!("127.0.0.11 → {OUTSIDE_IP}")), "{line}");
}

#[test]
fn names_that_do_not_resolve_are_verdicts_of_the_dns_leg() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    let zone = [(NAME, Behaviour::Answer(vec![outside()])), ("silent.corp.example", Behaviour::Silent)];
    let _server = dns_server(&lab, outside(), &zone);
    lab.create_network("app-net", &[]).unwrap();
    lab.run("app", &["--network", "app-net", "--dns", OUTSIDE_IP], &[]).unwrap();
    lab.run("legacy", &["--dns", OUTSIDE_IP], &[]).unwrap();

    // NXDOMAIN, passed on by the embedded DNS, and straight from the nameserver.
    for from in ["app", "legacy"] {
        let (code, json) = trace(&lab, &["--from", from, "--to", "nope.corp.example:80"]);
        assert_unresolved(code, &json, "dns_failure", "nxdomain");
        assert_eq!(resolution(&json)["seen_from"], format!("container:{from}"));
        let summary = text(&json, "summary");
        assert!(summary.contains("NXDOMAIN") && summary.contains("nope.corp.example"), "{summary}");
        assert!(json["hops"].as_array().unwrap().is_empty(), "no probe was sent to an address");
    }

    // A nameserver that never answers: the forwarded query left, nothing came back, and the
    // tool gave up within --timeout.
    let (code, json) =
        trace(&lab, &["--from", "app", "--to", "silent.corp.example:80", "--timeout", "800ms"]);
    assert_unresolved(code, &json, "dns_failure", "timeout");
    assert!(dns_hop(&json, 1, "host", "uplink0", true).is_some(), "{:#}", resolution(&json));
    assert!(text(&json, "summary").contains("no answer came back"), "{}", text(&json, "summary"));
    let spent: f64 = resolution(&json)["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["elapsed_ms"].as_f64().unwrap())
        .sum();
    assert!(spent <= 800.0 + 100.0, "the queries took {spent} ms of an 800 ms budget");

    // The seed's first symptom: the host resolves the name (here from its hosts file), the
    // container does not (its nameserver says NXDOMAIN): exit 1 with the container's view.
    let hosts = std::env::temp_dir().join(format!("dnsleg-hosts-{}", std::process::id()));
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n{OUTSIDE_IP} only-the-host.corp.example\n"))
        .unwrap();
    let with_hosts = |args: &[&str]| run_with_hosts_file(&lab, &hosts, args);
    let (code, json) = with_hosts(&["--from", "host", "--to", "only-the-host.corp.example:80"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(
        (resolution(&json)["seen_from"].as_str(), resolution(&json)["source"].as_str()),
        (Some("host"), Some("hosts_file"))
    );
    let (code, json) = with_hosts(&["--from", "app", "--to", "only-the-host.corp.example:80"]);
    let _ = std::fs::remove_file(&hosts);
    assert_unresolved(code, &json, "dns_failure", "nxdomain");
    assert_eq!(resolution(&json)["seen_from"], "container:app");
}

/// The tool in a mount namespace of the test's own whose /etc/hosts is `hosts` (the machine's
/// files are untouched), in the lab's network namespace: (exit code, JSON).
fn run_with_hosts_file(lab: &Lab, hosts: &std::path::Path, args: &[&str]) -> (i32, Value) {
    let mut c = Command::new("unshare");
    c.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
    ])
    .arg(hosts)
    .arg("nsenter")
    .arg(format!("--net={}", lab.netns_path()))
    .arg(tool_path())
    .args(args)
    .arg("--json")
    .env("DOCKER_HOST", lab.docker_host())
    .env("NO_COLOR", "1");
    let out = cmd::output(&mut c).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), json)
}

/// Seed 004: the default bridge's subnet (`bip`) was the VPC's, where the nameserver lives, so
/// the containers' DNS queries went into docker0 and no name resolved, while the host resolved
/// them. Directly (default bridge: ARP for the nameserver inside docker0 goes unanswered) and
/// through the embedded DNS (its forwarded query is routed into docker0 and dropped by Docker's
/// isolation): both are the subnet conflict, with the fix that moves the bridge.
#[test]
fn the_vpc_story_a_docker_subnet_holds_the_nameserver() {
    let opts =
        LabOptions { extra_dockerd_args: vec!["--bip".into(), "10.200.1.1/24".into()], ..Default::default() };
    let lab = Lab::start(opts).unwrap();
    let ns: Ipv4Addr = "10.200.1.53".parse().unwrap();
    lab.sink_exec(&["ip", "addr", "add", "10.200.1.53/16", "dev", "sink0"]).unwrap();
    let _server = dns_server(&lab, ns, &[(NAME, Behaviour::Answer(vec![outside()]))]);
    lab.create_network("app-net", &[]).unwrap();
    lab.run("app", &["--network", "app-net", "--dns", "10.200.1.53"], &[]).unwrap();
    lab.run("legacy", &["--dns", "10.200.1.53"], &[]).unwrap();

    for from in ["legacy", "app"] {
        let (code, json) = trace(&lab, &["--from", from, "--to", &format!("{NAME}:3306")]);
        assert_unresolved(code, &json, "subnet_conflict", "timeout");
        let fixes = text(&json, "fix");
        assert!(fixes.contains("\\\"bip\\\""), "the fix moves the default bridge: {fixes}");
        assert!(text(&json, "summary").contains("10.200.1.53"), "{}", text(&json, "summary"));
    }

    // doctor says so without sending anything: the nameserver lies in docker0's subnet.
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let findings = out.json().unwrap()["findings"].as_array().unwrap().clone();
    let dns = findings
        .iter()
        .find(|f| {
            f["cause"] == "subnet_conflict"
                && f["summary"].as_str().unwrap().contains("nameserver 10.200.1.53")
        })
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!((dns["network"].as_str(), dns["iface"].as_str()), (Some("bridge"), Some("docker0")));
}

#[test]
fn a_docker_user_rule_dropping_the_containers_udp_53() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let _server = dns_server(&lab, outside(), &[(NAME, Behaviour::Answer(vec![outside()]))]);
    lab.create_network("app-net", &[]).unwrap();
    lab.run("app", &["--network", "app-net", "--dns", OUTSIDE_IP], &[]).unwrap();
    lab.run("legacy", &["--dns", OUTSIDE_IP], &[]).unwrap();
    lab.iptables(&["-I", "DOCKER-USER", "-p", "udp", "--dport", "53", "-j", "DROP"]).unwrap();
    let rule = "-A DOCKER-USER -p udp -m udp --dport 53 -j DROP";
    for from in ["app", "legacy"] {
        let (code, json) = trace(&lab, &["--from", from, "--to", &format!("{NAME}:80")]);
        assert_unresolved(code, &json, "firewall_drop", "timeout");
        let loc = &json["verdict"]["location"];
        assert_eq!(
            (loc["rule"].as_str(), loc["drop_reason"].as_str()),
            (Some(rule), Some("NETFILTER_DROP")),
            "{json:#}"
        );
        assert!(text(&json, "fix").contains(&rule.replacen("-A ", "-D ", 1)), "{}", text(&json, "fix"));
    }

    // doctor: the rule drops both networks' lookups.
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    let findings = out.json().unwrap()["findings"].as_array().unwrap().clone();
    for net in ["app-net", "bridge"] {
        let f = findings
            .iter()
            .find(|f| f["network"] == net && f["summary"].as_str().unwrap().contains("DNS queries (udp/53)"))
            .unwrap_or_else(|| panic!("{net}: {findings:#?}"));
        assert_eq!(f["cause"], "firewall_drop");
        assert!(f["summary"].as_str().unwrap().contains(rule), "{f}");
    }
}

#[test]
fn bad_resolver_input_is_one_line_or_an_explained_verdict() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("app-net", &[]).unwrap();
    lab.run("app", &["--network", "app-net"], &[]).unwrap();
    // Longer than DNS allows: refused before anything is sent.
    let label = "a".repeat(64);
    let long = format!("{}.example", vec!["x".repeat(60); 5].join("."));
    for (name, needle) in [(format!("{label}.example"), "at most 63"), (long, "at most 253")] {
        let out = lab.tool(&["--from", "app", "--to", &format!("{name}:80")]).unwrap();
        assert_eq!(out.code, 2, "{}", out.stdout);
        let err = out.stderr.trim();
        assert!(err.contains(needle) && err.lines().count() == 1, "{err}");
    }
    // A container without resolv.conf: nothing tells how it resolves names.
    let gone = lab
        .run(
            "gone",
            &UNMOUNTS,
            &["sh", "-c", "busybox umount /etc/resolv.conf; busybox rm -f /etc/resolv.conf; sleep 100000"],
        )
        .unwrap();
    wait_for(|| !std::path::Path::new(&format!("/proc/{}/root/etc/resolv.conf", gone.pid)).exists());
    let out = lab.tool(&["--from", "gone", "--to", &format!("{NAME}:80")]).unwrap();
    assert_eq!(out.code, 2, "{}", out.stdout);
    let err = out.stderr.trim();
    assert!(
        err.contains(&format!("/proc/{}/root/etc/resolv.conf", gone.pid)) && err.lines().count() == 1,
        "{err}"
    );
    // One that names no nameserver: an explained verdict.
    let empty = lab
        .run(
            "empty",
            &UNMOUNTS,
            &[
                "sh",
                "-c",
                "busybox umount /etc/resolv.conf; echo 'options ndots:1' > /etc/resolv.conf; sleep 100000",
            ],
        )
        .unwrap();
    let file = format!("/proc/{}/root/etc/resolv.conf", empty.pid);
    wait_for(|| std::fs::read_to_string(&file).is_ok_and(|t| t.starts_with("options")));
    let (code, json) = trace(&lab, &["--from", "empty", "--to", &format!("{NAME}:80")]);
    assert_unresolved(code, &json, "dns_failure", "no_nameserver");
    assert!(text(&json, "summary").contains("names no nameserver"), "{}", text(&json, "summary"));
}

/// Lets a container unmount the resolv.conf Docker mounts into it.
const UNMOUNTS: [&str; 4] = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"];

/// Waits (at most 5 s) until `ready` holds.
fn wait_for(ready: impl Fn() -> bool) {
    for _ in 0..50 {
        if ready() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("not ready after 5 s");
}
