//! Tests of endpoint resolution against a hand-made topology.
use super::*;
use crate::model::{
    Address,
    container::tests_support::container,
    routes::{MAIN_TABLE, tests::route},
    topology::tests::{network, topology},
};

fn addr(ifindex: u32, ip: &str, prefix: u8) -> Address {
    Address { ifindex, ip: ip.parse().unwrap(), prefix }
}

/// lo, eth0 10.0.0.5/24 (default route), docker0 172.17.0.1/16, brlab 172.30.0.1/24.
fn host(with_default_route: bool) -> HostNet {
    let mut docker0 = route(MAIN_TABLE, "172.17.0.0/16", 3, 0);
    docker0.prefsrc = Some("172.17.0.1".parse().unwrap());
    let mut lab = route(MAIN_TABLE, "172.30.0.0/24", 4, 0);
    lab.prefsrc = Some("172.30.0.1".parse().unwrap());
    let mut routes = vec![docker0, lab, route(MAIN_TABLE, "10.0.0.0/24", 2, 0)];
    if with_default_route {
        let mut default = route(MAIN_TABLE, "0.0.0.0/0", 2, 0);
        default.gateway = Some("10.0.0.1".parse().unwrap());
        routes.push(default);
    }
    HostNet {
        addresses: vec![
            addr(1, "127.0.0.1", 8),
            addr(3, "172.17.0.1", 16),
            addr(4, "172.30.0.1", 24),
            addr(2, "10.0.0.5", 24),
        ],
        routes,
        ..Default::default()
    }
}

fn lab(with_default_route: bool) -> Topology {
    let mut stopped = container("dddd0001", "stopped", &[]);
    (stopped.state, stopped.pid, stopped.netns) = ("exited".into(), None, None);
    let mut nonet = container("dddd0002", "nonet", &[]);
    nonet.network_mode = NetworkMode::None;
    let mut hosty = container("dddd0003", "hosty", &[]);
    hosty.network_mode = NetworkMode::Host;
    let mut side = container("dddd0004", "side", &[]);
    side.network_mode = NetworkMode::Container("aaaa1111".into());
    side.netns = Some("/proc/200/ns/net".into());
    let mut t = topology(
        vec![
            container("aaaa1111", "web", &[("labnet", "172.30.0.2")]),
            container("aaaa2222", "db", &[("bridge", "172.17.0.2"), ("labnet", "172.30.0.3")]),
            container("bbbb3333", "loner", &[("bridge", "172.17.0.3")]),
            stopped,
            nonet,
            hosty,
            side,
            container("eeee0005", "both", &[("bridge", "172.17.0.9"), ("labnet", "172.30.0.9")]),
        ],
        vec![
            network("labnet", "fd26fbfb41d5", "172.30.0.0/24"),
            network("bridge", "f0123ae76e72", "172.17.0.0/16"),
        ],
    );
    t.host = host(with_default_route);
    t
}

async fn pair(t: &Topology, from: &str, to: &str) -> (ResolvedEndpoint, ResolvedEndpoint) {
    pair_in(t, from, to, None).await
}

async fn pair_in(
    t: &Topology,
    from: &str,
    to: &str,
    family: Option<IpFamily>,
) -> (ResolvedEndpoint, ResolvedEndpoint) {
    let from = EndpointArg::parse_source(from).unwrap();
    let to = EndpointArg::parse_target(to, false).unwrap();
    resolve_pair(t, &from, &to, family).await.unwrap_or_else(|e| panic!("{e}"))
}

async fn error(t: &Topology, from: &str, to: &str) -> String {
    error_in(t, from, to, None).await
}

