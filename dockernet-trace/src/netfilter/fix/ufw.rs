//! ufw keeps its rules in its own files: let traffic through with a ufw rule, inserted first.
use crate::netfilter::eval::{Hook, L4, NamedRule, Packet};

pub fn fix(hook: Hook, p: &Packet, rule: &NamedRule) -> (Vec<String>, Vec<String>) {
    let proto = match p.proto {
        L4::Tcp | L4::Udp => format!(" proto {}", p.proto.name()),
        _ => String::new(),
    };
    let port = p.dport.filter(|_| p.proto.has_ports()).map(|d| format!(" port {d}")).unwrap_or_default();
    let on = |dir: &str, dev: Option<&str>| dev.map(|d| format!(" {dir} on {d}")).unwrap_or_default();
    let allow = match hook {
        Hook::Forward => format!(
            "ufw route insert 1 allow{}{} to {}{port}{proto}",
            on("in", p.iif.name()),
            on("out", p.oif.name()),
            p.dst
        ),
        _ => format!("ufw insert 1 allow{} to any{port}{proto}", on("in", p.iif.name())),
    };
    let broader = if rule.is_policy() {
        let which = if hook == Hook::Forward { "routed" } else { "incoming" };
        vec![format!("or: ufw default allow {which}   # opens the host to everything")]
    } else {
        vec!["or: ufw status numbered, then ufw delete N   # removes the ufw rule that denies it".into()]
    };
    (vec![allow], broader)
}
