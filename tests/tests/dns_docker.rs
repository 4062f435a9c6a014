//! The dns module in a real Docker lab (no eBPF): a container's resolver view read through its
//! root, and real queries from its namespace, through Docker's embedded DNS on a user-defined
//! network and directly on the default bridge, to a DNS server of the test's own "outside"
//! (in the sink namespace).
use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    time::Duration,
};

use dockernet_trace::dns::{
    AnswerSource, DnsName, DockerDnsSettings, EMBEDDED_DNS, ResolutionError, ResolveOptions, ResolverView,
    SourceKind, Upstream, UpstreamNetns, UpstreamOrigin, resolve,
};
use dockernet_trace_tests::{
    Container, Lab, LabOptions,
    dns_server::{Behaviour, DnsServer},
    lab::{Engine, LAB_IP, OUTSIDE_IP},
};

const DB: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 7);

fn source(lab: &Lab, c: &Container) -> SourceKind {
    let dns: Vec<String> =
        serde_json::from_str(&lab.docker(&["inspect", "-f", "{{json .HostConfig.Dns}}", &c.name]).unwrap())
            .unwrap_or_default();
    SourceKind::Container {
        name: c.name.clone(),
        pid: c.pid,
        netns: PathBuf::from(c.netns_path()),
        settings: DockerDnsSettings {
            dns: dns.iter().filter_map(|a| a.parse().ok()).collect(),
            ..Default::default()
        },
    }
}

fn resolve_from(
    view: &ResolverView,
    name: &str,
    sport: u16,
    budget_ms: u64,
) -> dockernet_trace::dns::Resolution {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let opts = ResolveOptions::new(sport, Duration::from_millis(budget_ms));
    rt.block_on(resolve(view, &DnsName::parse(name).unwrap(), &opts)).unwrap()
}

#[test]
fn dns_through_dockers_embedded_server_and_on_the_default_bridge() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let outside: Ipv4Addr = OUTSIDE_IP.parse().unwrap();
    let zone = [("db.corp.example", Behaviour::Answer(vec![DB])), ("silent.example", Behaviour::Silent)];
    let server = DnsServer::start(&format!("/run/netns/{}", lab.sink), outside, &zone).unwrap();
    lab.create_network("app-net", &[]).unwrap();
    let app = lab.run("app", &["--network", "app-net", "--dns", OUTSIDE_IP], &[]).unwrap();
    let legacy = lab.run("legacy", &["--dns", OUTSIDE_IP], &[]).unwrap();

    // User-defined network: the container asks 127.0.0.11, which forwards to --dns from the
    // container's namespace (masqueraded to the lab host's address on the way out).
    let view = ResolverView::load(&source(&lab, &app)).unwrap();
    assert_eq!(view.seen_from, "container:app");
    assert_eq!(view.config.nameservers, vec![EMBEDDED_DNS]);
    assert_eq!(view.config.ndots, 0, "Docker writes options ndots:0");
    let up = view.upstreams.clone().unwrap();
    // Docker 25+ writes the upstreams into the container's resolv.conf (`# ExtServers:`);
    // 20.10 does not, and they come from `docker run --dns`.
    let origin = match lab.engine {
        Engine::Docker20 => UpstreamOrigin::DockerRunDns,
        Engine::Docker28 => UpstreamOrigin::ContainerFile,
    };
    assert_eq!(up.origin, origin);
    assert_eq!(up.servers, vec![Upstream { addr: outside.into(), from: UpstreamNetns::Container }]);
    let r = resolve_from(&view, "db.corp.example", 42001, 3000);
    assert_eq!((r.answer(), r.error), (Some(IpAddr::V4(DB)), None), "{r:?}");
    assert!(matches!(r.source, Some(AnswerSource::Nameserver { server, .. }) if server == EMBEDDED_DNS));
    assert!(r.via_embedded_dns());
    let forwarded =
        server.seen().into_iter().find(|s| s.name == "db.corp.example").expect("the forwarded query");
    assert_eq!(forwarded.from.ip(), LAB_IP.parse::<std::net::IpAddr>().unwrap());

    // NXDOMAIN comes back through the embedded server; an upstream that never answers leaves
    // the container waiting (20.10 sends nothing back), within our budget.
    let r = resolve_from(&view, "nope.example", 42002, 3000);
    assert_eq!(r.error, Some(ResolutionError::Nxdomain), "{r:?}");
    let r = resolve_from(&view, "silent.example", 42003, 1500);
    assert_eq!(r.error, Some(ResolutionError::Timeout), "{r:?}");

    // Default bridge: no embedded DNS; the container asks the nameserver itself, from the
    // port we chose (MASQUERADE keeps a free port).
    let view = ResolverView::load(&source(&lab, &legacy)).unwrap();
    assert_eq!(view.config.nameservers, vec![std::net::IpAddr::from(outside)]);
    assert!(view.upstreams.is_none());
    let r = resolve_from(&view, "db.corp.example", 42004, 3000);
    assert_eq!(r.answer(), Some(IpAddr::V4(DB)), "{r:?}");
    assert!(server.seen().iter().any(|s| s.from == (LAB_IP.parse::<Ipv4Addr>().unwrap(), 42004).into()));

    // Without --dns the embedded server forwards to the host's nameservers, as Docker read them.
    let plain = lab.run("plain", &["--network", "app-net"], &[]).unwrap();
    let view = ResolverView::load(&source(&lab, &plain)).unwrap();
    let up = view.upstreams.unwrap();
    match lab.engine {
        Engine::Docker20 => {
            assert!(matches!(up.origin, UpstreamOrigin::HostFile | UpstreamOrigin::DockerDefaults), "{up:?}")
        }
        Engine::Docker28 => assert_eq!(up.origin, UpstreamOrigin::ContainerFile, "{up:?}"),
    }
    assert!(!up.servers.is_empty());
}
