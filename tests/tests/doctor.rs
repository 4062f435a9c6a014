//! `doctor` in the lab: a healthy Docker host gives no findings; each fault of the seed
//! incidents, made the way it happened there, gives exactly its finding (cause, network,
//! interface, container) and exit 1. Bad input and the human output: doctor_output.rs.
mod doctor_support;

use dockernet_trace_tests::{
    Lab, LabOptions,
    lab::{Engine, UPLINK_IF},
};
use doctor_support::{assert_findings, finding, fixes, healthy, on_net};

fn lab() -> Lab {
    Lab::start(LabOptions::default()).unwrap()
}

#[test]
fn healthy_host_has_no_findings() {
    let lab = lab();
    healthy(&lab);
    let json = assert_findings(&lab, vec![]);
    assert!(json["notes"].as_array().is_none_or(Vec::is_empty), "{json:#}");
}

/// The VM-suspend story: the bridges keep their links but lose their addresses; on another
/// the address was changed by hand.
#[test]
fn bridge_without_its_gateway_address() {
    let lab = lab();
    let w = healthy(&lab);
    let prefix = |n: &dockernet_trace_tests::Network| n.subnet.split('/').nth(1).unwrap().to_string();
    let app_cidr = format!("{}/{}", w.app.gateway, prefix(&w.app));
    lab.remove_bridge_address(&w.app.bridge, &app_cidr).unwrap();
    let json = assert_findings(&lab, vec![on_net("bridge_gateway_missing", &w.app, &w.app.bridge)]);
    assert_eq!(
        fixes(&json, "bridge_gateway_missing")[0],
        format!("ip addr add {app_cidr} dev {}", w.app.bridge)
    );

    // The default bridge (its gateway comes from the containers' endpoints, not IPAM).
    lab.remove_bridge_address("docker0", &format!("{}/{}", w.bridge.gateway, prefix(&w.bridge))).unwrap();
    // A changed address: something else of the subnet instead of the gateway.
    let cust_cidr = format!("{}/{}", w.cust.gateway, prefix(&w.cust));
    lab.remove_bridge_address(&w.cust.bridge, &cust_cidr).unwrap();
    let other = w.cust.gateway.replace(".0.1", ".0.250");
    lab.host(&["ip", "addr", "add", &format!("{other}/{}", prefix(&w.cust)), "dev", &w.cust.bridge]).unwrap();
    assert_findings(
        &lab,
        vec![
            on_net("bridge_gateway_missing", &w.app, &w.app.bridge),
            on_net("bridge_gateway_missing", &w.bridge, "docker0"),
            on_net("bridge_gateway_missing", &w.cust, "brcustom"),
        ],
    );
}

/// The VPC story: a Docker subnet inside the network the host's uplink is on.
#[test]
fn subnet_overlapping_the_uplink_network() {
    let lab = lab();
    healthy(&lab);
    let vpc = lab.create_network("vpcnet", &["--subnet", "10.200.64.0/24"]).unwrap();
    lab.run("app", &["--network", "vpcnet"], &[]).unwrap();
    let json = assert_findings(&lab, vec![on_net("subnet_conflict", &vpc, &vpc.bridge)]);
    let f = &json["findings"][0];
    assert!(f["summary"].as_str().unwrap().contains(UPLINK_IF), "{f:#}");
    assert!(f["fix"][0].as_str().unwrap().contains("--subnet"), "{f:#}");
}

