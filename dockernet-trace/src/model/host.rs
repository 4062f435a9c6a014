//! The network state of one namespace: links, IPv4 and IPv6 addresses, routes, sysctls. Used
//! for the Docker host (the namespace the tool runs in) and for any other namespace (`netns:`,
//! `pid:`).
use std::{net::IpAddr, path::Path};

use serde::Serialize;

use super::{
    Address, Link, ModelError, Route, Sysctls, dump_addresses, dump_links, dump_routes, netlink, netns,
    routes,
};
use crate::flow::IpFamily;

#[derive(Clone, Debug, Default, Serialize)]
pub struct HostNet {
    pub links: Vec<Link>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    pub sysctls: Sysctls,
}

impl HostNet {
    /// Reads the namespace at `ns` (None: the tool's own), on a thread of its own.
    pub async fn load(ns: Option<&Path>) -> Result<Self, ModelError> {
        netns::block_on_in_netns(ns, || async {
            let handle = netlink::connect()?;
            Ok(HostNet {
                links: dump_links(&handle).await?,
                addresses: dump_addresses(&handle).await?,
                routes: dump_routes(&handle).await?,
                sysctls: Sysctls::read()?,
            })
        })
        .await
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn link_by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    /// The ports of the bridge with index `bridge`.
    pub fn ports_of(&self, bridge: u32) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.master == Some(bridge))
    }

    pub fn addresses_of(&self, ifindex: u32) -> impl Iterator<Item = &Address> {
        self.addresses.iter().filter(move |a| a.ifindex == ifindex)
    }

    /// The interface that holds `ip`, if any.
    pub fn owner_of(&self, ip: IpAddr) -> Option<&Address> {
        self.addresses.iter().find(|a| a.ip == ip)
    }

    /// Main-table routes whose destination contains `ip`, most specific first.
    pub fn routes_covering(&self, ip: IpAddr) -> Vec<&Route> {
        routes::routes_covering(&self.routes, routes::MAIN_TABLE, ip)
    }

    /// The source address the kernel would most likely pick to reach `dst`: the best route's
    /// `src`, else the first address on its output interface (within its subnet if possible).
    /// For the exact answer ask the kernel with `route_get`.
    pub fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        let route = self.routes_covering(dst).into_iter().find(|r| !r.linkdown)?;
        route.prefsrc.or_else(|| self.address_on(route.oif?, route.gateway.unwrap_or(dst)))
    }

    /// The namespace's "primary" IPv4 address: the one used for the default route, else the
    /// first global address that is not on loopback.
    pub fn primary_ipv4(&self) -> Option<IpAddr> {
        self.primary(IpFamily::V4)
    }

    /// The namespace's "primary" address of `family`: the one its default route uses, else
    /// the first that is neither loopback nor link-local.
    pub fn primary(&self, family: IpFamily) -> Option<IpAddr> {
        self.default_route_ip(family).or_else(|| {
            self.addresses
                .iter()
                .find(|a| a.family() == family && !a.ip.is_loopback() && !a.is_link_local())
                .map(|a| a.ip)
        })
    }

    /// The source address of the main table's default route of `family` (its `src`, else the
    /// address of its output interface on the gateway's subnet). None without a default route.
    pub fn default_route_ip(&self, family: IpFamily) -> Option<IpAddr> {
        let r = routes::default_route(&self.routes, family)?;
        r.prefsrc.or_else(|| self.address_on(r.oif?, r.gateway.unwrap_or(family.unspecified())))
    }

    /// An address of `near`'s family on `ifindex`, preferring one whose subnet contains `near`
    /// (link-local ones only when there is no other).
    fn address_on(&self, ifindex: u32, near: IpAddr) -> Option<IpAddr> {
        let family = IpFamily::of(&near);
        let mut on_link: Vec<&Address> =
            self.addresses_of(ifindex).filter(|a| a.family() == family).collect();
        // A link-local source reaches only its link (an IPv6 next hop is often link-local,
        // the source for what lies behind it is not).
        if on_link.iter().any(|a| !a.is_link_local()) {
            on_link.retain(|a| !a.is_link_local());
        }
        let first = on_link.first()?;
        Some(on_link.iter().find(|a| a.network().contains(&near)).map_or(first.ip, |a| a.ip))
    }

    /// Does the namespace have any address of `family` other than loopback and link-local?
    pub fn has_family(&self, family: IpFamily) -> bool {
        self.addresses.iter().any(|a| a.family() == family && !a.ip.is_loopback() && !a.is_link_local())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::routes::{MAIN_TABLE, tests::route};

    fn addr(ifindex: u32, ip: &str, prefix: u8) -> Address {
        Address { ifindex, ip: ip.parse().unwrap(), prefix }
    }

    fn sample() -> HostNet {
        let mut default = route(MAIN_TABLE, "0.0.0.0/0", 2, 0);
        default.gateway = Some("10.0.0.1".parse().unwrap());
        let mut bridge = route(MAIN_TABLE, "172.18.0.0/16", 3, 0);
        bridge.prefsrc = Some("172.18.0.1".parse().unwrap());
        let mut default6 = route(MAIN_TABLE, "::/0", 2, 1024);
        default6.gateway = Some("fe80::1".parse().unwrap());
        HostNet {
            addresses: vec![
                addr(1, "127.0.0.1", 8),
                addr(1, "::1", 128),
                addr(2, "192.168.9.9", 24),
                addr(2, "10.0.0.5", 24),
                addr(2, "fe80::5", 64),
                addr(2, "fd00:99::5", 64),
                addr(3, "172.18.0.1", 16),
                addr(3, "fe80::1", 64),
                addr(3, "fd00:18::1", 64),
            ],
            routes: vec![default, bridge, default6, route(MAIN_TABLE, "fd00:18::/64", 3, 256)],
            ..Default::default()
        }
    }

    #[test]
    fn ipv6_primary_and_source_skip_link_local() {
        let h = sample();
        assert_eq!(h.primary(IpFamily::V6), Some("fd00:99::5".parse().unwrap()));
        assert_eq!(h.source_for("fd00:18::2".parse().unwrap()), Some("fd00:18::1".parse().unwrap()));
        assert_eq!(h.source_for("2001:db8::1".parse().unwrap()), Some("fd00:99::5".parse().unwrap()));
        assert!(h.has_family(IpFamily::V6));
        let mut v4only = sample();
        v4only.addresses.retain(|a| a.ip.is_ipv4() || a.ip.is_loopback() || a.is_link_local());
        assert!(!v4only.has_family(IpFamily::V6));
    }

    #[test]
    fn primary_ipv4_is_the_default_routes_address() {
        assert_eq!(sample().primary_ipv4(), Some("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn primary_ipv4_without_default_route() {
        let mut h = sample();
        h.routes.remove(0);
        assert_eq!(h.primary_ipv4(), Some("192.168.9.9".parse().unwrap()));
    }

    #[test]
    fn source_for_uses_prefsrc_then_interface_address() {
        let h = sample();
        assert_eq!(h.source_for("172.18.0.2".parse().unwrap()), Some("172.18.0.1".parse().unwrap()));
        assert_eq!(h.source_for("8.8.8.8".parse().unwrap()), Some("10.0.0.5".parse().unwrap()));
        let mut none = sample();
        none.routes.clear();
        assert_eq!(none.source_for("8.8.8.8".parse().unwrap()), None);
    }
}
