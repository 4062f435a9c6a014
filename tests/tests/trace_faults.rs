//! Broken paths, built the way the seed incidents broke real hosts: each trace must name the
//! cause, the place (interface, namespace, kernel function, drop reason, rule) and the fix.
mod common;

use common::{OUTSIDE_IP, assert_cause, heima, outside_server, trace};
use dockernet_trace_tests::{Lab, LabOptions};
use serde_json::Value;

fn location(json: &Value) -> &Value {
    &json["verdict"]["location"]
}

fn fixes(json: &Value) -> String {
    json["verdict"]["fix"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

#[test]
fn bridge_lost_its_gateway_address() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, false);
    lab.remove_bridge_address(&net.bridge, "172.18.0.1/16").unwrap();
    let (code, json) = trace(&lab, &["--from", "host", "--to", "mysql:3306"]);
    assert_cause(&json, "bridge_gateway_missing");
    assert_eq!(code, 1);
    assert_eq!(json["reachable"], false);
    // The location is the faulty bridge (CONTRACT.md); the probe went out through the uplink
    // instead, and that is evidence.
    assert_eq!(location(&json)["iface"], net.bridge.as_str());
    assert_eq!(location(&json)["netns"], "host");
    let evidence = json["verdict"]["evidence"].to_string();
    assert!(evidence.contains("last seen: host uplink0"), "{json:#}");
    assert!(
        fixes(&json).contains(&format!("ip addr add 172.18.0.1/16 dev {}", net.bridge)),
        "{}",
        fixes(&json)
    );
}

#[test]
fn containers_that_share_no_network() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, false);
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "mysql:3306"]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    let loc = location(&json);
    assert_eq!(loc["iface"], "docker0");
    assert_eq!(loc["netns"], "host");
    assert_eq!(loc["drop_reason"], "NETFILTER_DROP");
    assert!(
        ["nft_do_chain", "ipt_do_table", "nf_hook_slow"].contains(&loc["function"].as_str().unwrap_or("")),
        "{loc}"
    );
    let mysql = lab.container("mysql").unwrap();
    let (rule, _) = common::isolation_drop(&lab, mysql.ip("heima-net"), &net.bridge);
    assert_eq!(loc["rule"], rule.as_str());
    assert!(fixes(&json).contains("docker network connect heima-net nacos"));
}

#[test]
fn a_docker_user_rule_drops_the_probe() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    lab.run("client", &[], &[]).unwrap();
    lab.iptables(&["-I", "DOCKER-USER", "-d", OUTSIDE_IP, "-p", "tcp", "--dport", "80", "-j", "DROP"])
        .unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:80")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let rule = format!("-A DOCKER-USER -d {OUTSIDE_IP}/32 -p tcp -m tcp --dport 80 -j DROP");
    assert_eq!(location(&json)["rule"], rule.as_str());
    assert_eq!(location(&json)["drop_reason"], "NETFILTER_DROP");
    assert!(fixes(&json).contains(&rule.replacen("-A ", "-D ", 1)));
}

/// REJECT answers like a closed port (ICMP port unreachable, or a reset); the verdict must still
/// be the rule, not "nothing listens".
#[test]
fn a_docker_user_reject_is_not_mistaken_for_a_closed_port() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    lab.iptables(&["-I", "DOCKER-USER", "-p", "tcp", "--dport", "3306", "-j", "REJECT"]).unwrap();
    lab.iptables(&[
        "-I",
        "DOCKER-USER",
        "-p",
        "tcp",
        "--dport",
        "3307",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])
    .unwrap();
    for (port, with) in [(3306, "icmp-port-unreachable"), (3307, "tcp-reset")] {
        let (code, json) = trace(&lab, &["--from", "nacos", "--to", &format!("mysql:{port}")]);
        assert_cause(&json, "firewall_drop");
        assert_eq!(code, 1);
        let rule = format!("-A DOCKER-USER -p tcp -m tcp --dport {port} -j REJECT --reject-with {with}");
        assert_eq!(location(&json)["rule"], rule.as_str(), "{json:#}");
        assert_eq!(location(&json)["drop_reason"], "NETFILTER_DROP");
        assert_eq!(location(&json)["netns"], "host");
        assert!(json["verdict"]["summary"].as_str().unwrap().contains("rejected"), "{json:#}");
        assert!(fixes(&json).contains(&rule.replacen("-A ", "-D ", 1)), "{json:#}");
    }
}

#[test]
fn nat_flushed_breaks_a_published_port() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.server("web", 80, &["-p", "8080:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    lab.iptables(&["-t", "nat", "-F"]).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:8080"]);
    assert_cause(&json, "dnat_missing");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["netns"], "host", "the host itself answered");
    assert_eq!(location(&json)["iface"], "docker0", "the probe got no further than the host's bridge");
}

#[test]
fn nat_flushed_leaves_containers_unmasqueraded() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    let c = lab.run("client", &[], &[]).unwrap();
    lab.iptables(&["-t", "nat", "-F"]).unwrap();
    let (code, json) =
        trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:80"), "--timeout", "500ms"]);
    assert_cause(&json, "masquerade_missing");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["iface"], "uplink0");
    let evidence = json["verdict"]["evidence"].to_string();
    assert!(evidence.contains(c.ip("bridge")), "the private source is shown: {evidence}");
    assert!(fixes(&json).contains("MASQUERADE"));
}