/// Docker networks on overlapping subnets. Docker 20.10 refuses a subnet inside an existing
/// pool, and its bridge driver one that overlaps another bridge network, except the default
/// bridge's: then it forgets its own record of docker0 (docker0's FORWARD rules go with it) and
/// creates the new network anyway. So the overlap is a subnet around docker0's and no other
/// network's; one covering several would be accepted or refused by the order of a Go map.
/// Docker 28 refuses that overlap as well.
#[test]
fn docker_networks_overlapping_each_other() {
    let lab = lab();
    let w = healthy(&lab);
    // The /15 around docker0's /16, e.g. 172.16.0.0/15 around 172.17.0.0/16.
    let octets: Vec<u8> = w.bridge.subnet.split(['.', '/']).filter_map(|x| x.parse().ok()).collect();
    assert!(octets.len() == 5 && octets[4] == 16, "default bridge: {}", w.bridge.subnet);
    let subnet = format!("{}.{}.0.0/15", octets[0], octets[1] & !1);
    for n in [&w.app, &w.cust] {
        let second: u8 = n.subnet.split('.').nth(1).and_then(|x| x.parse().ok()).unwrap();
        assert!(!n.subnet.starts_with(&format!("{}.", octets[0])) || second & !1 != octets[1] & !1, "{n:?}");
    }
    let range = subnet.replace("/15", "/24");
    let created = lab.create_network("widenet", &["--subnet", &subnet, "--ip-range", &range]);
    if lab.engine == Engine::Docker28 {
        // Docker 28 checks the default bridge too: it refuses the overlap, and there is nothing
        // for doctor to find.
        let refused = created.expect_err("Docker 28 accepted a subnet around docker0's").to_string();
        assert!(refused.contains("overlapping"), "{refused}");
        assert_findings(&lab, vec![]);
        return;
    }
    let wide = created.unwrap();
    // The pair once, on the network that sorts first.
    let mut expected = vec![on_net("subnet_conflict", &w.bridge, "docker0")];
    let forward = lab.iptables(&["-S", "FORWARD"]).unwrap();
    if !forward.contains("-i docker0 ! -o docker0 -j ACCEPT") {
        expected.push(on_net("firewall_drop", &w.bridge, "docker0"));
    }
    let got = assert_findings(&lab, expected);
    assert!(got.to_string().contains(&format!("Docker network {} ({subnet})", wide.name)), "{got:#}");
    let docker0_fix =
        fixes(&got, "subnet_conflict").into_iter().find(|f| f.contains("bip")).unwrap_or_default();
    assert!(docker0_fix.contains("daemon.json"), "the default bridge is moved with bip: {got:#}");
}

/// The reset story: `iptables -t nat -F` after everything was created (creating a network
/// makes Docker 20.10 put its jumps back).
#[test]
fn nat_table_flushed() {
    let lab = lab();
    let w = healthy(&lab);
    lab.iptables(&["-t", "nat", "-F"]).unwrap();
    let json = assert_findings(
        &lab,
        vec![
            on_net("masquerade_missing", &w.app, &w.app.bridge),
            on_net("masquerade_missing", &w.bridge, "docker0"),
            on_net("masquerade_missing", &w.cust, "brcustom"),
            finding("dnat_missing", Some("appnet"), Some(&w.app.bridge), Some("web")),
            // PREROUTING and OUTPUT no longer jump to nat DOCKER.
            finding("dnat_missing", None, None, None),
        ],
    );
    let dnat = fixes(&json, "dnat_missing");
    let to = format!("{}:80", w.web.ip("appnet"));
    assert!(dnat.iter().any(|f| f.contains("--dport 8080") && f.contains(&to)), "{dnat:?}");
}

/// STP switched on for a custom bridge: a container attached afterwards sits in
/// listening/learning for 2 x forward_delay.
#[test]
fn stp_holds_a_new_port() {
    let lab = lab();
    let w = healthy(&lab);
    lab.enable_stp(&w.cust.bridge, 30).unwrap();
    let late = lab.run("late", &["--network", "custnet"], &[]).unwrap();
    let veth = lab.host_veth(&late, "eth0").unwrap();
    lab.wait_port_state(&veth, &["listening"]).unwrap();
    let json = assert_findings(
        &lab,
        vec![finding("bridge_port_blocked", Some("custnet"), Some(&veth), Some("late"))],
    );
    assert!(json["findings"][0]["summary"].as_str().unwrap().contains("listening"), "{json:#}");
}

/// `ip link set VETH nomaster`: the container's veth is no longer a bridge port.
#[test]
fn veth_taken_out_of_its_bridge() {
    let lab = lab();
    let w = healthy(&lab);
    let veth = lab.detach_veth(&w.client).unwrap();
    let json =
        assert_findings(&lab, vec![finding("veth_detached", Some("bridge"), Some(&veth), Some("client"))]);
    assert_eq!(fixes(&json, "veth_detached")[0], format!("ip link set {veth} master docker0"));
}

