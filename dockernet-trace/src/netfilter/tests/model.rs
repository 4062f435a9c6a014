use super::*;
use crate::netfilter::{IfaceMatch, NetExt, Target, parse_net};

#[test]
fn addresses_parse_with_prefixes_masks_or_bare() {
    let net = parse_net("172.18.0.0/16").unwrap();
    assert!(net.contains(&"172.18.3.4".parse::<std::net::IpAddr>().unwrap()));
    assert!(!net.contains(&"172.19.0.1".parse::<std::net::IpAddr>().unwrap()));
    assert!(net.contains(&parse_net("172.18.0.2/32").unwrap()));
    assert!(!net.contains(&parse_net("172.16.0.0/12").unwrap()));
    assert!(parse_net("172.16.0.0/12").unwrap().contains(&net));
    assert!(parse_net("0.0.0.0/0").unwrap().contains(&net));
    let host = parse_net("10.1.1.1").unwrap();
    assert_eq!(host.to_string(), "10.1.1.1/32");
    assert!(host.is_host());
    let v6 = parse_net("fd00::/8").unwrap();
    assert!(v6.contains(&"fd12::1".parse::<std::net::IpAddr>().unwrap()));
    assert!(!v6.contains(&"10.0.0.1".parse::<std::net::IpAddr>().unwrap()));
    assert_eq!(parse_net("10.0.0.0/255.0.0.0"), parse_net("10.0.0.0/8"), "iptables' netmask form");
    assert_eq!(parse_net("10.0.0.0/255.0.255.0"), None, "a non-contiguous mask is not a prefix");
    assert!(parse_net("1.2.3.4/33").is_none());
    assert!(parse_net("host.example").is_none());
    assert_eq!(serde_json::to_string(&net).unwrap(), "\"172.18.0.0/16\"");
}

#[test]
fn iface_match_handles_negation_and_wildcards() {
    let m = |name: &str, negated| IfaceMatch { name: name.into(), negated };
    assert!(m("docker0", false).matches("docker0"));
    assert!(!m("docker0", true).matches("docker0"));
    assert!(m("docker0", true).matches("br-1"));
    assert!(m("br-+", false).matches("br-6bd8ac3e1bc2"));
    assert!(m("veth*", false).matches("veth1"));
    assert_eq!(m("br-+", false).exact(), None);
    assert_eq!(m("docker0", true).exact_negated(), Some("docker0"));
}

#[test]
fn nat_to_reads_addresses_and_ports() {
    let to = |s: &str| Target::Dnat { to: s.into() }.nat_to();
    assert_eq!(to("172.19.0.2:80"), Some(("172.19.0.2".parse().unwrap(), Some(80))));
    assert_eq!(to("172.19.0.2:80-90"), Some(("172.19.0.2".parse().unwrap(), Some(80))));
    assert_eq!(to("172.19.0.2-172.19.0.9:80"), Some(("172.19.0.2".parse().unwrap(), Some(80))));
    assert_eq!(to("[fd00::2]:8080"), Some(("fd00::2".parse().unwrap(), Some(8080))));
    assert_eq!(to("fd00::2"), Some(("fd00::2".parse().unwrap(), None)));
    assert_eq!(to(""), None);
    assert_eq!(Target::Masquerade.nat_to(), None);
}

#[test]
fn looks_up_chains_and_rules() {
    let rs = ruleset(TWO_NETWORKS);
    assert_eq!(rs.chain("nat", "DOCKER").unwrap().rules.len(), 1);
    assert!(rs.chain("nat", "DOCKER-USER").is_none());
    assert!(rs.chain("mangle", "PREROUTING").is_none());
    let r = rs.find_rule("-A DOCKER-ISOLATION-STAGE-2   -o br-6bd8ac3e1bc2 -j DROP").unwrap();
    assert_eq!(
        (r.table.name.as_str(), r.chain.name.as_str(), r.index),
        ("filter", "DOCKER-ISOLATION-STAGE-2", 0)
    );
    assert!(rs.find_rule("-A FORWARD -j NOPE").is_none());
    assert_eq!(rs.rules().count(), 24 + 10);
    assert_eq!(rs.chains().count(), 7 + 5);
    let nft = nft_ruleset(NFT_USER);
    let by_handle = nft.find_handle(&crate::netfilter::Family::Inet, "fw", 12).unwrap();
    assert_eq!(by_handle.chain.name, "audit");
}

#[test]
fn reachability_follows_jumps_from_hooks() {
    let rs = ruleset(NAT_FLUSHED);
    let nat = table(&rs, "nat");
    // After `iptables -t nat -F` the DOCKER chain is still there but nothing jumps to it.
    assert!(!nat.reachable(&[]).contains("DOCKER"));
    let rs = ruleset(TWO_NETWORKS);
    let nat = table(&rs, "nat");
    assert!(nat.reachable(&["prerouting"]).contains("DOCKER"));
    assert!(!nat.reachable(&["postrouting"]).contains("DOCKER"));
    let filter = table(&rs, "filter");
    assert!(filter.reachable(&["forward"]).contains("DOCKER-ISOLATION-STAGE-2"));
    assert_eq!(filter.callers("DOCKER").count(), 3);
    // nft tables may reach chains through verdict maps: all count as reachable.
    let nft = nft_ruleset(NFT_USER);
    assert!(table(&nft, "fw").reachable(&["input"]).contains("audit"));
}
