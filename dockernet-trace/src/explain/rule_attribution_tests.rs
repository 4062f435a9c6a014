//! Attribution of watched flows on the netfilter fixtures (real Docker 20.10 captures, see
//! netfilter/tests).
use super::*;
use crate::netfilter::{diff, parse_iptables_save};

const FRESH: &str = include_str!("../netfilter/fixtures/docker20-fresh.iptables");
const TWO_NETWORKS: &str = include_str!("../netfilter/fixtures/docker20-two-networks.iptables");
const USER_DROP: &str = include_str!("../netfilter/fixtures/docker20-docker-user-drop.iptables");
const POLICY_DROP: &str = include_str!("../netfilter/fixtures/docker20-forward-policy-drop.iptables");

const HEIMA: &str = "br-4ebb9b640f67"; // 172.18.0.0/16
const OTHER: &str = "br-6bd8ac3e1bc2"; // 172.19.0.0/16

fn rs(save: &str) -> Ruleset {
    Ruleset { tables: parse_iptables_save(save).unwrap(), notes: vec![] }
}

fn bridges() -> BTreeSet<String> {
    ["docker0", HEIMA, OTHER].iter().map(|s| s.to_string()).collect()
}

fn group(src: &str, dst: &str, dport: u16, count: u64, iface: &str, dst_bridge: Option<&str>) -> FlowDrops {
    FlowDrops {
        tuple: Tuple {
            proto: Proto::Tcp,
            src: src.parse().unwrap(),
            sport: 40000,
            dst: dst.parse().unwrap(),
            dport,
        },
        count,
        iface: Some(iface.into()),
        in_host: true,
        src_bridge: Some(iface.into()),
        dst_bridge: dst_bridge.map(str::to_string),
        ct: None,
    }
}

#[test]
fn each_flow_gets_the_isolation_rule_of_its_destination_bridge() {
    // Two isolation rules moved, by 4 and by 3: the out interface tells which is whose.
    let d = diff(&rs(FRESH), &rs(TWO_NETWORKS));
    let after = rs(TWO_NETWORKS);
    let groups = [
        group("172.17.0.2", "172.19.0.2", 80, 4, "docker0", Some(OTHER)),
        group("172.17.0.3", "172.18.0.2", 3306, 3, "docker0", Some(HEIMA)),
    ];
    let hits = for_flows(&d, &after, &groups, &bridges(), &HashMap::new());
    assert_eq!(hits[0].rule.as_deref(), Some("-A DOCKER-ISOLATION-STAGE-2 -o br-6bd8ac3e1bc2 -j DROP"));
    assert_eq!(hits[1].rule.as_deref(), Some("-A DOCKER-ISOLATION-STAGE-2 -o br-4ebb9b640f67 -j DROP"));
    assert!(hits.iter().all(|h| h.cause == Cause::NetworkIsolation), "{hits:?}");
}

#[test]
fn a_docker_user_rule_is_a_firewall_drop() {
    let d = diff(&rs(TWO_NETWORKS), &rs(USER_DROP));
    let g = [group("172.17.0.3", "172.18.0.2", 3306, 2, "docker0", Some(HEIMA))];
    let hits = for_flows(&d, &rs(USER_DROP), &g, &bridges(), &HashMap::new());
    assert_eq!(
        (hits[0].rule.as_deref(), hits[0].cause),
        (
            Some("-A DOCKER-USER -s 172.17.0.0/16 -d 172.18.0.2/32 -p tcp -m tcp --dport 3306 -j DROP"),
            Cause::FirewallDrop
        )
    );
    let named = hits[0].named.as_ref().expect("the counted rule, as the evaluator names it");
    assert_eq!(
        (named.table.as_str(), named.chain.as_str(), named.position),
        ("filter", "DOCKER-USER", Some(0))
    );
}

#[test]
fn a_rule_that_cannot_match_the_flow_is_not_blamed() {
    // The DOCKER-USER rule moved by exactly this flow's count but matches only port 3306.
    let d = diff(&rs(TWO_NETWORKS), &rs(USER_DROP));
    let g = [group("172.17.0.3", "172.18.0.2", 5432, 2, "docker0", Some(HEIMA))];
    let hits = for_flows(&d, &rs(USER_DROP), &g, &bridges(), &HashMap::new());
    assert_eq!(hits[0], Hit { rule: None, cause: Cause::FirewallDrop, named: None });
}

#[test]
fn a_chain_policy_is_blamed_when_no_rule_moved() {
    let d = diff(&rs(USER_DROP), &rs(POLICY_DROP));
    let g = [group("10.200.0.1", "172.17.0.2", 80, 5, "uplink0", Some("docker0"))];
    let hits = for_flows(&d, &rs(POLICY_DROP), &g, &bridges(), &HashMap::new());
    assert_eq!((hits[0].rule.as_deref(), hits[0].cause), (Some("-P FORWARD DROP"), Cause::FirewallDrop));
    assert!(hits[0].named.as_ref().is_some_and(|n| n.is_policy() && n.chain == "FORWARD"));
}

#[test]
fn a_flow_keeps_its_rule_when_the_counters_say_nothing_new() {
    let g = [group("172.17.0.3", "172.18.0.2", 3306, 1, "docker0", Some(HEIMA))];
    let known = Hit { rule: Some("-A X -j DROP".into()), cause: Cause::FirewallDrop, named: None };
    let remembered = HashMap::from([(g[0].tuple, known.clone())]);
    let hits = for_flows(&[], &rs(USER_DROP), &g, &bridges(), &remembered);
    assert_eq!(hits[0], known);
}

