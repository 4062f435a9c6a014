//! Bad input and awkward endpoints: a clear one-line error (exit 2) or an explained verdict,
//! never a panic, and nothing left attached.
mod common;

use std::time::{Duration, Instant};

use common::{assert_cause, heima, trace};
use dockernet_trace_tests::{Lab, LabOptions, lab::wait};

/// Exit 2, one line on stderr that contains `needle`, nothing on stdout.
fn assert_usage_error(lab: &Lab, args: &[&str], needle: &str) {
    let out = lab.tool(args).unwrap();
    assert_eq!(out.code, 2, "args {args:?}\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
    let err = out.stderr.trim();
    assert!(err.contains(needle), "stderr should mention {needle:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_stopped_and_unreachable_endpoints() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    assert_usage_error(&lab, &["--from", "nosuch", "--to", "mysql:3306"], "nosuch");
    assert_usage_error(&lab, &["--from", "nacos", "--to", "mysql:99999"], "99999");
    assert_usage_error(&lab, &["--from", "nacos", "--to", "mysql"], "port");
    // A name that does not resolve as nacos resolves it is a verdict of the DNS leg (issue 12),
    // not a usage error: exit 1, the name kept, no address.
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "no-such-host.invalid:80", "--count", "1"]);
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(
        (json["verdict"]["leg"].as_str(), json["to"]["ip"].as_null()),
        (Some("dns"), Some(())),
        "{json:#}"
    );
    assert_eq!(json["resolution"]["name"], "no-such-host.invalid");
    lab.docker(&["stop", "-t", "0", "mysql"]).unwrap();
    assert_usage_error(&lab, &["--from", "nacos", "--to", "mysql:3306"], "not running");
    assert_usage_error(&lab, &["--from", "mysql", "--to", "nacos:80"], "not running");
    assert_usage_error(
        &lab,
        &["--from", "nacos", "--to", "mysql:3306", "--docker-host", "unix:///nonexistent.sock"],
        "/nonexistent.sock",
    );
}

#[test]
fn network_modes_none_and_host() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    lab.run("hermit", &["--network", "none"], &[]).unwrap();
    lab.run("hostnet", &["--network", "host"], &[]).unwrap();
    // Nothing can reach a container without a network: a verdict, sent nowhere...
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "hermit:80"]);
    assert_eq!(code, 1);
    assert_cause(&json, "no_route");
    assert!(json["verdict"]["summary"].as_str().unwrap().contains("--network none"));
    // ...and it can reach nothing: an explained verdict.
    let (code, json) = trace(&lab, &["--from", "hermit", "--to", "mysql:3306", "--count", "1"]);
    assert_eq!(code, 1);
    assert_cause(&json, "no_route");
    assert!(json["verdict"]["summary"].as_str().unwrap().contains("--network none"));
    // A host-network container takes the host's path.
    let (code, json) = trace(&lab, &["--from", "hostnet", "--to", "mysql:3306", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert!(json["notes"].to_string().contains("host's network namespace"), "{:#}", json["notes"]);
    // ...and one reached there: at the host's own addresses (nothing listens on port 1).
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "hostnet:1", "--count", "1"]);
    assert_eq!(code, 1);
    assert_cause(&json, "no_listener");
    assert!(json["notes"].to_string().contains("at the host's own addresses"), "{:#}", json["notes"]);
}