async fn error_in(t: &Topology, from: &str, to: &str, family: Option<IpFamily>) -> String {
    let from = EndpointArg::parse(from).unwrap();
    let to = EndpointArg::parse(to).unwrap();
    resolve_pair(t, &from, &to, family).await.unwrap_err().to_string()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn containers_use_a_shared_network() {
    let t = lab(true);
    let (s, d) = pair(&t, "web", "db:5432").await;
    assert_eq!((s.ip, d.ip), (ip("172.30.0.2"), ip("172.30.0.3")));
    assert_eq!((s.kind, d.kind), (EndpointKind::Container, EndpointKind::Container));
    assert_eq!(d.port, Some(5432));
    assert_eq!(d.network.as_deref(), Some("labnet"));
    assert_eq!(s.netns, Some(NetnsRef::Path("/proc/100/ns/net".into())));
    assert_eq!(s.issue, None);
    let (s, d) = pair(&t, "loner", "db").await;
    assert_eq!((s.ip, d.ip), (ip("172.17.0.3"), ip("172.17.0.2")), "they share bridge");
}

#[tokio::test]
async fn containers_without_shared_network_use_their_first() {
    let (s, d) = pair(&lab(true), "web", "loner").await;
    assert_eq!((s.ip, d.ip), (ip("172.30.0.2"), ip("172.17.0.3")));
}

#[tokio::test]
async fn host_target_is_the_containers_gateway_or_the_default_route_address() {
    // From a container, the host is its network's gateway (host-gateway), route or not.
    let (_, d) = pair(&lab(true), "web", "host:3306").await;
    assert_eq!((d.kind, d.ip, d.port), (EndpointKind::Host, ip("172.30.0.1"), Some(3306)));
    assert_eq!(d.netns, Some(NetnsRef::Host));
    let (_, d) = pair(&lab(false), "web", "host").await;
    assert_eq!(d.ip, ip("172.30.0.1"));
    // From anywhere else, the host's main address.
    let (_, d) = pair(&lab(true), "host", "host:22").await;
    assert_eq!(d.ip, ip("10.0.0.5"));
}

#[tokio::test]
async fn a_containers_loopback_is_its_own() {
    let (s, d) = pair(&lab(true), "web", "127.0.0.1:8080").await;
    assert_eq!(d.netns, s.netns, "the probe stays in web");
    assert_eq!(d.container.as_ref().unwrap().name, "web");
    let (_, d) = pair(&lab(true), "host", "127.0.0.1:8080").await;
    assert_eq!(d.netns, Some(NetnsRef::Host));
    assert_eq!(d.container, None);
}

#[tokio::test]
async fn host_source_uses_the_route_to_the_target() {
    let (s, d) = pair(&lab(true), "host", "db").await;
    assert_eq!(d.ip, ip("172.17.0.2"), "db's first network");
    assert_eq!((s.kind, s.ip, s.netns), (EndpointKind::Host, ip("172.17.0.1"), Some(NetnsRef::Host)));
}

#[tokio::test]
async fn flags_stopped_none_and_host_mode_containers() {
    let t = lab(true);
    let (_, d) = pair(&t, "web", "stopped").await;
    assert_eq!(d.issue, Some(EndpointIssue::NotRunning { state: "exited".into() }));
    assert_eq!((d.ip, d.netns.as_ref()), (ip("0.0.0.0"), None));
    assert_eq!(d.container.as_ref().unwrap().name, "stopped");
    let (s, _) = pair(&t, "nonet", "web").await;
    assert_eq!(s.issue, Some(EndpointIssue::NoNetwork));
    assert_eq!(s.container.as_ref().unwrap().network_mode, NetworkMode::None);
    let (s, _) = pair(&t, "hosty", "web").await;
    assert_eq!(s.issue, Some(EndpointIssue::HostNetwork));
    assert_eq!((s.ip, s.netns), (ip("172.30.0.1"), Some(NetnsRef::Host)));
}

#[tokio::test]
async fn shared_namespace_container_uses_the_owners_address() {
    let (s, _) = pair(&lab(true), "side", "db").await;
    assert_eq!((s.name.as_str(), s.ip), ("side", ip("172.30.0.2")));
    assert_eq!(s.netns, Some(NetnsRef::Path("/proc/200/ns/net".into())));
}

#[tokio::test]
async fn addresses_are_matched_to_containers_and_host() {
    let t = lab(true);
    let (s, d) = pair(&t, "web", "172.17.0.2:80").await;
    assert_eq!(d.kind, EndpointKind::Address);
    assert_eq!(d.container.as_ref().unwrap().name, "db");
    assert_eq!(d.network.as_deref(), Some("bridge"));
    assert_eq!(s.ip, ip("172.30.0.2"), "web has no address on db's bridge subnet");
    let (_, d) = pair(&t, "web", "10.0.0.5").await;
    assert_eq!(d.netns, Some(NetnsRef::Host));
    // db and "both" share two networks; to both's labnet address db sends from labnet.
    let (s, d) = pair(&t, "db", "172.30.0.9").await;
    assert_eq!((s.ip, d.container.unwrap().name.as_str()), (ip("172.30.0.3"), "both"));
    let (s, d) = pair(&t, "172.17.0.3", "8.8.8.8:53").await;
    assert_eq!(d.netns, None, "not on this host");
    assert_eq!(s.container.as_ref().unwrap().name, "loner");
}

#[tokio::test]
async fn id_prefixes_and_errors() {
    let t = lab(true);
    let (s, _) = pair(&t, "bbbb", "web").await;
    assert_eq!(s.name, "loner");
    let e = error(&t, "aaaa", "web").await;
    assert!(e.contains("several") && e.contains("web") && e.contains("db"), "{e}");
    let e = error(&t, "mysql", "web").await;
    assert!(e.contains("'mysql'"), "{e}");
}

#[tokio::test]
async fn pid_of_the_host_namespace_is_the_host() {
    let Ok(inode) = netns::current_netns_inode() else { return };
    let mut t = lab(true);
    t.host_netns_inode = inode;
    // A --network host container lives in the host's namespace: pid: still means the host.
    t.docker.containers.iter_mut().find(|c| c.name == "hosty").unwrap().netns_inode = Some(inode);
    let me = format!("pid:{}", std::process::id());
    let (s, d) = pair(&t, &me, "db").await;
    assert_eq!((s.kind, s.netns), (EndpointKind::Pid, Some(NetnsRef::Host)));
    assert_eq!(s.ip, ip("172.17.0.1"));
    assert_eq!(d.ip, ip("172.17.0.2"));
    assert!(error(&t, "pid:999999999", "db").await.contains("/proc/999999999/ns/net"));
    assert!(error(&t, "netns:dnt-none-such", "db").await.contains("/run/netns/dnt-none-such"));
}

#[tokio::test]
async fn dotted_names_that_are_not_containers_go_to_dns() {
    // A source named by DNS is resolved by the host's system resolver ("localhost" is in
    // /etc/hosts on any Linux host).
    assert_eq!(lookup_dns("localhost").await.unwrap()[0], ip("127.0.0.1"));
    // A target's name is resolved as the source sees it, by the trace's DNS leg: until then it
    // has no address, and the trace (not a usage error) says why.
    let t = lab(true);
    let (s, d) = pair(&t, "web", "db.nonexistent.invalid:80").await;
    assert_eq!(
        (d.kind, d.ip, d.issue),
        (EndpointKind::Address, ip("0.0.0.0"), Some(EndpointIssue::Unresolved))
    );
    assert_eq!((d.name.as_str(), d.port), ("db.nonexistent.invalid", Some(80)));
    assert_eq!(s.ip, ip("172.30.0.2"));
    let to = EndpointArg::parse("db.corp.example:80").unwrap();
    assert_eq!(dns_name(&t, &to).unwrap(), Some("db.corp.example"));
    let answer = Some(NameAnswer::Address("172.17.0.2".parse().unwrap()));
    let from = EndpointArg::parse("loner").unwrap();
    let (s, d) = resolve_pair_answered(&t, &from, &to, None, answer).await.unwrap();
    assert_eq!(
        (d.name.as_str(), d.ip, d.container.map(|c| c.name)),
        ("db.corp.example", ip("172.17.0.2"), Some("db".into()))
    );
    assert_eq!(s.ip, ip("172.17.0.3"));
    // A container's name wins over DNS, dots or not; without a dot an unknown name is an
    // unknown container, not a DNS query.
    assert_eq!(dns_name(&t, &EndpointArg::parse("web").unwrap()).unwrap(), None);
    assert!(error(&t, "web", "nonexistent").await.contains("docker ps -a"));
}

/// `lab` with labnet dual-stack (fd00:30::/64): web and db have IPv6 there, the host's bridge
/// holds fd00:30::1 and the uplink fd00:99::5 with a default route.
fn dual(with_default_route: bool) -> Topology {
    let mut t = lab(with_default_route);
    let labnet = t.docker.networks.iter_mut().find(|n| n.name == "labnet").unwrap();
    *labnet =
        crate::model::topology::tests::dual_stack("labnet", "fd26fbfb41d5", "172.30.0.0/24", "fd00:30::/64");
    for (name, v6) in [("web", "fd00:30::2"), ("db", "fd00:30::3")] {
        let c = t.docker.containers.iter_mut().find(|c| c.name == name).unwrap();
        *c = crate::model::container::tests_support6::with_ipv6(c.clone(), "labnet", v6);
    }
    t.host.addresses.extend([addr(4, "fd00:30::1", 64), addr(4, "fe80::1", 64), addr(2, "fd00:99::5", 64)]);
    let mut lab6 = route(MAIN_TABLE, "fd00:30::/64", 4, 256);
    lab6.prefsrc = None;
    t.host.routes.push(lab6);
    t.host.routes.push(route(MAIN_TABLE, "fd00:99::/64", 2, 256));
    if with_default_route {
        let mut default = route(MAIN_TABLE, "::/0", 2, 1024);
        default.gateway = Some(ip("fe80::99"));
        t.host.routes.push(default);
    }
    t
}

#[tokio::test]
async fn ipv4_by_default_and_ipv6_with_dash_6() {
    let t = dual(true);
    let (s, d) = pair(&t, "web", "db:5432").await;
    assert_eq!((s.ip, d.ip), (ip("172.30.0.2"), ip("172.30.0.3")), "IPv4 when both have it");
    let (s, d) = pair_in(&t, "web", "db:5432", Some(IpFamily::V6)).await;
    assert_eq!((s.ip, d.ip), (ip("fd00:30::2"), ip("fd00:30::3")));
    assert_eq!((d.network.as_deref(), d.family()), (Some("labnet"), IpFamily::V6));
}

#[tokio::test]
async fn an_ipv6_address_makes_the_trace_ipv6() {
    let t = dual(true);
    let (s, d) = pair(&t, "web", "[fd00:30::3]:80").await;
    assert_eq!(
        (s.ip, d.ip, d.name.as_str()),
        (ip("fd00:30::2"), ip("fd00:30::3"), "[fd00:30::3]"),
        "named as --to writes it, without the port"
    );
    assert_eq!(d.container.as_ref().unwrap().name, "db");
    let (s, _) = pair(&t, "host", "[fd00:30::3]").await;
    assert_eq!(s.ip, ip("fd00:30::1"), "the host's address on the bridge, not its link-local one");
    let (s, d) = pair(&t, "[fd00:30::2]", "host").await;
    assert_eq!((s.container.as_ref().unwrap().name.as_str(), d.ip), ("web", ip("fd00:99::5")));
    let (_, d) = pair_in(&dual(false), "web", "host", Some(IpFamily::V6)).await;
    assert_eq!(d.ip, ip("fd00:30::1"), "no IPv6 default route: web's IPv6 gateway");
}

#[tokio::test]
async fn a_missing_family_is_an_error_that_says_what_to_do() {
    let t = dual(true);
    let e = error_in(&t, "loner", "db", Some(IpFamily::V6)).await;
    assert!(e.contains("container loner has no IPv6 address") && e.contains("--ipv6"), "{e}");
    let e = error(&t, "loner", "[fd00:30::3]").await;
    assert!(e.contains("share no address family") && e.contains("only IPv4"), "{e}");
    let e = error_in(&t, "web", "172.30.0.3", Some(IpFamily::V6)).await;
    assert!(e.contains("172.30.0.3 has no IPv6 address") && e.contains("drop -6"), "{e}");
    let e = error_in(&lab(true), "host", "web", Some(IpFamily::V6)).await;
    assert!(e.contains("the host has no IPv6 address"), "{e}");
}
