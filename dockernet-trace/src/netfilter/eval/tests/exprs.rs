//! Expressions admins use, on a real `nft -j` listing of them (fixtures/nft-exprs.nft).
use super::*;

fn ev_rules() -> Ruleset {
    rules(&[], &[EXPRS])
}

fn fwd(p: &Packet) -> Evaluation {
    let rs = ev_rules();
    Evaluator::new(&rs).evaluate(Hook::Forward, p)
}

/// The rule that dropped or rejected it, or the one that let it through.
fn decided_by(p: &Packet) -> String {
    let e = fwd(p);
    let o = exact(&e);
    match &o.by {
        Some(r) => r.text.clone(),
        None => o.accepted_by[0].text.clone(),
    }
}

#[test]
fn sets_maps_marks_and_ports() {
    let base = |src: &str, dst: &str, port: u16| tcp(src, dst, port).iif("eth1").oif("eth2");
    // Named interval set with a prefix and a range.
    assert_eq!(decided_by(&base("10.66.0.7", "10.9.0.1", 1)), "ip saddr @blocked drop");
    assert_eq!(decided_by(&base("10.70.0.5", "10.9.0.1", 1)), "ip saddr @blocked drop");
    // A concatenated set, a named port set with a range, an anonymous address set.
    assert_eq!(decided_by(&base("10.0.0.1", "10.9.0.1", 80)), "ip saddr . tcp dport @cc accept");
    assert_eq!(decided_by(&base("10.5.0.1", "10.9.0.1", 8042)), "tcp dport @ports accept");
    assert_eq!(decided_by(&base("10.5.0.1", "10.2.0.1", 1)), "ip daddr { 10.1.0.0/16, 10.2.0.1 } accept");
    // Verdict maps, named and anonymous.
    assert_eq!(decided_by(&tcp("10.5.0.1", "10.9.0.1", 1).iif("eth1").oif("eth9")), "oifname vmap @vm");
    assert_eq!(
        decided_by(&tcp("10.5.0.1", "10.9.0.1", 1).iif("b").oif("eth2")),
        "iifname vmap { \"a\" : accept, \"b\" : drop }"
    );
    // The mark: as it came, then as the rule before set it.
    let mut marked = base("10.5.0.1", "10.9.0.1", 1);
    marked.mark = Some(0x10);
    assert_eq!(decided_by(&marked), "meta mark 0x00000010 accept");
    marked.mark = Some(0x301);
    assert_eq!(decided_by(&marked), "meta mark & 0x000000ff == 0x00000001 accept");
    // Rejects of every kind.
    let o = exact(&fwd(&base("10.5.0.1", "10.9.0.1", 3307))).clone();
    assert_eq!(o.fate, Fate::Rejected(crate::netfilter::RejectWith::TcpReset));
    let o = exact(&fwd(&base("10.5.0.1", "10.9.0.1", 3309))).clone();
    assert_eq!(
        (by(&o), o.fate.clone()),
        (
            "tcp dport 3309 reject",
            Fate::Rejected(crate::netfilter::RejectWith::Icmpx("port-unreachable".into()))
        )
    );
}

#[test]
fn what_matches_sometimes_is_a_candidate_not_an_answer() {
    // Port 5000 meets `limit rate 3/second accept`, then `numgen random ... drop`, then the
    // policy: three endings, none exact.
    let e = fwd(&tcp("10.5.0.1", "10.9.0.1", 5000).iif("veth1").oif("eth2"));
    let Decision::Candidates(c) = e.decision() else { panic!("{:?}", e.decision()) };
    assert_eq!(c.len(), 2, "passed, or dropped by numgen: {c:#?}");
    assert!(c.iter().any(|o| by(o) == "numgen random mod 2 0 drop"));
    // Both the limit and the wildcard interface rule let it through (one ending: passed).
    let passed: Vec<&str> = e
        .outcomes
        .iter()
        .filter(|o| o.fate == Fate::Passed)
        .flat_map(|o| &o.accepted_by)
        .map(|r| r.text.as_str())
        .collect();
    assert!(
        passed
            .iter()
            .any(|t| *t == "iifname \"veth*\" accept comment \"wild\"" || *t == "limit rate 3/second accept"),
        "{passed:?}"
    );
    assert!(e.outcomes.iter().any(|o| o.assumed.iter().any(|a| a.rule.text == "limit rate 3/second accept")));
    // Told it was dropped: only numgen drops it.
    let Decision::Exact(d) = e.dropped_by() else { panic!("{:?}", e.dropped_by()) };
    assert_eq!(by(d), "numgen random mod 2 0 drop");
}

#[test]
fn conntrack_and_ipv6() {
    let est = tcp("10.5.0.1", "10.9.0.1", 1).iif("eth1").oif("eth2").ct(Some(CtState::Established));
    assert_eq!(decided_by(&est), "ct state { established, related } accept");
    let mut dnat = tcp("10.5.0.1", "10.9.0.1", 1).iif("eth1").oif("eth2");
    dnat.ct_dnat = Some(true);
    assert_eq!(decided_by(&dnat), "ct status dnat accept");
    // `ip saddr != 10.0.0.0/8` never matches IPv6 (nft's implicit `meta nfproto ipv4`).
    let v6 = tcp("2001:db8::1", "::1", 7).iif("eth1").oif("eth2");
    let o = fwd(&v6);
    assert!(o.outcomes.iter().all(|o| by(o) != "ip saddr != 10.0.0.0/8 ip daddr 10.3.0.0-10.3.0.20 accept"));
}
