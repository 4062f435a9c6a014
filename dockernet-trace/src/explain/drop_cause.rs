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

impl DropKind {
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
    }
}
