//! Whose resolver the trace's source uses: the files it reads and the namespace its queries
//! leave from, for `dns::ResolverView::load`.
use crate::{
    dns::SourceKind,
    model::{
        EndpointArg, EndpointSpec, NetnsRef, ResolvedEndpoint, Topology,
        netns::{named_netns_path, pid_netns_path},
    },
};

/// The source as the resolver sees it: `pid:` and `netns:` by what they name, a container (by
/// name, or by one of its addresses) with its own files and `docker run --dns` settings, the
/// host (and an address that is no container's, which the probe leaves the host from) as is.
pub fn source_kind(t: &Topology, arg: &EndpointArg, from: &ResolvedEndpoint) -> SourceKind {
    match &arg.spec {
        EndpointSpec::Pid(pid) => return SourceKind::Process { pid: *pid, netns: pid_netns_path(*pid) },
        EndpointSpec::Netns(name) => {
            return SourceKind::NamedNetns { name: name.clone(), netns: named_netns_path(name) };
        }
        _ => {}
    }
    let Some(c) = from.container.as_ref().and_then(|c| t.container(&c.id).ok()) else {
        return SourceKind::Host;
    };
    let netns = match &from.netns {
        Some(NetnsRef::Path(p)) => p.clone(),
        _ => c.netns.clone().unwrap_or_else(|| named_netns_path(&c.name)),
    };
    match c.pid {
        Some(pid) => SourceKind::Container { name: c.name.clone(), pid, netns, settings: c.dns.clone() },
        // Without Docker, "containers" are named namespaces (model::plain).
        None => SourceKind::NamedNetns { name: c.name.clone(), netns },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointKind, container::tests_support::container, topology::tests::topology};

    fn end(kind: EndpointKind, container: Option<&crate::model::Container>) -> ResolvedEndpoint {
        ResolvedEndpoint {
            kind,
            name: "x".into(),
            ip: "172.17.0.2".parse().unwrap(),
            netns: container.and_then(|c| c.netns.clone()).map(NetnsRef::Path),
            port: None,
            container: container.map(|c| crate::model::ContainerRef {
                id: c.id.clone(),
                name: c.name.clone(),
                state: c.state.clone(),
                network_mode: c.network_mode.clone(),
            }),
            network: None,
            issue: None,
        }
    }

    #[test]
    fn each_kind_of_source_reads_its_own_files() {
        let mut app = container("aaaa1111", "app", &[("app-net", "172.18.0.2")]);
        app.dns.dns = vec!["10.0.0.2".parse().unwrap()];
        let t = topology(vec![app.clone()], vec![]);
        let arg = |s: &str| EndpointArg::parse(s).unwrap();
        match source_kind(&t, &arg("app"), &end(EndpointKind::Container, Some(&app))) {
            SourceKind::Container { name, pid, settings, .. } => {
                assert_eq!((name.as_str(), pid, settings.dns.len()), ("app", 100, 1))
            }
            other => panic!("{other:?}"),
        }
        // An address of the container is the container.
        let by_ip = source_kind(&t, &arg("172.18.0.2"), &end(EndpointKind::Address, Some(&app)));
        assert!(matches!(by_ip, SourceKind::Container { .. }), "{by_ip:?}");
        assert!(matches!(source_kind(&t, &arg("host"), &end(EndpointKind::Host, None)), SourceKind::Host));
        assert!(matches!(
            source_kind(&t, &arg("pid:77"), &end(EndpointKind::Pid, Some(&app))),
            SourceKind::Process { pid: 77, .. }
        ));
        match source_kind(&t, &arg("netns:lab"), &end(EndpointKind::Netns, None)) {
            SourceKind::NamedNetns { name, netns } => {
                assert_eq!((name.as_str(), netns), ("lab", "/run/netns/lab".into()))
            }
            other => panic!("{other:?}"),
        }
    }
}
