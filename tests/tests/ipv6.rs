//! IPv6 end to end in a dual-stack lab: its dockerd writes ip6tables rules (Docker 27+ does by
//! default; 20.10 with `--experimental --ip6tables`), its networks are created with `--ipv6`
//! and an IPv6 subnet, and its uplink into the sink has an IPv6 side. Each trace is IPv6 (an
//! IPv6 address, or `-6`), and must name the cause, place and fix as an IPv4 trace does.
mod common;

use common::{assert_cause, trace};
use dockernet_trace_tests::{
    Lab,
    lab::{Engine, LAB_IP6, OUTSIDE_IP6, ipv6_options, send_udp6_with_dest_options},
};
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

/// A dual-stack network `dual6` (172.30.60.0/24, fd00:60::/64) with `web` serving TCP 80 and
/// a client `c1`.
fn dual(lab: &Lab) -> (dockernet_trace_tests::Network, String) {
    let net = lab.create_dual_network("dual6", "172.30.60.0/24", "fd00:60::/64").unwrap();
    lab.server("web", 80, &["--network", "dual6"]).unwrap();
    lab.run("c1", &["--network", "dual6"], &[]).unwrap();
    let web6 = lab.ip6("web", "dual6").unwrap();
    (net, web6)
}

#[test]
fn healthy_container_to_container_over_ipv6() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let (_, web6) = dual(&lab);
    // `-6` on container names: the containers' IPv6 addresses.
    let (code, json) = trace(&lab, &["-6", "--from", "c1", "--to", "web:80"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    assert_eq!(json["to"]["ip"], web6.as_str());
    assert_eq!(json["from"]["ip"], lab.ip6("c1", "dual6").unwrap().as_str());
    let hops = json["hops"].as_array().unwrap();
    assert!(
        hops.iter().any(|h| h["netns"] == "container:web" && h["dst"] == format!("[{web6}]:80").as_str()),
        "the SYN was seen arriving in web: {}",
        serde_json::to_string_pretty(&json).unwrap()
    );
    // Without -6 the same names trace IPv4; an IPv6 address traces IPv6.
    let (_, json) = trace(&lab, &["--from", "c1", "--to", "web:80"]);
    assert!(json["to"]["ip"].as_str().unwrap().starts_with("172.30.60."), "{json}");
    let (code, json) = trace(&lab, &["--from", "c1", "--to", &format!("[{web6}]:80")]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    // ICMPv6 echo.
    let (code, json) = trace(&lab, &["-6", "--from", "c1", "--to", "web", "--proto", "icmp"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    // The host reaches web over IPv6 too (the bridge holds the network's IPv6 gateway).
    let (code, json) = trace(&lab, &["-6", "--from", "host", "--to", "web:80"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
}

#[test]
fn dash_6_needs_an_ipv6_address_on_both_ends() {
    let lab = Lab::start(ipv6_options()).unwrap();
    dual(&lab);
    lab.create_network("v4only", &["--subnet", "172.30.61.0/24"]).unwrap();
    lab.run("old", &["--network", "v4only"], &[]).unwrap();
    let out = lab.tool(&["-6", "--from", "old", "--to", "web:80"]).unwrap();
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("old has no IPv6 address") && out.stderr.contains("--ipv6"),
        "{}",
        out.stderr
    );
    let out =
        lab.tool(&["--from", "old", "--to", &format!("[{}]:80", lab.ip6("web", "dual6").unwrap())]).unwrap();
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("share no address family"), "{}", out.stderr);
}

#[test]
fn isolation_between_two_ipv6_networks() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let a = lab.create_dual_network("v6a", "172.30.62.0/24", "fd00:62::/64").unwrap();
    let b = lab.create_dual_network("v6b", "172.30.63.0/24", "fd00:63::/64").unwrap();
    lab.run("a1", &["--network", "v6a"], &[]).unwrap();
    lab.server("b1", 80, &["--network", "v6b"]).unwrap();
    let b1 = lab.ip6("b1", "v6b").unwrap();
    let (code, json) = trace(&lab, &["--from", "a1", "--to", &format!("[{b1}]:80")]);
    assert_cause(&json, "network_isolation");
    assert_eq!(code, 1);
    let loc = location(&json);
    assert_eq!(loc["drop_reason"], "NETFILTER_DROP");
    assert_eq!(loc["netns"], "host");
    assert!([a.bridge.as_str(), b.bridge.as_str()].contains(&loc["iface"].as_str().unwrap_or("")), "{loc}");
    assert!(loc["rule"].as_str().is_some_and(|r| r.contains("DROP")), "{loc}");
    assert!(fixes(&json).contains("docker network connect v6b a1"), "{}", fixes(&json));
}

/// An ip6tables rule drops the probe: in DOCKER-USER where the engine has that chain in
/// ip6tables (Docker 28), else in FORWARD (20.10's experimental ip6tables writes no
/// DOCKER-USER).
#[test]
fn an_ip6tables_docker_user_drop() {
    let lab = Lab::start(ipv6_options()).unwrap();
    dual(&lab);
    lab.outside_server6(OUTSIDE_IP6, 8080).unwrap();
    let chain = if lab.ip6tables(&["-S", "DOCKER-USER"]).is_ok() { "DOCKER-USER" } else { "FORWARD" };
    let dst = format!("{OUTSIDE_IP6}/128");
    lab.ip6tables(&["-I", chain, "-d", &dst, "-p", "tcp", "--dport", "8080", "-j", "DROP"]).unwrap();
    let (code, json) = trace(&lab, &["--from", "c1", "--to", &format!("[{OUTSIDE_IP6}]:8080")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    let rule = format!("-A {chain} -d {dst} -p tcp -m tcp --dport 8080 -j DROP");
    assert_eq!(location(&json)["rule"], rule.as_str());
    assert_eq!(location(&json)["drop_reason"], "NETFILTER_DROP");
    assert!(
        fixes(&json).contains(&format!("ip6tables {}", rule.replacen("-A ", "-D ", 1))),
        "{}",
        fixes(&json)
    );
    if chain == "DOCKER-USER" {
        // doctor reports DOCKER-USER drops, with the ip6tables command that removes this one.
        let d = lab.tool(&["doctor", "--json"]).unwrap().json().unwrap();
        assert!(
            d["findings"].as_array().unwrap().iter().any(|f| f["cause"] == "firewall_drop"
                && f["fix"][0].as_str().is_some_and(|x| x.starts_with("ip6tables -D DOCKER-USER"))),
            "{d}"
        );
    }
}

#[test]
fn the_bridge_lost_its_ipv6_gateway() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let (net, _) = dual(&lab);
    let gw = lab.network6("dual6").unwrap().gateway;
    lab.remove_bridge_address(&net.bridge, &format!("{gw}/64")).unwrap();
    let (code, json) = trace(&lab, &["-6", "--from", "host", "--to", "web:80"]);
    assert_cause(&json, "bridge_gateway_missing");
    assert_eq!(code, 1);
    assert!(fixes(&json).contains(&format!("ip addr add {gw}/64 dev {}", net.bridge)), "{}", fixes(&json));
    // IPv4 still works: the fault is IPv6's alone.
    let (code, json) = trace(&lab, &["--from", "host", "--to", "web:80"]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0);
    // A container's connection out. While c1 still knows the gateway's link-layer address, the
    // probe leaves and its answer comes back, and the host routes the answer away from the
    // bridge (a FORWARD policy then drops it, which is not the cause); once that entry is
    // stale, neighbour discovery for the gateway gets no answer. Either way the cause is the
    // bridge's lost address.
    lab.outside_server6(OUTSIDE_IP6, 8080).unwrap();
    let (code, json) = trace(&lab, &["--from", "c1", "--to", &format!("[{OUTSIDE_IP6}]:8080")]);
    assert_cause(&json, "bridge_gateway_missing");
    assert_eq!(code, 1);
    // The location is the faulty bridge (CONTRACT.md); where the probe was last seen (a route
    // decision or a neighbour resolution that failed) is evidence.
    assert_eq!(location(&json)["iface"], net.bridge.as_str(), "{json:#}");
    let evidence = json["verdict"]["evidence"].to_string();
    assert!(evidence.contains("last seen: container:c1"), "{json:#}");
    assert!(["fib6_table_lookup", "neigh_invalidate"].iter().any(|f| evidence.contains(f)), "{json:#}");
    // doctor names it too, as an IPv6 finding of that network.
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    let d = out.json().unwrap();
    let f = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["cause"] == "bridge_gateway_missing")
        .unwrap_or_else(|| panic!("{d}"));
    assert_eq!((f["network"].as_str(), f["iface"].as_str()), (Some("dual6"), Some(net.bridge.as_str())));
    assert!(f["summary"].as_str().unwrap().contains(&gw), "{f}");
}

/// An address of the network nobody holds: neighbour discovery gets no answer.
#[test]
fn nobody_answers_neighbour_discovery() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let (net, _) = dual(&lab);
    let (code, json) = trace(&lab, &["--from", "host", "--to", "[fd00:60::99]:80", "--count", "1"]);
    assert_cause(&json, "neighbor_unreachable");
    assert_eq!(code, 1);
    assert_eq!(location(&json)["iface"], net.bridge.as_str());
    let evidence =
        json["verdict"]["evidence"].to_string() + json["verdict"]["summary"].as_str().unwrap_or("");
    assert!(evidence.contains("neighbour discovery for fd00:60::99"), "{json:#}");
}

#[test]
fn ipv6_forwarding_off_to_the_outside() {
    let lab = Lab::start(ipv6_options()).unwrap();
    dual(&lab);
    lab.outside_server6(OUTSIDE_IP6, 8080).unwrap();
    let target = format!("[{OUTSIDE_IP6}]:8080");
    let (code, json) = trace(&lab, &["--from", "c1", "--to", &target]);
    assert_cause(&json, "ok");
    assert_eq!(code, 0, "the outside answers while the host forwards IPv6 (from {LAB_IP6})");
    lab.sysctl("net.ipv6.conf.all.forwarding", "0").unwrap();
    let (code, json) = trace(&lab, &["--from", "c1", "--to", &target]);
    assert_cause(&json, "ip_forward_disabled");
    assert_eq!(code, 1);
    assert!(fixes(&json).contains("sysctl -w net.ipv6.conf.all.forwarding=1"), "{}", fixes(&json));
    let out = lab.tool(&["doctor", "--json"]).unwrap();
    let d = out.json().unwrap();
    assert!(
        d["findings"].as_array().unwrap().iter().any(|f| f["cause"] == "ip_forward_disabled"
            && f["summary"].as_str().is_some_and(|s| s.contains("net.ipv6.conf.all.forwarding"))),
        "{d}"
    );
}

/// doctor judges each network's IPv6 traffic against the host's own firewall as it does its
/// IPv4: the engine's own ip6tables layout is no finding; an admin's `ip6` table whose forward
/// policy drops is one, for the IPv6 network only, with the rules that let it through.
#[test]
fn doctor_judges_ipv6_flows_against_an_admins_table() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let (net, _) = dual(&lab);
    let firewall_drops = |d: &Value| -> Vec<Value> {
        d["findings"].as_array().unwrap().iter().filter(|f| f["cause"] == "firewall_drop").cloned().collect()
    };
    let d = lab.tool(&["doctor", "--json"]).unwrap().json().unwrap();
    assert!(firewall_drops(&d).is_empty(), "the engine's own rules: {d}");
    let notes =
        d["notes"].as_array().map(|n| n.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"));
    assert!(!notes.unwrap_or_default().contains("IPv6 traffic is not checked"), "{d}");
    lab.nft(&["add table ip6 admin6"]).unwrap();
    lab.nft(&["add chain ip6 admin6 forward { type filter hook forward priority filter ; policy drop ; }"])
        .unwrap();
    let d = lab.tool(&["doctor", "--json"]).unwrap().json().unwrap();
    let found = firewall_drops(&d);
    assert_eq!(found.len(), 1, "one finding, for the one IPv6 network: {d}");
    let f = &found[0];
    assert_eq!(
        (f["network"].as_str(), f["iface"].as_str()),
        (Some("dual6"), Some(net.bridge.as_str())),
        "{f}"
    );
    let summary = f["summary"].as_str().unwrap();
    assert!(summary.contains("table ip6 admin6 chain forward") && summary.contains("over IPv6"), "{summary}");
    assert!(!summary.contains("over IPv4"), "{summary}");
    let fix: Vec<&str> = f["fix"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        fix.iter().any(|l| l.starts_with("nft add rule ip6 admin6 forward") && l.contains(&net.bridge)),
        "{fix:?}"
    );
}

/// ip6tables' FORWARD emptied under a policy of DROP (Docker's own rules gone, as after
/// `ip6tables -F FORWARD`): the IPv6 network's traffic out of the host dies there. The trace
/// says so over IPv6; doctor finds it for that network in IPv6 only, with ip6tables' fix.
#[test]
fn ip6tables_forward_emptied_under_a_drop_policy() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let (net, _) = dual(&lab);
    lab.outside_server6(OUTSIDE_IP6, 8080).unwrap();
    lab.ip6tables(&["-F", "FORWARD"]).unwrap();
    lab.ip6tables(&["-P", "FORWARD", "DROP"]).unwrap();
    let (code, json) = trace(&lab, &["--from", "c1", "--to", &format!("[{OUTSIDE_IP6}]:8080")]);
    assert_cause(&json, "firewall_drop");
    assert_eq!(code, 1);
    assert!(fixes(&json).contains("ip6tables"), "{}", fixes(&json));
    let d = lab.tool(&["doctor", "--json"]).unwrap().json().unwrap();
    let found: Vec<&Value> =
        d["findings"].as_array().unwrap().iter().filter(|f| f["cause"] == "firewall_drop").collect();
    assert_eq!(found.len(), 1, "{d}");
    let f = found[0];
    assert_eq!(f["iface"].as_str(), Some(net.bridge.as_str()), "{f}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("FORWARD")
            && summary.contains("connections of dual6's containers out of the host over IPv6"),
        "{summary}"
    );
    let fix: Vec<&str> = f["fix"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(fix.iter().any(|l| l.starts_with("ip6tables") && l.contains(&net.bridge)), "{fix:?}");
    // The engine writes ip6tables rules here: restarting it writes its ACCEPTs again.
    assert!(fix.iter().any(|l| l.starts_with("or: systemctl restart docker")), "{fix:?}");
}

/// `watch --json ARGS` while `act` runs (after the watch said it is attached), until its JSON
/// lines satisfy `done`; then SIGINT. All its lines, the summary last.
fn watch_while(lab: &Lab, args: &[&str], act: impl FnOnce(), done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    use std::io::{BufRead, BufReader};
    let mut a = vec!["watch", "--json"];
    a.extend_from_slice(args);
    let mut child = lab.spawn_tool(&a).unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("dockernet-trace: watching") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "watch ended before it was attached");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    act();
    let mut lines: Vec<Value> = vec![];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !done(&lines) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let l = rx.recv_timeout(left).unwrap_or_else(|_| panic!("watch never got there: {lines:#?}"));
        lines.push(serde_json::from_str(&l).unwrap());
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    lines.extend(rx.iter().map(|l| serde_json::from_str::<Value>(&l).unwrap()));
    lines
}

/// `watch` follows IPv6: drops between two IPv6 networks are named with their containers and
/// Docker's isolation rule, and healthy IPv6 traffic (neighbour discovery, echo, TCP) makes no
/// line.
#[test]
fn watch_names_ipv6_drops_and_stays_quiet_on_healthy_ipv6() {
    let lab = Lab::start(ipv6_options()).unwrap();
    let (_, web6) = dual(&lab);
    let b = lab.create_dual_network("v6w", "172.30.65.0/24", "fd00:65::/64").unwrap();
    lab.run("b1", &["--network", "v6w"], &[]).unwrap();
    let b16 = lab.ip6("b1", "v6w").unwrap();
    let c16 = lab.ip6("c1", "dual6").unwrap();
    let dropped = |v: &[Value]| {
        v.iter().filter(|l| l["dst"]["ip"] == b16.as_str()).filter_map(|l| l["count"].as_u64()).sum::<u64>()
    };
    let act = || {
        lab.exec("c1", &["ping", "-6", "-c", "2", "-W", "2", &web6]).unwrap();
        lab.exec("c1", &["wget", "-q", "-O", "-", &format!("http://[{web6}]:80/")]).unwrap();
        assert!(
            lab.exec("c1", &["ping", "-6", "-c", "3", "-W", "1", &b16]).is_err(),
            "isolation let it through"
        );
    };
    let lines = watch_while(&lab, &["--network", "dual6", "--network", "v6w"], act, |v| dropped(v) >= 3);
    // (Change lines record the lab's own setup while the watch starts: not drops.)
    let drops: Vec<&Value> =
        lines.iter().filter(|l| l["kind"] != "summary" && l["kind"] != "change").collect();
    assert!(!drops.is_empty(), "no drop line: {lines:#?}");
    let mut count = 0;
    for l in &drops {
        assert_eq!(l["kind"], "drop", "only the isolation drops: {l}");
        assert_eq!(
            (l["src"]["ip"].as_str(), l["src"]["container"].as_str()),
            (Some(c16.as_str()), Some("c1")),
            "{l}"
        );
        assert_eq!(
            (l["dst"]["ip"].as_str(), l["dst"]["container"].as_str()),
            (Some(b16.as_str()), Some("b1")),
            "{l}"
        );
        assert_eq!(
            (l["proto"].as_str(), l["cause"].as_str()),
            (Some("icmpv6"), Some("network_isolation")),
            "{l}"
        );
        // Docker 28 drops what another network sends to a container in raw PREROUTING.
        let rule = match lab.engine {
            Engine::Docker20 => format!("-A DOCKER-ISOLATION-STAGE-2 -o {} -j DROP", b.bridge),
            Engine::Docker28 => format!("-A PREROUTING -d {b16}/128 ! -i {} -j DROP", b.bridge),
        };
        assert_eq!(l["rule"], rule.as_str(), "{l}");
        count += l["count"].as_u64().unwrap_or(0);
    }
    assert_eq!(count, 3, "three pings, three drops: {drops:#?}");
}

/// The kernel programs walk IPv6 extension headers to the transport header: a datagram with a
/// Destination Options header that isolation drops is reported as UDP, with its port, as one
/// without is.
#[test]
fn watch_reads_past_ipv6_extension_headers() {
    let lab = Lab::start(ipv6_options()).unwrap();
    dual(&lab);
    lab.create_dual_network("v6x", "172.30.66.0/24", "fd00:66::/64").unwrap();
    lab.run("b1", &["--network", "v6x"], &[]).unwrap();
    let b16 = lab.ip6("b1", "v6x").unwrap();
    let c1 = lab.container("c1").unwrap();
    let to_b1 = |l: &&Value| l["dst"]["ip"] == b16.as_str();
    let counted = |v: &[Value]| v.iter().filter(to_b1).filter_map(|l| l["count"].as_u64()).sum::<u64>();
    let act = || send_udp6_with_dest_options(&c1.netns_path(), &b16, 9753, 3).unwrap();
    let lines = watch_while(&lab, &["--network", "dual6", "--network", "v6x"], act, |v| counted(v) >= 3);
    let drops: Vec<&Value> = lines.iter().filter(to_b1).collect();
    assert!(!drops.is_empty(), "no drop line: {lines:#?}");
    for l in &drops {
        assert_eq!(
            (l["kind"].as_str(), l["proto"].as_str(), l["dst"]["port"].as_u64()),
            (Some("drop"), Some("udp"), Some(9753)),
            "{l}"
        );
        assert_eq!(l["src"]["container"], "c1", "{l}");
    }
    assert_eq!(counted(&lines), 3, "three datagrams, three drops: {drops:#?}");
}
