//! What a folded incident means: its cause code (from the explanation core: the drop reason,
//! the rule for a netfilter drop, the host's state for a failed route) and the kernel function
//! to name.
use crate::{
    cause::Cause,
    explain::{
        DropKind, Names,
        route_failure::{refused_unrouted, refuses_forwarding, route_cause},
        rule_attribution::Hit,
    },
    kernel::{Kallsyms, ResetReason},
    model::HostNet,
};

use super::{
    fold::Folded,
    incident::{Function, Incident, Reason},
    line::Kind,
};

/// Does explaining this incident need the host's routing state?
pub fn needs_host_state(i: &Incident) -> bool {
    match (i.kind, &i.reason) {
        (Kind::Drop, Reason::Drop(r)) => DropKind::of(r) == DropKind::NoRoute,
        (Kind::RouteFailure, r) => !matches!(r, Reason::Neighbour(_)),
        _ => false,
    }
}

/// The CONTRACT's cause code for an incident (`hit`: the rule of a netfilter drop).
pub fn cause(i: &Incident, hit: Option<&Hit>, names: &Names, host: Option<&HostNet>) -> Cause {
    match (i.kind, &i.reason) {
        (Kind::Drop, Reason::Drop(r)) => match DropKind::of(r) {
            DropKind::Netfilter => hit.map_or(DropKind::Netfilter.cause(), |h| h.cause),
            DropKind::NoRoute => route_cause(i.tuple.dst, names, host),
            other => other.cause(),
        },
        (Kind::RouteFailure, Reason::Neighbour(_)) => Cause::NeighborUnreachable,
        // What the packet's device said when it was refused: not the sysctl as it is now.
        (Kind::RouteFailure, Reason::Route(r)) if r.forwarding_off => Cause::IpForwardDisabled,
        (Kind::RouteFailure, Reason::Route(_)) if i.tuple.dst.is_ipv4() => {
            route_cause(i.tuple.dst, names, host)
        }
        // Refused without an error route known (IPv6's ip6_forward; a kernel whose route
        // layout was not found): the host's forwarding as it is now decides.
        (Kind::RouteFailure, _) if matches!(i.function, Function::Named(f) if refuses_forwarding(f)) => {
            refused_unrouted(i.tuple.dst, names, host)
        }
        (Kind::RouteFailure, _) => route_cause(i.tuple.dst, names, host),
        (Kind::Reset, Reason::Reset(r))
            if *r == ResetReason::NO_SOCKET || *r == ResetReason::NOT_SPECIFIED =>
        {
            Cause::NoListener
        }
        _ => Cause::Unknown,
    }
}

/// The kernel function to name: the symbol kfree_skb's caller address falls in.
pub fn function(f: &Function, syms: &mut Kallsyms) -> Option<String> {
    match f {
        Function::Named(n) => Some(n.to_string()),
        Function::Address(0) => None,
        Function::Address(a) => Some(syms.resolve(*a).map(|s| s.name).unwrap_or_else(|| format!("{a:#x}"))),
    }
}

