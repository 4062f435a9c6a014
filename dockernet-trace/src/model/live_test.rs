//! Against a real engine, run by hand (root, in the engine's namespace):
//!
//! ```text
//! DOCKER_HOST=unix:///run/LAB.sock nsenter --net=/run/netns/LAB \
//!     TEST_BINARY model::live_test --ignored --nocapture
//! ```
//! Prints the model (as JSON too with DNT_PRINT_JSON=1), and checks what holds on any Docker host: every running container
//! endpoint has an interface and a host veth on its network's bridge.
use super::*;

#[tokio::test]
#[ignore = "needs a Docker Engine and root; run by hand inside the engine's namespace"]
async fn load_and_print_topology() {
    let t = Topology::load(None).await.unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("DNT_PRINT_JSON").is_some() {
        println!("{}", serde_json::to_string_pretty(&t).unwrap());
    }
    println!("engine {} host netns inode {}", t.docker_host, t.host_netns_inode);
    for n in &t.docker.networks {
        let bridge = n.bridge.as_deref().and_then(|b| t.link_by_name(b));
        println!(
            "network {:<10} driver {:<6} bridge {:<16} found={} subnets {:?} masq={} icc={} internal={}",
            n.name,
            n.driver,
            n.bridge.as_deref().unwrap_or("-"),
            bridge.is_some(),
            n.subnets
                .iter()
                .map(|s| format!("{} gw {:?} ({:?})", s.subnet, s.gateway, s.gateway_source))
                .collect::<Vec<_>>(),
            n.masquerade,
            n.icc,
            n.internal
        );
    }
    for c in &t.docker.containers {
        println!(
            "container {:<8} {:<8} mode {:<20} netns {:?} inode {:?} ports {:?}",
            c.name,
            c.state,
            c.network_mode.to_string(),
            c.netns,
            c.netns_inode,
            c.ports
        );
        for e in &c.endpoints {
            println!(
                "    {} ip {:?}/{} gw {:?} mac {:?} link {:?}",
                e.network, e.ip, e.prefix_len, e.gateway, e.mac, e.link
            );
            // A lab broken on purpose (DNT_BROKEN_LAB=1) is printed, not judged.
            if c.is_running() && e.ip.is_some() && std::env::var_os("DNT_BROKEN_LAB").is_none() {
                let link = e.link.as_ref().expect("running endpoint has an interface");
                let veth = t.link_by_index(link.host_veth_ifindex.expect("host veth found")).unwrap();
                let bridge = t.bridge_link(t.network(&e.network).unwrap()).expect("bridge exists");
                assert_eq!(veth.master, Some(bridge.index), "veth is a port of the bridge");
                assert_eq!(veth.port_state, Some(PortState::Forwarding));
                assert!(link.admin_up && link.carrier);
            }
        }
    }
    for l in &t.host.links {
        println!(
            "link {:>3} {:<16} kind {:?} up={} carrier={} oper={} master={:?} port={:?} stp={:?} peer={:?} nsid={:?}",
            l.index,
            l.name,
            l.kind,
            l.admin_up,
            l.carrier,
            l.oper_state,
            l.master,
            l.port_state,
            l.stp_enabled,
            l.peer_ifindex,
            l.link_netnsid
        );
    }
    for r in &t.host.routes {
        println!(
            "route table {} {} gw {:?} oif {:?} src {:?} scope {} proto {} {:?} linkdown={}",
            r.table, r.dst, r.gateway, r.oif, r.prefsrc, r.scope, r.protocol, r.kind, r.linkdown
        );
    }
    println!("sysctls {:?}", t.host.sysctls);
    println!("notes {:?}", t.docker.notes);

    // Resolve every running container against every other, and ask the kernel for the route.
    let names: Vec<String> = t.docker.containers.iter().map(|c| c.name.clone()).collect();
    for from in names.iter().chain(std::iter::once(&"host".to_string())) {
        for to in &names {
            let (f, g) = (EndpointArg::parse_source(from).unwrap(), EndpointArg::parse(to).unwrap());
            match resolve_pair(&t, &f, &g, None).await {
                Ok((s, d)) => {
                    let route = if s.issue.is_none() && d.issue.is_none() && !d.ip.is_unspecified() {
                        let ns = s.netns.as_ref().and_then(|n| match n {
                            NetnsRef::Path(p) => Some(p.clone()),
                            NetnsRef::Host => None,
                        });
                        Some(route_get_in(ns.as_deref(), d.ip, None, None).await.unwrap())
                    } else {
                        None
                    };
                    println!(
                        "{from} -> {to}: {} {} {:?} -> {} {} {:?} route {route:?}",
                        s.name, s.ip, s.issue, d.name, d.ip, d.issue
                    );
                }
                Err(e) => println!("{from} -> {to}: error {e}"),
            }
        }
    }
    // Lookups the kernel answers with an error, and input lookups as if from a container's veth.
    let outside = route_get_in(None, "8.8.8.8".parse().unwrap(), None, None).await.unwrap();
    println!("host -> 8.8.8.8: {outside:?}");
    if routes::default_route(&t.host.routes, crate::flow::IpFamily::V4).is_none() {
        assert!(outside.is_unreachable());
    }
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        for e in c.endpoints.iter().filter(|e| e.link.is_some()) {
            let veth = e.link.as_ref().and_then(|l| l.host_veth_ifindex);
            for n in t.docker.networks.iter().flat_map(|n| &n.subnets) {
                let Some(gw) = n.gateway else { continue };
                let answer = route_get_in(None, gw, e.ip.map(Into::into), veth).await.unwrap();
                println!("from {} {:?} iif {:?} to {gw}: {answer:?}", c.name, e.ip, veth);
            }
        }
    }
    // pid: of a container is that container; netns: of a foreign namespace is read there.
    if let Some(db) =
        t.docker.containers.iter().find(|c| c.is_running() && c.endpoints.iter().any(|e| e.ip.is_some()))
    {
        let from = EndpointArg::parse(&format!("pid:{}", db.pid.unwrap())).unwrap();
        let (s, d) = resolve_pair(&t, &from, &EndpointArg::parse("host").unwrap(), None).await.unwrap();
        println!("pid:{} -> host: {s:?} -> {d:?}", db.pid.unwrap());
        assert_eq!(s.container.as_ref().map(|c| c.name.as_str()), Some(db.name.as_str()));
        if let Ok(peer) = std::env::var("DNT_PEER_NETNS") {
            let from = EndpointArg::parse(&format!("netns:{peer}")).unwrap();
            let to = EndpointArg::parse(&db.name).unwrap();
            let (s, d) = resolve_pair(&t, &from, &to, None).await.unwrap();
            println!("netns:{peer} -> {}: {s:?} -> {d:?}", db.name);
            let there = HostNet::load(s.netns.as_ref().and_then(|n| match n {
                NetnsRef::Path(p) => Some(p.as_path()),
                NetnsRef::Host => None,
            }))
            .await
            .unwrap();
            println!("netns:{peer} model: {there:?}");
        }
    }
    let host_to = EndpointArg::parse("host:80").unwrap();
    for from in &names {
        if let Ok((s, d)) = resolve_pair(&t, &EndpointArg::parse(from).unwrap(), &host_to, None).await {
            println!("{from} -> host:80: {} -> {} {:?}", s.ip, d.ip, d.netns);
        }
    }
}
