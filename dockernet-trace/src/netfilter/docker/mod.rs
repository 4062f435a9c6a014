//! Docker's own iptables rules, recognised by what they match and do (the chain name is used
//! only where Docker's layout is the whole meaning, like DOCKER-USER).
//!
//! Two layouts are covered:
//! - Docker 20.10–27: filter FORWARD jumps to DOCKER-USER and DOCKER-ISOLATION-STAGE-1, then
//!   per bridge `-o BR ctstate RELATED,ESTABLISHED ACCEPT`, `-o BR -j DOCKER`,
//!   `-i BR ! -o BR ACCEPT`, `-i BR -o BR ACCEPT`; isolation is STAGE-1
//!   `-i BR ! -o BR -j STAGE-2` then STAGE-2 `-o BR -j DROP`.
//! - Docker 28+: FORWARD jumps to DOCKER-USER and DOCKER-FORWARD, which jumps to DOCKER-CT
//!   (conntrack accepts), DOCKER-INTERNAL, DOCKER-BRIDGE (`-o BR -j DOCKER`), and accepts
//!   `-i BR`; DOCKER ends with `! -i BR -o BR -j DROP` per bridge (28.0 still had the
//!   isolation chains, under DOCKER-FORWARD); raw PREROUTING drops `-d IP ! -i BR` so that
//!   container addresses cannot be reached by direct routing.
//!
//! Both have nat PREROUTING/OUTPUT `addrtype LOCAL -j DOCKER`, POSTROUTING
//! `-s SUBNET ! -o BR -j MASQUERADE`, and DNATs in nat DOCKER. Docker 29's nftables backend
//! (`table ip docker-bridges`) is recognised by [`nft`] from its chains and rule comments.
mod cause;
mod checks;
mod classify;
pub mod nft;

use std::{collections::BTreeSet, net::IpAddr};

use ipnet::IpNet;
use serde::Serialize;

pub use cause::{DropCause, drop_cause};
pub use checks::{
    Missing, dropping_policies, forward_policy, has_dnat, has_masquerade, manages_ip6tables,
    missing_docker_chains,
};
pub use classify::classify;

use super::model::{RuleRef, Ruleset, Table};

/// How a bridge's traffic is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeAcceptKind {
    /// `-o BR -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`: replies into the bridge.
    Established,
    /// `-i BR ! -o BR -j ACCEPT` (or 28+'s `-i BR -j ACCEPT`): containers reaching out.
    Outbound,
    /// `-i BR -o BR -j ACCEPT`: containers of one network talking to each other.
    IntraBridge,
    /// 28+ `DOCKER ! -i BR -o BR -j ACCEPT`: anything entering BR from elsewhere, every port
    /// (gateway mode `nat-unprotected`).
    Inbound,
}

