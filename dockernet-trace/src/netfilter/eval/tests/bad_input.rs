//! Input the parser cannot (fully) read: never a panic, never a wrong "exact".
use super::*;
use crate::netfilter::nft::parse_nft_listing;

const DROP_ALL_UNKNOWN: &str = r#"{"nftables": [
  {"metainfo": {"version": "9.9", "json_schema_version": 1}},
  {"table": {"family": "inet", "name": "t", "handle": 1}},
  {"chain": {"family": "inet", "table": "t", "name": "f", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
  {"rule": {"family": "inet", "table": "t", "chain": "f", "handle": 2, "expr": [
     {"match": {"op": "==", "left": {"quantum": {"key": "spin"}}, "right": "up"}}, {"drop": null}]}},
  {"rule": {"family": "inet", "table": "t", "chain": "f", "handle": 3, "expr": [
     {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 25}}, {"teleport": {"to": "mars"}}]}}
]}"#;

#[test]
fn an_unknown_expression_may_match_and_is_named() {
    let rs = rules(&[], &[DROP_ALL_UNKNOWN]);
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &tcp("10.0.0.1", "10.0.0.2", 80).iif("a").oif("b"));
    assert_eq!(e.unreadable.len(), 1);
    assert_eq!(e.unreadable[0].handle, Some(2));
    assert!(matches!(e.decision(), Decision::Candidates(_)));
    // Even told the packet was dropped, a rule that could not be read is never "exact".
    let Decision::Candidates(d) = e.dropped_by() else { panic!("{:?}", e.dropped_by()) };
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].by.as_ref().unwrap().handle, Some(2));
}

#[test]
fn an_unknown_statement_may_decide() {
    let rs = rules(&[], &[DROP_ALL_UNKNOWN]);
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &tcp("10.0.0.1", "10.0.0.2", 25).iif("a").oif("b"));
    assert!(
        e.outcomes.iter().any(|o| matches!(&o.fate, Fate::Unknown(s) if s.contains("teleport"))),
        "{:#?}",
        e.outcomes
    );
    assert!(!matches!(e.decision(), Decision::Exact(_)));
}

#[test]
fn a_listing_cut_short_is_read_up_to_the_cut_and_never_exact() {
    let cut = &DOCKER29[..DOCKER29.len() * 2 / 3];
    assert!(parse_nft_json(cut).is_err(), "strict parsing refuses it");
    let listing = parse_nft_listing(cut).unwrap();
    assert_eq!(listing.gaps.len(), 1, "{:?}", listing.gaps);
    assert!(listing.gaps[0].contains("cut short"));
    assert!(!listing.tables.is_empty());
    let mut rs = Ruleset { tables: listing.tables, ..Default::default() };
    rs.notes.extend(listing.gaps.into_iter().map(crate::netfilter::Note::gap));
    let e = Evaluator::new(&rs).evaluate(Hook::Prerouting, &tcp("10.0.0.9", "192.0.2.2", 80).iif("eth0"));
    assert!(!e.gaps.is_empty());
    assert!(!matches!(e.decision(), Decision::Exact(_)));
}

#[test]
fn a_newer_schema_is_a_gap() {
    let newer = DROP_ALL_UNKNOWN.replace("\"json_schema_version\": 1", "\"json_schema_version\": 2");
    let listing = parse_nft_listing(&newer).unwrap();
    assert!(listing.gaps[0].contains("schema 2"), "{:?}", listing.gaps);
}

#[test]
fn every_cut_of_every_listing_parses_or_errs_without_panic() {
    for json in [DOCKER29, FIREWALLD, ADMIN, EXPRS, NFT_USER] {
        for end in (0..json.len()).step_by(37) {
            let Ok(listing) = parse_nft_listing(&json[..end]) else { continue };
            let rs = Ruleset { tables: listing.tables, ..Default::default() };
            let ev = Evaluator::new(&rs);
            for hook in [Hook::Prerouting, Hook::Input, Hook::Forward, Hook::Postrouting] {
                let _ = ev.evaluate(hook, &tcp("10.0.0.1", "10.0.0.2", 80).iif("eth0").oif("docker0"));
            }
        }
    }
    for save in [TWO_NETWORKS, UFW, DOCKER28] {
        for end in (0..save.len()).step_by(41) {
            let Ok(tables) = parse_iptables_save(&save[..end]) else { continue };
            let rs = Ruleset { tables, ..Default::default() };
            let _ = Evaluator::new(&rs)
                .evaluate(Hook::Forward, &tcp("10.0.0.1", "10.0.0.2", 80).iif("eth0").oif("docker0"));
        }
    }
}

#[test]
fn jump_loops_end() {
    let save = "*filter\n:FORWARD ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -j A\nCOMMIT\n";
    let rs = rules(&[save], &[]);
    let e = Evaluator::new(&rs).evaluate(Hook::Forward, &tcp("10.0.0.1", "10.0.0.2", 80));
    assert!(
        e.outcomes.iter().any(|o| matches!(&o.fate, Fate::Unknown(s) if s.contains("deeper"))),
        "{:#?}",
        e.outcomes
    );
}
