//! The evaluator on recorded listings: Docker 20.10 (iptables-nft, recorded), 28 (iptables,
//! from Docker's documented layout), 29 (`nft -j` recorded from moby's documented nftables
//! layout loaded into a real nft), firewalld and an admin's `inet` table (recorded the same
//! way), ufw (iptables-save written from ufw's rule files, checked with iptables-restore).
mod bad_input;
mod docker;
mod exprs;
mod foreign;

use std::net::IpAddr;

use super::*;
use crate::netfilter::{
    Ruleset, parse_iptables_save, parse_nft_json,
    tests::{DOCKER28, NFT_USER, POLICY_DROP, TWO_NETWORKS},
};

pub const DOCKER29: &str = include_str!("../../fixtures/docker29-bridge1.nft.json");
pub const FIREWALLD: &str = include_str!("../../fixtures/firewalld-docker.nft.json");
pub const ADMIN: &str = include_str!("../../fixtures/nft-admin.nft.json");
pub const EXPRS: &str = include_str!("../../fixtures/nft-exprs.nft.json");
pub const UFW: &str = include_str!("../../fixtures/ufw-docker20.iptables");

/// A rule set of iptables-save listings and `nft -j` listings together.
pub fn rules(saves: &[&str], nft: &[&str]) -> Ruleset {
    let mut rs = Ruleset::default();
    for s in saves {
        rs.tables.extend(parse_iptables_save(s).unwrap());
    }
    for j in nft {
        rs.tables.extend(parse_nft_json(j).unwrap());
    }
    rs
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A new TCP connection's first packet.
pub fn tcp(src: &str, dst: &str, dport: u16) -> Packet {
    Packet::tcp(ip(src), 40000, ip(dst), dport)
}

/// The one exact outcome, or a panic saying what there was instead.
pub fn exact(e: &Evaluation) -> &Outcome {
    match e.decision() {
        Decision::Exact(o) => o,
        d => panic!("not exact: {d:#?}"),
    }
}

/// The deciding rule's text.
pub fn by(o: &Outcome) -> &str {
    o.by.as_ref().map(|r| r.text.as_str()).unwrap_or("(passed)")
}

pub fn passes(e: &Evaluation) {
    let o = exact(e);
    assert_eq!(o.fate, Fate::Passed, "{o:#?}");
}

#[test]
fn base_chains_run_in_priority_order_across_backends() {
    // Docker's iptables-nft filter FORWARD (priority 0) accepts the connection, then the
    // admin's inet forward chain (filter + 10) rejects it.
    let rs = rules(&[TWO_NETWORKS], &[ADMIN]);
    let e = Evaluator::new(&rs)
        .evaluate(Hook::Forward, &tcp("172.18.0.3", "10.1.2.3", 3306).iif("br-4ebb9b640f67").oif("eth0"));
    let o = exact(&e);
    assert_eq!(o.fate, Fate::Rejected(crate::netfilter::RejectWith::Icmpx("admin-prohibited".into())));
    let r = o.by.as_ref().unwrap();
    assert_eq!(
        (r.family.to_string(), r.table.as_str(), r.chain.as_str()),
        ("inet".into(), "admin", "forward")
    );
    assert_eq!(r.text, "tcp dport 3306 reject with icmpx admin-prohibited");
    assert_eq!(r.handle, Some(4));
    assert_eq!(o.accepted_by[0].text, "-A FORWARD -i br-4ebb9b640f67 ! -o br-4ebb9b640f67 -j ACCEPT");
    assert_eq!(o.path.first().map(|s| s.chain.as_str()), Some("FORWARD"));
}

#[test]
fn no_base_chain_means_the_packet_passes() {
    let rs = rules(&[], &[NFT_USER]);
    let e = Evaluator::new(&rs).evaluate(Hook::Output, &tcp("10.0.0.1", "10.0.0.2", 80));
    passes(&e);
    assert!(exact(&e).accepted_by.is_empty());
}

#[test]
fn a_policy_drop_is_named_as_the_policy() {
    let rs = rules(&[POLICY_DROP], &[]);
    // From outside to a container port nothing publishes: FORWARD's policy.
    let p = tcp("10.0.0.9", "172.18.0.2", 22).iif("eth0").oif("br-4ebb9b640f67");
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &p);
    let o = exact(&e);
    assert_eq!(o.fate, Fate::Dropped);
    let r = o.by.as_ref().unwrap();
    assert!(r.is_policy());
    assert_eq!((r.chain.as_str(), r.text.as_str()), ("FORWARD", "-P FORWARD DROP"));
    assert_eq!(r.to_string(), "filter FORWARD");
}

