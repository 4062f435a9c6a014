//! Verdicts that tell the whole truth (issue 11): every probe counts, every endpoint kind is
//! what it says, every way Docker publishes a port is explained. Each test builds the case on
//! a real dockerd and asserts cause, location and fix.
mod common;

use std::net::{TcpListener, UdpSocket};

use common::{LAB_IP, OUTSIDE_IP, assert_cause, heima, in_netns, outside_server, trace};
use dockernet_trace_tests::{Lab, LabOptions, lab::Engine};
use serde_json::Value;

fn location(json: &Value) -> &Value {
    &json["verdict"]["location"]
}

fn summary(json: &Value) -> &str {
    json["verdict"]["summary"].as_str().unwrap_or_default()
}

fn fixes(json: &Value) -> String {
    json["verdict"]["fix"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A TCP listener on `addr` inside the namespace at `netns` (the socket stays there), ready
/// when this returns.
fn tcp_listener(netns: &str, addr: &str) -> TcpListener {
    let addr = addr.to_string();
    in_netns(netns, move || TcpListener::bind(&addr).expect("bind tcp"))
}

/// A UDP socket bound on `addr` inside the namespace at `netns`, that never answers.
fn udp_socket(netns: &str, addr: &str) -> UdpSocket {
    let addr = addr.to_string();
    in_netns(netns, move || UdpSocket::bind(&addr).expect("bind udp"))
}

/// Item 1: a rule that drops (or rejects) one SYN in three. Two probes get through, one does
/// not: not reachable, the rule named, and how many of all got through.
#[test]
fn partial_loss_is_not_reachable() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    outside_server(&lab, OUTSIDE_IP, 81);
    lab.run("client", &[], &[]).unwrap();
    let nth = ["-m", "statistic", "--mode", "nth", "--every", "3", "--packet", "0"];
    for (port, target) in [("80", vec!["DROP"]), ("81", vec!["REJECT", "--reject-with", "tcp-reset"])] {
        let mut rule = vec!["-I", "DOCKER-USER", "-d", OUTSIDE_IP, "-p", "tcp", "--dport", port, "--syn"];
        rule.extend_from_slice(&nth);
        rule.push("-j");
        rule.extend(target.iter().copied());
        lab.iptables(&rule).unwrap();
    }
    for (port, verb) in [(80, "dropped"), (81, "rejected")] {
        let (code, json) = trace(&lab, &["--from", "client", "--to", &format!("{OUTSIDE_IP}:{port}")]);
        assert_cause(&json, "firewall_drop");
        assert_eq!(code, 1, "{json:#}");
        assert_eq!(json["reachable"], false);
        let s = summary(&json);
        assert!(s.contains("2 of 3 probes got through") && s.contains("probe 1 stopped"), "{json:#}");
        assert!(s.contains(verb), "{json:#}");
        let rule = location(&json)["rule"].as_str().unwrap_or_default().to_string();
        assert!(
            rule.starts_with(&format!("-A DOCKER-USER -d {OUTSIDE_IP}/32 -p tcp -m tcp --dport {port}"))
                && rule.contains("--mode nth --every 3 --packet 0"),
            "{json:#}"
        );
        assert_eq!(location(&json)["iface"], "docker0", "{json:#}");
        assert_eq!(location(&json)["drop_reason"], "NETFILTER_DROP");
        assert!(fixes(&json).contains(&rule.replacen("-A ", "-D ", 1)), "{json:#}");
    }
}

/// Item 2: an address endpoint is something that holds it: a container, the host, or a
/// namespace under /run/netns (sent from there); anything else is a usage error naming it.
#[test]
fn a_source_address_must_be_held_by_someone() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, false);
    let out = lab.tool(&["--from", "10.99.99.99", "--to", "mysql:3306"]).unwrap();
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let err = out.stderr.trim();
    assert!(err.contains("10.99.99.99") && err.lines().count() == 1, "{err}");
    // The sink's address: sent from the sink's namespace, to a listener on the lab host.
    let _l = tcp_listener(&lab.netns_path(), &format!("{LAB_IP}:9100"));
    let sink_ip = dockernet_trace_tests::lab::SINK_IP;
    let (code, json) = trace(&lab, &["--from", sink_ip, "--to", &format!("{LAB_IP}:9100"), "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["from"]["netns"], format!("/run/netns/{}", lab.sink).as_str(), "{json:#}");
    let first = &json["hops"][0];
    assert_eq!(first["netns"], format!("netns:{}", lab.sink).as_str(), "{json:#}");
}

/// Item 3: `-p 127.0.0.1:13307:80` reached anywhere but 127.0.0.1: the binding is the
/// explanation, not a missing DNAT (its rule is there).
#[test]
fn a_port_published_on_one_host_address() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.server("web", 80, &["-p", "127.0.0.1:13307:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let nat = lab.iptables(&["-t", "nat", "-S", "DOCKER"]).unwrap();
    assert!(nat.contains("-d 127.0.0.1/32") && nat.contains("--dport 13307"), "the DNAT is there: {nat}");
    let sink = format!("netns:{}", lab.sink);
    for (from, to) in [("client", "host:13307".to_string()), (sink.as_str(), format!("{LAB_IP}:13307"))] {
        let (code, json) = trace(&lab, &["--from", from, "--to", &to, "--count", "1"]);
        assert_cause(&json, "no_listener");
        assert_eq!(code, 1);
        assert_eq!(location(&json)["netns"], "host", "{json:#}");
        let s = summary(&json);
        let dst = json["to"]["ip"].as_str().unwrap_or_default();
        assert!(s.contains("only on 127.0.0.1") && s.contains(&format!("went to {dst}")), "{json:#}");
        assert!(!fixes(&json).contains("restart docker"), "{json:#}");
        assert!(fixes(&json).contains("-p 13307:80"), "{json:#}");
    }
}

/// Item 4: `host` from a container is its network's gateway (host-gateway); a service bound
/// only there is reachable.
#[test]
fn host_from_a_container_is_its_gateway() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let c = lab.run("client", &[], &[]).unwrap();
    let gw = lab.network("bridge").unwrap().gateway;
    let _l = tcp_listener(&lab.netns_path(), &format!("{gw}:9000"));
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:9000", "--count", "2"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["to"]["ip"], gw.as_str());
    let first = &json["hops"][0];
    assert_eq!(first["src"].as_str().unwrap().split(':').next(), Some(c.ip("bridge")), "{json:#}");
}

/// Item 5: behind DNAT, "nothing listens" is about the container's port, in the container.
#[test]
fn no_listener_behind_dnat_names_the_containers_port() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("noweb", &["-p", "8090:80"], &[]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:8090", "--count", "1"]);
    assert_cause(&json, "no_listener");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["netns"], "container:noweb", "{json:#}");
    let s = summary(&json);
    assert!(s.contains("noweb") && s.contains("its port 80") && s.contains("8090"), "{json:#}");
    assert!(fixes(&json).contains("port 80 in noweb"), "{json:#}");
}

/// Item 6: a UDP datagram the kernel delivered to a bound socket that never answers is
/// delivered (reachable); a port without a socket stays no_listener.
#[test]
fn udp_delivered_without_reply_is_reachable() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    heima(&lab, true);
    let mysql = lab.container("mysql").unwrap();
    let _s = udp_socket(&mysql.netns_path(), "0.0.0.0:5000");
    let args =
        ["--from", "nacos", "--to", "mysql:5000", "--proto", "udp", "--count", "2", "--timeout", "500ms"];
    let (code, json) = trace(&lab, &args);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["reachable"], true);
    assert!(summary(&json).contains("delivered, no reply"), "{json:#}");
    assert_eq!(location(&json)["netns"], "container:mysql", "{json:#}");
    let (code, json) =
        trace(&lab, &["--from", "nacos", "--to", "mysql:5001", "--proto", "udp", "--count", "1"]);
    assert_cause(&json, "no_listener");
    assert_eq!(code, 1);
}

