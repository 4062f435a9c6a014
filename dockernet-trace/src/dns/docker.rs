//! Docker's part in name resolution (moby libnetwork, 20.10 and 25+ alike):
//! - on a user-defined network the container's resolv.conf names the embedded DNS server,
//!   127.0.0.11, which runs in dockerd and forwards what it cannot answer to the *upstreams*:
//!   `docker run --dns` (HostConfig.Dns) if given, queried from the container's namespace; else
//!   the host's resolv.conf nameservers, where a loopback one is queried from the host's
//!   namespace and any other from the container's. Docker 25+ lists them in the file as
//!   `# ExtServers: [host(127.0.0.53) 10.0.0.2]`; 20.10 does not, and with no host nameserver
//!   at all it falls back to its defaults, 8.8.8.8 and 8.8.4.4.
//! - on the default bridge (no embedded DNS) the container's file is the host's with loopback
//!   nameservers removed (IPv6 ones too without IPv6), or Docker's defaults if none remain.
//! - when /etc/resolv.conf names only 127.0.0.53, Docker reads systemd-resolved's
//!   /run/systemd/resolve/resolv.conf instead.
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr},
};

/// The embedded DNS server's address inside containers on user-defined networks.
pub const EMBEDDED_DNS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));

/// Docker's fallback nameservers (Google Public DNS).
pub const DOCKER_DEFAULT_NAMESERVERS: [IpAddr; 2] =
    [IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)), IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4))];

/// The embedded DNS forwards to at most this many upstreams (moby's maxExtDNS), waiting up to
/// [`EMBEDDED_DNS_UPSTREAM_TIMEOUT`] for each.
pub const MAX_UPSTREAMS: usize = 3;
pub const EMBEDDED_DNS_UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);

/// The file Docker reads for the host's resolver configuration.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// `docker run --dns/--dns-search/--dns-option` (HostConfig.Dns, DnsSearch, DnsOptions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerDnsSettings {
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
}

impl DockerDnsSettings {
    /// From `docker inspect`'s HostConfig; an address that does not parse is left out.
    pub fn from_host_config(hc: &bollard::models::HostConfig) -> Self {
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        Self {
            dns: list(&hc.dns).iter().filter_map(|a| a.parse().ok()).collect(),
            dns_search: list(&hc.dns_search),
            dns_options: list(&hc.dns_options),
        }
    }
}

/// The namespace the embedded DNS sends a forwarded query from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamNetns {
    /// The container's: the query takes the container's path out (veth, bridge, NAT).
    Container,
    /// The host's (dockerd's): a nameserver on the host's loopback.
    Host,
}

/// One nameserver the embedded DNS forwards to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub addr: IpAddr,
    pub from: UpstreamNetns,
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            UpstreamNetns::Container => write!(f, "{}", self.addr),
            UpstreamNetns::Host => write!(f, "{} (from the host's namespace)", self.addr),
        }
    }
}

/// How the upstream list was learnt, for evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamOrigin {
    /// The `# ExtServers:` line Docker 25+ writes into the container's resolv.conf.
    ContainerFile,
    /// `docker run --dns`.
    DockerRunDns,
    /// The host's resolv.conf, as Docker reads it.
    HostFile,
    /// Docker's defaults: the host's file names no nameserver.
    DockerDefaults,
}

