//! Route lookups that failed: what `fib:fib_table_lookup` reported (a negative errno, where
//! -EAGAIN only means "not in this table, try the next rule"), the errno by name, and which
//! fault of the host explains a failed route to a Docker address (its network's bridge gone
//! or down, or without its gateway address; forwarding off).
use std::{fmt, net::IpAddr};

use nix::errno::Errno;

use super::Names;
use crate::{cause::Cause, model::HostNet};

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

/// A packet the kernel refused to route in `ip_error` with no failed lookup before it: with
/// forwarding off, `ip_error` refuses everything the host would forward.
pub fn refused_unrouted(dst: IpAddr, names: &Names, host: Option<&HostNet>) -> Cause {
    if host.is_some_and(|h| !h.sysctls.ip_forward) {
        return Cause::IpForwardDisabled;
    }
    route_cause(dst, names, host)
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
}
