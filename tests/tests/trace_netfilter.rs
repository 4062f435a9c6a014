//! Netfilter drops and rejects named by the ruleset evaluator (issue 10, phase 2), in the lab:
//! real dockerd, real nftables and iptables in the lab namespace. Each trace names the table,
//! chain and rule (with its nft handle), calls a reject a reject, and gives the fix that
//! deletes exactly that rule; a watch names the same rule for the same drops.
mod common;

use std::{
    net::{SocketAddr, TcpStream},
    process::Command,
    time::Duration,
};

use common::{
    OUTSIDE_IP, assert_cause, trace,
    watching::{Watch, between, json_lines},
};
use dockernet_trace_tests::{Lab, LabOptions};
use nix::sys::signal::Signal;
use serde_json::Value;

/// Our own table's name (tables are the lab's, but the name says whose test made it).
const TABLE: &str = "nfwire_admin";

fn nft(lab: &Lab, script: &str) {
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        lab.nft(&[line]).unwrap_or_else(|e| panic!("nft {line}: {e}"));
    }
}

/// The handle nft gave the rule whose text contains `needle` in `chain` of our table.
fn handle(lab: &Lab, chain: &str, needle: &str) -> u64 {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", lab.netns_path()))
        .args(["nft", "-a", "list", "chain", "inet", TABLE, chain])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} in {text}"));
    line.rsplit("# handle ").next().unwrap().trim().parse().unwrap()
}

fn verdict(json: &Value) -> &Value {
    &json["verdict"]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

/// Issue 10's report: an admin's `inet` table with a forward chain at priority filter + 10
/// rejects tcp/3306 with icmpx admin-prohibited. Docker's own FORWARD accepted the packet
/// first; the admin's chain, which keeps no counter, rejected it.
#[test]
fn an_admins_inet_forward_reject_is_named_with_its_handle() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("client", &[], &[]).unwrap();
    nft(
        &lab,
        &format!(
            "add table inet {TABLE}
             add chain inet {TABLE} forward {{ type filter hook forward priority filter + 10 ; policy accept ; }}
             add rule inet {TABLE} forward ct state established,related accept
             add rule inet {TABLE} forward tcp dport 3306 reject with icmpx admin-prohibited"
        ),
    );
    let h = handle(&lab, "forward", "reject with icmpx admin-prohibited");
    let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:3306")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let v = verdict(&json);
    assert_eq!(
        v["location"]["rule"].as_str(),
        Some(format!("tcp dport 3306 reject with icmpx admin-prohibited # handle {h}").as_str()),
        "{json:#}"
    );
    assert_eq!(v["location"]["drop_reason"], "NETFILTER_DROP");
    assert_eq!(v["location"]["netns"], "host");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains(&format!("table inet {TABLE}, chain forward, handle {h}")), "{summary}");
    assert!(summary.contains("rejected the probe") && summary.contains("ICMP admin-prohibited"), "{summary}");
    assert_eq!(strings(&v["fix"]), [format!("nft delete rule inet {TABLE} forward handle {h}")], "{json:#}");
    let evidence = strings(&v["evidence"]).join("\n");
    assert!(evidence.contains("keeps no counter"), "{evidence}");
}

/// A TCP SYN from the namespace at `netns` to `dst`: sent, and (dropped) never answered.
fn connect_from(netns: &str, dst: SocketAddr) {
    common::in_netns(netns, move || {
        let _ = TcpStream::connect_timeout(&dst, Duration::from_millis(1500));
    });
}

