use super::*;
use crate::{
    explain::netfilter_path::{DropDevice, Dropped, HostView},
    flow::{Proto, Tuple},
    netfilter::{RejectWith, diff, eval::CtState, parse_iptables_save, parse_nft_json},
};

const FRESH: &str = include_str!("../netfilter/fixtures/docker20-fresh.iptables");
const TWO_NETWORKS: &str = include_str!("../netfilter/fixtures/docker20-two-networks.iptables");
const USER_DROP: &str = include_str!("../netfilter/fixtures/docker20-docker-user-drop.iptables");
const ADMIN: &str = include_str!("../netfilter/fixtures/nft-admin.nft.json");
const HEIMA: &str = "br-4ebb9b640f67"; // 172.18.0.0/16
const OTHER: &str = "br-6bd8ac3e1bc2"; // 172.19.0.0/16

fn rules(saves: &[&str], nft: &[&str]) -> Ruleset {
    let mut rs = Ruleset::default();
    for s in saves {
        rs.tables.extend(parse_iptables_save(s).unwrap());
    }
    for j in nft {
        rs.tables.extend(parse_nft_json(j).unwrap());
    }
    rs
}

fn host() -> HostView {
    HostView::for_tests(
        &["172.17.0.1", "172.18.0.1", "172.19.0.1", "10.200.0.2"],
        &[
            ("172.17.0.0/16", "docker0"),
            ("172.18.0.0/16", HEIMA),
            ("172.19.0.0/16", OTHER),
            ("0.0.0.0/0", "uplink0"),
        ],
        &[],
        &["docker0", HEIMA, OTHER],
    )
}

/// A container's first packet, dropped where the kernel said (`device`).
fn forwarded(src: &str, dst: &str, dport: u16, iif: &str) -> Dropped {
    Dropped {
        tuple: Tuple {
            proto: Proto::Tcp,
            src: src.parse().unwrap(),
            sport: 40000,
            dst: dst.parse().unwrap(),
            dport,
        },
        entry: None,
        local_origin: false,
        iif: Some(iif.into()),
        oif: None,
        drop_device: DropDevice::Device(iif.into()),
        ct: Some(CtState::New),
        hook: None,
    }
}

fn explain(rs: &Ruleset, d: &Dropped, counters: &Counters) -> DroppingRule {
    dropping_rule(&Evaluator::new(rs), rs, &host(), d, counters)
}

/// Issue 10's report: an admin's inet forward chain at filter+10 rejects tcp/3306 with icmpx
/// admin-prohibited, after Docker's own FORWARD accepted. No counter: the evaluator names it.
#[test]
fn an_admins_inet_reject_is_named_with_its_handle_and_fix() {
    let rs = rules(&[FRESH], &[ADMIN]);
    let d = forwarded("172.17.0.2", "10.200.0.9", 3306, "docker0");
    let found = explain(&rs, &d, &Counters { deltas: Some(&[]), strict: true, pick: None });
    assert_eq!(found.how, How::Evaluated { counted: None }, "{:#?}", found.evidence);
    assert_eq!(found.cause, Cause::FirewallDrop);
    let b = found.named().unwrap();
    assert_eq!((b.rule.table.as_str(), b.rule.chain.as_str(), b.rule.handle), ("admin", "forward", Some(4)));
    assert_eq!(b.rejects(), Some(&RejectWith::Icmpx("admin-prohibited".into())));
    assert_eq!(b.hook, Some(Hook::Forward));
    assert_eq!(b.owner, Owner::Other);
    assert_eq!(b.rule.listed(), "tcp dport 3306 reject with icmpx admin-prohibited # handle 4");
    assert_eq!(b.rule.place(), "table inet admin, chain forward, handle 4");
    assert_eq!(b.fix.as_ref().unwrap().lines(), ["nft delete rule inet admin forward handle 4"]);
    assert!(found.evidence.iter().any(|e| e.contains("keeps no counter")), "{:#?}", found.evidence);
}

/// Docker's isolation, named by the evaluator and confirmed by its counter.
#[test]
fn docker_isolation_is_named_and_the_counters_agree() {
    let before = rules(&[FRESH], &[]);
    let after = rules(&[TWO_NETWORKS], &[]);
    let deltas = diff(&before, &after);
    let d = forwarded("172.17.0.3", "172.18.0.2", 3306, "docker0");
    let found = explain(&after, &d, &Counters { deltas: Some(&deltas), strict: false, pick: None });
    assert_eq!(found.cause, Cause::NetworkIsolation, "{:#?}", found.evidence);
    let b = found.named().unwrap();
    assert_eq!(b.rule.text, format!("-A DOCKER-ISOLATION-STAGE-2 -o {HEIMA} -j DROP"));
    assert_eq!(found.how, How::Evaluated { counted: Some(true) });
    assert!(b.fix.is_none(), "Docker's rule: Docker's configuration is what to change");
}