/// Resolves every drop location of a batch in one pass over kallsyms.
pub fn resolve_locations(batch: &[Folded], syms: &mut Kallsyms) {
    let addrs: Vec<u64> = batch
        .iter()
        .filter_map(|f| match f.first.function {
            Function::Address(a) => Some(a),
            Function::Named(_) => None,
        })
        .collect();
    syms.resolve_many(&addrs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        explain::route_failure::ErrorRoute,
        flow::{Proto, Tuple},
        kernel::DropReason,
        model::{
            Address,
            topology::tests::{network, topology},
        },
    };

    fn incident(kind: Kind, reason: Reason, dst: &str) -> Incident {
        Incident {
            kind,
            t_ns: 0,
            tuple: Tuple {
                proto: Proto::Tcp,
                src: "172.30.0.2".parse().unwrap(),
                sport: 1,
                dst: dst.parse().unwrap(),
                dport: 2,
            },
            reason,
            function: Function::Named("x"),
            iface: None,
            netns: 0,
            tcp_flags: None,
            icmp_type: None,
        }
    }

    fn dropped(r: &str) -> Reason {
        Reason::Drop(DropReason::named(r))
    }

    fn route(errno: u8, forwarding_off: bool) -> Reason {
        let r =
            dockernet_trace_common::RefusedRoute { error: errno, forwarding_off: u8::from(forwarding_off) };
        Reason::Route(ErrorRoute::reported(r).unwrap())
    }

    #[test]
    fn an_ipv4_refusal_is_judged_by_the_forwarding_of_its_moment_not_of_now() {
        let names = Names::new(&topology(vec![], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]));
        let mut refused = incident(Kind::RouteFailure, route(113, true), "10.9.9.9");
        refused.function = Function::Named("ip_error");
        let mut forwarding_now = host(true, true);
        forwarding_now.sysctls.ip_forward = true;
        assert_eq!(cause(&refused, None, &names, Some(&forwarding_now)), Cause::IpForwardDisabled);
        // Refused for its route while the host forwarded; forwarding turned off since.
        let mut not_forwarding_now = host(true, true);
        not_forwarding_now.sysctls.ip_forward = false;
        refused.reason = route(13, false);
        assert_eq!(cause(&refused, None, &names, Some(&not_forwarding_now)), Cause::NoRoute);
    }

    fn host(bridge_up: bool, gateway: bool) -> HostNet {
        let mut h = HostNet::default();
        let mut bridge = crate::model::links::tests::link(7, "br-fd26fbfb41d5", Some("bridge"));
        (bridge.admin_up, bridge.carrier) = (bridge_up, bridge_up);
        h.links.push(bridge);
        if gateway {
            h.addresses.push(Address { ifindex: 7, ip: "172.30.0.1".parse().unwrap(), prefix: 24 });
        }
        h
    }

    #[test]
    fn route_failures_are_told_apart_by_the_bridge() {
        let names = Names::new(&topology(vec![], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]));
        let unreachable = route(101, false);
        let fail = incident(Kind::RouteFailure, unreachable.clone(), "172.30.0.5");
        assert_eq!(cause(&fail, None, &names, Some(&host(true, false))), Cause::BridgeGatewayMissing);
        assert_eq!(cause(&fail, None, &names, Some(&host(false, true))), Cause::BridgeDown);
        assert_eq!(cause(&fail, None, &names, Some(&host(true, true))), Cause::NoRoute);
        assert_eq!(cause(&fail, None, &names, None), Cause::NoRoute);
        let outside = incident(Kind::RouteFailure, unreachable, "10.9.9.9");
        assert_eq!(cause(&outside, None, &names, Some(&host(true, true))), Cause::NoRoute);
        assert!(needs_host_state(&fail));
    }

    #[test]
    fn ipv6_route_failures_are_told_apart_too() {
        let net = crate::model::topology::tests::dual_stack(
            "labnet",
            "fd26fbfb41d5aa",
            "172.30.0.0/24",
            "fd00:30::/64",
        );
        let names = Names::new(&topology(vec![], vec![net]));
        let mut h = host(true, true);
        let unreachable = route(113, false);
        let mut fail = incident(Kind::RouteFailure, unreachable, "fd00:30::5");
        fail.tuple.src = "fd00:99::2".parse().unwrap();
        assert_eq!(
            cause(&fail, None, &names, Some(&h)),
            Cause::BridgeGatewayMissing,
            "the IPv6 gateway is gone"
        );
        h.addresses.push(Address { ifindex: 7, ip: "fd00:30::1".parse().unwrap(), prefix: 64 });
        assert_eq!(cause(&fail, None, &names, Some(&h)), Cause::NoRoute);
        // ip6_forward refused it, no lookup failed: forwarding of IPv6 is off.
        let mut refused = incident(Kind::RouteFailure, dropped("IP_INADDRERRORS"), "fd00:30::5");
        refused.function = Function::Named("ip6_forward");
        h.sysctls.ipv6 = Some(crate::model::Ipv6Sysctls { forwarding: false, ..Default::default() });
        assert_eq!(cause(&refused, None, &names, Some(&h)), Cause::IpForwardDisabled);
        h.sysctls.ipv6 = Some(crate::model::Ipv6Sysctls { forwarding: true, ..Default::default() });
        h.sysctls.ip_forward = false;
        assert_eq!(cause(&refused, None, &names, Some(&h)), Cause::NoRoute, "IPv4 forwarding is not IPv6's");
    }

    #[test]
    fn drop_reasons_map_to_causes() {
        let names = Names::default();
        let c = |kind, r| cause(&incident(kind, r, "172.30.0.5"), None, &names, None);
        assert_eq!(c(Kind::Drop, dropped("NETFILTER_DROP")), Cause::FirewallDrop);
        assert_eq!(c(Kind::Drop, dropped("NO_SOCKET")), Cause::NoListener);
        assert_eq!(c(Kind::Drop, dropped("NEIGH_FAILED")), Cause::NeighborUnreachable);
        assert_eq!(c(Kind::Drop, dropped("BRIDGE_INGRESS_STP_STATE")), Cause::BridgePortBlocked);
        assert_eq!(c(Kind::Drop, dropped("TCP_OFO_DROP")), Cause::Unknown);
        assert_eq!(c(Kind::Reset, Reason::Reset(ResetReason::NO_SOCKET)), Cause::NoListener);
        let failed = Reason::Neighbour(crate::explain::neighbour::NeighbourState::Failed);
        assert_eq!(c(Kind::RouteFailure, failed), Cause::NeighborUnreachable);
        let hit = Hit { rule: Some("-A X".into()), cause: Cause::NetworkIsolation, named: None };
        assert_eq!(
            cause(&incident(Kind::Drop, dropped("NETFILTER_DROP"), "1.2.3.4"), Some(&hit), &names, None),
            Cause::NetworkIsolation
        );
    }
}
