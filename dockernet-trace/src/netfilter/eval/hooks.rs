//! The base chains the kernel runs at a hook, in the order it runs them: by priority, across
//! iptables tables (either backend) and native nft tables of the packet's family.
use super::packet::{Hook, Layer, Packet};
use crate::netfilter::{
    conds::IpVersion,
    model::{Chain, Family, Ruleset, Source, Table},
};

/// One base chain at a hook.
#[derive(Clone, Copy, Debug)]
pub struct Base {
    pub table: usize,
    pub chain: usize,
    pub priority: i64,
}

/// The priority of an iptables table's built-in chain (NF_IP_PRI_*).
fn iptables_priority(table: &str, hook: Hook) -> Option<i64> {
    Some(match table {
        "raw" => -300,
        "mangle" => -150,
        "nat" if matches!(hook, Hook::Prerouting | Hook::Output) => -100,
        "nat" => 100,
        "filter" => 0,
        "security" => 50,
        _ => return None,
    })
}

/// Whether a table's rules see packets of this layer and IP version.
fn family_fits(family: &Family, layer: Layer, version: IpVersion) -> bool {
    match (layer, family) {
        (Layer::Bridge, f) => *f == Family::Bridge,
        (Layer::Ip, Family::Inet) => true,
        (Layer::Ip, Family::Ip) => version == IpVersion::V4,
        (Layer::Ip, Family::Ip6) => version == IpVersion::V6,
        // netdev chains run at ingress for every protocol.
        (Layer::Ip, Family::Netdev) => true,
        _ => false,
    }
}

/// The chain's priority at `hook` if it is a base chain there that sees `packet`.
fn priority(t: &Table, c: &Chain, hook: Hook, packet: &Packet) -> Option<i64> {
    if c.hook.as_deref() != Some(hook.name()) {
        return None;
    }
    // Ingress chains are bound to devices.
    if hook == Hook::Ingress && !packet.iif.name().is_some_and(|i| c.devices.iter().any(|d| d == i)) {
        return None;
    }
    match t.source {
        Source::Iptables { .. } => iptables_priority(&t.name, hook),
        Source::Nft => Some(c.priority.unwrap_or(0)),
    }
}

/// The base chains at `hook` for `packet`, in the order the kernel runs them (equal
/// priorities: the order of the listing, which is the order they were registered).
pub fn base_chains(rs: &Ruleset, hook: Hook, layer: Layer, packet: &Packet) -> Vec<Base> {
    let mut out = vec![];
    for (ti, t) in rs.tables.iter().enumerate() {
        if !family_fits(&t.family, layer, packet.version()) {
            continue;
        }
        for (ci, c) in t.chains.iter().enumerate() {
            if let Some(priority) = priority(t, c, hook, packet) {
                out.push(Base { table: ti, chain: ci, priority });
            }
        }
    }
    out.sort_by_key(|b| b.priority);
    out
}

/// Whether the chain only sees the first packet of a connection (NAT chains).
pub fn is_nat(t: &Table, c: &Chain) -> bool {
    match c.kind.as_deref() {
        Some(kind) => kind == "nat",
        None => t.source != Source::Nft && t.name == "nat",
    }
}