/// A DOCKER-USER drop: the evaluator's rule, its counter moved, the fix deletes exactly it.
#[test]
fn a_docker_user_drop_is_cross_checked_by_its_counter() {
    let before = rules(&[TWO_NETWORKS], &[]);
    let after = rules(&[USER_DROP], &[]);
    let deltas = diff(&before, &after);
    let d = forwarded("172.17.0.3", "172.18.0.2", 3306, "docker0");
    let found = explain(&after, &d, &Counters { deltas: Some(&deltas), strict: true, pick: None });
    assert_eq!(found.how, How::Evaluated { counted: Some(true) }, "{:#?}", found.evidence);
    assert_eq!(found.cause, Cause::FirewallDrop);
    let b = found.named().unwrap();
    let rule = "-A DOCKER-USER -s 172.17.0.0/16 -d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j DROP";
    assert_eq!(b.rule.text, rule);
    assert_eq!(b.fix.as_ref().unwrap().commands, [format!("iptables {}", rule.replacen("-A ", "-D ", 1))]);
}

/// The counters of a trace's own probes contradict the evaluation (the rule it names kept
/// still, another moved by exactly the drops): the counters win, and that is said.
#[test]
fn a_counter_that_disagrees_with_the_evaluation_wins_for_a_trace() {
    let before = rules(&[TWO_NETWORKS], &[]);
    let after = rules(&[USER_DROP], &[]);
    let deltas = diff(&before, &after);
    // A packet the DOCKER-USER rule does not match: the evaluator names the isolation rule.
    let d = forwarded("172.17.0.3", "172.18.0.2", 5432, "docker0");
    let user = after
        .find_rule("-A DOCKER-USER -s 172.17.0.0/16 -d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j DROP");
    let r = user.unwrap();
    let named = NamedRule::rule(r.table, r.chain, r.index, r.rule);
    let strict = Counters { deltas: Some(&deltas), strict: true, pick: Some((named.clone(), true)) };
    let found = explain(&after, &d, &strict);
    assert_eq!(found.how, How::Counted { exact: true }, "{:#?}", found.evidence);
    assert!(found.rules[0].rule.same(&named));
    assert!(found.evidence.iter().any(|e| e.contains("the counters disagree")), "{:#?}", found.evidence);
    // A watch's counters are shared by its flows: the evaluation stands.
    let loose = Counters { strict: false, ..strict };
    let found = explain(&after, &d, &loose);
    assert!(matches!(found.how, How::Evaluated { .. }), "{:?}", found.how);
    assert_eq!(found.cause, Cause::NetworkIsolation);
}

/// Conntrack's state not known: Docker's `RELATED,ESTABLISHED` accept may match, yet only
/// one rule can have dropped the packet: still named, with the assumption in the evidence.
#[test]
fn an_unknown_conntrack_state_still_names_the_only_rule_that_drops() {
    let rs = rules(&[FRESH], &[ADMIN]);
    let mut d = forwarded("172.17.0.2", "10.200.0.9", 3306, "docker0");
    d.ct = None;
    let found = explain(&rs, &d, &Counters::default());
    let b = found.rules.first().expect("a rule");
    assert_eq!(b.rule.handle, Some(4), "{:#?}", found.evidence);
    assert_ne!(found.how, How::Unknown);
}

/// Nothing in the rules drops the packet and no counter moved: no rule is made up.
#[test]
fn no_rule_is_made_up_when_nothing_drops() {
    let rs = rules(&[FRESH], &[]);
    let d = forwarded("172.17.0.2", "10.200.0.9", 443, "docker0");
    let found = explain(&rs, &d, &Counters { deltas: Some(&[]), strict: true, pick: None });
    assert_eq!(found.how, How::Unknown);
    assert!(found.rules.is_empty());
    assert!(found.named().is_none());
}

/// Rules that match only sometimes (`numgen`, packet types the kernel did not show): several
/// rules may have dropped the packet, no counter tells them apart, so the answer is the
/// ranked candidates, said as such, never one of them called exact.
#[test]
fn rules_that_may_match_give_ranked_candidates() {
    let rs = rules(&[], &[include_str!("../netfilter/fixtures/nft-exprs.nft.json")]);
    let host =
        HostView::for_tests(&["10.5.0.254"], &[("10.9.0.0/16", "eth2"), ("10.5.0.0/16", "eth1")], &[], &[]);
    let d = Dropped {
        drop_device: DropDevice::Device("eth1".into()),
        ..forwarded("10.5.0.1", "10.9.0.1", 5000, "eth1")
    };
    let found = dropping_rule(
        &Evaluator::new(&rs),
        &rs,
        &host,
        &d,
        &Counters { deltas: Some(&[]), strict: true, pick: None },
    );
    assert_eq!(found.how, How::Ranked, "{:#?}", found.evidence);
    assert!(found.named().is_none());
    assert!(found.rules.len() >= 2, "{:#?}", found.rules);
    assert!(found.rules.iter().any(|b| b.rule.text == "numgen random mod 2 0 drop"), "{:#?}", found.rules);
    assert!(found.evidence.iter().any(|e| e.contains("the likeliest first")), "{:#?}", found.evidence);
    // Each candidate comes with the fix for exactly that rule.
    for b in &found.rules {
        let fix = b.fix.as_ref().unwrap().lines();
        assert!(fix[0].starts_with("nft "), "{fix:?}");
    }
}