impl UpstreamOrigin {
    /// Where the list comes from, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ContainerFile => "as the container's resolv.conf lists them",
            Self::DockerRunDns => "docker run --dns",
            Self::HostFile => "the host's resolv.conf, as Docker reads it",
            Self::DockerDefaults => "Docker's defaults: the host names no usable nameserver",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstreams {
    pub servers: Vec<Upstream>,
    pub origin: UpstreamOrigin,
}

/// The embedded DNS server's upstreams for a container whose resolv.conf reads
/// `container_file`, started with `settings`, on a host whose resolv.conf (the one
/// [`host_file_path`] names) reads `host_file` (None: missing).
pub fn embedded_upstreams(
    container_file: &str,
    settings: &DockerDnsSettings,
    host_file: Option<&str>,
) -> Upstreams {
    let mut u = all_upstreams(container_file, settings, host_file);
    u.servers.truncate(MAX_UPSTREAMS);
    u
}

fn all_upstreams(container_file: &str, settings: &DockerDnsSettings, host_file: Option<&str>) -> Upstreams {
    if let Some(servers) = ext_servers_comment(container_file) {
        return Upstreams { servers, origin: UpstreamOrigin::ContainerFile };
    }
    let in_container = |addr: &IpAddr| Upstream { addr: *addr, from: UpstreamNetns::Container };
    if !settings.dns.is_empty() {
        let servers = settings.dns.iter().map(in_container).collect();
        return Upstreams { servers, origin: UpstreamOrigin::DockerRunDns };
    }
    // 20.10 takes the host's IPv4 nameservers; with --dns-search or --dns-option alone it
    // rebuilds the file from them and then queries all of them from the container.
    let host = super::ResolverConfig::all_nameservers(host_file.unwrap_or_default());
    let rebuilt = !settings.dns_search.is_empty() || !settings.dns_options.is_empty();
    let servers: Vec<Upstream> = host
        .iter()
        .filter(|a| a.is_ipv4())
        .map(|addr| Upstream {
            addr: *addr,
            from: if addr.is_loopback() && !rebuilt { UpstreamNetns::Host } else { UpstreamNetns::Container },
        })
        .collect();
    // With no IPv4 server 20.10 reads its own filtered copy, which holds the defaults only
    // when the host named no usable server at all (IPv6 ones are left to the container).
    if servers.is_empty() && host.iter().all(IpAddr::is_loopback) {
        let servers = DOCKER_DEFAULT_NAMESERVERS.iter().map(in_container).collect();
        return Upstreams { servers, origin: UpstreamOrigin::DockerDefaults };
    }
    Upstreams { servers, origin: UpstreamOrigin::HostFile }
}

/// The nameservers Docker writes for a container on the default bridge (no embedded DNS),
/// and whether they are Docker's defaults because none of the host's were usable.
pub fn default_bridge_nameservers(host_file: Option<&str>, ipv6: bool) -> (Vec<IpAddr>, bool) {
    let host = super::ResolverConfig::all_nameservers(host_file.unwrap_or_default());
    let kept: Vec<IpAddr> = host.into_iter().filter(|a| !a.is_loopback() && (ipv6 || a.is_ipv4())).collect();
    if kept.is_empty() { (DOCKER_DEFAULT_NAMESERVERS.to_vec(), true) } else { (kept, false) }
}

/// The host file Docker reads, given the text of /etc/resolv.conf: systemd-resolved's own
/// file when /etc/resolv.conf names only its stub, 127.0.0.53.
pub fn host_file_path(etc_resolv_conf: &str) -> &'static str {
    let stub: IpAddr = Ipv4Addr::new(127, 0, 0, 53).into();
    if super::ResolverConfig::all_nameservers(etc_resolv_conf) == [stub] {
        SYSTEMD_RESOLV_CONF
    } else {
        HOST_RESOLV_CONF
    }
}

