//! Turning parsed `--from`/`--to` arguments into concrete endpoints on this host: an IPv4
//! address, the namespace to send from or arrive in, and what they are (container, host...).
use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr, ToSocketAddrs},
    path::PathBuf,
};

use serde::{Serialize, Serializer};

use super::{
    Container, Endpoint, EndpointArg, EndpointSpec, HostNet, ModelError, NetworkMode, Topology, netns,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    Container,
    Host,
    Address,
    Netns,
    Pid,
}

impl EndpointKind {
    /// The kind as JSON spells it (`container`, `host`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Host => "host",
            Self::Address => "address",
            Self::Netns => "netns",
            Self::Pid => "pid",
        }
    }
}

/// A network namespace: the tool's own ("host") or one named by a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsRef {
    Host,
    Path(PathBuf),
}

impl fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("host"),
            Self::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Serialize for NetnsRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a resolved endpoint cannot take part in a trace as is; the trace explains it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum EndpointIssue {
    /// The container is not running (state as Docker says: exited, created, paused...).
    NotRunning { state: String },
    /// `--network host`: the container's namespace is the host's.
    HostNetwork,
    /// `--network none`: only loopback.
    NoNetwork,
    /// Running, but no IPv4 address on any network.
    NoAddress,
    /// A DNS name that did not resolve as the source resolves it: the trace's DNS leg says why.
    Unresolved,
}

/// The container behind an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    pub state: String,
    pub network_mode: NetworkMode,
}

impl ContainerRef {
    fn of(c: &Container) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            state: c.state.clone(),
            network_mode: c.network_mode.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ResolvedEndpoint {
    pub kind: EndpointKind,
    /// Container name, `host`, the address or DNS name given, `netns:NAME`, `pid:PID`.
    pub name: String,
    /// 0.0.0.0 when the endpoint has no address; `issue` then says why.
    pub ip: Ipv4Addr,
    /// Where packets leave (source) or arrive (target); None for an address not on this host.
    pub netns: Option<NetnsRef>,
    pub port: Option<u16>,
    /// The container this endpoint is, or whose address or namespace it names.
    pub container: Option<ContainerRef>,
    /// The Docker network the chosen address is on.
    pub network: Option<String>,
    pub issue: Option<EndpointIssue>,
}

/// How `--to`'s DNS name resolved as the source resolves it (the trace's DNS leg asks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameAnswer {
    Address(Ipv4Addr),
    Unresolved,
}

/// What an argument turned out to be, before addresses are chosen.
enum Identity<'a> {
    Host,
    Container(&'a Container),
    Address {
        ip: Ipv4Addr,
        label: String,
        /// A namespace under /run/netns that holds the address, when no container and not the
        /// host does.
        holder: Option<PathBuf>,
    },
    /// A DNS name without an address (yet).
    Unresolved {
        label: String,
    },
    /// `netns:`/`pid:`; `container` when it is a container's namespace, `net` None when it is
    /// the host's (or the container's, whose model is already known).
    Namespace {
        kind: EndpointKind,
        label: String,
        path: PathBuf,
        container: Option<&'a Container>,
        net: Option<HostNet>,
    },
}

/// Resolves both ends of a trace; the choice of each end's address depends on the other end.
/// A target that is a DNS name comes out without an address (see [`resolve_pair_answered`]).
pub async fn resolve_pair(
    topo: &Topology,
    from: &EndpointArg,
    to: &EndpointArg,
) -> Result<(ResolvedEndpoint, ResolvedEndpoint), ModelError> {
    resolve_pair_answered(topo, from, to, None).await
}

/// [`resolve_pair`], with the answer to `--to`'s DNS name as the source resolved it.
pub async fn resolve_pair_answered(
    topo: &Topology,
    from: &EndpointArg,
    to: &EndpointArg,
    answer: Option<NameAnswer>,
) -> Result<(ResolvedEndpoint, ResolvedEndpoint), ModelError> {
    let src = identify(topo, from, None).await?;
    let dst = identify(topo, to, Some(answer.unwrap_or(NameAnswer::Unresolved))).await?;
    let target = resolve_target(topo, &dst, to.port, &src)?;
    let source = resolve_source(topo, &src, from.port, &target)?;
    Ok((source, target))
}

/// The DNS name an argument names: a name with a dot that is no container's (container names
/// may contain dots too, so DNS is only the second guess).
pub fn dns_name<'a>(topo: &Topology, arg: &'a EndpointArg) -> Result<Option<&'a str>, ModelError> {
    let EndpointSpec::Name(name) = &arg.spec else { return Ok(None) };
    match topo.container(name) {
        Ok(_) => Ok(None),
        Err(ModelError::UnknownContainer { .. }) if name.contains('.') => Ok(Some(name)),
        Err(e) => Err(e),
    }
}

