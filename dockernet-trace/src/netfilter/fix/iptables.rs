//! Fixes for iptables rules and policies no tool manages.
use super::Traffic;
use crate::netfilter::eval::{L4, NamedRule};

/// `iptables [-t T] -D ...` for a rule; for a policy, an ACCEPT for exactly this traffic
/// appended to the chain (it runs only after every rule, right before the policy).
pub fn fix(t: &Traffic, rule: &NamedRule, program: String) -> (Vec<String>, Vec<String>) {
    let table = if rule.table == "filter" { String::new() } else { format!("-t {} ", rule.table) };
    if !rule.is_policy() {
        let delete = rule.text.replacen("-A ", "-D ", 1);
        return (vec![format!("{program} {table}{delete}")], vec![]);
    }
    let accept = format!("{program} {table}-A {} {}-j ACCEPT", rule.chain, matching(t));
    let open = format!("or: {program} {table}-P {} ACCEPT   # opens the chain to everything", rule.chain);
    (vec![accept], vec![open])
}

/// The traffic in iptables' words: `-i docker0 -p tcp -m tcp --dport 3306 `.
pub fn matching(t: &Traffic) -> String {
    let mut m = String::new();
    if let Some(i) = &t.iif {
        m += &format!("-i {i} ");
    }
    if let Some(o) = &t.oif {
        m += &format!("-o {o} ");
    }
    if let Some(d) = t.daddr {
        m += &format!("-d {d}/{} ", if d.is_ipv4() { 32 } else { 128 });
    }
    match (t.proto, t.dport) {
        (Some(p @ (L4::Tcp | L4::Udp)), Some(port)) => {
            m += &format!("-p {0} -m {0} --dport {port} ", p.name())
        }
        (Some(p), _) => m += &format!("-p {} ", p.name()),
        (None, _) => {}
    }
    if t.established {
        m += "-m conntrack --ctstate RELATED,ESTABLISHED ";
    }
    m
}