#[test]
fn host_veth_down() {
    let lab = lab();
    let w = healthy(&lab);
    let veth = lab.host_veth(&w.web, "eth0").unwrap();
    lab.set_link(&veth, false).unwrap();
    assert_findings(&lab, vec![finding("link_down", Some("appnet"), Some(&veth), Some("web"))]);
}

#[test]
fn container_interface_down() {
    let lab = lab();
    let w = healthy(&lab);
    lab.set_container_link(&w.client, "eth0", false).unwrap();
    assert_findings(&lab, vec![finding("link_down", Some("bridge"), Some("eth0"), Some("client"))]);
}

/// `ip link set BR down`: the bridge finding alone, not one per port it disabled.
#[test]
fn bridge_down() {
    let lab = lab();
    let w = healthy(&lab);
    lab.set_link(&w.app.bridge, false).unwrap();
    let json = assert_findings(&lab, vec![on_net("bridge_down", &w.app, &w.app.bridge)]);
    assert_eq!(fixes(&json, "bridge_down")[0], format!("ip link set {} up", w.app.bridge));
}

#[test]
fn ip_forward_off() {
    let lab = lab();
    healthy(&lab);
    lab.sysctl("net.ipv4.ip_forward", "0").unwrap();
    assert_findings(&lab, vec![finding("ip_forward_disabled", None, None, None)]);
}

/// DROP rules someone put in DOCKER-USER: by bridge, and by a container's address.
#[test]
fn drop_rules_in_docker_user() {
    let lab = lab();
    let w = healthy(&lab);
    lab.iptables(&["-I", "DOCKER-USER", "-o", &w.cust.bridge, "-j", "DROP"]).unwrap();
    assert_findings(&lab, vec![on_net("firewall_drop", &w.cust, "brcustom")]);
    lab.iptables(&["-D", "DOCKER-USER", "-o", &w.cust.bridge, "-j", "DROP"]).unwrap();
    let web_ip = w.web.ip("appnet");
    lab.iptables(&["-I", "DOCKER-USER", "-d", web_ip, "-p", "tcp", "--dport", "80", "-j", "DROP"]).unwrap();
    assert_findings(&lab, vec![finding("firewall_drop", Some("appnet"), Some(&w.app.bridge), Some("web"))]);
}

/// `iptables -F FORWARD` with the policy at DROP: Docker's ACCEPTs are gone, so every routed
/// network is cut off, and the published port with them (FORWARD no longer leads to DOCKER).
#[test]
fn forward_flushed_with_policy_drop() {
    let lab = lab();
    let w = healthy(&lab);
    lab.iptables(&["-F", "FORWARD"]).unwrap();
    lab.iptables(&["-P", "FORWARD", "DROP"]).unwrap();
    assert_findings(
        &lab,
        vec![
            on_net("firewall_drop", &w.app, &w.app.bridge),
            on_net("firewall_drop", &w.bridge, "docker0"),
            on_net("firewall_drop", &w.cust, "brcustom"),
            finding("firewall_drop", Some("appnet"), Some(&w.app.bridge), Some("web")),
        ],
    );
}

/// `iptables -F DOCKER` with the policy at DROP: the networks still reach out, but the
/// published port's ACCEPT is gone, so clients outside its network are dropped.
#[test]
fn docker_filter_chain_flushed() {
    let lab = lab();
    let w = healthy(&lab);
    lab.iptables(&["-P", "FORWARD", "DROP"]).unwrap();
    lab.iptables(&["-F", "DOCKER"]).unwrap();
    let json = assert_findings(
        &lab,
        vec![finding("firewall_drop", Some("appnet"), Some(&w.app.bridge), Some("web"))],
    );
    let web_ip = w.web.ip("appnet");
    let accept = format!(
        "iptables -A DOCKER -d {web_ip}/32 ! -i {0} -o {0} -p tcp -m tcp --dport 80 -j ACCEPT",
        w.app.bridge
    );
    assert_eq!(fixes(&json, "firewall_drop")[0], accept, "{json:#}");
}
