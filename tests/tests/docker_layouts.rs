//! What Docker Engine 28 does differently from 20.10, live: ports published on one host
//! address, `--internal` and ICC-off networks, direct routing to container addresses (28's raw
//! PREROUTING drops), dual-stack networks (28 writes ip6tables rules by default), and — on 28
//! only (`engine28_*`, always run on engine 28) — DOCKER-FORWARD lost from FORWARD and the
//! gateway modes nat-unprotected and routed. Each asserts cause, location and fix.
mod common;

use common::{Engine, LAB_IP, OUTSIDE_IP, assert_cause, heima, outside_server, trace};
use dockernet_trace_tests::{Lab, LabOptions, Network};
use serde_json::Value;

mod doctor_support;
use doctor_support::{assert_findings, finding, fixes, healthy, on_net};

fn location(json: &Value) -> &Value {
    &json["verdict"]["location"]
}

fn fix_text(json: &Value) -> String {
    json["verdict"]["fix"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

fn engine28() -> Lab {
    Lab::start(LabOptions { engine: Some(Engine::Docker28), ..Default::default() }).unwrap()
}

/// A route in the sink ("the outside") to a Docker subnet through the lab host: what a router
/// in front of a Docker host does when someone reaches containers by their addresses.
fn route_from_outside(lab: &Lab, net: &Network) {
    lab.sink_exec(&["ip", "route", "add", &net.subnet, "via", LAB_IP]).unwrap();
}

fn sink(lab: &Lab) -> String {
    format!("netns:{}", lab.sink)
}

/// `-p 127.0.0.1:13307:80`: the host reaches it on loopback (Docker's DNAT in OUTPUT, with
/// route_localnet on the bridge); doctor sees nothing wrong.
#[test]
fn a_port_published_on_loopback_only() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.server("web", 80, &["-p", "127.0.0.1:13307:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    assert_findings(&lab, vec![]);
    let (code, json) = trace(&lab, &["--from", "host", "--to", "127.0.0.1:13307", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(location(&json)["netns"], "container:web", "{json:#}");
}

/// From a container, the host's uplink address is not where the port is published: nothing
/// listens there, and the binding is the explanation, not a missing DNAT.
#[test]
fn a_port_published_on_loopback_is_not_reached_at_the_uplink_address() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.server("web", 80, &["-p", "127.0.0.1:13307:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:13307", "--count", "1"]);
    assert_eq!(code, 1);
    assert_cause(&json, "no_listener");
    assert_eq!(location(&json)["netns"], "host", "{json:#}");
    let said = format!("{} {}", json["verdict"]["summary"], fix_text(&json));
    assert!(said.contains("127.0.0.1"), "the binding is named: {json:#}");
    assert!(!fix_text(&json).contains("restart docker"), "{json:#}");
}

/// `--internal`: its containers talk to each other, another network's container is kept out by
/// the internal rule, and nothing leaves (no default route in the container).
#[test]
fn an_internal_network() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab.create_network("intnet", &["--internal", "--subnet", "192.168.220.0/24"]).unwrap();
    lab.server("i1", 80, &["--network", "intnet"]).unwrap();
    lab.run("i2", &["--network", "intnet"], &[]).unwrap();
    lab.run("nacos", &[], &[]).unwrap();
    assert_findings(&lab, vec![]);

    let (code, json) = trace(&lab, &["--from", "i2", "--to", "i1:80", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);

    let (code, json) = trace(&lab, &["--from", "nacos", "--to", "i1:80", "--count", "1"]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    let loc = location(&json);
    assert_eq!((loc["netns"].as_str(), loc["iface"].as_str()), (Some("host"), Some("docker0")), "{json:#}");
    assert_eq!(loc["drop_reason"], "NETFILTER_DROP");
    assert_eq!(
        loc["rule"],
        format!("-A DOCKER-ISOLATION-STAGE-1 ! -s {} -o {} -j DROP", net.subnet, net.bridge).as_str()
    );
    assert!(fix_text(&json).contains("docker network connect intnet nacos"), "{json:#}");

    // Going out: Docker 20.10 gives the container a default route and its internal rule drops
    // what leaves the bridge; Docker 28 gives it no default route at all.
    let (code, json) = trace(&lab, &["--from", "i2", "--to", &format!("{OUTSIDE_IP}:80"), "--count", "1"]);
    assert_eq!(code, 1);
    let loc = location(&json);
    match lab.engine {
        Engine::Docker20 => {
            assert_cause(&json, "network_isolation");
            assert_eq!(
                (loc["netns"].as_str(), loc["iface"].as_str()),
                (Some("host"), Some(net.bridge.as_str()))
            );
            let rule = format!("-A DOCKER-ISOLATION-STAGE-1 ! -d {} -i {} -j DROP", net.subnet, net.bridge);
            assert_eq!(loc["rule"], rule.as_str(), "{json:#}");
        }
        Engine::Docker28 => {
            assert_cause(&json, "no_route");
            assert_eq!(loc["netns"], "container:i2", "{json:#}");
            assert_eq!(loc["function"], "fib_table_lookup", "{json:#}");
        }
    }
}

#[test]
fn an_internal_network_is_named_as_the_reason() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("intnet", &["--internal", "--subnet", "192.168.220.0/24"]).unwrap();
    lab.run("i2", &["--network", "intnet"], &[]).unwrap();
    let (_, json) = trace(&lab, &["--from", "i2", "--to", &format!("{OUTSIDE_IP}:80"), "--count", "1"]);
    assert!(json["verdict"]["summary"].as_str().unwrap_or_default().contains("internal"), "{json:#}");
    assert!(fix_text(&json).contains("docker network connect"), "{json:#}");
}

/// `enable_icc=false`: Docker's rule drops traffic between two containers of the same network.
#[test]
fn a_network_without_inter_container_communication() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab
        .create_network(
            "iccnet",
            &["-o", "com.docker.network.bridge.enable_icc=false", "--subnet", "192.168.221.0/24"],
        )
        .unwrap();
    let k1 = lab.server("k1", 80, &["--network", "iccnet"]).unwrap();
    lab.run("k2", &["--network", "iccnet"], &[]).unwrap();
    assert_findings(&lab, vec![]);
    let (code, json) = trace(&lab, &["--from", "k2", "--to", "k1:80", "--count", "1"]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    let loc = location(&json);
    let chain = if lab.engine == Engine::Docker28 { "DOCKER-FORWARD" } else { "FORWARD" };
    assert_eq!(loc["rule"], format!("-A {chain} -i {0} -o {0} -j DROP", net.bridge).as_str(), "{json:#}");
    // br_netfilter's forward hook runs as the bridge sends to k1's port.
    assert_eq!(loc["iface"], lab.host_veth(&k1, "eth0").unwrap().as_str(), "{json:#}");
    assert_eq!(loc["drop_reason"], "NETFILTER_DROP");
}

#[test]
fn an_icc_drop_is_explained_as_icc() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("iccnet", &["-o", "com.docker.network.bridge.enable_icc=false"]).unwrap();
    lab.server("k1", 80, &["--network", "iccnet"]).unwrap();
    lab.run("k2", &["--network", "iccnet"], &[]).unwrap();
    let (_, json) = trace(&lab, &["--from", "k2", "--to", "k1:80", "--count", "1"]);
    let summary = json["verdict"]["summary"].as_str().unwrap_or_default();
    assert!(!summary.contains("share no Docker network") && summary.contains("icc"), "{json:#}");
    assert!(!fix_text(&json).contains("docker network connect iccnet k2"), "{json:#}");
}

/// A host outside routing straight to a container's address: Docker keeps it out (28: raw
/// PREROUTING's rule for the container's address; 20.10: FORWARD's DROP policy). A firewall
/// drop at the uplink, not isolation.
#[test]
fn direct_routing_to_a_container_from_outside() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = heima(&lab, false);
    route_from_outside(&lab, &net);
    let mysql = lab.container("mysql").unwrap();
    let (code, json) = trace(&lab, &["--from", &sink(&lab), "--to", "mysql:3306", "--count", "1"]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let loc = location(&json);
    assert_eq!((loc["netns"].as_str(), loc["iface"].as_str()), (Some("host"), Some("uplink0")), "{json:#}");
    let rule = match lab.engine {
        Engine::Docker28 => {
            format!("-A PREROUTING -d {}/32 ! -i {} -j DROP", mysql.ip("heima-net"), net.bridge)
        }
        Engine::Docker20 => "-P FORWARD DROP".to_string(),
    };
    assert_eq!(loc["rule"], rule.as_str(), "{json:#}");
}

#[test]
fn direct_routing_fix_publishes_the_port() {
    let lab = engine28();
    let net = heima(&lab, false);
    route_from_outside(&lab, &net);
    let (_, json) = trace(&lab, &["--from", &sink(&lab), "--to", "mysql:3306", "--count", "1"]);
    let fix = fix_text(&json);
    assert!(!fix.contains("-D PREROUTING") && fix.contains("-p "), "{json:#}");
}

/// A dual-stack network: its IPv4 side is traced and diagnosed as any other, and its IPv6
/// rules (Docker 28 writes ip6tables by default) raise no finding.
#[test]
fn a_dual_stack_network() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let args = ["--ipv6", "--subnet", "192.168.224.0/24", "--subnet", "fd00:dead:beef::/64"];
    let net = lab.create_network("v6net", &args).unwrap();
    assert_eq!(net.subnet, "192.168.224.0/24");
    lab.server("s6", 80, &["--network", "v6net", "-p", "8083:80"]).unwrap();
    lab.run("c6", &["--network", "v6net"], &[]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    assert_findings(&lab, vec![]);
    // IPv6 works between them (so the network really is dual-stack).
    let s6_v6 = lab
        .docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}", "s6"])
        .unwrap();
    assert!(s6_v6.starts_with("fd00:dead:beef:"), "{s6_v6}");
    lab.exec("c6", &["ping", "-6", "-c", "1", "-W", "5", &s6_v6]).unwrap();

    let (code, json) = trace(&lab, &["--from", "c6", "--to", "s6:80", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["to"]["ip"], lab.container("s6").unwrap().ip("v6net"), "the IPv4 address: {json:#}");
    let (code, json) = trace(&lab, &["--from", "host", "--to", "s6:80", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    // The published port from another network: after DNAT, isolation drops it (no userland
    // proxy in the lab), as between any two networks.
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:8083", "--count", "1"]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    assert_eq!(
        location(&json)["rule"],
        format!("-A DOCKER-ISOLATION-STAGE-2 -o {} -j DROP", net.bridge).as_str()
    );
}

/// Docker 28: `iptables -D FORWARD -j DOCKER-FORWARD` under the DROP policy dockerd set cuts
/// every network off; doctor names each, and the fix puts the jump back. With the policy at
/// ACCEPT nothing is cut off: a note only.
#[test]
fn engine28_forward_lost_its_jump_to_docker_forward() {
    let lab = engine28();
    let w = healthy(&lab);
    outside_server(&lab, OUTSIDE_IP, 80);
    assert!(lab.iptables(&["-S", "FORWARD"]).unwrap().contains("-P FORWARD DROP"), "dockerd set the policy");
    lab.iptables(&["-D", "FORWARD", "-j", "DOCKER-FORWARD"]).unwrap();
    let json = assert_findings(
        &lab,
        vec![
            on_net("firewall_drop", &w.app, &w.app.bridge),
            on_net("firewall_drop", &w.bridge, "docker0"),
            on_net("firewall_drop", &w.cust, "brcustom"),
            finding("firewall_drop", Some("appnet"), Some(&w.app.bridge), Some("web")),
        ],
    );
    let all = fixes(&json, "firewall_drop");
    assert!(
        all.iter()
            .all(|f| !f.starts_with("iptables") || f.starts_with("iptables -A FORWARD -j DOCKER-FORWARD")),
        "{all:#?}"
    );
    assert!(json["notes"].to_string().contains("no longer jumps to DOCKER-FORWARD"), "{json:#}");

    let (code, out) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:80"), "--count", "1"]);
    assert_cause(&out, "firewall_drop");
    assert_eq!(code, 1);
    assert_eq!(location(&out)["rule"], "-P FORWARD DROP", "{out:#}");
    assert_eq!(location(&out)["iface"], "docker0", "{out:#}");

    lab.iptables(&["-P", "FORWARD", "ACCEPT"]).unwrap();
    let json = assert_findings(&lab, vec![]);
    assert!(json["notes"].to_string().contains("no longer jumps to DOCKER-FORWARD"), "{json:#}");
}

/// Docker 28's gateway modes: `nat-unprotected` (NAT, and every port open to direct routing)
/// and `routed` (no NAT: published ports are reached at the container's own address). Doctor
/// finds nothing wrong with either; direct routing reaches both; a routed container reaches the
/// outside with its own address, which the outside routes back.
#[test]
fn engine28_gateway_modes() {
    let lab = engine28();
    let mode = |m: &str| format!("com.docker.network.bridge.gateway_mode_ipv4={m}");
    let unprot = lab
        .create_network("unprot", &["-o", &mode("nat-unprotected"), "--subnet", "192.168.222.0/24"])
        .unwrap();
    let routed =
        lab.create_network("routed", &["-o", &mode("routed"), "--subnet", "192.168.223.0/24"]).unwrap();
    lab.server("u1", 80, &["--network", "unprot", "-p", "8081:80"]).unwrap();
    lab.server("r1", 80, &["--network", "routed", "-p", "8082:80"]).unwrap();
    assert_findings(&lab, vec![]);

    route_from_outside(&lab, &unprot);
    route_from_outside(&lab, &routed);
    for to in ["u1:80", "r1:80"] {
        let (code, json) = trace(&lab, &["--from", &sink(&lab), "--to", to, "--count", "1"]);
        assert_cause(&json, "ok");
        assert_eq!(code, 0, "{to}");
    }
    outside_server(&lab, OUTSIDE_IP, 80);
    let (code, json) = trace(&lab, &["--from", "r1", "--to", &format!("{OUTSIDE_IP}:80"), "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    let r1 = lab.container("r1").unwrap();
    let out =
        json["hops"].as_array().unwrap().iter().find(|h| h["iface"] == "uplink0" && h["forward"] == true);
    let src = out.and_then(|h| h["src"].as_str()).unwrap_or_default();
    assert!(src.starts_with(&format!("{}:", r1.ip("routed"))), "not masqueraded: {json:#}");
}
