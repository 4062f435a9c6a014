use std::net::IpAddr;

use super::*;
use crate::netfilter::{
    IpNet, Ruleset, Verdict,
    docker::{
        BridgeAcceptKind::*, DropCause, Role, classify, docker_bridges, docker_rules, drop_cause,
        dropping_policies, forward_policy, has_dnat, has_masquerade, looks_like_docker_bridge,
        missing_docker_chains,
    },
};

fn role(rs: &Ruleset, text: &str) -> Role {
    let r = rs.find_rule(text).unwrap_or_else(|| panic!("no rule {text}"));
    classify(r.table, r.chain, r.rule)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn br(s: &str) -> String {
    s.to_string()
}

fn all_docker(rs: &Ruleset) {
    let strangers: Vec<_> = rs
        .rules()
        .filter(|r| !classify(r.table, r.chain, r.rule).is_docker())
        .map(|r| r.rule.text.clone())
        .collect();
    assert!(strangers.is_empty(), "not recognised: {strangers:#?}");
}

#[test]
fn docker20_iptables_nft_without_userland_proxy() {
    let rs = ruleset(TWO_NETWORKS);
    all_docker(&rs);
    let b = "br-6bd8ac3e1bc2";
    assert_eq!(
        role(&rs, "-A FORWARD -j DOCKER-USER"),
        Role::DockerJump { to: "DOCKER-USER".into(), bridge: None }
    );
    assert_eq!(
        role(&rs, &format!("-A FORWARD -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")),
        Role::BridgeAccept { bridge: br(b), kind: Established }
    );
    assert_eq!(
        role(&rs, &format!("-A FORWARD -o {b} -j DOCKER")),
        Role::DockerJump { to: "DOCKER".into(), bridge: Some(br(b)) }
    );
    assert_eq!(
        role(&rs, &format!("-A FORWARD -i {b} ! -o {b} -j ACCEPT")),
        Role::BridgeAccept { bridge: br(b), kind: Outbound }
    );
    assert_eq!(
        role(&rs, &format!("-A FORWARD -i {b} -o {b} -j ACCEPT")),
        Role::BridgeAccept { bridge: br(b), kind: IntraBridge }
    );
    assert_eq!(
        role(&rs, &format!("-A DOCKER -d 172.19.0.2/32 ! -i {b} -o {b} -p tcp -m tcp --dport 80 -j ACCEPT")),
        Role::PublishedAccept { proto: "tcp".into(), ip: ip("172.19.0.2"), port: 80, bridge: br(b) }
    );
    assert_eq!(
        role(&rs, &format!("-A DOCKER-ISOLATION-STAGE-1 -i {b} ! -o {b} -j DOCKER-ISOLATION-STAGE-2")),
        Role::IsolationCheck { bridge: br(b) }
    );
    assert_eq!(role(&rs, "-A DOCKER-ISOLATION-STAGE-1 -j RETURN"), Role::DockerReturn { bridge: None });
    assert_eq!(
        role(&rs, &format!("-A DOCKER-ISOLATION-STAGE-2 -o {b} -j DROP")),
        Role::Isolation { bridge: br(b) }
    );
    assert_eq!(role(&rs, "-A DOCKER-USER -j RETURN"), Role::DockerReturn { bridge: None });
    assert_eq!(
        role(&rs, "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER"),
        Role::DockerJump { to: "DOCKER".into(), bridge: None }
    );
    assert_eq!(
        role(&rs, &format!("-A POSTROUTING -o {b} -m addrtype --src-type LOCAL -j MASQUERADE")),
        Role::LocalMasquerade { bridge: br(b) }
    );
    assert_eq!(
        role(&rs, &format!("-A POSTROUTING -s 172.19.0.0/16 ! -o {b} -j MASQUERADE")),
        Role::Masquerade { subnet: net("172.19.0.0/16"), bridge: br(b) }
    );
    assert_eq!(
        role(&rs, "-A POSTROUTING -s 172.19.0.2/32 -d 172.19.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE"),
        Role::HairpinMasquerade { ip: ip("172.19.0.2"), proto: "tcp".into(), port: 80 }
    );
    assert_eq!(
        role(&rs, "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.19.0.2:80"),
        Role::Dnat {
            proto: "tcp".into(),
            host_ip: None,
            host_port: 8080,
            to_ip: ip("172.19.0.2"),
            to_port: 80,
            bridge: None
        }
    );
    let bridges: Vec<_> = docker_bridges(table(&rs, "filter")).into_iter().collect();
    assert_eq!(bridges, ["br-4ebb9b640f67", "br-6bd8ac3e1bc2", "docker0"]);
    assert_eq!(docker_rules(&rs).len(), rs.rules().count());
}

#[test]
fn docker20_legacy_with_proxy_and_internal_network() {
    let rs = ruleset(LEGACY);
    all_docker(&rs);
    let (web, vault) = ("br-e31036ed81ff", "br-e8a079051c51");
    assert_eq!(
        role(&rs, &format!("-A DOCKER-ISOLATION-STAGE-1 ! -s 172.20.0.0/16 -o {vault} -j DROP")),
        Role::Internal { bridge: br(vault), subnet: net("172.20.0.0/16") }
    );
    assert_eq!(
        role(&rs, &format!("-A DOCKER-ISOLATION-STAGE-1 ! -d 172.20.0.0/16 -i {vault} -j DROP")),
        Role::Internal { bridge: br(vault), subnet: net("172.20.0.0/16") }
    );
    assert_eq!(
        role(&rs, &format!("-A DOCKER -i {web} -j RETURN")),
        Role::DockerReturn { bridge: Some(br(web)) }
    );
    assert_eq!(
        role(&rs, "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"),
        Role::DockerJump { to: "DOCKER".into(), bridge: None }
    );
    assert_eq!(
        role(
            &rs,
            &format!(
                "-A DOCKER -d 127.0.0.1/32 ! -i {web} -p udp -m udp --dport 5353 -j DNAT --to-destination 172.19.0.2:53"
            )
        ),
        Role::Dnat {
            proto: "udp".into(),
            host_ip: Some(ip("127.0.0.1")),
            host_port: 5353,
            to_ip: ip("172.19.0.2"),
            to_port: 53,
            bridge: Some(br(web))
        }
    );
}

#[test]
fn docker28_layout() {
    let rs = ruleset(DOCKER28);
    all_docker(&rs);
    assert_eq!(
        role(&rs, "-A PREROUTING -d 192.0.2.2/32 ! -i bridge1 -j DROP"),
        Role::RawDirectAccessDrop { ip: ip("192.0.2.2"), bridge: br("bridge1") }
    );
    assert_eq!(
        role(&rs, "-A DOCKER ! -i bridge1 -o bridge1 -j DROP"),
        Role::InboundDrop { bridge: br("bridge1") }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-BRIDGE -o bridge1 -j DOCKER"),
        Role::DockerJump { to: "DOCKER".into(), bridge: Some(br("bridge1")) }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-CT -o bridge1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        Role::BridgeAccept { bridge: br("bridge1"), kind: Established }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-FORWARD -j DOCKER-INTERNAL"),
        Role::DockerJump { to: "DOCKER-INTERNAL".into(), bridge: None }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-FORWARD -i docker0 -j ACCEPT"),
        Role::BridgeAccept { bridge: br("docker0"), kind: Outbound }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-FORWARD -i bridgeNoICC -o bridgeNoICC -j DROP"),
        Role::IccDrop { bridge: br("bridgeNoICC") }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-INTERNAL ! -d 203.0.113.0/24 -i bridgeICC -j DROP"),
        Role::Internal { bridge: br("bridgeICC"), subnet: net("203.0.113.0/24") }
    );
    assert_eq!(
        role(&rs, "-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80"),
        Role::Dnat {
            proto: "tcp".into(),
            host_ip: None,
            host_port: 8080,
            to_ip: ip("192.0.2.2"),
            to_port: 80,
            bridge: Some(br("bridge1"))
        }
    );
    assert!(missing_docker_chains(&rs).is_empty(), "{:?}", missing_docker_chains(&rs));
    assert!(has_dnat(&rs, "tcp", 8080, ip("192.0.2.2"), 80));
    assert!(has_masquerade(&rs, &net("192.0.2.0/24"), "bridge1"));

    // Docker 28.0: the isolation chains still hang off DOCKER-FORWARD.
    let rs = ruleset(DOCKER28_0);
    all_docker(&rs);
    let b = "br-bea0b6e2e3a9";
    assert_eq!(
        role(&rs, &format!("-A DOCKER-ISOLATION-STAGE-1 -i {b} ! -o {b} -j DOCKER-ISOLATION-STAGE-2")),
        Role::IsolationCheck { bridge: br(b) }
    );
    assert_eq!(
        role(&rs, "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP"),
        Role::Isolation { bridge: br("docker0") }
    );
    let missing: Vec<String> = missing_docker_chains(&rs).iter().map(|m| m.to_string()).collect();
    assert_eq!(missing, ["nat chain DOCKER is missing"]);
}

/// Docker 28.5's gateway modes, as captured live: nat-unprotected accepts every port into its
/// bridge; routed publishes ports by ACCEPT alone and masquerades nothing.
#[test]
fn docker28_5_gateway_modes() {
    let rs = ruleset(DOCKER28_5_GATEWAY_MODES);
    let (unprot, routed) = ("br-d82f80ed1e1b", "br-cae3e2671c6c");
    assert_eq!(
        role(&rs, &format!("-A DOCKER ! -i {unprot} -o {unprot} -j ACCEPT")),
        Role::BridgeAccept { bridge: br(unprot), kind: Inbound }
    );
    assert_eq!(
        role(&rs, &format!("-A DOCKER ! -i {routed} -o {routed} -j DROP")),
        Role::InboundDrop { bridge: br(routed) }
    );
    assert_eq!(
        role(
            &rs,
            &format!(
                "-A DOCKER -d 192.168.223.2/32 ! -i {routed} -o {routed} -p tcp -m tcp --dport 80 -j ACCEPT"
            )
        ),
        Role::PublishedAccept { proto: "tcp".into(), ip: ip("192.168.223.2"), port: 80, bridge: br(routed) }
    );
    assert!(has_masquerade(&rs, &net("192.168.222.0/24"), unprot));
    assert!(!has_masquerade(&rs, &net("192.168.223.0/24"), routed));
    assert!(missing_docker_chains(&rs).is_empty(), "{:?}", missing_docker_chains(&rs));
}

#[test]
fn look_alikes_are_not_docker() {
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:MYCHAIN - [0:0]\n:ISO-A - [0:0]\n:ISO-B - [0:0]\n:DOCKER-ISOLATION-STAGE-2 - [0:0]\n\
        -A INPUT -i docker0 -j ACCEPT\n\
        -A FORWARD -o br-aaaaaaaaaaaa -j DROP\n\
        -A FORWARD -i docker0 ! -o docker0 -j MYCHAIN\n\
        -A FORWARD -i br-1 ! -o br-1 -j ISO-A\n\
        -A ISO-A -i br-1 ! -o br-1 -j ISO-B\n\
        -A ISO-B -o br-2 -j DROP\n\
        -A DOCKER-ISOLATION-STAGE-2 -o br-3 -m comment --comment \"mine\" -j DROP\n\
        -A MYCHAIN -j LOG\n\
        COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n\
        -A PREROUTING -p tcp -m tcp --dport 2222 -j DNAT --to-destination 10.0.0.1:22\n\
        COMMIT\n*mangle\n:FORWARD ACCEPT [0:0]\n-A FORWARD -o docker0 -j DROP\nCOMMIT\n";
    let rs = ruleset(save);
    assert_eq!(role(&rs, "-A INPUT -i docker0 -j ACCEPT"), Role::NotDocker);
    assert_eq!(role(&rs, "-A FORWARD -o br-aaaaaaaaaaaa -j DROP"), Role::NotDocker);
    assert_eq!(role(&rs, "-A FORWARD -i docker0 ! -o docker0 -j MYCHAIN"), Role::NotDocker);
    assert_eq!(
        role(&rs, "-A DOCKER-ISOLATION-STAGE-2 -o br-3 -m comment --comment \"mine\" -j DROP"),
        Role::NotDocker
    );
    assert_eq!(
        role(&rs, "-A PREROUTING -p tcp -m tcp --dport 2222 -j DNAT --to-destination 10.0.0.1:22"),
        Role::NotDocker
    );
    assert_eq!(role(&rs, "-A FORWARD -o docker0 -j DROP"), Role::NotDocker);
    // What isolation does, under other chain names, is still isolation.
    assert_eq!(role(&rs, "-A ISO-A -i br-1 ! -o br-1 -j ISO-B"), Role::IsolationCheck { bridge: br("br-1") });
    assert_eq!(role(&rs, "-A ISO-B -o br-2 -j DROP"), Role::Isolation { bridge: br("br-2") });
    // Native nft tables are not read as Docker's.
    let nft = nft_ruleset(NFT_USER);
    assert!(docker_rules(&nft).is_empty());
}

#[test]
fn masquerade_checks() {
    let rs = ruleset(TWO_NETWORKS);
    assert!(has_masquerade(&rs, &net("172.18.0.0/16"), "br-4ebb9b640f67"));
    assert!(!has_masquerade(&rs, &net("172.30.0.0/16"), "br-4ebb9b640f67"));
    assert!(!has_masquerade(&ruleset(NAT_FLUSHED), &net("172.18.0.0/16"), "br-4ebb9b640f67"));
    let with =
        |rule: &str| ruleset(&format!("*nat\n:POSTROUTING ACCEPT [0:0]\n:SIDE - [0:0]\n{rule}\nCOMMIT\n"));
    // A user's broader rule does the job; one that only masquerades into the bridge does not.
    assert!(has_masquerade(
        &with("-A POSTROUTING -s 172.16.0.0/12 -o eth0 -j MASQUERADE"),
        &net("172.18.0.0/16"),
        "br-x"
    ));
    assert!(has_masquerade(
        &with("-A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1"),
        &net("172.18.0.0/16"),
        "br-x"
    ));
    assert!(!has_masquerade(
        &with("-A POSTROUTING -s 172.18.0.0/16 -o br-x -j MASQUERADE"),
        &net("172.18.0.0/16"),
        "br-x"
    ));
    assert!(!has_masquerade(
        &with("-A POSTROUTING -s 172.18.0.0/16 -p tcp -j MASQUERADE"),
        &net("172.18.0.0/16"),
        "br-x"
    ));
    // A rule in a chain nothing jumps to does nothing.
    assert!(!has_masquerade(
        &with("-A SIDE -s 172.18.0.0/16 ! -o br-x -j MASQUERADE"),
        &net("172.18.0.0/16"),
        "br-x"
    ));
    // Native nft counts too.
    assert!(has_masquerade(&nft_ruleset(NFT_USER), &net("172.20.0.0/16"), "br-y"));
}

#[test]
fn dnat_checks() {
    let rs = ruleset(TWO_NETWORKS);
    assert!(has_dnat(&rs, "tcp", 8080, ip("172.19.0.2"), 80));
    assert!(!has_dnat(&rs, "tcp", 8081, ip("172.19.0.2"), 80));
    assert!(!has_dnat(&rs, "udp", 8080, ip("172.19.0.2"), 80));
    assert!(!has_dnat(&rs, "tcp", 8080, ip("172.19.0.3"), 80));
    assert!(!has_dnat(&ruleset(NAT_FLUSHED), "tcp", 8080, ip("172.19.0.2"), 80));
    // `iptables -t nat -D PREROUTING ...`: the DNAT is there but only OUTPUT reaches it.
    let cut = TWO_NETWORKS.replace("[2:120] -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n", "");
    assert!(!has_dnat(&ruleset(&cut), "tcp", 8080, ip("172.19.0.2"), 80));
    assert!(has_dnat(&ruleset(LEGACY), "udp", 5353, ip("172.19.0.2"), 53));
    assert!(has_dnat(&nft_ruleset(NFT_USER), "tcp", 9090, ip("172.18.0.2"), 3306));
    // Port-less DNAT keeps the port.
    assert!(has_dnat(&nft_ruleset(NFT_USER), "udp", 53, ip("172.19.0.2"), 53));
}

#[test]
fn missing_chains_tell_the_flush_story() {
    for ok in [FRESH, TWO_NETWORKS, USER_DROP, LEGACY] {
        assert!(missing_docker_chains(&ruleset(ok)).is_empty());
    }
    let said = |rs: &Ruleset| missing_docker_chains(rs).iter().map(|m| m.to_string()).collect::<Vec<_>>();
    // Real capture after `iptables -t nat -F`.
    assert_eq!(
        said(&ruleset(NAT_FLUSHED)),
        ["nat PREROUTING no longer jumps to DOCKER", "nat OUTPUT no longer jumps to DOCKER"]
    );
    // `iptables -F && iptables -X`: the filter chains are gone.
    let filter_gone = TWO_NETWORKS
        .split("*nat")
        .nth(1)
        .map(|nat| format!("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n*nat{nat}"))
        .unwrap();
    assert_eq!(
        said(&ruleset(&filter_gone)),
        [
            "filter chain DOCKER is missing",
            "filter chain DOCKER-ISOLATION-STAGE-1 is missing",
            "filter chain DOCKER-ISOLATION-STAGE-2 is missing",
            "filter chain DOCKER-USER is missing"
        ]
    );
    let cut = DOCKER28.replace("[5:300] -A FORWARD -j DOCKER-FORWARD\n", "");
    assert_eq!(said(&ruleset(&cut)), ["filter FORWARD no longer jumps to DOCKER-FORWARD"]);
    assert_eq!(said(&Ruleset::default()).len(), 5);
    // Docker 29 with the nftables backend: only its base chains are checked.
    let nft29 = r#"{"nftables": [{"table": {"family": "ip", "name": "docker-bridges"}},
        {"chain": {"family": "ip", "table": "docker-bridges", "name": "filter-FORWARD", "hook": "forward", "prio": 0, "policy": "accept"}},
        {"chain": {"family": "ip", "table": "docker-bridges", "name": "nat-PREROUTING", "hook": "prerouting", "prio": -100, "policy": "accept"}},
        {"chain": {"family": "ip", "table": "docker-bridges", "name": "nat-OUTPUT", "hook": "output", "prio": -100, "policy": "accept"}}]}"#;
    assert_eq!(said(&nft_ruleset(nft29)), ["docker-bridges chain nat-POSTROUTING is missing"]);
}