#[test]
fn docker28_raw_prerouting_drops_direct_access() {
    let rs = rules(&[DOCKER28], &[]);
    let ev = Evaluator::new(&rs);
    let direct = tcp("10.0.0.9", "192.0.2.2", 80).iif("eth0");
    let o = exact(&ev.evaluate(Hook::Prerouting, &direct)).clone();
    assert_eq!(
        (o.fate.clone(), by(&o)),
        (Fate::Dropped, "-A PREROUTING -d 192.0.2.2/32 ! -i bridge1 -j DROP")
    );
    assert_eq!(o.by.unwrap().table, "raw");
    // Through the published port: DNAT in nat PREROUTING, then DOCKER's per-port ACCEPT.
    let published = tcp("10.0.0.9", "10.0.0.2", 8080).iif("eth0").to_local(true);
    let pre = ev.evaluate(Hook::Prerouting, &published);
    let after = &exact(&pre).packet;
    assert_eq!((after.dst, after.dport, after.ct_dnat), (ip("192.0.2.2"), Some(80), Some(true)));
    let fwd = ev.evaluate(Hook::Forward, &after.clone().oif("bridge1"));
    passes(&fwd);
    assert_eq!(
        exact(&fwd).accepted_by[0].text,
        "-A DOCKER -d 192.0.2.2/32 ! -i bridge1 -o bridge1 -p tcp -m tcp --dport 80 -j ACCEPT"
    );
    // From docker0 into bridge1, to a port not published: DOCKER's inbound drop.
    let other = tcp("172.17.0.2", "192.0.2.2", 22).iif("docker0").oif("bridge1");
    let o = exact(&ev.evaluate(Hook::Forward, &other)).clone();
    assert_eq!(by(&o), "-A DOCKER ! -i bridge1 -o bridge1 -j DROP");
    // icc=false network: the intra-bridge drop; internal network: no way out.
    let icc = tcp("198.51.100.2", "198.51.100.3", 80).iif("bridgeNoICC").oif("bridgeNoICC");
    assert_eq!(
        by(exact(&ev.evaluate(Hook::Forward, &icc))),
        "-A DOCKER-FORWARD -i bridgeNoICC -o bridgeNoICC -j DROP"
    );
    let out = tcp("203.0.113.2", "10.9.9.9", 443).iif("bridgeICC").oif("eth0");
    assert_eq!(
        by(exact(&ev.evaluate(Hook::Forward, &out))),
        "-A DOCKER-INTERNAL ! -d 203.0.113.0/24 -i bridgeICC -j DROP"
    );
}

#[test]
fn bridge_tables_see_bridged_frames_with_their_ports() {
    let json = r#"{"nftables": [
      {"table": {"family": "bridge", "name": "nfeval", "handle": 1}},
      {"chain": {"family": "bridge", "table": "nfeval", "name": "fwd", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
      {"rule": {"family": "bridge", "table": "nfeval", "chain": "fwd", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "veth1"}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5432}}, {"drop": null}]}}
    ]}"#;
    let rs = rules(&[TWO_NETWORKS], &[json]);
    let ev = Evaluator::new(&rs);
    let p = tcp("172.18.0.3", "172.18.0.4", 5432).iif("veth1").oif("veth2");
    let o = exact(&ev.evaluate_layer(Hook::Forward, Layer::Bridge, &p)).clone();
    assert_eq!((o.fate, o.by.unwrap().handle), (Fate::Dropped, Some(2)));
    // The IP layer's tables do not run for the bridge layer, nor the bridge's for the IP layer.
    assert!(o.path.iter().all(|s| s.table == "nfeval"));
    let ip_layer = ev.evaluate(
        Hook::Forward,
        &tcp("172.18.0.3", "172.18.0.4", 5432).iif("br-4ebb9b640f67").oif("br-4ebb9b640f67"),
    );
    assert!(exact(&ip_layer).path.iter().all(|s| s.table == "filter"));
}

