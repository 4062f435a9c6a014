use super::*;
use crate::netfilter::{Counter, Family, NetfilterError, RejectWith, Source, Target, Verdict};

#[test]
fn renders_rules_as_nft_prints_them() {
    // Every rule line of `nft list ruleset` for the same rule set, in order.
    let printed: Vec<&str> = NFT_USER_TEXT
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.ends_with('{')
                && l != &"}"
                && !l.starts_with("type ")
                && !l.starts_with("elements")
        })
        .collect();
    let rs = nft_ruleset(NFT_USER);
    let rendered: Vec<&str> = rs.rules().map(|r| r.rule.text.as_str()).collect();
    assert_eq!(rendered, printed);
}

#[test]
fn reads_tables_chains_and_counters() {
    let tables = parse_nft_json(NFT_USER).unwrap();
    assert_eq!(tables.len(), 2);
    let fw = &tables[0];
    assert_eq!((fw.family.clone(), fw.name.as_str(), fw.source), (Family::Inet, "fw", Source::Nft));
    let fwd = fw.chain("forward").unwrap();
    assert_eq!(fwd.hook.as_deref(), Some("forward"));
    assert_eq!(fwd.priority, Some(-10));
    assert_eq!(fwd.policy, Some(Verdict::Accept));
    assert_eq!(fwd.policy_counter, None);
    assert_eq!(fw.chain("input").unwrap().policy, Some(Verdict::Drop));
    let audit = fw.chain("audit").unwrap();
    assert!(!audit.is_base());
    assert_eq!(audit.rules[0].counter, Some(Counter { packets: 2, bytes: 168 }));
    assert_eq!(audit.rules[0].handle, Some(12));
    // A rule without a counter statement counts nothing.
    assert_eq!(fw.chain("input").unwrap().rules[0].counter, None);
}

#[test]
fn extracts_matches_and_targets() {
    let rs = nft_ruleset(NFT_USER);
    let fwd = rs.chain("fw", "forward").unwrap();

    let est = &fwd.rules[0];
    assert_eq!(est.matches.ct_state.as_ref().unwrap().states, ["ESTABLISHED", "RELATED"]);
    assert_eq!(est.target, Target::Accept);

    let blocked = &fwd.rules[1];
    assert_eq!(blocked.matches.src, None);
    assert_eq!(blocked.matches.other, ["ip saddr @blocked"]);
    assert_eq!(blocked.target, Target::Drop);

    let reject = &fwd.rules[2];
    let m = &reject.matches;
    assert_eq!(m.in_iface.as_ref().unwrap().exact(), Some("docker0"));
    assert_eq!(m.out_iface.as_ref().unwrap().exact_negated(), Some("docker0"));
    assert_eq!(m.dst.as_ref().unwrap().net.to_string(), "172.18.0.0/16");
    assert_eq!(m.proto_name(), Some("tcp"));
    assert_eq!(m.dports.as_ref().unwrap().ranges, [(3306, 3306), (5432, 5432)]);
    assert!(m.other.is_empty());
    assert_eq!(reject.target, Target::Reject(RejectWith::Icmp("admin-prohibited".into())));
    assert!(reject.target.drops());

    let wildcard = fwd.rules[3].matches.in_iface.as_ref().unwrap();
    assert!(wildcard.is_wildcard() && wildcard.matches("br-6bd8ac3e1bc2") && !wildcard.matches("docker0"));

    let logged = &fwd.rules[4];
    assert!(logged.matches.src.as_ref().unwrap().negated);
    assert_eq!(logged.matches.ct_state.as_ref().unwrap().states, ["NEW"]);
    assert_eq!(logged.matches.other, ["log prefix \"web \""]);
    assert_eq!(logged.target, Target::Jump("audit".into()));

    let icmp = &fwd.rules[5];
    assert_eq!(icmp.matches.proto_name(), Some("icmp"));
    assert_eq!(icmp.target, Target::Goto("audit".into()));

    let pre = rs.chain("usernat", "prerouting").unwrap();
    assert_eq!(pre.rules[0].matches.dst_type.as_ref().unwrap().kind, "LOCAL");
    assert_eq!(pre.rules[0].target, Target::Dnat { to: "172.18.0.2:3306".into() });
    assert_eq!(pre.rules[1].target.nat_to(), Some(("172.19.0.2".parse().unwrap(), None)));
    let post = rs.chain("usernat", "postrouting").unwrap();
    assert_eq!(post.rules[0].target, Target::Masquerade);
    assert_eq!(post.rules[1].target, Target::Snat { to: "192.0.2.10".into() });
}

#[test]
fn iptables_nft_tables_show_their_xt_expressions() {
    // The nft view of Docker's iptables-nft rules: xt matches/targets hide their options.
    let rs = nft_ruleset(TWO_NETWORKS_NFT);
    let dnat = &rs.chain("nat", "DOCKER").unwrap().rules[0];
    assert_eq!(dnat.text, "tcp dport 8080 counter packets 4 bytes 240 xt target \"DNAT\"");
    assert_eq!(dnat.target, Target::Continue);
    assert_eq!(dnat.matches.other, ["xt target \"DNAT\""]);
    let drop = rs.find_rule("oifname \"br-6bd8ac3e1bc2\" counter packets 4 bytes 240 drop").unwrap();
    assert_eq!(drop.chain.name, "DOCKER-ISOLATION-STAGE-2");
    assert_eq!(drop.rule.handle, Some(33));
}