/// Item 7: an `--internal` network's container going out: named as internal, by design, with
/// a non-internal network to connect it to (never "connect both containers").
#[test]
fn an_internal_network_has_no_way_out() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab.create_network("intnet", &["--internal", "--subnet", "192.168.220.0/24"]).unwrap();
    lab.run("i2", &["--network", "intnet"], &[]).unwrap();
    outside_server(&lab, OUTSIDE_IP, 80);
    let (code, json) = trace(&lab, &["--from", "i2", "--to", &format!("{OUTSIDE_IP}:80"), "--count", "1"]);
    assert_eq!(code, 1);
    assert!(
        summary(&json).contains("network intnet is internal: Docker gives it no way out, by design"),
        "{json:#}"
    );
    assert!(fixes(&json).contains("docker network connect bridge i2"), "{json:#}");
    assert!(!fixes(&json).contains("both"), "{json:#}");
    let loc = location(&json);
    match lab.engine {
        // Docker 20.10: its isolation rule drops what leaves the bridge.
        Engine::Docker20 => {
            assert_cause(&json, "network_isolation");
            assert_eq!(
                (loc["netns"].as_str(), loc["iface"].as_str()),
                (Some("host"), Some(net.bridge.as_str()))
            );
            let rule = format!("-A DOCKER-ISOLATION-STAGE-1 ! -d {} -i {} -j DROP", net.subnet, net.bridge);
            assert_eq!(loc["rule"], rule.as_str(), "{json:#}");
        }
        // Docker 28: an internal network's containers get no default route at all.
        Engine::Docker28 => {
            assert_cause(&json, "no_route");
            assert_eq!(loc["netns"].as_str(), Some("container:i2"), "{json:#}");
        }
    }
}