#[test]
fn drops_inside_a_container_are_not_blamed_on_the_hosts_rules() {
    let d = diff(&rs(TWO_NETWORKS), &rs(USER_DROP));
    let mut g = group("172.17.0.3", "172.18.0.2", 3306, 2, "eth0", None);
    g.in_host = false;
    let hits = for_flows(&d, &rs(USER_DROP), &[g], &bridges(), &HashMap::new());
    assert_eq!(hits[0].rule, None);
}

#[test]
fn interfaces_are_judged_against_every_device_the_packet_may_have_had() {
    let m = |rule: &str| rs(TWO_NETWORKS).find_rule(rule).unwrap().rule.matches.clone();
    let to_heima = group("172.17.0.2", "172.18.0.2", 3306, 1, "docker0", Some(HEIMA));
    let outside = group("172.17.0.2", "10.201.0.7", 80, 1, "docker0", None);
    let iso_heima = m("-A DOCKER-ISOLATION-STAGE-2 -o br-4ebb9b640f67 -j DROP");
    assert!(compatible(&iso_heima, &to_heima, &bridges()));
    assert!(!compatible(&iso_heima, &outside, &bridges()), "the packet leaves by the uplink, not a bridge");
    let check = m("-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2");
    assert!(compatible(&check, &to_heima, &bridges()));
    assert!(compatible(&check, &outside, &bridges()));
}

#[test]
fn a_probes_drops_name_the_rule_that_moved_by_exactly_as_many() {
    // Isolation rules moved by 4 and by 3: three dropped probes are the second's.
    let d = diff(&rs(FRESH), &rs(TWO_NETWORKS));
    let a = for_probe(&d, &rs(TWO_NETWORKS), (IpFamily::V4, 3), Some("docker0"), None).unwrap();
    assert_eq!(a.rule.as_deref(), Some("-A DOCKER-ISOLATION-STAGE-2 -o br-4ebb9b640f67 -j DROP"));
    assert_eq!((a.cause, a.exact, a.packets), (Cause::NetworkIsolation, true, 3));
    assert_eq!(a.delete.as_deref(), Some("iptables -D DOCKER-ISOLATION-STAGE-2 -o br-4ebb9b640f67 -j DROP"));
    // Two probes: no counter moved by exactly two; the smallest above is taken, not exact.
    let b = for_probe(&d, &rs(TWO_NETWORKS), (IpFamily::V4, 2), Some("docker0"), None).unwrap();
    assert_eq!((b.packets, b.exact), (3, false));
    assert!(
        for_probe(&d, &rs(TWO_NETWORKS), (IpFamily::V4, 9), Some("docker0"), None).is_none(),
        "none moved that far"
    );
}

#[test]
fn a_probe_dropped_by_a_policy_blames_the_policy() {
    let d = diff(&rs(USER_DROP), &rs(POLICY_DROP));
    let a = for_probe(&d, &rs(POLICY_DROP), (IpFamily::V4, 5), Some("uplink0"), None).unwrap();
    assert_eq!((a.rule.as_deref(), a.cause), (Some("-P FORWARD DROP"), Cause::FirewallDrop));
    assert_eq!(
        a.delete.as_deref(),
        Some("iptables -P FORWARD ACCEPT   # or add an ACCEPT rule for this traffic")
    );
}

/// One ip6tables DOCKER-USER drop that moved by `n6`, and an iptables one by `n4`.
fn both_families(n4: u64, n6: u64) -> Ruleset {
    let save = |n: u64, addr: &str| {
        format!(
            "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n[0:0] -A FORWARD -j DOCKER-USER\n\
             [{n}:{}] -A DOCKER-USER -d {addr} -j DROP\nCOMMIT\n",
            n * 60
        )
    };
    let mut tables = parse_iptables_save(&save(n4, "172.18.0.2/32")).unwrap();
    tables.extend(crate::netfilter::parse_ip6tables_save(&save(n6, "fd00:18::2/128")).unwrap());
    Ruleset { tables, notes: vec![] }
}

#[test]
fn a_probe_is_attributed_to_a_rule_of_its_own_family() {
    let d = diff(&both_families(0, 0), &both_families(3, 3));
    let a = for_probe(&d, &both_families(3, 3), (IpFamily::V6, 3), Some("br-x"), None).unwrap();
    assert_eq!(a.rule.as_deref(), Some("-A DOCKER-USER -d fd00:18::2/128 -j DROP"));
    assert_eq!(a.delete.as_deref(), Some("ip6tables -D DOCKER-USER -d fd00:18::2/128 -j DROP"));
    let a = for_probe(&d, &both_families(3, 3), (IpFamily::V4, 3), Some("br-x"), None).unwrap();
    assert_eq!(a.rule.as_deref(), Some("-A DOCKER-USER -d 172.18.0.2/32 -j DROP"));
    // Only the IPv4 rule moved: an IPv6 probe's drop is not explained by it.
    let d = diff(&both_families(0, 0), &both_families(3, 0));
    assert!(for_probe(&d, &both_families(3, 0), (IpFamily::V6, 3), Some("br-x"), None).is_none());
    // A watched IPv6 flow gets the ip6tables rule.
    let g = FlowDrops {
        tuple: Tuple {
            proto: Proto::Tcp,
            src: "fd00:17::2".parse().unwrap(),
            sport: 1,
            dst: "fd00:18::2".parse().unwrap(),
            dport: 3306,
        },
        count: 3,
        iface: Some("br-x".into()),
        in_host: true,
        src_bridge: None,
        dst_bridge: Some("br-x".into()),
        ct: None,
    };
    let d = diff(&both_families(0, 0), &both_families(3, 3));
    let hits = for_flows(&d, &both_families(3, 3), &[g], &bridges(), &HashMap::new());
    assert_eq!(hits[0].rule.as_deref(), Some("-A DOCKER-USER -d fd00:18::2/128 -j DROP"));
}
