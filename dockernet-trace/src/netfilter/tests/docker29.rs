//! Docker 29's nftables backend, on a listing recorded with real nft from moby's documented
//! layout (fixtures/docker29-bridge1.nft).
use std::net::IpAddr;

use super::*;
use crate::netfilter::{
    IpNet,
    docker::{
        BridgeAcceptKind::*, DropCause, Role, classify, docker_bridges, drop_cause, has_dnat, has_masquerade,
        missing_docker_chains,
    },
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn br(s: &str) -> String {
    s.to_string()
}

#[test]
fn docker29_nftables_rules_by_chain_and_comment() {
    let rs = nft_ruleset(include_str!("../fixtures/docker29-bridge1.nft.json"));
    let strangers: Vec<_> = rs
        .rules()
        .filter(|r| !classify(r.table, r.chain, r.rule).is_docker())
        .map(|r| r.rule.text.clone())
        .collect();
    assert!(strangers.is_empty(), "{strangers:#?}");
    let by = |chain: &str, comment: Option<&str>| {
        let r = rs
            .rules()
            .find(|r| {
                r.table.family == crate::netfilter::Family::Ip
                    && r.chain.name == chain
                    && r.rule.comment.as_deref() == comment
            })
            .unwrap_or_else(|| panic!("{chain} {comment:?}"));
        classify(r.table, r.chain, r.rule)
    };
    assert_eq!(
        by("filter-forward-in__bridge1", Some("UNPUBLISHED PORT DROP")),
        Role::InboundDrop { bridge: br("bridge1") }
    );
    assert_eq!(
        by("filter-forward-in__bridge1", Some("ICC")),
        Role::BridgeAccept { bridge: br("bridge1"), kind: IntraBridge }
    );
    assert_eq!(
        by("filter-forward-in__bridgeNoICC", Some("ICC")),
        Role::IccDrop { bridge: br("bridgeNoICC") }
    );
    assert_eq!(
        by("filter-forward-out__bridge1", Some("OUTGOING")),
        Role::BridgeAccept { bridge: br("bridge1"), kind: Outbound }
    );
    assert_eq!(
        by("filter-forward-out__bridgeICC", Some("INTERNAL NETWORK EGRESS")),
        Role::InternalNetwork { bridge: br("bridgeICC") }
    );
    assert_eq!(
        by("filter-forward-in__bridge1", None),
        Role::BridgeAccept { bridge: br("bridge1"), kind: Established }
    );
    assert_eq!(
        by("raw-PREROUTING", Some("DROP DIRECT ACCESS")),
        Role::RawDirectAccessDrop { ip: ip("192.0.2.2"), bridge: br("bridge1") }
    );
    assert_eq!(
        by("nat-prerouting-and-output", Some("DNAT")),
        Role::Dnat {
            proto: "tcp".into(),
            host_ip: None,
            host_port: 8080,
            to_ip: ip("192.0.2.2"),
            to_port: 80,
            bridge: Some(br("bridge1"))
        }
    );
    assert_eq!(
        by("nat-postrouting-out__docker0", Some("MASQUERADE")),
        Role::Masquerade { subnet: net("172.17.0.0/16"), bridge: br("docker0") }
    );
    let published = rs.find_rule("ip daddr 192.0.2.2 tcp dport 80 counter packets 0 bytes 0 accept").unwrap();
    assert_eq!(
        classify(published.table, published.chain, published.rule),
        Role::PublishedAccept { proto: "tcp".into(), ip: ip("192.0.2.2"), port: 80, bridge: br("bridge1") }
    );
    let table = rs.tables.iter().find(|t| t.family == crate::netfilter::Family::Ip).unwrap();
    let bridges: Vec<_> = docker_bridges(table).into_iter().collect();
    assert_eq!(bridges, ["bridge1", "bridgeICC", "bridgeNoICC", "docker0"]);
    // Isolation or firewall: who the packet came from decides, as for 28's DOCKER drop.
    let unpublished = rs
        .rules()
        .find(|r| {
            r.rule.comment.as_deref() == Some("UNPUBLISHED PORT DROP") && r.chain.name.ends_with("bridge1")
        })
        .unwrap();
    assert_eq!(
        drop_cause(unpublished.table, unpublished.chain, Some(unpublished.rule), Some("docker0")),
        DropCause::NetworkIsolation
    );
    assert_eq!(
        drop_cause(unpublished.table, unpublished.chain, Some(unpublished.rule), Some("eth0")),
        DropCause::FirewallDrop
    );
    let internal =
        rs.rules().find(|r| r.rule.comment.as_deref() == Some("INTERNAL NETWORK INGRESS")).unwrap();
    assert_eq!(
        drop_cause(internal.table, internal.chain, Some(internal.rule), Some("eth0")),
        DropCause::NetworkIsolation
    );
    // Its masquerades and DNATs count for doctor's checks.
    assert!(has_masquerade(&rs, &net("192.0.2.0/24"), "bridge1"));
    assert!(has_dnat(&rs, "tcp", 8080, ip("192.0.2.2"), 80));
    assert!(missing_docker_chains(&rs).is_empty());
}
