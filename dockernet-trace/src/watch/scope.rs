//! What the kernel filter lets through: address prefixes (WATCH_NETS) and network namespaces
//! (WATCH_NETNS), from `--container`/`--network` and Docker's current view, and keeping the
//! maps in step when containers come and go.
use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::{
    ebpf::{EbpfError, Session},
    error::{Error, Result},
    flow::IpFamily,
    model::{Topology, prefix},
};

/// `--container` and `--network`: nothing given means every Docker network.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
}

impl Filter {
    /// The running containers it covers in `t`, by name.
    pub fn covered(&self, t: &Topology) -> BTreeSet<String> {
        let covered = t.docker.containers.iter().filter(|c| c.is_running() && self.covers(t, &c.name));
        covered.map(|c| c.name.clone()).collect()
    }

    /// Checks that every name exists (a stopped container is fine: it is watched once it runs).
    pub fn check(&self, t: &Topology) -> Result<()> {
        for c in &self.containers {
            t.container(c)?;
        }
        for n in &self.networks {
            if t.network(n).is_none() {
                return Err(Error::Usage(format!(
                    "no Docker network named '{n}'; `docker network ls` lists them"
                )));
            }
        }
        Ok(())
    }

    fn everything(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty()
    }

    /// Is this running container one the user asked about?
    pub fn covers(&self, t: &Topology, name: &str) -> bool {
        if self.everything() {
            return true;
        }
        let Ok(c) = t.container(name) else { return false };
        self.containers.iter().any(|k| t.container(k).is_ok_and(|x| x.id == c.id))
            || t.endpoints_of(c)
                .iter()
                .any(|e| self.networks.iter().any(|n| t.network(n).is_some_and(|net| net.name == e.network)))
    }
}

/// The kernel filter's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// IPv4 and IPv6 prefixes.
    pub prefixes: BTreeSet<IpNet>,
    pub netns: BTreeSet<u32>,
}

/// The prefixes and namespaces for `filter` in topology `t`. Namespaces are the host's and every
/// running container's: a drop of a watched address may happen in any of them, and namespaces of
/// other hosts' containers (other Docker engines on the machine) stay out.
pub fn compute(t: &Topology, filter: &Filter) -> Scope {
    let mut s = Scope::default();
    s.netns.insert(t.host_netns_inode as u32);
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        if let Some(i) = c.netns_inode.and_then(|i| u32::try_from(i).ok()) {
            s.netns.insert(i);
        }
    }
    let subnets = |n: &crate::model::DockerNetwork| n.subnets.iter().map(|s| s.subnet).collect::<Vec<_>>();
    if filter.everything() {
        s.prefixes.extend(t.docker.networks.iter().flat_map(subnets));
    }
    for n in filter.networks.iter().filter_map(|n| t.network(n)) {
        s.prefixes.extend(subnets(n));
    }
    for c in filter.containers.iter().filter_map(|c| t.container(c).ok()).filter(|c| c.is_running()) {
        for ip in t.endpoints_of(c).iter().flat_map(|e| e.ips()) {
            s.prefixes.extend(prefix::prefix(ip, IpFamily::of(&ip).host_prefix_len()));
        }
    }
    s
}

/// What is in the kernel's maps now.
#[derive(Default)]
pub struct Installed(Scope);

impl Installed {
    /// Adds what `next` has and the maps lack, then removes what they have and `next` lacks
    /// (in that order, so a prefix that stays is never briefly missing).
    pub fn apply(&mut self, session: &mut Session, next: Scope) -> Result<(), EbpfError> {
        for p in next.prefixes.difference(&self.0.prefixes) {
            session.watch_prefix(p)?;
        }
        for n in next.netns.difference(&self.0.netns) {
            session.watch_netns(*n, true)?;
        }
        for p in self.0.prefixes.difference(&next.prefixes) {
            session.unwatch_prefix(p)?;
        }
        for n in self.0.netns.difference(&next.netns) {
            session.watch_netns(*n, false)?;
        }
        // The kernel parses IPv6 packets only while an IPv6 prefix is watched.
        let v6 = u8::from(next.prefixes.iter().any(|p| matches!(p, IpNet::V6(_))));
        if session.config().watch_v6 != v6 {
            session.set_config(dockernet_trace_common::Config { watch_v6: v6, ..session.config() })?;
        }
        self.0 = next;
        Ok(())
    }

    pub fn scope(&self) -> &Scope {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        container::tests_support::container,
        topology::tests::{network, topology},
    };

    fn world() -> Topology {
        let mut web = container("aaaa1111", "web", &[("labnet", "172.30.0.2")]);
        web.netns_inode = Some(11);
        let mut loner = container("bbbb3333", "loner", &[("bridge", "172.17.0.3")]);
        loner.netns_inode = Some(12);
        loner.state = "exited".into();
        topology(
            vec![web, loner],
            vec![
                network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24"),
                network("bridge", "f0123ae76e72", "172.17.0.0/16"),
            ],
        )
    }

    fn nets(s: &Scope) -> Vec<String> {
        s.prefixes.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn everything_by_default_and_only_running_namespaces() {
        let s = compute(&world(), &Filter::default());
        assert_eq!(nets(&s), ["172.17.0.0/16", "172.30.0.0/24"]);
        assert_eq!(s.netns.iter().copied().collect::<Vec<_>>(), [1, 11], "host and the running container");
    }

    #[test]
    fn networks_and_containers_narrow_it() {
        let t = world();
        let f = Filter { containers: vec!["web".into()], networks: vec![] };
        assert_eq!(nets(&compute(&t, &f)), ["172.30.0.2/32"]);
        let f = Filter { containers: vec!["loner".into()], networks: vec!["labnet".into()] };
        assert_eq!(nets(&compute(&t, &f)), ["172.30.0.0/24"], "a stopped container has no address yet");
        assert!(f.covers(&t, "web"), "web is on labnet");
    }

    #[test]
    fn ipv6_subnets_and_addresses_are_watched_too() {
        let mut t = world();
        t.docker.networks[0] = crate::model::topology::tests::dual_stack(
            "labnet",
            "fd26fbfb41d5aa",
            "172.30.0.0/24",
            "fd00:30::/64",
        );
        let web = t.docker.containers.remove(0);
        t.docker
            .containers
            .insert(0, crate::model::container::tests_support6::with_ipv6(web, "labnet", "fd00:30::2"));
        assert_eq!(
            nets(&compute(&t, &Filter::default())),
            ["172.17.0.0/16", "172.30.0.0/24", "fd00:30::/64"]
        );
        let f = Filter { containers: vec!["web".into()], networks: vec![] };
        assert_eq!(nets(&compute(&t, &f)), ["172.30.0.2/32", "fd00:30::2/128"]);
    }

    #[test]
    fn unknown_names_are_usage_errors() {
        let t = world();
        let e = Filter { containers: vec!["mysql".into()], networks: vec![] }.check(&t).unwrap_err();
        assert!(e.to_string().contains("mysql"), "{e}");
        let e = Filter { containers: vec![], networks: vec!["heima-net".into()] }.check(&t).unwrap_err();
        assert!(e.to_string().contains("docker network ls"), "{e}");
        assert!(
            Filter { containers: vec!["loner".into()], networks: vec!["labnet".into()] }.check(&t).is_ok()
        );
    }
}