/// Item 8: the host cannot reach a macvlan or ipvlan child of its own interface, by design;
/// and such containers draw no "veth peer" note.
#[test]
fn a_parent_interface_cannot_reach_its_children() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    // Kernels without ipvlan (this host's) can only show the macvlan case.
    let ipvlan = lab.host(&["ip", "link", "add", "vrdipv0", "link", "uplink0", "type", "ipvlan"]).is_ok();
    if ipvlan {
        lab.host(&["ip", "link", "del", "vrdipv0"]).unwrap();
    } else {
        eprintln!("this kernel has no ipvlan: the macvlan case only");
    }
    for driver in ["macvlan", "ipvlan"].into_iter().filter(|d| *d == "macvlan" || ipvlan) {
        let args = [
            "-d",
            driver,
            "--subnet",
            "10.200.0.0/16",
            "--gateway",
            dockernet_trace_tests::lab::SINK_IP,
            "-o",
            "parent=uplink0",
        ];
        lab.create_network("subnet", &args).unwrap();
        lab.server("child", 80, &["--network", "subnet", "--ip", "10.200.77.10"]).unwrap();
        let (code, json) = trace(&lab, &["--from", "host", "--to", "child:80", "--count", "1"]);
        assert_cause(&json, "neighbor_unreachable");
        assert_eq!(code, 1);
        let loc = location(&json);
        assert_eq!(
            (loc["netns"].as_str(), loc["iface"].as_str()),
            (Some("host"), Some("uplink0")),
            "{json:#}"
        );
        let s = summary(&json);
        assert!(s.contains(&format!("{driver} network subnet")) && s.contains("by design"), "{json:#}");
        assert!(fixes(&json).contains(&format!("link uplink0 type {driver}")), "{json:#}");
        assert!(!json["notes"].to_string().contains("veth peer"), "{:#}", json["notes"]);
        lab.docker(&["rm", "-f", "child"]).unwrap();
        lab.docker(&["network", "rm", "subnet"]).unwrap();
    }
}

