//! `doctor` and firewalls Docker did not write, in the lab: real dockerd, real nftables in the
//! lab namespace. A table or policy that drops what Docker's networks need is a finding with
//! the rule and its exact fix; one that lets Docker's traffic through is no finding at all.
mod doctor_support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use dockernet_trace_tests::{Lab, LabOptions, lab::UPLINK_IF};
use doctor_support::{Seen, World, assert_findings, finding, fixes, healthy, on_net};
use serde_json::Value;

fn lab() -> Lab {
    Lab::start(LabOptions::default()).unwrap()
}

/// Runs each line as one `nft` command in the lab's namespace.
fn nft(lab: &Lab, script: &str) {
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        lab.nft(&[line]).unwrap_or_else(|e| panic!("nft {line}: {e}"));
    }
}

/// A TCP service of the lab host on `port` (all addresses), ready when this returns.
fn host_service(lab: &Lab, port: u16) {
    let p = port.to_string();
    lab.spawn_in(&lab.netns_path(), &["busybox", "nc", "-l", "-p", &p]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = lab.command("ss").args(["-ltnH", &format!("sport = :{port}")]).output().unwrap();
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {port} in the lab");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The handle nft gave the rule whose text contains `needle`, in `family table chain`.
fn handle(lab: &Lab, chain: &str, needle: &str) -> u64 {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", lab.netns_path()))
        .args(["nft", "-a", "list", "chain"])
        .args(chain.split_whitespace())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle} in {text}"));
    line.rsplit("# handle ").next().unwrap().trim().parse().unwrap()
}

fn summaries(json: &Value) -> Vec<String> {
    json["findings"].as_array().unwrap().iter().map(|f| f["summary"].as_str().unwrap().to_string()).collect()
}

#[test]
fn permissive_foreign_table_is_no_finding() {
    let lab = lab();
    healthy(&lab);
    nft(
        &lab,
        "add table inet nfeval_admin
         add chain inet nfeval_admin forward { type filter hook forward priority filter + 10 ; policy accept ; }
         add rule inet nfeval_admin forward ct state established,related accept
         add rule inet nfeval_admin forward tcp dport 23 reject with icmpx admin-prohibited
         add chain inet nfeval_admin input { type filter hook input priority filter ; policy accept ; }
         add rule inet nfeval_admin input tcp dport 23 drop",
    );
    let json = assert_findings(&lab, vec![]);
    assert!(json["notes"].as_array().is_none_or(Vec::is_empty), "{json:#}");
}

/// The three networks of the healthy world, each with a finding of `cause`.
fn every_net(w: &World, cause: &str) -> Vec<Seen> {
    vec![
        on_net(cause, &w.bridge, "docker0"),
        on_net(cause, &w.app, &w.app.bridge),
        on_net(cause, &w.cust, "brcustom"),
    ]
}

/// firewalld's layout (chain names of firewalld 1.x) after a `firewall-cmd --reload` forgot
/// appnet's bridge: docker0 and brcustom are in the docker zone, appnet's bridge in none, so
/// it falls to the public zone, which forwards nothing, and filter_FORWARD rejects.
#[test]
fn firewalld_shaped_table_rejects_a_bridge_in_no_zone() {
    let lab = lab();
    let w = healthy(&lab);
    let zones = format!(
        "add rule inet firewalld filter_FORWARD_ZONES iifname \"docker0\" goto filter_FWD_docker
         add rule inet firewalld filter_FORWARD_ZONES iifname \"brcustom\" goto filter_FWD_docker
         add rule inet firewalld filter_FORWARD_ZONES iifname \"{UPLINK_IF}\" goto filter_FWD_public
         add rule inet firewalld filter_FORWARD_ZONES goto filter_FWD_public"
    );
    nft(
        &lab,
        &format!(
            "add table inet firewalld
             add chain inet firewalld filter_FORWARD {{ type filter hook forward priority filter + 10 ; policy accept ; }}
             add chain inet firewalld filter_FORWARD_POLICIES_pre
             add chain inet firewalld filter_FORWARD_ZONES
             add chain inet firewalld filter_FWD_docker
             add chain inet firewalld filter_FWD_public
             add chain inet firewalld filter_FWD_policy_docker-forwarding
             add rule inet firewalld filter_FORWARD ct state {{ established, related }} accept
             add rule inet firewalld filter_FORWARD ct status dnat accept
             add rule inet firewalld filter_FORWARD iifname \"lo\" accept
             add rule inet firewalld filter_FORWARD ct state invalid drop
             add rule inet firewalld filter_FORWARD jump filter_FORWARD_POLICIES_pre
             add rule inet firewalld filter_FORWARD jump filter_FORWARD_ZONES
             add rule inet firewalld filter_FORWARD reject with icmpx admin-prohibited
             add rule inet firewalld filter_FORWARD_POLICIES_pre oifname \"docker0\" jump filter_FWD_policy_docker-forwarding
             add rule inet firewalld filter_FORWARD_POLICIES_pre oifname \"brcustom\" jump filter_FWD_policy_docker-forwarding
             {zones}
             add rule inet firewalld filter_FWD_docker accept
             add rule inet firewalld filter_FWD_policy_docker-forwarding accept"
        ),
    );
    let json = assert_findings(&lab, vec![on_net("firewall_drop", &w.app, &w.app.bridge)]);
    let fix = fixes(&json, "firewall_drop");
    assert_eq!(
        fix[..2],
        [
            format!("firewall-cmd --permanent --zone=docker --add-interface={}", w.app.bridge),
            "firewall-cmd --reload".to_string()
        ]
    );
    let s = &summaries(&json)[0];
    assert!(s.starts_with("firewalld (table inet firewalld chain filter_FORWARD handle "), "{s}");
    assert!(s.contains("rejects (ICMP admin-prohibited)") && s.contains("out of the host"), "{s}");
    assert!(s.ends_with("`reject with icmpx admin-prohibited`"), "{s}");
}

/// An admin's own table drops a host service for everyone, containers included.
#[test]
fn native_input_hook_drop_of_a_host_service() {
    let lab = lab();
    let w = healthy(&lab);
    host_service(&lab, 3306);
    nft(
        &lab,
        "add table inet nfeval_admin
         add chain inet nfeval_admin input { type filter hook input priority filter ; policy accept ; }
         add rule inet nfeval_admin input tcp dport 3306 drop",
    );
    let json = assert_findings(&lab, every_net(&w, "firewall_drop"));
    let h = handle(&lab, "inet nfeval_admin input", "tcp dport 3306 drop");
    let delete = format!("nft delete rule inet nfeval_admin input handle {h}");
    assert!(fixes(&json, "firewall_drop").iter().all(|f| *f == delete), "{json:#}");
    for s in summaries(&json) {
        assert!(s.contains("reaching the host's tcp/3306") && s.contains(&format!("handle {h}")), "{s}");
    }
}

/// `iptables -P INPUT DROP`: the fix lets exactly the containers' traffic to the service in,
/// and says that accepting by policy would open everything.
#[test]
fn input_policy_drop() {
    let lab = lab();
    let w = healthy(&lab);
    host_service(&lab, 3306);
    lab.iptables(&["-P", "INPUT", "DROP"]).unwrap();
    let json = assert_findings(&lab, every_net(&w, "firewall_drop"));
    let fix = fixes(&json, "firewall_drop");
    assert!(
        fix.contains(&"iptables -A INPUT -i docker0 -p tcp -m tcp --dport 3306 -j ACCEPT".to_string()),
        "{fix:?}"
    );
    assert!(
        fix.iter().any(|f| f.contains("-P INPUT ACCEPT") && f.contains("opens the chain to everything")),
        "{fix:?}"
    );
    assert!(summaries(&json).iter().all(|s| s.contains("`-P INPUT DROP`")), "{json:#}");
}

/// A native forward chain whose policy is drop: every network is cut off, and the published
/// port with it (doctor used to say "no faults found").
#[test]
fn native_forward_chain_policy_drop() {
    let lab = lab();
    let w = healthy(&lab);
    nft(
        &lab,
        "add table inet nfeval_admin
         add chain inet nfeval_admin forward { type filter hook forward priority filter ; policy drop ; }",
    );
    let mut expected = every_net(&w, "firewall_drop");
    expected.push(finding("firewall_drop", Some("appnet"), Some(&w.app.bridge), Some("web")));
    let json = assert_findings(&lab, expected);
    let fix = fixes(&json, "firewall_drop");
    let add = "nft add rule inet nfeval_admin forward";
    let web =
        format!("{add} oifname \"{}\" ip daddr {} tcp dport 80 accept", w.app.bridge, w.web.ip("appnet"));
    assert!(fix.contains(&web), "{fix:?}");
    assert!(fix.contains(&format!("{add} iifname \"docker0\" oifname \"{UPLINK_IF}\" accept")), "{fix:?}");
    assert!(
        fix.contains(&format!("{add} oifname \"docker0\" ct state established,related accept")),
        "{fix:?}"
    );
    assert!(
        fix.iter().any(|f| f.contains("policy accept") && f.contains("opens the chain to everything")),
        "{fix:?}"
    );
}
