//! The DNS leg's expected path: which nameserver's path matters (the embedded DNS's first
//! upstream, the query that leaves the host; else the source's first nameserver), who sends to
//! it (the source, or the host for an upstream on the host's loopback), the path to it as a
//! probe's plan (tc programs, addresses, expected route), and what the kernel filter follows.
use std::net::{IpAddr, Ipv4Addr};

use dockernet_trace_common::{DNS_ADDRS, PROBE_ADDRS};

use crate::{
    dns::{EMBEDDED_DNS, ResolverView, UpstreamNetns},
    flow::Proto,
    model::{ResolvedEndpoint, Topology, address_endpoint, host_endpoint},
    probe::ProbePorts,
    trace::plan::Plan,
};

/// The nameserver whose path the verdict explains.
#[derive(Clone, Debug)]
pub struct Server {
    pub addr: Ipv4Addr,
    /// An upstream of Docker's embedded DNS: dockerd sends the query, not the source.
    pub forwarded: bool,
    /// dockerd sends it from the host's namespace (a nameserver on the host's loopback).
    pub from_host: bool,
}

/// The path to the server, as a probe's.
#[derive(Clone, Debug)]
pub struct LegPath {
    pub server: Server,
    /// Who sends the query: the source, or the host.
    pub sender: ResolvedEndpoint,
    /// The server as an endpoint (port 53).
    pub target: ResolvedEndpoint,
    pub plan: Plan,
}

#[derive(Clone, Debug)]
pub struct LegPlan {
    /// None without an IPv4 server to follow (none at all, IPv6 only, or an embedded DNS
    /// without upstreams).
    pub path: Option<LegPath>,
    /// The source's queries: UDP from their own port.
    pub ports: ProbePorts,
    /// For the kernel: the addresses of the path (source, nameservers, upstreams, gateways)...
    pub path_addrs: Vec<Ipv4Addr>,
    /// ... and the nameservers and upstreams whose port 53 is followed whatever the other port.
    pub dns_addrs: Vec<Ipv4Addr>,
}

fn v4(a: &IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(v) => Some(*v),
        IpAddr::V6(_) => None,
    }
}

fn push(v: &mut Vec<Ipv4Addr>, a: Ipv4Addr) {
    if !v.contains(&a) && !a.is_unspecified() {
        v.push(a);
    }
}

impl LegPlan {
    pub fn new(t: &Topology, from: &ResolvedEndpoint, view: &ResolverView, dns_port: u16) -> Self {
        let ports = ProbePorts { proto: Proto::Udp, base: dns_port, count: 1 };
        let nameservers: Vec<Ipv4Addr> = view.config.nameservers.iter().filter_map(v4).collect();
        let embedded = view.config.nameservers.contains(&EMBEDDED_DNS);
        let upstreams: Vec<(Ipv4Addr, bool)> = view
            .upstreams
            .iter()
            .flat_map(|u| u.servers.iter())
            .filter_map(|u| v4(&u.addr).map(|a| (a, u.from == UpstreamNetns::Host)))
            .collect();
        let server = match (embedded, upstreams.first()) {
            (true, Some((addr, from_host))) => {
                Some(Server { addr: *addr, forwarded: true, from_host: *from_host })
            }
            _ => nameservers.iter().find(|a| IpAddr::V4(**a) != EMBEDDED_DNS).map(|addr| Server {
                addr: *addr,
                forwarded: false,
                from_host: false,
            }),
        };
        let path = server.map(|server| {
            let sender =
                if server.from_host { host_endpoint(t, IpAddr::V4(server.addr)) } else { from.clone() };
            let target = address_endpoint(t, IpAddr::V4(server.addr), Some(crate::dns::DNS_PORT));
            let plan = Plan::new(t, &sender, &target, ports);
            LegPath { server, sender, target, plan }
        });
        let mut dns_addrs = Vec::new();
        for a in nameservers.iter().chain(upstreams.iter().map(|(a, _)| a)) {
            push(&mut dns_addrs, *a);
        }
        dns_addrs.truncate(DNS_ADDRS);
        let mut path_addrs = dns_addrs.clone();
        if let Some(ip) = v4(&from.ip) {
            push(&mut path_addrs, ip);
        }
        for a in path.iter().flat_map(|p| p.plan.probe_addrs.iter()).filter_map(v4) {
            push(&mut path_addrs, a);
        }
        path_addrs.truncate(PROBE_ADDRS);
        Self { path, ports, path_addrs, dns_addrs }
    }