#[test]
fn policies() {
    assert_eq!(forward_policy(&ruleset(TWO_NETWORKS)), Some(Verdict::Drop));
    assert_eq!(forward_policy(&ruleset(LEGACY)), Some(Verdict::Accept));
    assert_eq!(forward_policy(&Ruleset::default()), None);
    let rs = ruleset(POLICY_DROP);
    let drops = dropping_policies(&rs, "forward");
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].1.policy_counter.unwrap().packets, 5);
    let nft = nft_ruleset(NFT_USER);
    let drops = dropping_policies(&nft, "input");
    assert_eq!((drops[0].0.name.as_str(), drops[0].1.name.as_str()), ("fw", "input"));
}

#[test]
fn drop_causes() {
    let cause = |rs: &Ruleset, text: &str, ingress: Option<&str>| {
        let r = rs.find_rule(text).unwrap();
        drop_cause(r.table, r.chain, Some(r.rule), ingress)
    };
    let rs = ruleset(USER_DROP);
    assert_eq!(
        cause(&rs, "-A DOCKER-ISOLATION-STAGE-2 -o br-6bd8ac3e1bc2 -j DROP", None),
        DropCause::NetworkIsolation
    );
    let user = "-A DOCKER-USER -s 172.17.0.0/16 -d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j DROP";
    assert_eq!(cause(&rs, user, Some("docker0")), DropCause::FirewallDrop);
    let rs = ruleset(POLICY_DROP);
    let filter = table(&rs, "filter");
    assert_eq!(drop_cause(filter, filter.chain("FORWARD").unwrap(), None, None).code(), "firewall_drop");

    let rs = ruleset(LEGACY);
    assert_eq!(
        cause(&rs, "-A DOCKER-ISOLATION-STAGE-1 ! -d 172.20.0.0/16 -i br-e8a079051c51 -j DROP", None).code(),
        "network_isolation"
    );

    let rs = ruleset(DOCKER28);
    let inbound = "-A DOCKER ! -i bridge1 -o bridge1 -j DROP";
    assert_eq!(cause(&rs, inbound, Some("docker0")), DropCause::NetworkIsolation);
    assert_eq!(cause(&rs, inbound, Some("bridgeICC")), DropCause::NetworkIsolation);
    assert_eq!(cause(&rs, inbound, Some("eth0")), DropCause::FirewallDrop);
    assert_eq!(cause(&rs, inbound, None), DropCause::NetworkIsolation);
    assert_eq!(
        cause(&rs, "-A DOCKER-FORWARD -i bridgeNoICC -o bridgeNoICC -j DROP", None),
        DropCause::NetworkIsolation
    );
    let raw = "-A PREROUTING -d 192.0.2.2/32 ! -i bridge1 -j DROP";
    assert_eq!(cause(&rs, raw, Some("docker0")), DropCause::NetworkIsolation);
    assert_eq!(cause(&rs, raw, Some("eth0")), DropCause::FirewallDrop);
    assert_eq!(cause(&rs, raw, None), DropCause::FirewallDrop);

    let nft = nft_ruleset(NFT_USER);
    let reject = nft.rules().find(|r| r.rule.target.drops()).unwrap();
    assert_eq!(drop_cause(reject.table, reject.chain, Some(reject.rule), None), DropCause::FirewallDrop);
    assert_eq!(serde_json::to_string(&DropCause::NetworkIsolation).unwrap(), "\"network_isolation\"");
}

#[test]
fn docker_bridge_names() {
    assert!(looks_like_docker_bridge("docker0"));
    assert!(looks_like_docker_bridge("br-e685d9c814c0"));
    assert!(!looks_like_docker_bridge("br-lan"));
    assert!(!looks_like_docker_bridge("eth0"));
}

#[test]
fn docker28_ipv6_layout() {
    let rs = Ruleset {
        tables: crate::netfilter::parse_ip6tables_save(include_str!("../fixtures/docker28-ipv6.ip6tables"))
            .unwrap(),
        ..Default::default()
    };
    all_docker(&rs);
    assert_eq!(
        role(
            &rs,
            "-A DOCKER ! -s fe80::/10 ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:db8:1::2]:80"
        ),
        Role::Dnat {
            proto: "tcp".into(),
            host_ip: None,
            host_port: 8080,
            to_ip: ip("fd00:db8:1::2"),
            to_port: 80,
            bridge: Some(br("bridge1"))
        }
    );
    assert_eq!(
        role(&rs, "-A PREROUTING -d fd00:db8:1::2/128 ! -i bridge1 -j DROP"),
        Role::RawDirectAccessDrop { ip: ip("fd00:db8:1::2"), bridge: br("bridge1") }
    );
}
