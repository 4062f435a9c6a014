//! Fixes for rules and policies of native nft tables no tool manages.
use super::Traffic;
use crate::netfilter::eval::{L4, NamedRule};

/// `nft delete rule FAMILY TABLE CHAIN handle N`; for a policy, an accept for exactly this
/// traffic added at the end of the chain (it runs after every rule, right before the policy).
pub fn fix(t: &Traffic, rule: &NamedRule) -> (Vec<String>, Vec<String>) {
    let chain = format!("{} {} {}", rule.family, rule.table, rule.chain);
    match (rule.handle, rule.is_policy()) {
        (Some(h), false) => (vec![format!("nft delete rule {chain} handle {h}")], vec![]),
        (None, false) => {
            (vec![format!("nft -a list chain {chain}   # then: nft delete rule {chain} handle N")], vec![])
        }
        (_, true) => (
            vec![format!("nft add rule {chain} {}accept", matching(t))],
            vec![format!("or: nft chain {chain} '{{ policy accept; }}'   # opens the chain to everything")],
        ),
    }
}

/// The traffic in nft's words: `iifname "docker0" tcp dport 3306 `.
pub fn matching(t: &Traffic) -> String {
    let mut m = String::new();
    if let Some(i) = &t.iif {
        m += &format!("iifname \"{i}\" ");
    }
    if let Some(o) = &t.oif {
        m += &format!("oifname \"{o}\" ");
    }
    if let Some(d) = t.daddr {
        m += &format!("{} daddr {d} ", if d.is_ipv4() { "ip" } else { "ip6" });
    }
    match (t.proto, t.dport) {
        (Some(p @ (L4::Tcp | L4::Udp)), Some(port)) => m += &format!("{} dport {port} ", p.name()),
        (Some(p), _) => m += &format!("meta l4proto {} ", p.name()),
        (None, _) => {}
    }
    if t.established {
        m += "ct state established,related ";
    }
    m
}