    /// Interfaces of the host to put tc programs on.
    pub fn tc_ifaces(&self) -> &[String] {
        self.path.as_ref().map(|p| p.plan.tc_ifaces.as_slice()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        dns::{HostsFile, ResolverConfig, Upstream, UpstreamOrigin, Upstreams},
        model::{EndpointKind, NetnsRef, container::tests_support::container, topology::tests::topology},
    };

    fn view(resolv: &str, upstreams: Option<Vec<Upstream>>) -> ResolverView {
        ResolverView {
            seen_from: "container:app".into(),
            netns: None,
            resolv_conf_path: "/proc/100/root/etc/resolv.conf".into(),
            config: ResolverConfig::parse(resolv),
            hosts: HostsFile::default(),
            upstreams: upstreams.map(|servers| Upstreams { servers, origin: UpstreamOrigin::DockerRunDns }),
        }
    }

    fn app() -> (Topology, ResolvedEndpoint) {
        let c = container("aaaa1111", "app", &[("app-net", "172.18.0.2")]);
        let t = topology(vec![c.clone()], vec![]);
        let from = ResolvedEndpoint {
            kind: EndpointKind::Container,
            name: "app".into(),
            ip: "172.18.0.2".parse().unwrap(),
            netns: c.netns.clone().map(NetnsRef::Path),
            port: None,
            container: None,
            network: Some("app-net".into()),
            issue: None,
        };
        (t, from)
    }

    #[test]
    fn the_embedded_dns_is_followed_to_its_first_upstream() {
        let (t, from) = app();
        let up = |a: &str, from| Upstream { addr: a.parse().unwrap(), from };
        let v = view(
            "nameserver 127.0.0.11\n",
            Some(vec![up("10.0.0.2", UpstreamNetns::Container), up("127.0.0.53", UpstreamNetns::Host)]),
        );
        let p = LegPlan::new(&t, &from, &v, 41000);
        let path = p.path.unwrap();
        assert_eq!(path.server.addr, Ipv4Addr::new(10, 0, 0, 2));
        assert!(path.server.forwarded && !path.server.from_host);
        assert_eq!(
            (path.plan.dst, path.plan.dport, path.plan.proto),
            (IpAddr::V4(path.server.addr), 53, Proto::Udp)
        );
        assert_eq!(path.sender.name, "app");
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(p.dns_addrs, vec![ip("127.0.0.11"), ip("10.0.0.2"), ip("127.0.0.53")]);
        assert_eq!(
            &p.path_addrs[..4],
            &[ip("127.0.0.11"), ip("10.0.0.2"), ip("127.0.0.53"), v4(&from.ip).unwrap()]
        );
        assert_eq!((p.ports.base, p.ports.count), (41000, 1));
    }

    #[test]
    fn a_direct_nameserver_is_asked_by_the_source_and_ipv6_ones_are_not_followed() {
        let (t, from) = app();
        let p = LegPlan::new(&t, &from, &view("nameserver 2001:db8::53\nnameserver 10.0.0.9\n", None), 41000);
        let path = p.path.unwrap();
        assert_eq!(path.server.addr, Ipv4Addr::new(10, 0, 0, 9));
        assert!(!path.server.forwarded);
        let none = LegPlan::new(&t, &from, &view("nameserver 127.0.0.11\n", Some(vec![])), 41000);
        assert!(none.path.is_none(), "an embedded DNS without upstreams forwards nowhere");
        assert!(LegPlan::new(&t, &from, &view("search x\n", None), 41000).path.is_none());
    }

    #[test]
    fn an_upstream_on_the_hosts_loopback_is_asked_by_the_host() {
        let (t, from) = app();
        let up = Upstream { addr: "127.0.0.53".parse().unwrap(), from: UpstreamNetns::Host };
        let p = LegPlan::new(&t, &from, &view("nameserver 127.0.0.11\n", Some(vec![up])), 41000);
        let path = p.path.unwrap();
        assert!(path.server.from_host);
        assert_eq!(path.sender.kind, EndpointKind::Host);
    }
}
