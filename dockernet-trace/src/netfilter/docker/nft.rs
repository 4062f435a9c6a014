//! Docker 29's nftables backend (`"firewall-backend": "nftables"`), recognised from its
//! documented layout (moby's integration/network/bridge/nftablesdoc): tables
//! `ip docker-bridges` and `ip6 docker-bridges`; base chains `filter-FORWARD`,
//! `nat-PREROUTING`, `nat-OUTPUT`, `nat-POSTROUTING`, `raw-PREROUTING`; per bridge
//! `filter-forward-in__BR` (into the network), `filter-forward-out__BR` (out of it),
//! `nat-postrouting-in__BR` / `-out__BR`, reached through verdict maps keyed by interface;
//! and fixed rule comments ("UNPUBLISHED PORT DROP", "ICC", "OUTGOING", "DNAT",
//! "MASQUERADE", ...). The chain's bridge and the comment carry the meaning.
use super::{BridgeAcceptKind, Role};
use crate::netfilter::{
    matches::{Matches, NetExt},
    model::{Chain, Rule, Table},
    target::Target,
};

/// Docker 29's table (either family).
pub fn is_docker_table(t: &Table) -> bool {
    t.name == "docker-bridges" && t.source == crate::netfilter::Source::Nft
}

/// The bridge a per-bridge chain is for: `filter-forward-in__bridge1` → bridge1.
pub fn chain_bridge(chain: &str) -> Option<&str> {
    chain.split_once("__").map(|(_, br)| br).filter(|br| !br.is_empty())
}

pub fn classify(chain: &Chain, rule: &Rule) -> Role {
    let comment = rule.comment.as_deref().unwrap_or_default();
    let m = &rule.matches;
    let accepts = rule.target == Target::Accept;
    let drops = rule.target == Target::Drop;
    if let Some(jump) = jump(rule) {
        return jump;
    }
    let Some(bridge) = chain_bridge(&chain.name).map(str::to_string) else {
        return shared_chain(chain, rule, comment);
    };
    let established =
        m.ct_state.as_ref().is_some_and(|c| !c.negated && c.states.iter().any(|s| s == "ESTABLISHED"));
    let kind = |kind| Role::BridgeAccept { bridge: bridge.clone(), kind };
    match (chain.name.split("__").next().unwrap_or_default(), comment) {
        (_, "") if established && accepts => kind(BridgeAcceptKind::Established),
        ("filter-forward-in", "ICC") if accepts => kind(BridgeAcceptKind::IntraBridge),
        ("filter-forward-in", "ICC") if drops => Role::IccDrop { bridge },
        ("filter-forward-in", "UNPUBLISHED PORT DROP") if drops => Role::InboundDrop { bridge },
        ("filter-forward-in", "INTERNAL NETWORK INGRESS")
        | ("filter-forward-out", "INTERNAL NETWORK EGRESS")
            if drops =>
        {
            Role::InternalNetwork { bridge }
        }
        ("filter-forward-in", "") if accepts => published(m, bridge),
        ("filter-forward-out", "OUTGOING") if accepts => kind(BridgeAcceptKind::Outbound),
        ("nat-postrouting-out", "MASQUERADE" | "SNAT") => match m.src.as_ref().and_then(|s| s.positive()) {
            Some(subnet) => Role::Masquerade { subnet: *subnet, bridge },
            None => other(comment),
        },
        ("nat-postrouting-in", "MASQ TO OWN PORT") => hairpin(m, comment),
        _ => other(comment),
    }
}

/// Rules of the base chains and of `nat-prerouting-and-output`.
fn shared_chain(chain: &Chain, rule: &Rule, comment: &str) -> Role {
    let m = &rule.matches;
    match (chain.name.as_str(), comment) {
        ("raw-PREROUTING", "DROP DIRECT ACCESS") => {
            let ip = m.dst.as_ref().and_then(|d| d.positive()).filter(|d| d.is_host()).map(|d| d.addr());
            let bridge = m.in_iface.as_ref().and_then(|i| i.exact_negated());
            match (ip, bridge) {
                (Some(ip), Some(br)) => Role::RawDirectAccessDrop { ip, bridge: br.to_string() },
                _ => other(comment),
            }
        }
        ("nat-prerouting-and-output", "DNAT") => dnat(rule).unwrap_or_else(|| other(comment)),
        _ => other(comment),
    }
}

/// Verdict maps and jumps between Docker's own chains.
fn jump(rule: &Rule) -> Option<Role> {
    match &rule.target {
        Target::Vmap(vm) => {
            let to = match &vm.map {
                crate::netfilter::MapRef::Named(n) => n.clone(),
                crate::netfilter::MapRef::Anon(_) => "verdict map".into(),
            };
            Some(Role::DockerJump { to, bridge: None })
        }
        Target::Jump(to) | Target::Goto(to) => Some(Role::DockerJump { to: to.clone(), bridge: None }),
        _ => None,
    }
}

/// `ip daddr 192.0.2.2 tcp dport 80 accept`: a published port.
fn published(m: &Matches, bridge: String) -> Role {
    let ip = m.dst.as_ref().and_then(|d| d.positive()).filter(|d| d.is_host()).map(|d| d.addr());
    match (ip, m.proto_name(), m.dports.as_ref().and_then(|p| p.single())) {
        (Some(ip), Some(proto), Some(port)) => {
            Role::PublishedAccept { proto: proto.into(), ip, port, bridge }
        }
        _ => other(""),
    }
}

/// `iifname != "bridge1" [ip daddr H] tcp dport 8080 dnat to 192.0.2.2:80 comment "DNAT"`.
fn dnat(rule: &Rule) -> Option<Role> {
    let m = &rule.matches;
    let (to_ip, to_port) = rule.target.nat_to()?;
    let host_port = m.dports.as_ref()?.single()?;
    let host_ip = m.dst.as_ref().and_then(|d| d.positive()).filter(|d| d.is_host()).map(|d| d.addr());
    Some(Role::Dnat {
        proto: m.proto_name()?.to_string(),
        host_ip,
        host_port,
        to_ip,
        to_port: to_port.unwrap_or(host_port),
        bridge: m.in_iface.as_ref().and_then(|i| i.exact_negated()).map(str::to_string),
    })
}

fn hairpin(m: &Matches, comment: &str) -> Role {
    let host = |a: Option<&crate::netfilter::AddrMatch>| {
        a.and_then(|a| a.positive()).filter(|n| n.is_host()).map(|n| n.addr())
    };
    match (host(m.src.as_ref()), m.proto_name(), m.dports.as_ref().and_then(|p| p.single())) {
        (Some(ip), Some(proto), Some(port)) => Role::HairpinMasquerade { ip, proto: proto.into(), port },
        _ => other(comment),
    }
}

fn other(comment: &str) -> Role {
    Role::DockerOther { what: if comment.is_empty() { "rule".into() } else { comment.to_string() } }
}