#[test]
fn understands_less_common_expressions() {
    let json = r#"{"nftables": [
      {"table": {"family": "ip6", "name": "t", "handle": 1}},
      {"chain": {"family": "ip6", "table": "t", "name": "c", "handle": 1, "type": "filter",
                 "hook": "forward", "prio": "filter", "policy": "drop"}},
      {"rule": {"family": "ip6", "table": "t", "chain": "c", "handle": 2, "comment": "keep out",
        "expr": [
          {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["a", "b"]}}},
          {"match": {"op": "!=", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": {"prefix": {"addr": "fd00::", "len": 8}}}},
          {"match": {"op": "==", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": {"range": [1000, 2000]}}},
          {"match": {"op": "==", "left": {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, "syn"]}, "right": "syn"}},
          {"limit": {"rate": 5, "per": "minute", "burst": 3}},
          {"counter": null},
          {"reject": {"type": "tcp reset"}}]}},
      {"rule": {"family": "ip6", "table": "t", "chain": "c", "handle": 3, "expr": [
          {"log": {"prefix": "x", "level": "warn"}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}}]}},
      {"rule": {"family": "ip6", "table": "t", "chain": "c", "handle": 4, "expr": [
          {"vmap": {"key": {"meta": {"key": "oifname"}}, "data": {"set": [["docker0", {"jump": {"target": "x"}}]]}}}]}},
      {"rule": {"family": "ip6", "table": "t", "chain": "orphan", "handle": 5, "expr": [{"dnat": {"family": "ip6", "addr": "fd00::2", "port": 80}}]}},
      {"weird": 1}, 7
    ]}"#;
    let rs = nft_ruleset(json);
    let c = rs.chain("t", "c").unwrap();
    assert_eq!(c.priority, Some(0));
    let r = &c.rules[0];
    assert_eq!(
        r.text,
        "iifname { \"a\", \"b\" } ip6 daddr != fd00::/8 th dport 1000-2000 tcp flags & syn == syn \
         limit rate 5/minute burst 3 packets counter reject with tcp reset comment \"keep out\""
    );
    assert_eq!(r.matches.in_iface, None);
    assert!(r.matches.dst.as_ref().unwrap().negated);
    assert_eq!(r.matches.dports.as_ref().unwrap().ranges, [(1000, 2000)]);
    assert_eq!(r.matches.proto, None); // `th` says nothing about the protocol
    assert_eq!(r.matches.other.len(), 3);
    assert_eq!(r.target, Target::Reject(RejectWith::TcpReset));
    // As nft prints it: marks in hex.
    assert_eq!(c.rules[1].text, "log prefix \"x\" level warn meta mark set 0x00000001");
    assert_eq!(c.rules[1].target, Target::Log);
    assert_eq!(c.rules[1].matches.other, ["meta mark set 0x00000001"]);
    assert_eq!(c.rules[2].text, "oifname vmap { \"docker0\" : jump x }");
    assert!(matches!(c.rules[2].target, Target::Vmap(_)), "verdict maps are read");
    let orphan = rs.table("t").unwrap();
    assert_eq!(orphan.notes.len(), 1);
    let dnat = &orphan.chain("orphan").unwrap().rules[0];
    assert_eq!(dnat.text, "dnat ip6 to [fd00::2]:80");
    assert_eq!(dnat.target.nat_to(), Some(("fd00::2".parse().unwrap(), Some(80))));
}

#[test]
fn bad_json_is_an_error() {
    assert!(matches!(parse_nft_json("not json"), Err(NetfilterError::NftJson(_))));
    assert!(matches!(parse_nft_json("{\"x\": 1}"), Err(NetfilterError::NftJson(_))));
    assert!(parse_nft_json("{\"nftables\": [{\"metainfo\": {}}]}").unwrap().is_empty());
}

/// The rule lines of `nft list ruleset` output: inside chains, without the base chain line.
fn printed_rules(text: &str) -> Vec<&str> {
    let mut in_chain = false;
    let mut out = vec![];
    for l in text.lines().map(str::trim) {
        if l.starts_with("chain ") {
            in_chain = true;
        } else if l == "}" {
            in_chain = false;
        } else if in_chain && !l.is_empty() && !l.starts_with("type ") {
            out.push(l);
        }
    }
    out
}

#[test]
fn renders_recorded_listings_as_nft_prints_them() {
    let pairs = [
        (
            include_str!("../fixtures/docker29-bridge1.nft.json"),
            include_str!("../fixtures/docker29-bridge1.nft.txt"),
        ),
        (
            include_str!("../fixtures/firewalld-docker.nft.json"),
            include_str!("../fixtures/firewalld-docker.nft.txt"),
        ),
        (include_str!("../fixtures/nft-admin.nft.json"), include_str!("../fixtures/nft-admin.nft.txt")),
        (include_str!("../fixtures/nft-exprs.nft.json"), include_str!("../fixtures/nft-exprs.nft.txt")),
    ];
    for (json, text) in pairs {
        let rs = nft_ruleset(json);
        let rendered: Vec<&str> = rs.rules().map(|r| r.rule.text.as_str()).collect();
        assert_eq!(rendered, printed_rules(text));
    }
}