/// A plain `drop` without a counter in an admin's forward chain: the trace names it from the
/// evaluation alone, and a watch names the same rule for the same flow's drops.
#[test]
fn a_counterless_nft_drop_is_named_by_trace_and_by_watch() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let client = lab.run("client", &[], &[]).unwrap();
    nft(
        &lab,
        &format!(
            "add table inet {TABLE}
             add chain inet {TABLE} forward {{ type filter hook forward priority filter + 10 ; policy accept ; }}
             add rule inet {TABLE} forward ip daddr {OUTSIDE_IP} tcp dport 5432 drop"
        ),
    );
    let h = handle(&lab, "forward", "tcp dport 5432 drop");
    let rule = format!("ip daddr {OUTSIDE_IP} tcp dport 5432 drop # handle {h}");
    let delete = format!("nft delete rule inet {TABLE} forward handle {h}");

    let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:5432")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let v = verdict(&json);
    assert_eq!(v["location"]["rule"].as_str(), Some(rule.as_str()), "{json:#}");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("dropped the probe") && !summary.contains("reject"), "{summary}");
    assert_eq!(strings(&v["fix"]), [delete], "{json:#}");

    let mut w = Watch::start(&lab, &["--json"]);
    let ip = client.ip("bridge").to_string();
    connect_from(&client.netns_path(), format!("{OUTSIDE_IP}:5432").parse().unwrap());
    w.wait_json(Duration::from_secs(15), |v| between(v, &ip, OUTSIDE_IP).1 >= 1);
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "stderr:\n{}", err.join("\n"));
    let lines = json_lines(&out);
    let (drops, _) = between(&lines, &ip, OUTSIDE_IP);
    for l in drops {
        assert_eq!(
            (l["kind"].as_str(), l["cause"].as_str(), l["rule"].as_str()),
            (Some("drop"), Some("firewall_drop"), Some(rule.as_str())),
            "{l}"
        );
    }
}

/// An iptables DOCKER-USER drop: the evaluator names the rule, its counter moved by the
/// probes' drops, and the evidence says the two agree.
#[test]
fn a_docker_user_drop_is_cross_checked_by_its_counter() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("client", &[], &[]).unwrap();
    lab.iptables(&["-I", "DOCKER-USER", "-d", OUTSIDE_IP, "-p", "tcp", "--dport", "8443", "-j", "DROP"])
        .unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:8443")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let v = verdict(&json);
    let rule = format!("-A DOCKER-USER -d {OUTSIDE_IP}/32 -p tcp -m tcp --dport 8443 -j DROP");
    assert_eq!(v["location"]["rule"].as_str(), Some(rule.as_str()), "{json:#}");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("table filter, chain DOCKER-USER") && summary.contains("dropped"), "{summary}");
    assert_eq!(strings(&v["fix"]), [format!("iptables {}", rule.replacen("-A ", "-D ", 1))], "{json:#}");
    let evidence = strings(&v["evidence"]).join("\n");
    assert!(evidence.contains("its counter moved: the counters agree"), "{evidence}");
    assert!(evidence.contains("filter FORWARD → filter DOCKER-USER"), "{evidence}");
}

/// `reject with tcp reset` in an admin's input chain, for a port nothing listens on: the
/// reset looks exactly like a closed port's, yet the rule sent it, and the trace says so.
#[test]
fn a_tcp_reset_reject_is_a_reject_not_a_closed_port() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("client", &[], &[]).unwrap();
    nft(
        &lab,
        &format!(
            "add table inet {TABLE}
             add chain inet {TABLE} input {{ type filter hook input priority filter ; policy accept ; }}
             add rule inet {TABLE} input tcp dport 3307 reject with tcp reset"
        ),
    );
    let h = handle(&lab, "input", "reject with tcp reset");
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:3307"]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let v = verdict(&json);
    assert_eq!(
        v["location"]["rule"].as_str(),
        Some(format!("tcp dport 3307 reject with tcp reset # handle {h}").as_str()),
        "{json:#}"
    );
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("rejected the probe (answering with TCP reset)"), "{summary}");
    assert!(summary.contains(&format!("table inet {TABLE}, chain input, handle {h}")), "{summary}");
    assert_eq!(strings(&v["fix"]), [format!("nft delete rule inet {TABLE} input handle {h}")], "{json:#}");
}

