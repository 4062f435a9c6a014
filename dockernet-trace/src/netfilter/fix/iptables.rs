//! Fixes for iptables rules and policies no tool manages.
use crate::netfilter::eval::{Hook, L4, NamedRule, Packet};

/// `iptables [-t T] -D ...` for a rule; for a policy, an ACCEPT for exactly this traffic
/// appended to the chain (it runs only after every rule, right before the policy).
pub fn fix(hook: Hook, p: &Packet, rule: &NamedRule, program: String) -> (Vec<String>, Vec<String>) {
    let table = if rule.table == "filter" { String::new() } else { format!("-t {} ", rule.table) };
    if !rule.is_policy() {
        let delete = rule.text.replacen("-A ", "-D ", 1);
        return (vec![format!("{program} {table}{delete}")], vec![]);
    }
    let accept = format!("{program} {table}-A {} {}-j ACCEPT", rule.chain, matching(hook, p));
    let open = format!("or: {program} {table}-P {} ACCEPT   # opens the chain to everything", rule.chain);
    (vec![accept], vec![open])
}

/// This packet's traffic in iptables' words: `-i docker0 -p tcp -m tcp --dport 3306 `.
pub fn matching(hook: Hook, p: &Packet) -> String {
    let mut m = String::new();
    if let Some(i) = p.iif.name().filter(|_| hook.has_iif()) {
        m += &format!("-i {i} ");
    }
    if let Some(o) = p.oif.name().filter(|_| hook.has_oif()) {
        m += &format!("-o {o} ");
    }
    if hook == Hook::Forward {
        let len = if p.dst.is_ipv4() { 32 } else { 128 };
        m += &format!("-d {}/{len} ", p.dst);
    }
    match (p.proto, p.dport) {
        (L4::Tcp | L4::Udp, Some(port)) => m += &format!("-p {0} -m {0} --dport {port} ", p.proto.name()),
        (proto, _) => m += &format!("-p {} ", proto.name()),
    }
    m
}
