//! firewalld rewrites its table on every reload, so its rules are changed with firewall-cmd:
//! a Docker bridge belongs in firewalld's `docker` zone (target ACCEPT, which Docker creates
//! and fills while firewalld runs; a `firewall-cmd --reload` or firewalld started after Docker
//! leaves bridges out); a host port is opened in the zone the packet arrived in.
use std::collections::BTreeSet;

use crate::netfilter::{
    docker::looks_like_docker_bridge,
    eval::{Hook, L4, Outcome, Step},
};

pub fn fix(hook: Hook, o: &Outcome, bridges: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let p = &o.packet;
    let is_bridge = |i: &str| bridges.contains(i) || looks_like_docker_bridge(i);
    let bridge = [p.iif.name(), p.oif.name()].into_iter().flatten().find(|i| is_bridge(i));
    let reload = "firewall-cmd --reload".to_string();
    let restart =
        "or: systemctl restart docker   # Docker puts its bridges back in the docker zone".to_string();
    if let Some(br) = bridge {
        let add = format!("firewall-cmd --permanent --zone=docker --add-interface={br}");
        return (vec![add, reload], vec![restart]);
    }
    let port = match (p.proto, p.dport) {
        (L4::Tcp | L4::Udp, Some(port)) => format!("--add-port={port}/{}", p.proto.name()),
        (proto, _) => format!("--add-protocol={}", proto.name()),
    };
    let zone = zone(&o.path, hook).map_or_else(
        || "--zone=\"$(firewall-cmd --get-default-zone)\"".to_string(),
        |z| format!("--zone={z}"),
    );
    (vec![format!("firewall-cmd --permanent {zone} {port}"), reload], vec![])
}

/// The zone whose chains the walk went through: `filter_IN_public_allow` → public.
fn zone(path: &[Step], hook: Hook) -> Option<String> {
    let prefix = if hook == Hook::Forward { "filter_FWD_" } else { "filter_IN_" };
    path.iter().rev().find_map(|s| {
        let rest = s.chain.strip_prefix(prefix)?;
        if rest.starts_with("policy_") {
            return None;
        }
        let zone = ["_pre", "_log", "_deny", "_allow", "_post"]
            .iter()
            .fold(rest, |z, suffix| z.strip_suffix(suffix).unwrap_or(z));
        Some(zone.to_string())
    })
}
