//! Healthy paths: the trace reaches the target, says so with exit 0, and shows where the probe
//! went, hop by hop, as the kernel saw it.
mod common;

use common::{LAB_IP, OUTSIDE_IP, assert_cause, heima, outside_server, trace};
use dockernet_trace_tests::{Lab, LabOptions};
use serde_json::Value;

fn hops(json: &Value) -> &Vec<Value> {
    json["hops"].as_array().expect("hops")
}

fn saw(json: &Value, netns: &str, hook: &str) -> bool {
    hops(json).iter().any(|h| h["netns"] == netns && h["hook"] == hook)
}

#[test]
fn container_to_container_on_a_shared_network() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "mysql:3306"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["reachable"], true);
    assert_eq!(json["schema"], 1);
    assert_eq!(json["from"]["kind"], "container");
    assert_eq!(json["to"]["port"], 3306);
    assert_eq!(json["to"]["proto"], "tcp");
    assert!(saw(&json, "container:nacos", "net_dev_xmit"), "the SYN leaves nacos");
    assert!(saw(&json, "host", "tc_ingress"), "tc sees it on nacos's veth");
    assert!(saw(&json, "container:mysql", "netif_receive_skb"), "mysql receives it");
    assert!(
        hops(&json).iter().any(|h| h["forward"] == false && h["packet"] == "SYN-ACK"),
        "the answer comes back"
    );
    assert_eq!(json["coverage"]["tc"], true);
    assert_eq!(json["coverage"]["tracepoints"], true);
}

#[test]
fn container_to_a_published_port_of_the_host() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let web = lab.server("web", 80, &["-p", "8080:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:8080"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    // From a container, the host is its network's gateway (host-gateway, host.docker.internal).
    let gw = lab.network("bridge").unwrap().gateway;
    assert_eq!(json["to"]["ip"], gw.as_str());
    // NAT shows as a change between two hops: the same probe, now addressed to web:80.
    let to_web = format!("{}:80", web.ip("bridge"));
    assert!(
        hops(&json).iter().any(|h| h["dst"] == to_web.as_str()),
        "no hop after DNAT to {to_web}: {json:#}"
    );
    assert!(hops(&json).iter().any(|h| h["dst"] == format!("{gw}:8080").as_str()), "the probe before DNAT");
}

#[test]
fn host_to_container() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, false);
    let (code, json) = trace(&lab, &["--from", "host", "--to", "mysql:3306"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["from"]["kind"], "host");
    assert!(saw(&json, "container:mysql", "netif_receive_skb"));
}

#[test]
fn container_to_the_outside() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    lab.run("client", &[], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:80")]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    // It left through the uplink, masqueraded to the host's address.
    let out = hops(&json)
        .iter()
        .find(|h| h["iface"] == "uplink0" && h["forward"] == true)
        .expect("a hop on uplink0");
    assert!(out["src"].as_str().unwrap().starts_with(&format!("{LAB_IP}:")), "{out}");
}

#[test]
fn icmp_and_udp_probes() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "mysql", "--proto", "icmp", "--count", "2"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert!(hops(&json).iter().any(|h| h["packet"] == "echo reply"));
    // UDP to a port nothing listens on: the target answers port unreachable.
    let (code, json) =
        trace(&lab, &["--from", "nacos", "--to", "mysql:5353", "--proto", "udp", "--count", "1"]);
    assert_cause(&json, "no_listener");
    assert_eq!(code, 1);
    assert_eq!(json["verdict"]["location"]["netns"], "container:mysql");
}

#[test]
fn human_output_reads_like_a_traceroute() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let out = lab.tool(&["--from", "nacos", "--to", "mysql:3306", "--count", "1"]).unwrap();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("container:nacos"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ ok:"), "{}", out.stdout);
    assert!(!out.stdout.contains('\x1b'), "no colour without a terminal");
}
