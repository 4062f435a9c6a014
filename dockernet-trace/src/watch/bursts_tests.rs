use std::time::UNIX_EPOCH;

use super::*;
use crate::watch::line::{ChangeKind, ChangeWhat, Peer};

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_795_300_000_000 + ms)
}

fn change(what: ChangeWhat, source: ChangeSource, iface: Option<&str>, network: Option<&str>) -> ChangeLine {
    ChangeLine {
        schema: 1,
        t: String::new(),
        kind: ChangeKind::Change,
        source,
        what,
        iface: iface.map(str::to_string),
        network: network.map(str::to_string),
        container: None,
        detail: None,
    }
}

fn drop_to(dst: &str, network: Option<&str>, cause: Cause, count: u64) -> EventLine {
    let peer = |ip: &str, network: Option<&str>| Peer {
        ip: ip.parse().unwrap(),
        port: None,
        container: None,
        network: network.map(str::to_string),
        sharers: vec![],
    };
    EventLine {
        schema: 1,
        t: String::new(),
        kind: Kind::Drop,
        src: peer("172.17.0.2", Some("bridge")),
        dst: peer(dst, network),
        proto: "icmp".into(),
        iface: None,
        netns: None,
        function: None,
        drop_reason: None,
        cause,
        rule: None,
        count,
    }
}

#[test]
fn the_change_that_concerns_a_burst_is_named_before_it() {
    let mut b = Bursts::default();
    let lost =
        change(ChangeWhat::AddressRemoved, ChangeSource::Netlink, Some("br-73a00eba170c"), Some("heima-net"));
    b.add_change(at(0), &lost);
    let other =
        change(ChangeWhat::Event("container start".into()), ChangeSource::Docker, None, Some("other"));
    b.add_change(at(500), &other);
    for k in 0..6 {
        b.add_event(
            at(1000 + k * 1000),
            &drop_to(&format!("172.18.0.{}", 2 + k % 2), Some("heima-net"), Cause::BridgeGatewayMissing, 35),
        );
    }
    b.add_event(at(1500), &drop_to("172.18.0.2", Some("heima-net"), Cause::BridgeGatewayMissing, 2));
    let (bursts, left_out) = b.finish();
    assert_eq!((bursts.len(), left_out), (1, 0));
    let burst = &bursts[0];
    assert_eq!(
        (burst.count, burst.cause, burst.dst_network.as_deref()),
        (212, Cause::BridgeGatewayMissing, Some("heima-net"))
    );
    assert_eq!(burst.dst_ip, None, "two destinations");
    assert_eq!(burst.change_before.as_ref(), Some(&lost), "the related change, not the later unrelated one");
    assert!(burst.change_related);
}

#[test]
fn quiet_gaps_split_bursts_and_each_gets_its_own_change() {
    let mut b = Bursts::default();
    let rule = change(ChangeWhat::RulesChanged, ChangeSource::Netfilter, None, None);
    b.add_change(at(0), &rule);
    b.add_event(at(2_000), &drop_to("10.201.0.7", None, Cause::FirewallDrop, 3));
    b.add_event(
        at(2_000 + GAP.as_millis() as u64 + 1_000),
        &drop_to("10.201.0.7", None, Cause::FirewallDrop, 4),
    );
    let (bursts, _) = b.finish();
    assert_eq!(bursts.iter().map(|b| b.count).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(bursts[0].dst_ip, Some("10.201.0.7".parse().unwrap()));
    assert_eq!(
        bursts[0].change_before.as_ref(),
        Some(&rule),
        "the ruleset concerns a firewall drop at any age"
    );
    assert_eq!(bursts[1].change_before.as_ref(), Some(&rule));
}

#[test]
fn a_change_read_after_the_burst_opened_still_counts_when_it_came_first() {
    let mut b = Bursts::default();
    b.add_event(at(1_000), &drop_to("172.18.0.2", Some("heima-net"), Cause::BridgeDown, 1));
    let down =
        change(ChangeWhat::LinkDown, ChangeSource::Netlink, Some("br-73a00eba170c"), Some("heima-net"));
    b.add_change(at(900), &down);
    let later = change(ChangeWhat::LinkUp, ChangeSource::Netlink, Some("br-73a00eba170c"), Some("heima-net"));
    b.add_change(at(5_000), &later);
    let (bursts, _) = b.finish();
    assert_eq!(bursts[0].change_before.as_ref(), Some(&down));
}

#[test]
fn an_unrelated_change_is_named_only_when_it_came_shortly_before() {
    let sysctl = change(ChangeWhat::Sysctl, ChangeSource::Sysctl, None, None);
    let mut b = Bursts::default();
    b.add_change(at(0), &sysctl);
    b.add_event(at(10_000), &drop_to("172.18.0.2", Some("heima-net"), Cause::NoListener, 1));
    let (bursts, _) = b.finish();
    assert_eq!(bursts[0].change_before.as_ref(), Some(&sysctl));
    assert!(!bursts[0].change_related);

    let mut b = Bursts::default();
    b.add_change(at(0), &sysctl);
    b.add_event(at(RECENT.as_millis() as u64 + 1_000), &drop_to("172.18.0.2", None, Cause::NoListener, 1));
    assert_eq!(b.finish().0[0].change_before, None);
}

#[test]
fn the_largest_bursts_are_kept() {
    let mut b = Bursts::default();
    let step = GAP.as_millis() as u64 + 1_000;
    for k in 0..(MAX_BURSTS as u64 + 5) {
        b.add_event(
            at(k * step),
            &drop_to("172.18.0.2", None, Cause::NoListener, if k < 5 { 1 } else { 10 }),
        );
    }
    let (bursts, left_out) = b.finish();
    assert_eq!((bursts.len(), left_out), (MAX_BURSTS, 5));
    assert!(bursts.iter().all(|b| b.count == 10));
    assert!(bursts.windows(2).all(|w| w[0].from < w[1].from), "in time order");
}

#[test]
fn a_change_is_named_before_its_own_consequences() {
    let mut b = Bursts::default();
    let lost = change(ChangeWhat::AddressRemoved, ChangeSource::Netlink, Some("br-a"), Some("fa"));
    let route = change(ChangeWhat::RouteRemoved, ChangeSource::Netlink, Some("br-a"), Some("fa"));
    b.add_change(at(0), &lost);
    b.add_change(at(1), &route);
    b.add_event(at(3000), &drop_to("10.201.0.7", Some("fa"), Cause::NeighborUnreachable, 3));
    let (bursts, _) = b.finish();
    assert_eq!(bursts[0].change_before.as_ref(), Some(&lost), "the address, not the route that went with it");
}
