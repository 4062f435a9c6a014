//! IPv4 and IPv6 routing tables of one namespace (all tables, as `ip route show table all` and
//! `ip -6 route show table all` list them) and the longest-prefix match over them.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::{
    AddressFamily,
    route::{RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteScope},
};
use rtnetlink::Handle;
use serde::Serialize;

use ipnet::IpNet;

use super::{ModelError, netlink, prefix};
use crate::flow::IpFamily;

/// The main routing table (`ip route` without `table`).
pub const MAIN_TABLE: u32 = 254;
/// The local table: the host's own and broadcast addresses.
pub const LOCAL_TABLE: u32 = 255;

/// RTN_* route type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Other(u8),
}

impl RouteKind {
    pub fn from_raw(raw: u8) -> Self {
        match raw {
            1 => Self::Unicast,
            2 => Self::Local,
            3 => Self::Broadcast,
            4 => Self::Anycast,
            5 => Self::Multicast,
            6 => Self::Blackhole,
            7 => Self::Unreachable,
            8 => Self::Prohibit,
            9 => Self::Throw,
            n => Self::Other(n),
        }
    }

    /// Blackhole, unreachable and prohibit routes discard what they match.
    pub fn discards(self) -> bool {
        matches!(self, Self::Blackhole | Self::Unreachable | Self::Prohibit)
    }
}

/// One route.
#[derive(Clone, Debug, Serialize)]
pub struct Route {
    pub table: u32,
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Preferred source address (`src` in `ip route`).
    pub prefsrc: Option<IpAddr>,
    pub metric: u32,
    /// In `ip route` words: global, site, link, host, nowhere.
    pub scope: String,
    /// Who installed it, in `ip route` words: kernel, boot, static, dhcp...
    pub protocol: String,
    pub kind: RouteKind,
    /// RTNH_F_LINKDOWN: the output device has no carrier, the kernel skips this route.
    pub linkdown: bool,
}

/// An address attribute of either family.
fn address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl Route {
    /// Decodes one RTM_NEWROUTE message; None for families other than IPv4 and IPv6.
    pub fn from_message(msg: &RouteMessage) -> Option<Self> {
        let h = &msg.header;
        let mut dst = match h.address_family {
            AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => return None,
        };
        let mut route = Route {
            table: u32::from(h.table),
            dst: prefix::everything(IpFamily::of(&dst)),
            gateway: None,
            oif: None,
            prefsrc: None,
            metric: 0,
            scope: scope_name(h.scope),
            protocol: h.protocol.to_string().to_lowercase(),
            kind: RouteKind::from_raw(u8::from(h.kind)),
            linkdown: h.flags.contains(RouteFlags::Linkdown),
        };
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(a) => dst = address(a).unwrap_or(dst),
                RouteAttribute::Gateway(a) => route.gateway = address(a),
                RouteAttribute::PrefSource(a) => route.prefsrc = address(a),
                RouteAttribute::Oif(i) => route.oif = Some(*i),
                RouteAttribute::Priority(p) => route.metric = *p,
                // RTA_TABLE carries table ids above 255, which the header's u8 cannot.
                RouteAttribute::Table(t) => route.table = *t,
                RouteAttribute::MultiPath(hops) => {
                    // Keep the first next hop: enough to tell where the traffic goes.
                    if let Some(hop) = hops.first() {
                        route.oif = route.oif.or(Some(hop.interface_index));
                        route.gateway = route.gateway.or_else(|| {
                            hop.attributes.iter().find_map(|a| match a {
                                RouteAttribute::Gateway(g) => address(g),
                                _ => None,
                            })
                        });
                    }
                }
                _ => {}
            }
        }
        route.dst = prefix::prefix(dst, h.destination_prefix_length)?;
        Some(route)
    }
}

fn scope_name(s: RouteScope) -> String {
    match s {
        RouteScope::Universe => "global".into(),
        RouteScope::NoWhere => "nowhere".into(),
        s => s.to_string(),
    }
}

/// All IPv4 and IPv6 routes of all tables of the namespace the handle's socket lives in.
pub async fn dump_routes(handle: &Handle) -> Result<Vec<Route>, ModelError> {
    let mut routes = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut query = RouteMessage::default();
        query.header.address_family = family;
        query.header.table = RouteHeader::RT_TABLE_UNSPEC;
        let msgs = netlink::collect("list routes", handle.route().get(query).execute()).await?;
        routes.extend(msgs.iter().filter_map(Route::from_message));
    }
    Ok(routes)
}

/// The routes of `table` whose destination contains `ip`, most specific first (then lowest
/// metric): the first one is the route the kernel uses, unless it is linkdown.
pub fn routes_covering(routes: &[Route], table: u32, ip: IpAddr) -> Vec<&Route> {
    let mut hits: Vec<&Route> = routes.iter().filter(|r| r.table == table && r.dst.contains(&ip)).collect();
    hits.sort_by_key(|r| (std::cmp::Reverse(r.dst.prefix_len()), r.linkdown, r.metric));
    hits
}

