//! Asking the kernel which way it would send a packet: the netlink form of `ip route get`.
//! The kernel runs its real lookup (policy rules, all tables, rp_filter for input lookups), so
//! the answer is exactly what a packet would get, including the error it would die with.
use std::{net::IpAddr, path::Path};

use futures::StreamExt;
use netlink_packet_route::{
    AddressFamily,
    route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage},
};
use rtnetlink::Handle;
use serde::Serialize;

use super::{ModelError, Route, RouteKind, netlink, netns};
use crate::flow::IpFamily;

/// What the kernel answered.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RouteLookup {
    Found(FoundRoute),
    /// The lookup failed the way the packet would, e.g. errno 101 ENETUNREACH.
    Failed {
        errno: i32,
        reason: String,
    },
}

/// The route the kernel picked.
#[derive(Clone, Debug, Serialize)]
pub struct FoundRoute {
    pub kind: RouteKind,
    pub table: u32,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub prefsrc: Option<IpAddr>,
}

impl RouteLookup {
    /// The kernel has no route (ENETUNREACH) or the route says unreachable (EHOSTUNREACH).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Failed { errno, .. }
            if *errno == libc::ENETUNREACH || *errno == libc::EHOSTUNREACH)
    }

    pub fn found(&self) -> Option<&FoundRoute> {
        match self {
            Self::Found(f) => Some(f),
            Self::Failed { .. } => None,
        }
    }
}

/// The RTM_GETROUTE request for `ip route get DST [from SRC] [iif IIF]` (`src` of the same
/// family as `dst`; one of the other family is left out).
pub fn lookup_message(dst: IpAddr, src: Option<IpAddr>, iif: Option<u32>) -> RouteMessage {
    let family = IpFamily::of(&dst);
    let mut msg = RouteMessage::default();
    msg.header.address_family = match family {
        IpFamily::V4 => AddressFamily::Inet,
        IpFamily::V6 => AddressFamily::Inet6,
    };
    msg.header.destination_prefix_length = family.host_prefix_len();
    // Report the table the answer came from instead of always "main".
    msg.header.flags = RouteFlags::LookupTable;
    msg.attributes.push(RouteAttribute::Destination(RouteAddress::from(dst)));
    if let Some(src) = src.filter(|s| IpFamily::of(s) == family) {
        msg.header.source_prefix_length = family.host_prefix_len();
        msg.attributes.push(RouteAttribute::Source(RouteAddress::from(src)));
    }
    if let Some(iif) = iif {
        msg.attributes.push(RouteAttribute::Iif(iif));
    }
    msg
}

/// `ip route get dst [from src] [iif iif]` in the namespace of `handle`. With `iif` the kernel
/// simulates a packet arriving on that interface (input route: forwarding, rp_filter);
/// without, one sent by a local socket.
pub async fn route_get(
    handle: &Handle,
    dst: IpAddr,
    src: Option<IpAddr>,
    iif: Option<u32>,
) -> Result<RouteLookup, ModelError> {
    let request = handle.route().get(lookup_message(dst, src, iif));
    let mut answers = std::pin::pin!(request.execute());
    match answers.next().await {
        Some(Ok(msg)) => Ok(RouteLookup::Found(found_route(&msg))),
        Some(Err(rtnetlink::Error::NetlinkError(e))) => {
            Ok(RouteLookup::Failed { errno: e.raw_code().abs(), reason: e.to_io().to_string() })
        }
        Some(Err(e)) => Err(ModelError::netlink("look up a route", e)),
        None => Err(ModelError::netlink("look up a route", "the kernel sent no answer")),
    }
}

/// [`route_get`] inside the namespace at `ns` (None: the tool's own namespace).
pub async fn route_get_in(
    ns: Option<&Path>,
    dst: IpAddr,
    src: Option<IpAddr>,
    iif: Option<u32>,
) -> Result<RouteLookup, ModelError> {
    netns::block_on_in_netns(ns, move || async move {
        let handle = netlink::connect()?;
        route_get(&handle, dst, src, iif).await
    })
    .await
}

fn found_route(msg: &RouteMessage) -> FoundRoute {
    // The answer is a /32 route message: reuse the table decoder for its fields.
    let r = Route::from_message(msg);
    FoundRoute {
        kind: r.as_ref().map_or(RouteKind::Other(0), |r| r.kind),
        table: r.as_ref().map_or(0, |r| r.table),
        oif: r.as_ref().and_then(|r| r.oif),
        gateway: r.as_ref().and_then(|r| r.gateway),
        prefsrc: r.as_ref().and_then(|r| r.prefsrc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_ip_route_get_request() {
        let m = lookup_message("172.18.0.2".parse().unwrap(), Some("172.17.0.2".parse().unwrap()), Some(9));
        assert_eq!(m.header.destination_prefix_length, 32);
        assert_eq!(m.header.source_prefix_length, 32);
        assert!(m.attributes.contains(&RouteAttribute::Iif(9)));
        let bare = lookup_message("8.8.8.8".parse().unwrap(), None, None);
        assert_eq!(bare.attributes.len(), 1);
        assert_eq!(bare.header.source_prefix_length, 0);
        let v6 = lookup_message("fd00::2".parse().unwrap(), Some("172.17.0.2".parse().unwrap()), None);
        assert_eq!(
            (v6.header.address_family, v6.header.destination_prefix_length),
            (AddressFamily::Inet6, 128)
        );
        assert_eq!(v6.attributes.len(), 1, "a source of the other family is left out");
    }

    #[test]
    fn unreachable_errors() {
        let f = |errno| RouteLookup::Failed { errno, reason: String::new() };
        assert!(f(libc::ENETUNREACH).is_unreachable());
        assert!(f(libc::EHOSTUNREACH).is_unreachable());
        assert!(!f(libc::EINVAL).is_unreachable());
    }

    #[tokio::test]
    async fn looks_up_loopback_in_own_namespace() {
        // Any Linux namespace routes 127.0.0.1 through the local table once lo is up.
        let answer = route_get_in(None, std::net::Ipv4Addr::LOCALHOST.into(), None, None).await.unwrap();
        if let RouteLookup::Found(f) = answer {
            assert_eq!(f.kind, RouteKind::Local);
        }
    }
}