/// `answer`: for a target, how its DNS name resolved as the source sees it; None for a source,
/// whose DNS name the host resolves.
async fn identify<'a>(
    topo: &'a Topology,
    arg: &EndpointArg,
    answer: Option<NameAnswer>,
) -> Result<Identity<'a>, ModelError> {
    match &arg.spec {
        EndpointSpec::Host => Ok(Identity::Host),
        EndpointSpec::Address(ip) => {
            Ok(Identity::Address { ip: *ip, label: ip.to_string(), holder: holder(topo, *ip).await })
        }
        EndpointSpec::Name(name) => match (dns_name(topo, arg)?, answer) {
            (None, _) => topo.container(name).map(Identity::Container),
            (Some(_), Some(NameAnswer::Address(ip))) => {
                Ok(Identity::Address { ip, label: name.clone(), holder: holder(topo, ip).await })
            }
            (Some(_), Some(NameAnswer::Unresolved)) => Ok(Identity::Unresolved { label: name.clone() }),
            (Some(_), None) => {
                let ip = lookup_dns(name).await?;
                Ok(Identity::Address { ip, label: name.clone(), holder: holder(topo, ip).await })
            }
        },
        EndpointSpec::Netns(name) => {
            namespace(topo, EndpointKind::Netns, format!("netns:{name}"), netns::named_netns_path(name)).await
        }
        EndpointSpec::Pid(pid) => {
            namespace(topo, EndpointKind::Pid, format!("pid:{pid}"), netns::pid_netns_path(*pid)).await
        }
    }
}

async fn namespace<'a>(
    topo: &'a Topology,
    kind: EndpointKind,
    label: String,
    path: PathBuf,
) -> Result<Identity<'a>, ModelError> {
    let inode = netns::netns_inode(&path)?;
    // The host's namespace is the host even when `--network host` containers share it.
    let is_host = inode == topo.host_netns_inode;
    let container = if is_host { None } else { topo.container_by_netns_inode(inode) };
    let known = is_host || container.is_some();
    let net = if known { None } else { Some(HostNet::load(Some(&path)).await?) };
    Ok(Identity::Namespace { kind, label, path, container, net })
}

