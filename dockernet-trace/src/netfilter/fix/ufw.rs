//! ufw keeps its rules in its own files: let traffic through with a ufw rule, inserted first.
use super::Traffic;
use crate::netfilter::eval::{Hook, L4, NamedRule};

pub fn fix(hook: Hook, t: &Traffic, rule: &NamedRule) -> (Vec<String>, Vec<String>) {
    let proto = match t.proto {
        Some(p @ (L4::Tcp | L4::Udp)) => format!(" proto {}", p.name()),
        _ => String::new(),
    };
    let port = t.dport.map(|d| format!(" port {d}")).unwrap_or_default();
    let on =
        |dir: &str, dev: &Option<String>| dev.as_ref().map(|d| format!(" {dir} on {d}")).unwrap_or_default();
    let to = t.daddr.map_or_else(|| "any".to_string(), |d| d.to_string());
    let allow = match hook {
        Hook::Forward => {
            format!("ufw route insert 1 allow{}{} to {to}{port}{proto}", on("in", &t.iif), on("out", &t.oif))
        }
        _ => format!("ufw insert 1 allow{} to any{port}{proto}", on("in", &t.iif)),
    };
    let broader = if rule.is_policy() {
        let which = if hook == Hook::Forward { "routed" } else { "incoming" };
        vec![format!("or: ufw default allow {which}   # opens the host to everything")]
    } else {
        vec!["or: ufw status numbered, then ufw delete N   # removes the ufw rule that denies it".into()]
    };
    (vec![allow], broader)
}
