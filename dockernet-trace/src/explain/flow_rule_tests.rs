use super::*;
use crate::{
    cause::Cause,
    flow::{Proto, Tuple},
    netfilter::{Ruleset, eval::CtState, parse_iptables_save, parse_nft_json},
};

const FRESH: &str = include_str!("../netfilter/fixtures/docker20-fresh.iptables");
const ADMIN: &str = include_str!("../netfilter/fixtures/nft-admin.nft.json");

fn rules() -> Ruleset {
    let mut tables = parse_iptables_save(FRESH).unwrap();
    tables.extend(parse_nft_json(ADMIN).unwrap());
    Ruleset { tables, notes: vec![] }
}

fn host() -> HostView {
    HostView::for_tests(
        &["172.17.0.1", "10.200.0.2"],
        &[("172.17.0.0/16", "docker0"), ("0.0.0.0/0", "uplink0")],
        &[],
        &["docker0"],
    )
}

fn flow(in_host: bool) -> FlowDrops {
    FlowDrops {
        tuple: Tuple {
            proto: Proto::Tcp,
            src: "172.17.0.2".parse().unwrap(),
            sport: 40000,
            dst: "10.200.0.9".parse().unwrap(),
            dport: 3306,
        },
        count: 3,
        iface: Some("docker0".into()),
        in_host,
        src_bridge: Some("docker0".into()),
        dst_bridge: None,
        ct: Some(CtState::New),
    }
}

/// A rule without a counter: the counters gave the flow nothing, the evaluator names it as
/// `nft -a list` prints it.
#[test]
fn a_counterless_nft_reject_is_named_for_a_watched_flow() {
    let rs = rules();
    let nothing = Hit { rule: None, cause: Cause::FirewallDrop, named: None };
    let hit = for_flow(&rs, &host(), &[], &flow(true), &nothing);
    assert_eq!(hit.rule.as_deref(), Some("tcp dport 3306 reject with icmpx admin-prohibited # handle 4"));
    assert_eq!(hit.cause, Cause::FirewallDrop);
    assert_eq!(hit.named.as_ref().and_then(|n| n.handle), Some(4));
}

/// Dropped inside a container: the host's rules are not its rules.
#[test]
fn a_drop_inside_a_container_keeps_what_the_counters_said() {
    let rs = rules();
    let counted = Hit { rule: None, cause: Cause::FirewallDrop, named: None };
    assert_eq!(for_flow(&rs, &host(), &[], &flow(false), &counted), counted);
}
