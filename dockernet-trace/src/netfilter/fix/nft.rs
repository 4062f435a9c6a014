//! Fixes for rules and policies of native nft tables no tool manages.
use crate::netfilter::eval::{Hook, L4, NamedRule, Packet};

/// `nft delete rule FAMILY TABLE CHAIN handle N`; for a policy, an accept for exactly this
/// traffic added at the end of the chain (it runs after every rule, right before the policy).
pub fn fix(hook: Hook, p: &Packet, rule: &NamedRule) -> (Vec<String>, Vec<String>) {
    let chain = format!("{} {} {}", rule.family, rule.table, rule.chain);
    match (rule.handle, rule.is_policy()) {
        (Some(h), false) => (vec![format!("nft delete rule {chain} handle {h}")], vec![]),
        (None, false) => {
            (vec![format!("nft -a list chain {chain}   # then: nft delete rule {chain} handle N")], vec![])
        }
        (_, true) => (
            vec![format!("nft add rule {chain} {}accept", matching(hook, p))],
            vec![format!("or: nft chain {chain} '{{ policy accept; }}'   # opens the chain to everything")],
        ),
    }
}

/// This packet's traffic in nft's words: `iifname "docker0" tcp dport 3306 `.
pub fn matching(hook: Hook, p: &Packet) -> String {
    let mut m = String::new();
    if let Some(i) = p.iif.name().filter(|_| hook.has_iif()) {
        m += &format!("iifname \"{i}\" ");
    }
    if let Some(o) = p.oif.name().filter(|_| hook.has_oif()) {
        m += &format!("oifname \"{o}\" ");
    }
    if hook == Hook::Forward {
        m += &format!("{} daddr {} ", if p.dst.is_ipv4() { "ip" } else { "ip6" }, p.dst);
    }
    match (p.proto, p.dport) {
        (L4::Tcp | L4::Udp, Some(port)) => m += &format!("{} dport {port} ", p.proto.name()),
        (proto, _) => m += &format!("meta l4proto {} ", proto.name()),
    }
    m
}
