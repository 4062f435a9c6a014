use super::*;
use crate::netfilter::{
    Source, Target, Verdict,
    counters::{diff, dropped_exactly},
};

#[test]
fn finds_the_rule_that_dropped_the_probes() {
    // Real capture: two SYNs of nacos → web and the loner's packets were dropped by isolation.
    let d = diff(&ruleset(FRESH), &ruleset(TWO_NETWORKS));
    let four = dropped_exactly(&d, 4);
    assert_eq!(four.len(), 1, "{four:?}");
    assert_eq!(four[0].rule.as_deref(), Some("-A DOCKER-ISOLATION-STAGE-2 -o br-6bd8ac3e1bc2 -j DROP"));
    assert_eq!((four[0].table.as_str(), four[0].chain.as_str()), ("filter", "DOCKER-ISOLATION-STAGE-2"));
    assert_eq!(four[0].bytes, 240);
    assert_eq!(four[0].source, Source::Iptables { legacy: false });
    // Jumps and accepts moved too, but do not drop.
    assert!(d.iter().any(|x| x.rule.as_deref() == Some("-A FORWARD -j DOCKER-USER") && !x.drops()));
}

#[test]
fn a_new_docker_user_rule_counts_from_zero() {
    let d = diff(&ruleset(TWO_NETWORKS), &ruleset(USER_DROP));
    assert_eq!(d.len(), 2, "{d:?}");
    let dropped = dropped_exactly(&d, 2);
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        dropped[0].rule.as_deref(),
        Some("-A DOCKER-USER -s 172.17.0.0/16 -d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j DROP")
    );
    assert_eq!(dropped[0].target, Some(Target::Drop));
}

#[test]
fn a_policy_drop_shows_as_the_chain_policy() {
    let d = diff(&ruleset(USER_DROP), &ruleset(POLICY_DROP));
    let dropped = dropped_exactly(&d, 5);
    assert_eq!(dropped.len(), 1, "{d:?}");
    let p = dropped[0];
    assert!(p.is_policy());
    assert_eq!((p.chain.as_str(), p.policy.clone(), p.bytes), ("FORWARD", Some(Verdict::Drop), 420));
    assert_eq!(d.len(), 6);
}

#[test]
fn unchanged_snapshots_have_no_deltas() {
    assert!(diff(&ruleset(LEGACY), &ruleset(LEGACY)).is_empty());
    assert!(diff(&nft_ruleset(NFT_USER), &nft_ruleset(NFT_USER)).is_empty());
}

#[test]
fn identical_rules_are_counted_apart_and_resets_restart() {
    let before =
        "*filter\n:FORWARD ACCEPT [0:0]\n[5:500] -A FORWARD -j DROP\n[1:100] -A FORWARD -j DROP\nCOMMIT\n";
    let after =
        "*filter\n:FORWARD ACCEPT [0:0]\n[5:500] -A FORWARD -j DROP\n[4:400] -A FORWARD -j DROP\nCOMMIT\n";
    let d = diff(&ruleset(before), &ruleset(after));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].packets, 3);
    // Counters zeroed and 2 new packets: the delta is what the counter holds now.
    let zeroed =
        "*filter\n:FORWARD ACCEPT [0:0]\n[2:200] -A FORWARD -j DROP\n[0:0] -A FORWARD -j DROP\nCOMMIT\n";
    let d = diff(&ruleset(before), &ruleset(zeroed));
    assert_eq!((d.len(), d[0].packets, d[0].bytes), (1, 2, 200));
}

#[test]
fn nft_rules_are_matched_by_handle() {
    let after = NFT_USER.replace(r#""packets": 2, "bytes": 120"#, r#""packets": 7, "bytes": 420"#);
    let d = diff(&nft_ruleset(NFT_USER), &nft_ruleset(&after));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].packets, d[0].bytes, d[0].source), (5, 300, Source::Nft));
    assert!(
        d[0].rule
            .as_deref()
            .unwrap()
            .ends_with("counter packets 7 bytes 420 reject with icmp admin-prohibited")
    );
    assert_eq!(dropped_exactly(&d, 5).len(), 1);
}
