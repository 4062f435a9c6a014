//! A dropping rule or policy → the CONTRACT cause code: Docker's network isolation, or any
//! other firewall drop.
use serde::Serialize;

use crate::netfilter::model::{Chain, Rule, Table};

use super::{Role, classify, docker_bridges, looks_like_docker_bridge};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropCause {
    /// `network_isolation`: Docker keeps networks (or an internal network, or containers of a
    /// network with ICC off) apart.
    NetworkIsolation,
    /// `firewall_drop`: DOCKER-USER, a chain policy, INPUT, a user table, or any rule Docker
    /// did not write to isolate networks.
    FirewallDrop,
}

impl DropCause {
    /// The cause code of the CONTRACT.
    pub fn code(&self) -> &'static str {
        match self {
            DropCause::NetworkIsolation => "network_isolation",
            DropCause::FirewallDrop => "firewall_drop",
        }
    }
}

/// Why `rule` of `chain` in `table` (or, with `rule` None, the chain's policy) dropped a packet
/// that arrived on `ingress` (None when unknown).
///
/// Docker 28+'s `DOCKER ! -i BR -o BR -j DROP` and raw `-d IP ! -i BR -j DROP` serve two
/// purposes: they keep other Docker networks out (isolation) and they keep outside hosts
/// from reaching unpublished ports (a firewall). The ingress interface decides: another Docker
/// bridge means isolation. Unknown ingress: the DOCKER rule, which replaced the isolation
/// chains, counts as isolation; the raw rule, written against remote hosts, as a firewall drop.
pub fn drop_cause(table: &Table, chain: &Chain, rule: Option<&Rule>, ingress: Option<&str>) -> DropCause {
    let Some(rule) = rule else { return DropCause::FirewallDrop };
    let from_docker_bridge = |bridge: &str| {
        ingress.map(|i| i != bridge && (looks_like_docker_bridge(i) || docker_bridges(table).contains(i)))
    };
    match classify(table, chain, rule) {
        Role::Isolation { .. }
        | Role::Internal { .. }
        | Role::InternalNetwork { .. }
        | Role::IccDrop { .. } => DropCause::NetworkIsolation,
        Role::InboundDrop { bridge } => match from_docker_bridge(&bridge) {
            Some(false) => DropCause::FirewallDrop,
            Some(true) | None => DropCause::NetworkIsolation,
        },
        Role::RawDirectAccessDrop { bridge, .. } => match from_docker_bridge(&bridge) {
            Some(true) => DropCause::NetworkIsolation,
            Some(false) | None => DropCause::FirewallDrop,
        },
        _ => DropCause::FirewallDrop,
    }
}
