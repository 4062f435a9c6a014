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