#[test]
fn sigkill_mid_trace_leaves_nothing_attached() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("client", &[], &[]).unwrap();
    // An address of the bridge's subnet that nobody holds: every probe waits for ARP.
    let mut child = lab
        .spawn_tool(&["--from", "client", "--to", "172.17.0.250:80", "--count", "50", "--timeout", "3s"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::tcx_programs(&lab, "docker0").is_empty() {
        assert!(Instant::now() < deadline, "the trace never attached to docker0");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // tcx links die with their process (the kernel may take a moment to release them);
    // cls_bpf filters would be the next run's to remove.
    let _ =
        wait::until("tcx programs gone from docker0", || common::tcx_programs(&lab, "docker0").is_empty());
    assert!(common::tcx_programs(&lab, "docker0").is_empty(), "tcx programs left on docker0");
    assert_eq!(common::tc_attachments(&lab), "", "cls_bpf filters left behind");
    // And the next run works normally.
    let (code, _) = trace(&lab, &["--from", "client", "--to", "172.17.0.1:1", "--count", "1"]);
    assert_eq!(code, 1);
}

/// Kernels before 6.6 have no tcx: the tc programs are cls_bpf filters under a clsact qdisc,
/// which outlive the process. Forced here with DOCKERNET_TRACE_NO_TCX. SIGTERM removes them at
/// once; after SIGKILL the next run removes them before it starts.
#[test]
fn cls_bpf_filters_go_after_sigterm_and_after_sigkill() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let slow = ["--from", "client", "--to", "172.17.0.250:80", "--count", "50", "--timeout", "3s"];
    let spawn = |args: &[&str]| {
        lab.tool_command(args)
            .env("DOCKERNET_TRACE_NO_TCX", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let attached = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !common::tc_attachments(&lab).contains("dnt_tc_ingress") {
            assert!(Instant::now() < deadline, "the trace never attached its cls_bpf filters");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let clsact = || lab.host(&["tc", "qdisc", "show", "dev", "docker0"]).unwrap().contains("clsact");
    assert!(!clsact(), "docker0 has a clsact qdisc before the test");

    let child = spawn(&slow);
    attached();
    assert!(clsact());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert_eq!(common::tc_attachments(&lab), "", "cls_bpf filters left after SIGTERM");
    assert!(!clsact(), "the clsact qdisc the trace added is still there");

    let mut child = spawn(&slow);
    attached();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(common::tc_attachments(&lab).contains("dnt_tc"), "SIGKILL cannot clean up, yet nothing is left?");
    let next =
        spawn(&["--from", "client", "--to", "172.17.0.1:1", "--count", "1"]).wait_with_output().unwrap();
    assert_eq!(next.status.code(), Some(1), "{}", String::from_utf8_lossy(&next.stderr));
    assert_eq!(common::tc_attachments(&lab), "", "the next run did not remove the killed run's filters");
    assert!(!clsact(), "the killed run's clsact qdisc is still there");
}

/// The target exits mid-trace: the verdict says so. The source exits: a one-line error
/// naming it. Either way nothing stays attached.
#[test]
fn a_container_that_exits_during_the_trace() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, true);
    // Answered probes take a few tens of milliseconds each: 100 of them outlast the kill.
    let args = ["--from", "nacos", "--to", "mysql:3306", "--count", "100", "--timeout", "300ms", "--json"];
    // Starts the trace, kills `container` once mysql has answered a probe, returns what it
    // printed.
    let kill_mid_trace = |container: &str| {
        let mysql = lab.container("mysql").unwrap();
        let before = tcp_segments_sent(mysql.pid);
        let child = lab.spawn_tool(&args).unwrap();
        wait::until(&format!("mysql answering a probe (before killing {container})"), || {
            tcp_segments_sent(mysql.pid) > before
        })
        .unwrap();
        assert!(!common::tcx_programs(&lab, &net.bridge).is_empty(), "the trace is not attached");
        lab.docker(&["kill", container]).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out, stderr)
    };
    let (out, stderr) = kill_mid_trace("mysql");
    // 0: probes before the kill were answered.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let summary = json["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("mysql exited during the trace"), "{summary}\n{:#}", json["probes"]);
    assert!(common::tcx_programs(&lab, &net.bridge).is_empty());

    lab.docker(&["start", "mysql"]).unwrap();
    let (out, stderr) = kill_mid_trace("nacos");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.trim().lines().count() == 1 && stderr.contains("nacos exited during the trace"),
        "{stderr}"
    );
    assert!(common::tcx_programs(&lab, &net.bridge).is_empty());
}

/// TCP segments sent from the network namespace of process `pid` (`OutSegs` of its
/// /proc/PID/net/snmp): a SYN-ACK there is a probe answered.
fn tcp_segments_sent(pid: u32) -> u64 {
    let snmp = std::fs::read_to_string(format!("/proc/{pid}/net/snmp")).unwrap_or_default();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "OutSegs")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}