/// firewalld's layout (chain names of firewalld 1.x) after a reload forgot a network's
/// bridge: it falls to the public zone, which forwards nothing, and filter_FORWARD's last rule
/// rejects. The trace names that rule of firewalld's, and the fix is firewalld's own (the
/// bridge into the docker zone), never a deletion behind firewalld's back.
#[test]
fn a_firewalld_reject_is_fixed_with_firewall_cmd() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let app = lab.create_network("appnet", &[]).unwrap();
    lab.run("worker", &["--network", "appnet"], &[]).unwrap();
    nft(
        &lab,
        "add table inet firewalld
         add chain inet firewalld filter_FORWARD { type filter hook forward priority filter + 10 ; policy accept ; }
         add chain inet firewalld filter_FORWARD_ZONES
         add chain inet firewalld filter_FWD_docker
         add chain inet firewalld filter_FWD_public
         add rule inet firewalld filter_FORWARD ct state { established, related } accept
         add rule inet firewalld filter_FORWARD ct status dnat accept
         add rule inet firewalld filter_FORWARD iifname \"lo\" accept
         add rule inet firewalld filter_FORWARD ct state invalid drop
         add rule inet firewalld filter_FORWARD jump filter_FORWARD_ZONES
         add rule inet firewalld filter_FORWARD reject with icmpx admin-prohibited
         add rule inet firewalld filter_FORWARD_ZONES iifname \"docker0\" goto filter_FWD_docker
         add rule inet firewalld filter_FORWARD_ZONES goto filter_FWD_public
         add rule inet firewalld filter_FWD_docker accept",
    );
    let out = Command::new("nsenter")
        .arg(format!("--net={}", lab.netns_path()))
        .args(["nft", "-a", "list", "chain", "inet", "firewalld", "filter_FORWARD"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.trim().starts_with("reject with icmpx")).expect("the reject");
    let h: u64 = line.rsplit("# handle ").next().unwrap().trim().parse().unwrap();

    let (code, json) = trace(&lab, &["--from", "worker", "--to", &format!("{OUTSIDE_IP}:80")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let v = verdict(&json);
    assert_eq!(
        v["location"]["rule"].as_str(),
        Some(format!("reject with icmpx admin-prohibited # handle {h}").as_str()),
        "{json:#}"
    );
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("of firewalld") && summary.contains("rejected the probe"), "{summary}");
    assert!(
        summary.contains(&format!("table inet firewalld, chain filter_FORWARD, handle {h}")),
        "{summary}"
    );
    let fix = strings(&v["fix"]);
    assert_eq!(
        fix[..2],
        [
            format!("firewall-cmd --permanent --zone=docker --add-interface={}", app.bridge),
            "firewall-cmd --reload".to_string()
        ],
        "{json:#}"
    );
    assert!(fix.iter().all(|f| !f.starts_with("nft delete")), "{fix:?}");
}

/// Two rules that may each have stopped the probe (a `limit` the rules cannot decide, then a
/// reject), neither with a counter: the trace gives the ranked candidates, each with its own
/// fix, and states neither as the rule.
#[test]
fn rules_that_may_each_have_dropped_are_ranked_candidates() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("client", &[], &[]).unwrap();
    nft(
        &lab,
        &format!(
            "add table inet {TABLE}
             add chain inet {TABLE} forward {{ type filter hook forward priority filter + 10 ; policy accept ; }}
             add rule inet {TABLE} forward tcp dport 3310 limit rate 1/minute drop
             add rule inet {TABLE} forward tcp dport 3310 reject with icmpx admin-prohibited"
        ),
    );
    let limited = handle(&lab, "forward", "limit rate");
    let reject = handle(&lab, "forward", "reject with icmpx");
    let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:3310")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let v = verdict(&json);
    assert!(v["location"]["rule"].is_null(), "a ranked guess is not the rule: {json:#}");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("one of 2 rules that may have stopped the probe did, most likely"), "{summary}");
    let evidence = strings(&v["evidence"]).join("\n");
    assert!(evidence.contains("the likeliest first"), "{evidence}");
    let fix = strings(&v["fix"]);
    for h in [limited, reject] {
        let delete = format!("nft delete rule inet {TABLE} forward handle {h}");
        assert!(
            fix.iter().any(|f| f.starts_with(&delete) && f.contains("# if it is candidate ")),
            "{h}: {fix:?}"
        );
    }
}