#[test]
fn ip_forward_disabled() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    lab.run("client", &[], &[]).unwrap();
    lab.sysctl("net.ipv4.ip_forward", "0").unwrap();
    let (code, json) =
        trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:80"), "--timeout", "500ms"]);
    assert_cause(&json, "ip_forward_disabled");
    assert_eq!(code, 1);
    assert_eq!(
        (location(&json)["netns"].as_str(), location(&json)["iface"].as_str()),
        (Some("host"), Some("docker0"))
    );
    assert!(fixes(&json).contains("sysctl -w net.ipv4.ip_forward=1"));
}

#[test]
fn subnet_overlapping_the_uplink_network() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    // The VPC story: a service of the company network (here in the sink, on the uplink's
    // 10.200.0.0/16) and a Docker network created over part of that range.
    lab.sink_exec(&["ip", "addr", "add", "10.200.64.10/16", "dev", "sink0"]).unwrap();
    outside_server(&lab, "10.200.64.10", 80);
    let vpc = lab.create_network("vpc", &["--subnet", "10.200.64.0/24"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let (code, json) =
        trace(&lab, &["--from", "client", "--to", "10.200.64.10:80", "--timeout", "500ms", "--count", "1"]);
    assert_cause(&json, "subnet_conflict");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["iface"], vpc.bridge.as_str(), "{:#}", location(&json));
}

#[test]
fn detached_veth() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let mysql = lab.container("mysql").unwrap();
    let veth = lab.detach_veth(&mysql).unwrap();
    let (code, json) =
        trace(&lab, &["--from", "nacos", "--to", "mysql:3306", "--timeout", "500ms", "--count", "1"]);
    assert_cause(&json, "veth_detached");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["iface"], veth.as_str());
    assert!(fixes(&json).contains(&format!("ip link set {veth} master")));
}

#[test]
fn interface_down() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let nacos = lab.container("nacos").unwrap();
    // The source's own interface on heima-net: the probe cannot even leave.
    let ifname = lab.exec("nacos", &["sh", "-c", "ip -o addr | grep 172.18 | cut -d' ' -f2"]).unwrap();
    lab.set_container_link(&nacos, ifname.trim(), false).unwrap();
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "mysql:3306", "--count", "1"]);
    assert_cause(&json, "link_down");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["netns"], "container:nacos", "{:#}", location(&json));
    assert_eq!(location(&json)["iface"], ifname.trim(), "{:#}", location(&json));
    assert!(fixes(&json).contains(&format!("ip link set {} up", ifname.trim())), "{}", fixes(&json));
}

#[test]
fn bridge_port_blocked_by_stp() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab.create_network("stpnet", &["-o", "com.docker.network.bridge.name=br-stp"]).unwrap();
    lab.server("db", 3306, &["--network", "stpnet"]).unwrap();
    lab.run("app", &["--network", "stpnet"], &[]).unwrap();
    // The seed: STP on a custom bridge. New ports spend forward_delay listening, then
    // learning, before they forward: a container started now is cut off for a while.
    lab.enable_stp(&net.bridge, 30).unwrap();
    let late = lab.run("late", &["--network", "stpnet"], &[]).unwrap();
    let port = lab.host_veth(&late, "eth0").unwrap();
    lab.wait_port_state(&port, &["listening", "learning"]).unwrap();
    let (code, json) =
        trace(&lab, &["--from", "late", "--to", "db:3306", "--timeout", "500ms", "--count", "1"]);
    assert_cause(&json, "bridge_port_blocked");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["iface"], port.as_str(), "the late container's port: {:#}", location(&json));
    assert_eq!(location(&json)["netns"], "host", "{:#}", location(&json));
    assert!(fixes(&json).contains(&net.bridge), "{}", fixes(&json));
}

/// An address of a Docker subnet that no container holds (a container that was removed while
/// a client still had its address): the bridge asks for it by ARP and nobody answers.
#[test]
fn nobody_answers_arp_for_the_address() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, false);
    let (code, json) = trace(&lab, &["--from", "host", "--to", "172.18.0.99:3306", "--count", "1"]);
    assert_cause(&json, "neighbor_unreachable");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["iface"], net.bridge.as_str());
    let evidence = json["verdict"]["evidence"].to_string();
    assert!(evidence.contains("ARP for 172.18.0.99"), "{json:#}");
}

#[test]
fn nothing_listens() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "mysql:9999"]);
    assert_cause(&json, "no_listener");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["netns"], "container:mysql");
    assert!(json["verdict"]["evidence"].to_string().contains("NO_SOCKET"));
}

#[test]
fn nftrace_names_the_chain_with_allow_system_changes_and_is_undone() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, false);
    let (code, json) =
        trace(&lab, &["--from", "nacos", "--to", "mysql:3306", "--count", "1", "--allow-system-changes"]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    let evidence = json["verdict"]["evidence"].to_string();
    let mysql = lab.container("mysql").unwrap();
    let (rule, chain) = common::isolation_drop(&lab, mysql.ip("heima-net"), &net.bridge);
    assert!(evidence.contains("nftrace:") && evidence.contains(&format!("{chain}: drop")), "{evidence}");
    assert_eq!(location(&json)["rule"], rule.as_str());
    let tables = lab.nft(&["list", "tables"]).unwrap();
    assert!(!tables.contains("dnt_trace_"), "the trace table must be gone: {tables}");
}
