//! Docker's own layouts: 20.10 (isolation chains), 29 (nftables, verdict maps).
use super::*;

#[test]
fn docker20_isolation_names_the_stage2_drop() {
    let rs = rules(&[TWO_NETWORKS], &[]);
    let p = tcp("172.18.0.3", "172.19.0.2", 80).iif("br-4ebb9b640f67").oif("br-6bd8ac3e1bc2");
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &p);
    let o = exact(&e);
    assert_eq!(o.fate, Fate::Dropped);
    let r = o.by.as_ref().unwrap();
    assert_eq!(r.text, "-A DOCKER-ISOLATION-STAGE-2 -o br-6bd8ac3e1bc2 -j DROP");
    assert_eq!(
        (r.table.as_str(), r.chain.as_str(), r.position, r.handle),
        ("filter", "DOCKER-ISOLATION-STAGE-2", Some(0), None)
    );
    assert_eq!(r.action, Action::Drop);
    let chains: Vec<&str> = o.path.iter().map(|s| s.chain.as_str()).collect();
    assert_eq!(chains, ["FORWARD", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"]);
    assert!(e.unreadable.is_empty() && e.gaps.is_empty());
}

#[test]
fn docker20_lets_its_own_traffic_through() {
    let rs = rules(&[TWO_NETWORKS], &[]);
    let ev = Evaluator::new(&rs);
    // Out, replies in, within one network, and a published port (DNAT first).
    passes(
        &ev.evaluate(
            Hook::Forward,
            &tcp("172.18.0.3", "198.51.100.7", 443).iif("br-4ebb9b640f67").oif("eth0"),
        ),
    );
    let reply = tcp("198.51.100.7", "172.18.0.3", 40000)
        .iif("eth0")
        .oif("br-4ebb9b640f67")
        .ct(Some(CtState::Established));
    passes(&ev.evaluate(Hook::Forward, &reply));
    passes(&ev.evaluate(
        Hook::Forward,
        &tcp("172.18.0.3", "172.18.0.4", 80).iif("br-4ebb9b640f67").oif("br-4ebb9b640f67"),
    ));
    let pre = ev.evaluate(Hook::Prerouting, &tcp("10.0.0.9", "10.0.0.2", 8080).iif("eth0").to_local(true));
    let dnat = exact(&pre);
    assert_eq!(
        dnat.accepted_by[0].text,
        "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.19.0.2:80"
    );
    assert_eq!(dnat.accepted_by[0].action, Action::Nat);
    let fwd = ev.evaluate(Hook::Forward, &dnat.packet.clone().oif("br-6bd8ac3e1bc2"));
    passes(&fwd);
    // A reply skips nat: conntrack already translated it.
    let later = tcp("10.0.0.9", "10.0.0.2", 8080).iif("eth0").to_local(true).ct(Some(CtState::Established));
    assert_eq!(exact(&ev.evaluate(Hook::Prerouting, &later)).packet.dst, ip("10.0.0.2"));
}

#[test]
fn an_unknown_destination_type_splits_the_walk() {
    let rs = rules(&[TWO_NETWORKS], &[]);
    // Whether 10.0.0.2 is the host's own address decides whether nat DOCKER is reached.
    let e = Evaluator::new(&rs).evaluate(Hook::Prerouting, &tcp("10.0.0.9", "10.0.0.2", 8080).iif("eth0"));
    assert_eq!(e.outcomes.len(), 2, "{:#?}", e.outcomes);
    assert!(e.outcomes.iter().all(|o| o.fate == Fate::Passed));
    assert!(e.outcomes.iter().any(|o| o.packet.dst == ip("172.19.0.2")));
    match e.decision() {
        Decision::Exact(o) => assert_eq!(o.fate, Fate::Passed, "both ways pass: one ending"),
        d => panic!("{d:?}"),
    }
    let why = &e.outcomes.iter().find(|o| !o.assumed.is_empty()).unwrap().assumed[0].why;
    assert!(why[0].contains("LOCAL"), "{why:?}");
}

fn docker29() -> Ruleset {
    rules(&[], &[DOCKER29])
}

#[test]
fn docker29_verdict_maps_reach_the_bridge_chains() {
    let rs = docker29();
    let ev = Evaluator::new(&rs);
    // Published port, after DNAT: the per-port accept of filter-forward-in__bridge1.
    let pre = ev.evaluate(Hook::Prerouting, &tcp("10.0.0.9", "10.0.0.2", 8080).iif("eth0").to_local(true));
    let dnat = exact(&pre);
    assert_eq!(
        dnat.accepted_by.iter().map(|r| r.comment.as_deref()).collect::<Vec<_>>(),
        [None, Some("DNAT")]
    );
    let fwd = ev.evaluate(Hook::Forward, &dnat.packet.clone().oif("bridge1"));
    let o = exact(&fwd);
    assert_eq!(o.fate, Fate::Passed);
    assert_eq!(o.accepted_by[0].text, "ip daddr 192.0.2.2 tcp dport 80 counter packets 0 bytes 0 accept");
    assert_eq!(
        o.path.iter().map(|s| s.chain.as_str()).collect::<Vec<_>>(),
        ["filter-FORWARD", "filter-forward-in__bridge1"]
    );
    // A port nothing publishes: UNPUBLISHED PORT DROP, with its handle.
    let closed = tcp("10.0.0.9", "192.0.2.2", 22).iif("eth0").oif("bridge1");
    let o = exact(&ev.evaluate(Hook::Forward, &closed)).clone();
    let r = o.by.unwrap();
    assert_eq!(
        (o.fate, r.comment.as_deref(), r.chain.as_str()),
        (Fate::Dropped, Some("UNPUBLISHED PORT DROP"), "filter-forward-in__bridge1")
    );
    assert!(r.handle.is_some());
    assert_eq!(
        r.to_string(),
        format!("table ip docker-bridges chain filter-forward-in__bridge1 handle {}", r.handle.unwrap())
    );
}

#[test]
fn docker29_direct_access_internal_and_icc() {
    let rs = docker29();
    let ev = Evaluator::new(&rs);
    let direct = exact(&ev.evaluate(Hook::Prerouting, &tcp("10.0.0.9", "192.0.2.2", 80).iif("eth0"))).clone();
    assert_eq!(direct.by.unwrap().comment.as_deref(), Some("DROP DIRECT ACCESS"));
    let egress = tcp("203.0.113.2", "10.9.9.9", 443).iif("bridgeICC").oif("eth0");
    assert_eq!(
        exact(&ev.evaluate(Hook::Forward, &egress)).by.as_ref().unwrap().comment.as_deref(),
        Some("INTERNAL NETWORK EGRESS")
    );
    let icc = tcp("198.51.100.2", "198.51.100.3", 80).iif("bridgeNoICC").oif("bridgeNoICC");
    let o = exact(&ev.evaluate(Hook::Forward, &icc)).clone();
    assert_eq!((o.fate, o.by.unwrap().comment), (Fate::Dropped, Some("ICC".into())));
    // Within docker0 ICC accepts; out of it OUTGOING; and masquerade on the way out.
    passes(&ev.evaluate(Hook::Forward, &tcp("172.17.0.2", "172.17.0.3", 80).iif("docker0").oif("docker0")));
    let out = tcp("172.17.0.2", "10.9.9.9", 443).iif("docker0").oif("eth0");
    assert_eq!(exact(&ev.evaluate(Hook::Forward, &out)).accepted_by[0].comment.as_deref(), Some("OUTGOING"));
    let post = ev.evaluate(Hook::Postrouting, &out);
    assert_eq!(exact(&post).accepted_by[0].comment.as_deref(), Some("MASQUERADE"));
    // Not a Docker bridge at all: no element in either map, the policy accepts.
    let elsewhere = ev.evaluate(Hook::Forward, &tcp("10.1.0.2", "10.9.9.9", 443).iif("eth1").oif("eth0"));
    assert!(exact(&elsewhere).accepted_by[0].is_policy());
}

#[test]
fn docker29_ipv6_table_sees_only_ipv6() {
    let rs = docker29();
    let ev = Evaluator::new(&rs);
    let v6 = tcp("2001:db8::9", "fd49:efd7:54aa::2", 22).iif("eth0").oif("bridge1");
    let o = exact(&ev.evaluate(Hook::Forward, &v6)).clone();
    assert_eq!(o.by.as_ref().unwrap().family, crate::netfilter::Family::Ip6);
    assert_eq!(o.by.unwrap().comment.as_deref(), Some("UNPUBLISHED PORT DROP"));
    passes(
        &ev.evaluate(Hook::Forward, &tcp("2001:db8::9", "fd49:efd7:54aa::2", 80).iif("eth0").oif("bridge1")),
    );
    // ICMPv6 is accepted by its own rule.
    let ping = Packet::icmp(ip("2001:db8::9"), ip("fd49:efd7:54aa::2")).iif("eth0").oif("bridge1");
    assert_eq!(exact(&ev.evaluate(Hook::Forward, &ping)).accepted_by[0].comment.as_deref(), Some("ICMP"));
}

#[test]
fn an_unknown_interface_makes_the_map_lookup_uncertain() {
    let rs = docker29();
    let p = tcp("10.0.0.9", "192.0.2.2", 22).iif("eth0"); // output device not known
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &p);
    let Decision::Candidates(c) = e.decision() else { panic!("{:?}", e.decision()) };
    assert!(c.iter().any(|o| o.fate == Fate::Dropped));
    assert!(c.iter().any(|o| o.fate == Fate::Passed));
    // Told it was dropped, the candidates are the drops, likeliest first.
    let Decision::Candidates(d) = e.dropped_by() else { panic!() };
    assert!(d.iter().all(|o| o.fate.stops()), "{d:#?}");
    assert!(d.iter().any(|o| o.by.as_ref().unwrap().comment.as_deref() == Some("UNPUBLISHED PORT DROP")));
}