/// Item 9: a target with `--network none` is a verdict (exit 1, JSON on stdout); a container's
/// own loopback to a port published on the host is explained.
#[test]
fn no_network_and_own_loopback_are_verdicts() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.run("hermit", &["--network", "none"], &[]).unwrap();
    lab.server("web", 80, &["-p", "8080:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", "hermit:80", "--count", "1"]);
    assert_cause(&json, "no_route");
    assert_eq!(code, 1);
    assert!(summary(&json).contains("--network none"), "{json:#}");
    assert_eq!(location(&json)["netns"], "container:hermit", "{json:#}");
    assert!(fixes(&json).contains("docker network connect bridge hermit"), "{json:#}");
    let (code, json) = trace(&lab, &["--from", "client", "--to", "127.0.0.1:8080", "--count", "1"]);
    assert_cause(&json, "no_listener");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["netns"], "container:client", "{json:#}");
    let s = summary(&json);
    assert!(s.contains("client's own loopback") && s.contains("published on the host for web"), "{json:#}");
    assert!(fixes(&json).contains("--to host:8080"), "{json:#}");
}

/// Item 12: docker-proxy answering a published port (from the host itself, or with the DNAT
/// rule gone) is named with its pid and the container it forwards to; when that container
/// does not listen, the accepted connection is not "ok"; doctor notes a port served by the
/// proxy alone.
#[test]
fn docker_proxy_is_named_when_it_answers() {
    let lab = Lab::start(LabOptions { userland_proxy: true, ..LabOptions::default() }).unwrap();
    let web = lab.server("web", 80, &["-p", "8080:80"]).unwrap();
    lab.run("noweb", &["-p", "8091:80"], &[]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "host", "--to", "127.0.0.1:8080", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    let s = summary(&json);
    let to = format!("web ({}:80)", web.ip("bridge"));
    assert!(s.contains("docker-proxy (pid ") && s.contains(&to), "{json:#}");
    // The DNAT rule gone: the proxy alone serves the port, from a container too.
    let nat = lab.iptables(&["-t", "nat", "-S", "DOCKER"]).unwrap();
    let dnat = nat.lines().find(|l| l.contains("--dport 8080") && l.contains("DNAT")).unwrap();
    let delete = dnat.replacen("-A ", "-D ", 1);
    let mut del: Vec<&str> = vec!["-t", "nat"];
    del.extend(delete.split_whitespace());
    lab.iptables(&del).unwrap();
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:8080", "--count", "1"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert!(summary(&json).contains("docker-proxy (pid ") && summary(&json).contains(&to), "{json:#}");
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    let doctor = out.json().unwrap();
    let notes = doctor["notes"].to_string();
    assert!(notes.contains("port 8080/tcp of web is served by docker-proxy"), "{doctor:#}");
    assert!(notes.contains("gateway's address"), "{doctor:#}");
    // Nothing listens behind the proxy: it accepts, then closes.
    let (code, json) = trace(&lab, &["--from", "client", "--to", "host:8091", "--count", "1"]);
    assert_cause(&json, "no_listener");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["netns"], "container:noweb", "{json:#}");
    assert!(summary(&json).contains("docker-proxy (pid "), "{json:#}");
}

/// A network with inter-container communication off: its rule drops what goes between two of
/// its containers; they do share the network, so the fix is never to connect them to it.
#[test]
fn a_network_without_icc_is_named() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab
        .create_network(
            "iccnet",
            &["-o", "com.docker.network.bridge.enable_icc=false", "--subnet", "192.168.221.0/24"],
        )
        .unwrap();
    lab.server("k1", 80, &["--network", "iccnet"]).unwrap();
    lab.run("k2", &["--network", "iccnet"], &[]).unwrap();
    let (code, json) = trace(&lab, &["--from", "k2", "--to", "k1:80", "--count", "1"]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    let s = summary(&json);
    assert!(
        s.contains("network iccnet has inter-container communication off") && s.contains("by design"),
        "{json:#}"
    );
    assert!(!s.contains("share no Docker network"), "{json:#}");
    // Docker 28 keeps its per-bridge rules in DOCKER-FORWARD.
    let chain = if lab.engine == Engine::Docker28 { "DOCKER-FORWARD" } else { "FORWARD" };
    assert_eq!(
        location(&json)["rule"],
        format!("-A {chain} -i {0} -o {0} -j DROP", net.bridge).as_str(),
        "{json:#}"
    );
    assert!(!fixes(&json).contains("docker network connect iccnet"), "{json:#}");
    assert!(fixes(&json).contains("enable_icc=false"), "{json:#}");
}