/// Docker 25+'s `# ExtServers: [host(127.0.0.53) 10.0.0.2]` line, or its
/// `# NO EXTERNAL NAMESERVERS DEFINED` warning (an empty list); None when the file has neither
/// (Docker 20.10, or a file someone rewrote).
fn ext_servers_comment(text: &str) -> Option<Vec<Upstream>> {
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line == "# NO EXTERNAL NAMESERVERS DEFINED" {
            found.get_or_insert_with(Vec::new);
        }
        let Some(list) = line.strip_prefix("# ExtServers: [").and_then(|l| l.strip_suffix(']')) else {
            continue;
        };
        let servers = list
            .split_whitespace()
            .filter_map(|word| match word.strip_prefix("host(").and_then(|w| w.strip_suffix(')')) {
                Some(addr) => addr.parse().ok().map(|addr| Upstream { addr, from: UpstreamNetns::Host }),
                None => word.parse().ok().map(|addr| Upstream { addr, from: UpstreamNetns::Container }),
            })
            .collect();
        found = Some(servers);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn up(s: &str, from: UpstreamNetns) -> Upstream {
        Upstream { addr: ip(s), from }
    }

    const EMBEDDED_20_10: &str = "nameserver 127.0.0.11\noptions ndots:0\n";

    #[test]
    fn docker_25_lists_its_upstreams_in_the_file() {
        let file = "nameserver 127.0.0.11\noptions ndots:0\n\n# Based on host file: '/etc/resolv.conf' \
                    (internal resolver)\n# ExtServers: [host(127.0.0.53) 10.0.0.2]\n# Overrides: []\n";
        let u = embedded_upstreams(file, &DockerDnsSettings::default(), Some("nameserver 9.9.9.9\n"));
        assert_eq!(u.origin, UpstreamOrigin::ContainerFile);
        assert_eq!(
            u.servers,
            vec![up("127.0.0.53", UpstreamNetns::Host), up("10.0.0.2", UpstreamNetns::Container)]
        );
        let none = "nameserver 127.0.0.11\n# NO EXTERNAL NAMESERVERS DEFINED\n# Overrides: []\n";
        let u = embedded_upstreams(none, &DockerDnsSettings::default(), Some("nameserver 9.9.9.9\n"));
        assert_eq!((u.servers.len(), u.origin), (0, UpstreamOrigin::ContainerFile));
    }

    #[test]
    fn settings_from_inspect() {
        let hc = bollard::models::HostConfig {
            dns: Some(vec!["10.0.0.2".into(), "bogus".into()]),
            dns_search: Some(vec!["corp.example".into()]),
            ..Default::default()
        };
        let s = DockerDnsSettings::from_host_config(&hc);
        assert_eq!(s.dns, vec![ip("10.0.0.2")]);
        assert_eq!(s.dns_search, vec!["corp.example"]);
        assert!(s.dns_options.is_empty());
        assert_eq!(DockerDnsSettings::from_host_config(&Default::default()), DockerDnsSettings::default());
    }

    #[test]
    fn docker_run_dns_is_queried_from_the_container() {
        let s = DockerDnsSettings { dns: vec![ip("10.0.0.2"), ip("127.0.0.1")], ..Default::default() };
        let u = embedded_upstreams(EMBEDDED_20_10, &s, Some("nameserver 192.168.1.1\n"));
        assert_eq!(u.origin, UpstreamOrigin::DockerRunDns);
        assert_eq!(
            u.servers,
            vec![up("10.0.0.2", UpstreamNetns::Container), up("127.0.0.1", UpstreamNetns::Container)]
        );
        let many = DockerDnsSettings {
            dns: (1..=5).map(|i| ip(&format!("10.0.0.{i}"))).collect(),
            ..Default::default()
        };
        assert_eq!(embedded_upstreams(EMBEDDED_20_10, &many, None).servers.len(), MAX_UPSTREAMS);
    }

    #[test]
    fn host_file_loopback_servers_are_asked_from_the_host() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver 2001:db8::53\n";
        let u = embedded_upstreams(EMBEDDED_20_10, &DockerDnsSettings::default(), Some(host));
        assert_eq!(u.origin, UpstreamOrigin::HostFile);
        assert_eq!(
            u.servers,
            vec![up("127.0.0.53", UpstreamNetns::Host), up("10.0.0.2", UpstreamNetns::Container)]
        );
        // --dns-search alone: 20.10 rebuilt the file from the host's servers, all asked from inside.
        let s = DockerDnsSettings { dns_search: vec!["corp.example".into()], ..Default::default() };
        let u = embedded_upstreams(EMBEDDED_20_10, &s, Some(host));
        assert!(u.servers.iter().all(|s| s.from == UpstreamNetns::Container));
    }

    #[test]
    fn no_host_nameserver_means_dockers_defaults() {
        for host in [None, Some(""), Some("search corp.example\n"), Some("nameserver ::1\n")] {
            let u = embedded_upstreams(EMBEDDED_20_10, &DockerDnsSettings::default(), host);
            assert_eq!(u.origin, UpstreamOrigin::DockerDefaults, "{host:?}");
            assert_eq!(u.servers.iter().map(|s| s.addr).collect::<Vec<_>>(), DOCKER_DEFAULT_NAMESERVERS);
        }
        // An IPv6 server stays in the container's own file; the embedded DNS forwards nowhere.
        let u = embedded_upstreams(
            EMBEDDED_20_10,
            &DockerDnsSettings::default(),
            Some("nameserver 2001:db8::53\n"),
        );
        assert_eq!((u.servers.len(), u.origin), (0, UpstreamOrigin::HostFile));
    }

    #[test]
    fn default_bridge_drops_loopback_servers() {
        let host = "nameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::53\n";
        assert_eq!(default_bridge_nameservers(Some(host), false), (vec![ip("10.0.0.2")], false));
        assert_eq!(
            default_bridge_nameservers(Some(host), true),
            (vec![ip("10.0.0.2"), ip("2001:db8::53")], false)
        );
        let (ns, defaults) = default_bridge_nameservers(Some("nameserver 127.0.0.53\n"), false);
        assert!(defaults);
        assert_eq!(ns, DOCKER_DEFAULT_NAMESERVERS);
    }

    #[test]
    fn systemd_resolved_stub_is_looked_through() {
        assert_eq!(host_file_path("nameserver 127.0.0.53\noptions edns0 trust-ad\n"), SYSTEMD_RESOLV_CONF);
        assert_eq!(host_file_path("nameserver 127.0.0.53\nnameserver 10.0.0.2\n"), HOST_RESOLV_CONF);
        assert_eq!(host_file_path("nameserver 10.0.0.2\n"), HOST_RESOLV_CONF);
    }
}