#[test]
fn a_named_rule_finds_its_counter() {
    let before = rules(&[crate::netfilter::tests::FRESH], &[]);
    let after = rules(&[TWO_NETWORKS], &[]);
    let deltas = crate::netfilter::diff(&before, &after);
    let p = tcp("172.18.0.3", "172.19.0.2", 80).iif("br-4ebb9b640f67").oif("br-6bd8ac3e1bc2");
    let e = Evaluator::new(&after).evaluate(Hook::Forward, &p);
    let r = exact(&e).by.clone().unwrap();
    let moved: Vec<_> = deltas.iter().filter(|d| r.counted_by(d)).collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].packets, 4);
}

#[test]
fn device_hooks_and_the_time_before_conntrack() {
    let json = r#"{"nftables": [
      {"table": {"family": "netdev", "name": "edge", "handle": 1}},
      {"chain": {"family": "netdev", "table": "edge", "name": "in", "handle": 1, "type": "filter", "hook": "ingress", "dev": "eth0", "prio": 0, "policy": "accept"}},
      {"chain": {"family": "netdev", "table": "edge", "name": "out", "handle": 2, "type": "filter", "hook": "egress", "dev": ["eth0"], "prio": 0, "policy": "accept"}},
      {"rule": {"family": "netdev", "table": "edge", "chain": "in", "handle": 3, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 23}}, {"drop": null}]}},
      {"rule": {"family": "netdev", "table": "edge", "chain": "out", "handle": 4, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 25}}, {"drop": null}]}},
      {"table": {"family": "ip", "name": "early", "handle": 5}},
      {"chain": {"family": "ip", "table": "early", "name": "pre", "handle": 1, "type": "filter", "hook": "prerouting", "prio": -300, "policy": "accept"}},
      {"rule": {"family": "ip", "table": "early", "chain": "pre", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"ct": {"key": "state"}}, "right": "established"}}, {"drop": null}]}}
    ]}"#;
    let rs = rules(&[TWO_NETWORKS], &[json]);
    let ev = Evaluator::new(&rs);
    let telnet = tcp("10.0.0.9", "10.0.0.2", 23).to_local(true);
    let o = exact(&ev.evaluate(Hook::Prerouting, &telnet.clone().iif("eth0"))).clone();
    assert_eq!((o.fate, o.by.unwrap().chain), (Fate::Dropped, "in".into()), "ingress runs first");
    passes(&ev.evaluate(Hook::Prerouting, &telnet.iif("eth1")));
    let smtp = tcp("10.0.0.2", "10.0.0.9", 25).oif("eth0").from_local(true).to_local(false);
    assert_eq!(exact(&ev.evaluate(Hook::Postrouting, &smtp)).by.as_ref().unwrap().chain, "out");
    // At priority -300 conntrack has not run: an established packet is not yet "established".
    let est = tcp("10.0.0.9", "10.0.0.2", 40000).iif("eth1").to_local(true).ct(Some(CtState::Established));
    let o = exact(&ev.evaluate(Hook::Prerouting, &est)).clone();
    assert_eq!((o.fate, o.packet.ct), (Fate::Passed, Some(CtState::Established)));
}

#[test]
fn ip6tables_rules_judge_ipv6_only() {
    let save = "# Generated by ip6tables-save v1.8.9 (nf_tables)\n*filter\n:FORWARD ACCEPT [0:0]\n\
        -A FORWARD -s fd00::/64 ! -d fd00::1/128 -p tcp -j REJECT --reject-with icmp6-adm-prohibited\nCOMMIT\n";
    let mut rs = Ruleset::default();
    rs.tables.extend(crate::netfilter::parse_ip6tables_save(save).unwrap());
    let ev = Evaluator::new(&rs);
    let o = exact(&ev.evaluate(Hook::Forward, &tcp("fd00::5", "2001:db8::1", 443).iif("a").oif("b"))).clone();
    assert_eq!(o.fate, Fate::Rejected(crate::netfilter::RejectWith::Icmpv6("adm-prohibited".into())));
    assert_eq!(o.by.unwrap().to_string(), "ip6 filter FORWARD");
    passes(&ev.evaluate(Hook::Forward, &tcp("10.0.0.5", "10.0.0.1", 443).iif("a").oif("b")));
}