/// The main table's default route of `family` with the lowest metric.
pub fn default_route(routes: &[Route], family: IpFamily) -> Option<&Route> {
    routes
        .iter()
        .filter(|r| r.table == MAIN_TABLE && r.dst.prefix_len() == 0 && r.kind == RouteKind::Unicast)
        .filter(|r| prefix::family(&r.dst) == family)
        .min_by_key(|r| r.metric)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn route(table: u32, dst: &str, oif: u32, metric: u32) -> Route {
        Route {
            table,
            dst: dst.parse().unwrap(),
            gateway: None,
            oif: Some(oif),
            prefsrc: None,
            metric,
            scope: "link".into(),
            protocol: "kernel".into(),
            kind: RouteKind::Unicast,
            linkdown: false,
        }
    }

    #[test]
    fn longest_prefix_wins_then_metric() {
        let routes = vec![
            route(MAIN_TABLE, "0.0.0.0/0", 1, 100),
            route(MAIN_TABLE, "172.16.0.0/12", 2, 0),
            route(MAIN_TABLE, "172.18.0.0/16", 3, 10),
            route(MAIN_TABLE, "172.18.0.0/16", 4, 5),
            route(LOCAL_TABLE, "172.18.0.1/32", 3, 0),
            route(MAIN_TABLE, "10.0.0.0/8", 5, 0),
        ];
        let hits = routes_covering(&routes, MAIN_TABLE, "172.18.0.2".parse().unwrap());
        let oifs: Vec<u32> = hits.iter().filter_map(|r| r.oif).collect();
        assert_eq!(oifs, vec![4, 3, 2, 1]);
        let hits = routes_covering(&routes, MAIN_TABLE, "192.168.1.1".parse().unwrap());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].dst.prefix_len(), 0);
        assert!(routes_covering(&routes[1..], MAIN_TABLE, "8.8.8.8".parse().unwrap()).is_empty());
        assert!(routes_covering(&routes, MAIN_TABLE, "fd00::1".parse().unwrap()).is_empty(), "no v6 route");
    }

    #[test]
    fn linkdown_route_sorts_after_live_one_of_same_prefix() {
        let mut down = route(MAIN_TABLE, "172.18.0.0/16", 3, 0);
        down.linkdown = true;
        let routes = vec![down, route(MAIN_TABLE, "172.18.0.0/16", 4, 50)];
        let hits = routes_covering(&routes, MAIN_TABLE, "172.18.0.9".parse().unwrap());
        assert_eq!(hits[0].oif, Some(4));
    }

    #[test]
    fn finds_default_route() {
        let mut a = route(MAIN_TABLE, "0.0.0.0/0", 1, 200);
        a.gateway = Some("10.0.0.1".parse().unwrap());
        let b = route(MAIN_TABLE, "0.0.0.0/0", 2, 100);
        let c = route(100, "0.0.0.0/0", 3, 0);
        let d6 = route(MAIN_TABLE, "::/0", 9, 0);
        let routes = vec![a, b, c, d6];
        assert_eq!(default_route(&routes, IpFamily::V4).unwrap().oif, Some(2));
        assert_eq!(default_route(&routes, IpFamily::V6).unwrap().oif, Some(9));
        assert!(default_route(&routes[2..3], IpFamily::V4).is_none());
    }

    #[test]
    fn decodes_route_kinds_and_messages() {
        assert_eq!(RouteKind::from_raw(1), RouteKind::Unicast);
        assert_eq!(RouteKind::from_raw(7), RouteKind::Unreachable);
        assert!(RouteKind::from_raw(6).discards());
        assert!(!RouteKind::Local.discards());

        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 254;
        m.header.destination_prefix_length = 16;
        m.header.scope = RouteScope::Link;
        m.header.kind = netlink_packet_route::route::RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Table(254),
            RouteAttribute::Destination(RouteAddress::Inet("172.18.0.0".parse().unwrap())),
            RouteAttribute::PrefSource(RouteAddress::Inet("172.18.0.1".parse().unwrap())),
            RouteAttribute::Oif(3),
        ];
        let r = Route::from_message(&m).unwrap();
        assert_eq!(r.dst.to_string(), "172.18.0.0/16");
        assert_eq!((r.table, r.oif, r.scope.as_str()), (254, Some(3), "link"));
        assert_eq!(r.prefsrc, Some("172.18.0.1".parse().unwrap()));
        assert_eq!(r.kind, RouteKind::Unicast);

        m.header.address_family = AddressFamily::Inet6;
        m.header.destination_prefix_length = 0;
        m.attributes = vec![
            RouteAttribute::Table(254),
            RouteAttribute::Gateway(RouteAddress::Inet6("fd00:99::1".parse().unwrap())),
            RouteAttribute::Oif(2),
        ];
        let r = Route::from_message(&m).unwrap();
        assert_eq!((r.dst.to_string(), r.gateway), ("::/0".into(), Some("fd00:99::1".parse().unwrap())));
    }
}
