//! What a drop reason says about the cause, before anything else is known: netfilter dropped
//! it (which rule, and so isolation or firewall, is for [`super::rule_attribution`]), nothing
//! listens, the bridge port is blocked, ARP failed, no route (which host fault, for
//! [`super::route_failure`]). Trace and watch both start from this.
use crate::{cause::Cause, kernel::DropReason};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropKind {
    /// A netfilter rule or policy.
    Netfilter,
    /// No socket on the port.
    NoListener,
    /// The bridge port is not forwarding (STP).
    BridgePortBlocked,
    /// Neighbour resolution failed or overflowed.
    Neighbour,
    /// No route.
    NoRoute,
    /// A reason without a known cause.
    Other,
}

/// Kernel functions that free the packets queued for a neighbour whose resolution failed (ARP
/// or neighbour discovery got no answer). IPv4 gives them the reason NEIGH_FAILED; IPv6's
/// `ndisc_error_report` frees them without one, so the place tells.
pub const NEIGHBOUR_FAILURE_SITES: &[&str] = &["neigh_invalidate", "ndisc_error_report", "arp_error_report"];

impl DropKind {
    /// The kind of a drop with `reason` in kernel function `function` (when known).
    pub fn at(reason: &DropReason, function: Option<&str>) -> Self {
        if function.is_some_and(|f| NEIGHBOUR_FAILURE_SITES.contains(&f)) {
            return Self::Neighbour;
        }
        Self::of(reason)
    }

    pub fn of(reason: &DropReason) -> Self {
        if *reason == DropReason::NETFILTER_DROP {
            Self::Netfilter
        } else if *reason == DropReason::NO_SOCKET {
            Self::NoListener
        } else if *reason == DropReason::BRIDGE_INGRESS_STP_STATE {
            Self::BridgePortBlocked
        } else if reason.is_neighbour() {
            Self::Neighbour
        } else if reason.is_no_route() {
            Self::NoRoute
        } else {
            Self::Other
        }
    }

    /// The cause the reason alone points to (a netfilter drop is a firewall's until its rule
    /// says it is Docker's isolation; a missing route is refined by the host's state).
    pub fn cause(self) -> Cause {
        match self {
            Self::Netfilter => Cause::FirewallDrop,
            Self::NoListener => Cause::NoListener,
            Self::BridgePortBlocked => Cause::BridgePortBlocked,
            Self::Neighbour => Cause::NeighborUnreachable,
            Self::NoRoute => Cause::NoRoute,
            Self::Other => Cause::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_point_to_causes() {
        let c = |r: &str| DropKind::of(&DropReason::named(r)).cause();
        assert_eq!(c("NETFILTER_DROP"), Cause::FirewallDrop);
        assert_eq!(c("NO_SOCKET"), Cause::NoListener);
        assert_eq!(c("NEIGH_FAILED"), Cause::NeighborUnreachable);
        assert_eq!(c("BRIDGE_INGRESS_STP_STATE"), Cause::BridgePortBlocked);
        assert_eq!(c("IP_INNOROUTES"), Cause::NoRoute);
        assert_eq!(c("TCP_OFO_DROP"), Cause::Unknown);
        assert_eq!(DropKind::of(&DropReason::NETFILTER_DROP), DropKind::Netfilter);
        assert_eq!(DropKind::at(&DropReason::NOT_SPECIFIED, Some("neigh_invalidate")), DropKind::Neighbour);
        assert_eq!(DropKind::at(&DropReason::NOT_SPECIFIED, Some("ip6_rcv_finish")), DropKind::Other);
    }
}