/// What a rule is for, in Docker's scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// A jump into one of Docker's chains (`FORWARD -j DOCKER-USER`, `-o BR -j DOCKER`,
    /// `PREROUTING -m addrtype --dst-type LOCAL -j DOCKER`).
    DockerJump {
        to: String,
        bridge: Option<String>,
    },
    /// The RETURN ending a Docker chain, or nat DOCKER's `-i BR -j RETURN`.
    DockerReturn {
        bridge: Option<String>,
    },
    /// A rule someone added to DOCKER-USER (anything but its default RETURN).
    DockerUser,
    /// `-i BR ! -o BR -j DOCKER-ISOLATION-STAGE-2`: traffic leaving BR for another
    /// interface goes through the isolation check.
    IsolationCheck {
        bridge: String,
    },
    /// `-A DOCKER-ISOLATION-STAGE-2 -o BR -j DROP`: traffic from another Docker network into
    /// BR is dropped.
    Isolation {
        bridge: String,
    },
    /// Docker 28+ `-A DOCKER ! -i BR -o BR -j DROP`: whatever enters BR from another
    /// interface without a published-port ACCEPT, other Docker networks included.
    InboundDrop {
        bridge: String,
    },
    /// An `--internal` network: `! -s SUBNET -o BR -j DROP` or `! -d SUBNET -i BR -j DROP`.
    Internal {
        bridge: String,
        subnet: IpNet,
    },
    /// `enable_icc=false`: `-i BR -o BR -j DROP`.
    IccDrop {
        bridge: String,
    },
    BridgeAccept {
        bridge: String,
        kind: BridgeAcceptKind,
    },
    /// filter DOCKER `-d IP/32 ! -i BR -o BR -p tcp -m tcp --dport PORT -j ACCEPT`.
    PublishedAccept {
        proto: String,
        ip: IpAddr,
        port: u16,
        bridge: String,
    },
    /// nat DOCKER `[-d HOSTIP] ! -i BR -p tcp -m tcp --dport HOSTPORT -j DNAT
    /// --to-destination IP:PORT` (no `! -i BR` with `--userland-proxy=false` on 20.10).
    Dnat {
        proto: String,
        host_ip: Option<IpAddr>,
        host_port: u16,
        to_ip: IpAddr,
        to_port: u16,
        bridge: Option<String>,
    },
    /// nat POSTROUTING `-s SUBNET ! -o BR -j MASQUERADE`.
    Masquerade {
        subnet: IpNet,
        bridge: String,
    },
    /// `--userland-proxy=false`: `-o BR -m addrtype --src-type LOCAL -j MASQUERADE`.
    LocalMasquerade {
        bridge: String,
    },
    /// A container reaching its own published port: `-s IP/32 -d IP/32 -p tcp --dport P
    /// -j MASQUERADE`.
    HairpinMasquerade {
        ip: IpAddr,
        proto: String,
        port: u16,
    },
    /// Docker 28+ raw PREROUTING `-d IP/32 ! -i BR -j DROP`; Docker 29's "DROP DIRECT ACCESS".
    RawDirectAccessDrop {
        ip: IpAddr,
        bridge: String,
    },
    /// Docker 29: an `--internal` network's "INTERNAL NETWORK INGRESS/EGRESS" drop.
    InternalNetwork {
        bridge: String,
    },
    /// Any other rule of Docker 29's `docker-bridges` tables (its comment, or "rule").
    DockerOther {
        what: String,
    },
    NotDocker,
}

impl Role {
    pub fn is_docker(&self) -> bool {
        *self != Role::NotDocker
    }

    /// The bridge the rule is about, when it names one.
    pub fn bridge(&self) -> Option<&str> {
        match self {
            Role::IsolationCheck { bridge }
            | Role::Isolation { bridge }
            | Role::InboundDrop { bridge }
            | Role::Internal { bridge, .. }
            | Role::IccDrop { bridge }
            | Role::BridgeAccept { bridge, .. }
            | Role::PublishedAccept { bridge, .. }
            | Role::Masquerade { bridge, .. }
            | Role::LocalMasquerade { bridge }
            | Role::RawDirectAccessDrop { bridge, .. }
            | Role::InternalNetwork { bridge } => Some(bridge),
            Role::DockerJump { bridge, .. } | Role::DockerReturn { bridge } | Role::Dnat { bridge, .. } => {
                bridge.as_deref()
            }
            Role::DockerUser
            | Role::HairpinMasquerade { .. }
            | Role::DockerOther { .. }
            | Role::NotDocker => None,
        }
    }
}

/// Every Docker rule of the rule set with its role.
pub fn docker_rules(rs: &Ruleset) -> Vec<(RuleRef<'_>, Role)> {
    rs.rules().map(|r| (r, classify(r.table, r.chain, r.rule))).filter(|(_, role)| role.is_docker()).collect()
}

/// The bridges Docker's rules in `table` name.
pub fn docker_bridges(table: &Table) -> BTreeSet<String> {
    let from_chains = table
        .chains
        .iter()
        .filter(|_| nft::is_docker_table(table))
        .filter_map(|c| nft::chain_bridge(&c.name));
    table
        .chains
        .iter()
        .flat_map(|c| c.rules.iter().map(move |r| classify(table, c, r)))
        .filter_map(|role| role.bridge().map(str::to_string))
        .chain(from_chains.map(str::to_string))
        .collect()
}

/// Docker's bridge names: `docker0` and `br-` plus the network ID's first 12 hex digits.
/// Custom names (`com.docker.network.bridge.name`) are only known from the rules.
pub fn looks_like_docker_bridge(iface: &str) -> bool {
    iface == "docker0"
        || iface
            .strip_prefix("br-")
            .is_some_and(|id| id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()))
}