/// The named namespace (under /run/netns) holding `ip`, when no container and not the host
/// holds it: an address endpoint then sends from, or arrives in, that namespace. Only a
/// namespace linked to this one (a veth between them) counts, and only when it is the one:
/// other namespaces on the machine may hold the same address for networks of their own.
async fn holder(topo: &Topology, ip: Ipv4Addr) -> Option<PathBuf> {
    if topo.container_by_ip(ip).is_some() || topo.host.owner_of(ip).is_some() || ip.is_loopback() {
        return None;
    }
    let mut notes = Vec::new();
    let members = super::plain::read_members(topo.host_netns_inode, &mut notes).await;
    let mut linked = Vec::new();
    for m in members.into_iter().filter(|m| m.net.owner_of(ip).is_some()) {
        let nsid = super::plain::nsid_of(&m.name).await;
        if nsid.is_some() && topo.host.links.iter().any(|l| l.link_netnsid == nsid) {
            linked.push(m.path);
        }
    }
    match linked.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The host's system resolver, for a source named by DNS (blocking, so off the async
/// threads); the first IPv4 answer.
async fn lookup_dns(name: &str) -> Result<Ipv4Addr, ModelError> {
    let owned = name.to_string();
    let answer = tokio::task::spawn_blocking(move || (owned.as_str(), 0).to_socket_addrs())
        .await
        .map_err(|e| ModelError::Dns { name: name.into(), reason: e.to_string() })?;
    let dns_err = |reason: String| ModelError::Dns { name: name.into(), reason };
    let addrs = answer.map_err(|e| dns_err(e.to_string()))?;
    addrs
        .filter_map(|a| match a {
            SocketAddr::V4(v4) => Some(*v4.ip()),
            SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| dns_err("it has no IPv4 address".into()))
}

fn resolve_target(
    topo: &Topology,
    dst: &Identity,
    port: Option<u16>,
    src: &Identity,
) -> Result<ResolvedEndpoint, ModelError> {
    let peer_container = container_of(src);
    let peer_ip = match src {
        Identity::Address { ip, .. } => Some(*ip),
        _ => None,
    };
    match dst {
        Identity::Host => {
            // From a container, the host is where the container reaches it: the gateway of its
            // bridge network (what host-gateway and host.docker.internal give). Otherwise the
            // host's main address.
            let gateway = peer_container.and_then(|c| host_gateway(topo, c));
            let ip = gateway.or_else(|| topo.host.default_route_ipv4()).or_else(|| topo.host.primary_ipv4());
            let ip = ip.ok_or_else(|| ModelError::NoAddress { what: "the Docker host".into() })?;
            Ok(plain(EndpointKind::Host, "host", ip, Some(NetnsRef::Host), port))
        }
        Identity::Unresolved { label } => {
            let mut r = plain(EndpointKind::Address, label, Ipv4Addr::UNSPECIFIED, None, port);
            r.issue = Some(EndpointIssue::Unresolved);
            Ok(r)
        }
        Identity::Address { ip, label, .. } if ip.is_loopback() => {
            // A container's 127.0.0.0/8 is its own loopback, never the host's.
            match peer_container.filter(|c| c.is_running() && own_namespace(topo, c)) {
                Some(c) => Ok(own_loopback(c, *ip, label, port)),
                None => resolve_side(topo, dst, port, peer_container, peer_ip, false),
            }
        }
        _ => resolve_side(topo, dst, port, peer_container, peer_ip, false),
    }
}

fn resolve_source(
    topo: &Topology,
    src: &Identity,
    port: Option<u16>,
    target: &ResolvedEndpoint,
) -> Result<ResolvedEndpoint, ModelError> {
    let target_container = target.container.as_ref().and_then(|c| topo.container(&c.id).ok());
    let target_ip = Some(target.ip).filter(|ip| !ip.is_unspecified());
    resolve_side(topo, src, port, target_container, target_ip, true)
}

/// One end, given what is known of the other end (`peer_*`).
fn resolve_side(
    topo: &Topology,
    id: &Identity,
    port: Option<u16>,
    peer_container: Option<&Container>,
    peer_ip: Option<Ipv4Addr>,
    is_source: bool,
) -> Result<ResolvedEndpoint, ModelError> {
    match id {
        Identity::Host => {
            let ip = peer_ip.and_then(|p| topo.host.source_for(p)).or_else(|| topo.host.primary_ipv4());
            let ip = ip.ok_or_else(|| ModelError::NoAddress { what: "the Docker host".into() })?;
            Ok(plain(EndpointKind::Host, "host", ip, Some(NetnsRef::Host), port))
        }
        Identity::Container(c) => {
            Ok(container_side(topo, c, EndpointKind::Container, &c.name, None, port, peer_container, peer_ip))
        }
        Identity::Address { ip, label, holder } => {
            let mut r = address_side(topo, *ip, label, port, is_source);
            if r.netns.is_none() {
                r.netns = holder.clone().map(NetnsRef::Path);
            }
            Ok(r)
        }
        Identity::Unresolved { label } => Err(ModelError::NoAddress { what: label.clone() }),
        Identity::Namespace { kind, label, path, container: Some(c), .. } => {
            let ns = Some(NetnsRef::Path(path.clone()));
            Ok(container_side(topo, c, *kind, label, ns, port, peer_container, peer_ip))
        }
        Identity::Namespace { kind, label, path, container: None, net } => {
            let (net, ns) = match net {
                Some(n) => (n, NetnsRef::Path(path.clone())),
                None => (&topo.host, NetnsRef::Host),
            };
            let ip = peer_ip.and_then(|p| net.source_for(p)).or_else(|| net.primary_ipv4());
            let ip = ip.ok_or_else(|| ModelError::NoAddress { what: label.clone() })?;
            Ok(plain(*kind, label, ip, Some(ns), port))
        }
    }
}

/// The host's address on the bridge network `c` reaches the host through (its gateway).
fn host_gateway(topo: &Topology, c: &Container) -> Option<Ipv4Addr> {
    let e = pick_endpoint(topo, c, None, None)?;
    let bridged = topo.network(&e.network).is_some_and(|n| n.bridge.is_some());
    e.gateway.filter(|_| bridged)
}

/// Whether `c` has a namespace of its own (not the host's).
fn own_namespace(topo: &Topology, c: &Container) -> bool {
    let owner = match &c.network_mode {
        NetworkMode::Container(x) => topo.container(x).unwrap_or(c),
        _ => c,
    };
    owner.network_mode != NetworkMode::Host
}

/// A loopback address as the container `c` itself holds it.
fn own_loopback(c: &Container, ip: Ipv4Addr, label: &str, port: Option<u16>) -> ResolvedEndpoint {
    let mut r = plain(EndpointKind::Address, label, ip, c.netns.clone().map(NetnsRef::Path), port);
    r.container = Some(ContainerRef::of(c));
    r
}

/// A container end: its address on the subnet of the peer's address, else on a network shared
/// with the peer, else on its first network; flagged when it cannot take part.
#[allow(clippy::too_many_arguments)]
fn container_side(
    topo: &Topology,
    c: &Container,
    kind: EndpointKind,
    label: &str,
    netns_override: Option<NetnsRef>,
    port: Option<u16>,
    peer_container: Option<&Container>,
    peer_ip: Option<Ipv4Addr>,
) -> ResolvedEndpoint {
    let mut r = plain(kind, label, Ipv4Addr::UNSPECIFIED, None, port);
    r.container = Some(ContainerRef::of(c));
    // With `container:X` the namespace, and so the network mode that matters, is X's.
    let owner = match &c.network_mode {
        NetworkMode::Container(x) => topo.container(x).unwrap_or(c),
        _ => c,
    };
    if !c.is_running() {
        r.issue = Some(EndpointIssue::NotRunning { state: c.state.clone() });
        return r;
    }
    r.netns = netns_override.or_else(|| c.netns.clone().map(NetnsRef::Path));
    match owner.network_mode {
        NetworkMode::Host => {
            r.issue = Some(EndpointIssue::HostNetwork);
            r.netns = Some(NetnsRef::Host);
            let ip = peer_ip.and_then(|p| topo.host.source_for(p)).or_else(|| topo.host.primary_ipv4());
            r.ip = ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        }
        NetworkMode::None => r.issue = Some(EndpointIssue::NoNetwork),
        _ => match pick_endpoint(topo, c, peer_container, peer_ip) {
            Some(e) => {
                r.ip = e.ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
                r.network = Some(e.network.clone());
            }
            None => r.issue = Some(EndpointIssue::NoAddress),
        },
    }
    r
}

/// The endpoint of `c` to use against the peer (see [`container_side`]).
fn pick_endpoint<'a>(
    topo: &'a Topology,
    c: &'a Container,
    peer_container: Option<&Container>,
    peer_ip: Option<Ipv4Addr>,
) -> Option<&'a Endpoint> {
    let mut with_ip = topo.endpoints_of(c).iter().filter(|e| e.ip.is_some());
    let shared = peer_container.map(|p| topo.shared_networks(c, p)).unwrap_or_default();
    let on_subnet = |e: &&Endpoint| {
        let net = e.ip.and_then(|ip| super::prefix::prefix(ip, e.prefix_len));
        peer_ip.is_some_and(|p| net.is_some_and(|n| n.contains(&p)))
    };
    // The peer's own subnet first: for a container peer it is the shared network anyway, and
    // for an address it is the network the packet really leaves on.
    with_ip
        .clone()
        .find(on_subnet)
        .or_else(|| with_ip.clone().find(|e| shared.contains(&e.network)))
        .or_else(|| with_ip.next())
}

