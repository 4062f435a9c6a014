//! The cause codes of CONTRACT.md, shared by trace verdicts, doctor findings and watch lines,
//! and the `Finding` a static check produces.
use serde::{Deserialize, Serialize};

use crate::flow::IpFamily;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Ok,
    BridgeGatewayMissing,
    BridgeDown,
    BridgePortBlocked,
    VethDetached,
    LinkDown,
    SubnetConflict,
    NetworkIsolation,
    FirewallDrop,
    DnatMissing,
    MasqueradeMissing,
    IpForwardDisabled,
    NoListener,
    NeighborUnreachable,
    /// The target's name did not resolve as the source resolves it, and no fault on the way to
    /// the nameserver explains why.
    DnsFailure,
    NoRoute,
    Unknown,
}

impl Cause {
    /// The code as CONTRACT.md spells it.
    pub fn code(self) -> &'static str {
        match self {
            Cause::Ok => "ok",
            Cause::BridgeGatewayMissing => "bridge_gateway_missing",
            Cause::BridgeDown => "bridge_down",
            Cause::BridgePortBlocked => "bridge_port_blocked",
            Cause::VethDetached => "veth_detached",
            Cause::LinkDown => "link_down",
            Cause::SubnetConflict => "subnet_conflict",
            Cause::NetworkIsolation => "network_isolation",
            Cause::FirewallDrop => "firewall_drop",
            Cause::DnatMissing => "dnat_missing",
            Cause::MasqueradeMissing => "masquerade_missing",
            Cause::IpForwardDisabled => "ip_forward_disabled",
            Cause::NoListener => "no_listener",
            Cause::NeighborUnreachable => "neighbor_unreachable",
            Cause::DnsFailure => "dns_failure",
            Cause::NoRoute => "no_route",
            Cause::Unknown => "unknown",
        }
    }

    /// Findings that break a path outright rank before those that merely explain it.
    pub fn severity(self) -> u8 {
        match self {
            Cause::BridgeDown | Cause::BridgeGatewayMissing | Cause::VethDetached | Cause::LinkDown => 0,
            Cause::BridgePortBlocked | Cause::SubnetConflict | Cause::IpForwardDisabled => 1,
            Cause::FirewallDrop | Cause::NetworkIsolation | Cause::DnatMissing | Cause::MasqueradeMissing => {
                2
            }
            _ => 3,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A fault found in the host's configuration (by `doctor`, and on a traced path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub cause: Cause,
    /// The Docker network concerned (None for host-wide findings).
    pub network: Option<String>,
    /// The interface concerned.
    pub iface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub summary: String,
    pub fix: Vec<String>,
    /// Facts read from the host that support the finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The address family the fault breaks (an IPv6 gateway, IPv6 forwarding, an ip6tables
    /// rule); None for both. A trace weighs only the faults of its own family. Not part of
    /// CONTRACT's JSON.
    #[serde(skip)]
    pub family: Option<IpFamily>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_serde_names() {
        for c in [
            Cause::Ok,
            Cause::BridgeGatewayMissing,
            Cause::IpForwardDisabled,
            Cause::DnsFailure,
            Cause::NoRoute,
            Cause::Unknown,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.code()));
        }
    }
}
