//! Route lookups that failed: what `fib:fib_table_lookup` reported (a negative errno, where
//! -EAGAIN only means "not in this table, try the next rule"), the errno by name, and which
//! fault of the host explains a failed route to a Docker address (its network's bridge gone
//! or down, or without its gateway address; forwarding off).
use std::{fmt, net::IpAddr};

use dockernet_trace_common::RefusedRoute;
use nix::errno::Errno;

use super::Names;
use crate::{
    cause::Cause,
    flow::IpFamily,
    kernel::DropReason,
    model::{HostNet, routes::LOCAL_TABLE},
};

/// The errno a failed lookup returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteError(i32);

impl RouteError {
    pub fn errno(self) -> Errno {
        Errno::from_raw(self.0)
    }
}

/// `ENETUNREACH`, or `errno N` for a number this libc does not name.
impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno() {
            Errno::UnknownErrno => write!(f, "errno {}", self.0),
            // Errno's Debug is the constant's name.
            e => write!(f, "{e:?}"),
        }
    }
}

/// The error route a dropped packet was refused for, as watch's kfree_skb program read it
/// from the packet when it was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorRoute {
    /// The route's errno (`dst_entry.error`).
    pub error: RouteError,
    /// IPv4: the device the packet came in by did not forward then, so `ip_error` refused it
    /// whatever its route (the kernel makes every such route EHOSTUNREACH).
    pub forwarding_off: bool,
}

impl ErrorRoute {
    /// From the program's report (None: no error route).
    pub fn reported(r: RefusedRoute) -> Option<Self> {
        (r.error != 0)
            .then_some(Self { error: RouteError(i32::from(r.error)), forwarding_off: r.forwarding_off != 0 })
    }
}

/// The errno, as the line's `drop_reason` spells it.
impl fmt::Display for ErrorRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

/// The result of one route lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FibOutcome {
    Found,
    /// Not in this table: the lookup goes on with the next rule.
    TryNextTable,
    Failed(RouteError),
}

impl FibOutcome {
    /// From the tracepoint's `err`: 0, or a negative errno.
    pub fn of(err: i32) -> Self {
        match err {
            0 => Self::Found,
            e if e == -(Errno::EAGAIN as i32) => Self::TryNextTable,
            e => Self::Failed(RouteError(e.saturating_neg())),
        }
    }

    /// One lookup of a route to `dst` in `table`. IPv6 looks in the local table first and,
    /// when the address is not local, goes on to main: `fib6:fib6_table_lookup` reports that
    /// first miss as EHOSTUNREACH, which only means "try the next table".
    pub fn of_lookup(dst: IpAddr, table: u32, err: i32) -> Self {
        if dst.is_ipv6() && table == LOCAL_TABLE && err != 0 {
            return Self::TryNextTable;
        }
        Self::of(err)
    }

    pub fn failure(self) -> Option<RouteError> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// The host fault behind a failed route to `dst`, from the host's links and addresses read
/// when it failed: the bridge of `dst`'s Docker network missing or down, or lacking the
/// subnet's gateway; otherwise no route, for a reason not known.
pub fn route_cause(dst: IpAddr, names: &Names, host: Option<&HostNet>) -> Cause {
    let (Some(host), Some(bridge)) = (host, names.bridge_for(dst)) else { return Cause::NoRoute };
    let Some(link) = host.link_by_name(bridge) else { return Cause::BridgeDown };
    if !link.admin_up {
        return Cause::BridgeDown;
    }
    match names.gateway_for(dst) {
        Some(gw) if !host.addresses_of(link.index).any(|a| a.ip == gw) => Cause::BridgeGatewayMissing,
        _ => Cause::NoRoute,
    }
}

/// A packet the kernel refused to route with no failed lookup before it: with forwarding of
/// its family off, `ip_error` (`ip6_forward`) refuses everything the host would forward.
pub fn refused_unrouted(dst: IpAddr, names: &Names, host: Option<&HostNet>) -> Cause {
    if host.is_some_and(|h| !h.sysctls.forwarding(IpFamily::of(&dst))) {
        return Cause::IpForwardDisabled;
    }
    route_cause(dst, names, host)
}

/// The kernel functions that drop a packet because its route is an error: `ip_error` (IPv4:
/// no route, an unreachable route, forwarding off), `ip6_pkt_discard[_out]` (IPv6: no route,
/// an unreachable route) and `ip6_forward` when it refuses to forward (IPv6 forwarding off:
/// IP_INADDRERRORS). Drops there are route failures, named by this static name.
pub fn route_refusal(function: &str, reason: &DropReason) -> Option<&'static str> {
    match function {
        "ip_error" => Some("ip_error"),
        "ip6_pkt_discard" => Some("ip6_pkt_discard"),
        "ip6_pkt_discard_out" => Some("ip6_pkt_discard_out"),
        "ip6_forward" if *reason == DropReason::IP_INADDRERRORS => Some("ip6_forward"),
        _ => None,
    }
}

/// The drop reasons those functions give (by kernel: `ip_error` gave none before 6.0 and
/// still gives none for an unreachable or prohibited route; IPv6 tells no route from a bad
/// address): the kfree_skb program reads the route's errno of drops with these reasons.
pub const ROUTE_REFUSAL_REASONS: [&str; 4] =
    ["NOT_SPECIFIED", "IP_INNOROUTES", "IP_INADDRERRORS", "IP_OUTNOROUTES"];

/// A route refusal that means "forwarding is off" when no lookup failed before it.
pub fn refuses_forwarding(function: &str) -> bool {
    matches!(function, "ip_error" | "ip6_forward")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_fail_with_a_named_errno_and_eagain_is_no_failure() {
        assert_eq!(FibOutcome::of(0), FibOutcome::Found);
        assert_eq!(FibOutcome::of(-11), FibOutcome::TryNextTable);
        let e = FibOutcome::of(-101).failure().unwrap();
        assert_eq!((e.to_string(), e.errno()), ("ENETUNREACH".to_string(), Errno::ENETUNREACH));
        assert_eq!(FibOutcome::of(-113).failure().unwrap().to_string(), "EHOSTUNREACH");
        assert_eq!(FibOutcome::of(-4095).failure().unwrap().to_string(), "errno 4095");
    }

    #[test]
    fn an_ipv6_miss_in_the_local_table_is_no_failure() {
        let v6: IpAddr = "fd00:b::2".parse().unwrap();
        assert_eq!(FibOutcome::of_lookup(v6, 255, -113), FibOutcome::TryNextTable);
        assert_eq!(FibOutcome::of_lookup(v6, 254, -113).failure().unwrap().errno(), Errno::EHOSTUNREACH);
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(FibOutcome::of_lookup(v4, 255, -101).failure().is_some());
        assert_eq!(route_refusal("ip6_forward", &DropReason::IP_INADDRERRORS), Some("ip6_forward"));
        assert_eq!(route_refusal("ip6_forward", &DropReason::named("IP_INHDR")), None);
        assert_eq!(route_refusal("ip6_pkt_discard", &DropReason::IP_INNOROUTES), Some("ip6_pkt_discard"));
    }
}