/// A peer named only by its address (a nameserver): in the container or on the host that
/// holds it, if any; `port` as given.
pub fn address_endpoint(topo: &Topology, ip: Ipv4Addr, port: Option<u16>) -> ResolvedEndpoint {
    address_side(topo, ip, &ip.to_string(), port, false)
}

/// The host as a source towards `peer`: the address it would send from.
pub fn host_endpoint(topo: &Topology, peer: Ipv4Addr) -> ResolvedEndpoint {
    let ip = topo.host.source_for(peer).or_else(|| topo.host.primary_ipv4()).unwrap_or(Ipv4Addr::UNSPECIFIED);
    plain(EndpointKind::Host, "host", ip, Some(NetnsRef::Host), None)
}

/// An address end: inside the container or on the host that holds it, if any.
fn address_side(
    topo: &Topology,
    ip: Ipv4Addr,
    label: &str,
    port: Option<u16>,
    is_source: bool,
) -> ResolvedEndpoint {
    let mut r = plain(EndpointKind::Address, label, ip, None, port);
    if let Some((c, e)) = topo.container_by_ip(ip) {
        r.container = Some(ContainerRef::of(c));
        r.network = Some(e.network.clone());
        r.netns = c.netns.clone().map(NetnsRef::Path);
    } else if topo.host.owner_of(ip).is_some() || (is_source && ip.is_loopback()) {
        r.netns = Some(NetnsRef::Host);
    }
    r
}

fn plain(
    kind: EndpointKind,
    name: &str,
    ip: Ipv4Addr,
    netns: Option<NetnsRef>,
    port: Option<u16>,
) -> ResolvedEndpoint {
    ResolvedEndpoint { kind, name: name.into(), ip, netns, port, container: None, network: None, issue: None }
}

fn container_of<'a>(id: &Identity<'a>) -> Option<&'a Container> {
    match id {
        Identity::Container(c) => Some(c),
        Identity::Namespace { container, .. } => *container,
        _ => None,
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