#[test]
fn docker28_ipv6_published_port_and_direct_access() {
    let mut rs = Ruleset::default();
    rs.tables.extend(
        crate::netfilter::parse_ip6tables_save(include_str!("../../fixtures/docker28-ipv6.ip6tables"))
            .unwrap(),
    );
    let ev = Evaluator::new(&rs);
    let client = "2001:db8::9";
    let pre = ev.evaluate(Hook::Prerouting, &tcp(client, "2001:db8::2", 8080).iif("eth0").to_local(true));
    let after = exact(&pre).packet.clone();
    assert_eq!((after.dst, after.dport), (ip("fd00:db8:1::2"), Some(80)));
    passes(&ev.evaluate(Hook::Forward, &after.oif("bridge1")));
    let direct = ev.evaluate(Hook::Prerouting, &tcp(client, "fd00:db8:1::2", 80).iif("eth0"));
    assert_eq!(by(exact(&direct)), "-A PREROUTING -d fd00:db8:1::2/128 ! -i bridge1 -j DROP");
    // Link-local clients are not DNATed (`! -s fe80::/10`).
    let ll = ev.evaluate(Hook::Prerouting, &tcp("fe80::9", "2001:db8::2", 8080).iif("eth0").to_local(true));
    assert_eq!(exact(&ll).packet.dst, ip("2001:db8::2"));
}
