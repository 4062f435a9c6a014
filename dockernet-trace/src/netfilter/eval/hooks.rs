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
        // netdev chains see every protocol at the device hooks.
        (Layer::Ip, Family::Netdev) => true,
        _ => false,
    }
}

/// Device hooks run before (ingress) or after (egress) every chain of the IP hook they are
/// folded into: their priorities are shifted by this much.
const DEVICE_HOOK: i64 = 1 << 40;

/// The chain's priority at `hook` if it is a base chain there that sees `packet`.
fn priority(t: &Table, c: &Chain, hook: Hook, packet: &Packet) -> Option<i64> {
    let own = c.priority.unwrap_or(0);
    // Device chains run only for their devices (when the device is not known: for all, so
    // nothing is missed).
    let bound = |dev: Option<&str>| dev.is_none_or(|d| c.devices.iter().any(|x| x == d));
    match (c.hook.as_deref()?, hook) {
        ("ingress", Hook::Prerouting) if bound(packet.iif.name()) => return Some(own - DEVICE_HOOK),
        ("egress", Hook::Postrouting) if bound(packet.oif.name()) => return Some(own + DEVICE_HOOK),
        (h, _) if h != hook.name() => return None,
        _ => {}
    }
    match t.source {
        Source::Iptables { .. } => iptables_priority(&t.name, hook),
        Source::Nft => Some(own),
    }
}

/// Whether conntrack has not yet seen the packet when this chain runs (priority below
/// conntrack's -200 at prerouting and output): `ct state` is then "invalid".
pub fn before_conntrack(hook: Hook, priority: i64) -> bool {
    matches!(hook, Hook::Prerouting | Hook::Output) && priority < -200
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
