//! Turning parsed `--from`/`--to` arguments into concrete endpoints on this host: an address
//! of the trace's family (see `family`), the namespace to send from or arrive in, and what they
//! are (container, host...).
use std::{
    net::{IpAddr, ToSocketAddrs},
    path::PathBuf,
};

pub use super::resolved::{ContainerRef, EndpointIssue, EndpointKind, NetnsRef, ResolvedEndpoint};
use super::{
    Container, EndpointArg, EndpointSpec, HostNet, ModelError, NetworkMode, Topology,
    container_end::{ContainerSide, Peer, container_side, host_gateway, own_loopback, own_namespace},
    family::{self, Families, Offer},
    netns,
};
use crate::flow::IpFamily;

/// How `--to`'s DNS name resolved as the source resolves it (the trace's DNS leg asks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameAnswer {
    Address(IpAddr),
    Unresolved,
}

/// What an argument turned out to be, before addresses are chosen.
enum Identity<'a> {
    Host,
    Container(&'a Container),
    /// An address, or what a DNS name resolved to (IPv4 addresses first).
    Address {
        ips: Vec<IpAddr>,
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

/// Resolves both ends of a trace: first the address family (`asked`: `-4`/`-6`), then each
/// end's address, which depends on the other end. A target that is a DNS name comes out
/// without an address (see [`resolve_pair_answered`]).
pub async fn resolve_pair(
    topo: &Topology,
    from: &EndpointArg,
    to: &EndpointArg,
    asked: Option<IpFamily>,
) -> Result<(ResolvedEndpoint, ResolvedEndpoint), ModelError> {
    resolve_pair_answered(topo, from, to, asked, None).await
}

/// [`resolve_pair`], with the answer to `--to`'s DNS name as the source resolved it.
pub async fn resolve_pair_answered(
    topo: &Topology,
    from: &EndpointArg,
    to: &EndpointArg,
    asked: Option<IpFamily>,
    answer: Option<NameAnswer>,
) -> Result<(ResolvedEndpoint, ResolvedEndpoint), ModelError> {
    let src = identify(topo, from, None).await?;
    let dst = identify(topo, to, Some(answer.unwrap_or(NameAnswer::Unresolved))).await?;
    let family = family::choose(asked, &offer(topo, &src, from), &offer(topo, &dst, to))?;
    let target = resolve_target(topo, &dst, to.port, &src, family)?;
    let source = resolve_source(topo, &src, from.port, &target, family)?;
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
        EndpointSpec::Address(ip) => Ok(address(topo, vec![*ip], address_label(*ip)).await),
        EndpointSpec::Name(name) => match (dns_name(topo, arg)?, answer) {
            (None, _) => topo.container(name).map(Identity::Container),
            (Some(_), Some(NameAnswer::Address(ip))) => Ok(address(topo, vec![ip], name.clone()).await),
            (Some(_), Some(NameAnswer::Unresolved)) => Ok(Identity::Unresolved { label: name.clone() }),
            (Some(_), None) => Ok(address(topo, lookup_dns(name).await?, name.clone()).await),
        },
        EndpointSpec::Netns(name) => {
            namespace(topo, EndpointKind::Netns, format!("netns:{name}"), netns::named_netns_path(name)).await
        }
        EndpointSpec::Pid(pid) => {
            namespace(topo, EndpointKind::Pid, format!("pid:{pid}"), netns::pid_netns_path(*pid)).await
        }
    }
}

/// An address as endpoints name it: `10.0.0.1`, `[fd00::2]`.
fn address_label(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
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

/// An address end (`ips`: one address, or what a DNS name resolved to), with the namespace
/// that holds it when there is one address.
async fn address<'a>(topo: &Topology, ips: Vec<IpAddr>, label: String) -> Identity<'a> {
    let holder = match ips.as_slice() {
        [one] => holder(topo, *one).await,
        _ => None,
    };
    Identity::Address { ips, label, holder }
}

/// The named namespace (under /run/netns) holding `ip`, when no container and not the host
/// holds it: an address endpoint then sends from, or arrives in, that namespace. Only a
/// namespace linked to this one (a veth between them) counts, and only when it is the one:
/// other namespaces on the machine may hold the same address for networks of their own.
async fn holder(topo: &Topology, ip: IpAddr) -> Option<PathBuf> {
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
/// threads): every address, IPv4 first.
async fn lookup_dns(name: &str) -> Result<Vec<IpAddr>, ModelError> {
    let owned = name.to_string();
    let answer = tokio::task::spawn_blocking(move || (owned.as_str(), 0).to_socket_addrs())
        .await
        .map_err(|e| dns_error(name, e.to_string()))?;
    let mut ips: Vec<IpAddr> = answer.map_err(|e| dns_error(name, e.to_string()))?.map(|a| a.ip()).collect();
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips.dedup();
    if ips.is_empty() {
        return Err(dns_error(name, "it has no address".into()));
    }
    Ok(ips)
}

fn dns_error(name: &str, reason: String) -> ModelError {
    ModelError::Dns { name: name.into(), family: "IP".into(), reason }
}

/// The families an end has, with what to do when it lacks one.
fn offer(topo: &Topology, id: &Identity, arg: &EndpointArg) -> Offer {
    let host = |net: &HostNet| {
        Some(Families::of([IpFamily::V4, IpFamily::V6].into_iter().filter(|f| net.has_family(*f))))
    };
    let (families, hint) = match id {
        Identity::Host => {
            (host(&topo.host), "the host has no such address besides loopback and link-local".into())
        }
        Identity::Container(c) => (container_families(topo, c), container_hint(c)),
        Identity::Address { ips, .. } => {
            (Some(Families::of(ips.iter().map(IpFamily::of))), "it is an address of the other family".into())
        }
        // Its address comes from the DNS leg (IPv4: A records), or it has none.
        Identity::Unresolved { .. } => (None, "it resolves to no such address".into()),
        Identity::Namespace { container: Some(c), .. } => (container_families(topo, c), container_hint(c)),
        Identity::Namespace { net: Some(n), .. } => {
            (host(n), "add one to an interface of that namespace".into())
        }
        Identity::Namespace { .. } => (host(&topo.host), "the host has no such address".into()),
    };
    let what = match id {
        Identity::Host => "the host".into(),
        Identity::Container(c) => format!("container {}", c.name),
        _ => arg.input.clone(),
    };
    Offer { what, families, hint }
}

fn container_hint(c: &Container) -> String {
    format!(
        "connect it to a network that has one (docker network create --ipv6 ...; docker network connect NETWORK {})",
        c.name
    )
}

/// The families of a container's addresses; None while it has none to choose from (not
/// running, `--network none`): the trace refuses it for that.
fn container_families(topo: &Topology, c: &Container) -> Option<Families> {
    let owner = topo.namespace_owner(c);
    if !c.is_running() {
        return None;
    }
    match owner.network_mode {
        NetworkMode::Host => {
            Some(Families::of([IpFamily::V4, IpFamily::V6].into_iter().filter(|f| topo.host.has_family(*f))))
        }
        NetworkMode::None => None,
        _ => {
            let f =
                Families::of(topo.endpoints_of(c).iter().flat_map(|e| e.ips()).map(|ip| IpFamily::of(&ip)));
            (f != Families::default()).then_some(f)
        }
    }
}

fn resolve_target(
    topo: &Topology,
    dst: &Identity,
    port: Option<u16>,
    src: &Identity,
    family: IpFamily,
) -> Result<ResolvedEndpoint, ModelError> {
    let peer_container = container_of(src);
    let peer_ip = match src {
        Identity::Address { ips, .. } => ips.iter().copied().find(|ip| IpFamily::of(ip) == family),
        _ => None,
    };
    match dst {
        Identity::Host => {
            // From a container, the host is where the container reaches it: the gateway of its
            // bridge network (what host-gateway and host.docker.internal give). Otherwise the
            // host's main address.
            let gateway = peer_container.and_then(|c| host_gateway(topo, c, family));
            let host = &topo.host;
            let ip = gateway.or_else(|| host.default_route_ip(family)).or_else(|| host.primary(family));
            let ip = ip.ok_or_else(|| no_address("the Docker host", family))?;
            Ok(ResolvedEndpoint::plain(EndpointKind::Host, "host", ip, Some(NetnsRef::Host), port))
        }
        Identity::Unresolved { label } => {
            let mut r =
                ResolvedEndpoint::plain(EndpointKind::Address, label, family.unspecified(), None, port);
            r.issue = Some(EndpointIssue::Unresolved);
            Ok(r)
        }
        Identity::Address { ips, label, .. } => {
            // A container's 127.0.0.0/8 (::1) is its own loopback, never the host's.
            let lo = ips.iter().copied().find(|ip| IpFamily::of(ip) == family && ip.is_loopback());
            let own = peer_container.filter(|c| c.is_running() && own_namespace(topo, c));
            match (lo, own) {
                (Some(ip), Some(c)) => Ok(own_loopback(c, ip, label, port)),
                _ => resolve_side(topo, dst, port, (peer_container, peer_ip), false, family),
            }
        }
        _ => resolve_side(topo, dst, port, (peer_container, peer_ip), false, family),
    }
}

fn no_address(what: &str, family: IpFamily) -> ModelError {
    ModelError::NoAddress {
        what: what.into(),
        family: family.name().into(),
        hint: "give an endpoint that has one".into(),
    }
}

fn resolve_source(
    topo: &Topology,
    src: &Identity,
    port: Option<u16>,
    target: &ResolvedEndpoint,
    family: IpFamily,
) -> Result<ResolvedEndpoint, ModelError> {
    let target_container = target.container.as_ref().and_then(|c| topo.container(&c.id).ok());
    let target_ip = Some(target.ip).filter(|ip| !ip.is_unspecified());
    resolve_side(topo, src, port, (target_container, target_ip), true, family)
}

/// One end, given what is known of the other end.
fn resolve_side(
    topo: &Topology,
    id: &Identity,
    port: Option<u16>,
    (peer_container, peer_ip): Peer,
    is_source: bool,
    family: IpFamily,
) -> Result<ResolvedEndpoint, ModelError> {
    let from_net = |net: &HostNet| peer_ip.and_then(|p| net.source_for(p)).or_else(|| net.primary(family));
    match id {
        Identity::Host => {
            let ip = from_net(&topo.host).ok_or_else(|| no_address("the Docker host", family))?;
            Ok(ResolvedEndpoint::plain(EndpointKind::Host, "host", ip, Some(NetnsRef::Host), port))
        }
        Identity::Container(c) => {
            let side = ContainerSide { kind: EndpointKind::Container, label: &c.name, netns: None, port };
            Ok(container_side(topo, c, side, (peer_container, peer_ip), family))
        }
        Identity::Address { ips, label, holder } => {
            let ip = ips.iter().copied().find(|ip| IpFamily::of(ip) == family);
            let ip = ip.ok_or_else(|| no_address(label, family))?;
            let mut r = address_side(topo, ip, label, port, is_source);
            if r.netns.is_none() {
                r.netns = holder.clone().map(NetnsRef::Path);
            }
            Ok(r)
        }
        Identity::Unresolved { label } => Err(no_address(label, family)),
        Identity::Namespace { kind, label, path, container: Some(c), .. } => {
            let side = ContainerSide { kind: *kind, label, netns: Some(NetnsRef::Path(path.clone())), port };
            Ok(container_side(topo, c, side, (peer_container, peer_ip), family))
        }
        Identity::Namespace { kind, label, path, container: None, net } => {
            let (net, ns) = match net {
                Some(n) => (n, NetnsRef::Path(path.clone())),
                None => (&topo.host, NetnsRef::Host),
            };
            let ip = from_net(net).ok_or_else(|| no_address(label, family))?;
            Ok(ResolvedEndpoint::plain(*kind, label, ip, Some(ns), port))
        }
    }
}

/// A peer named only by its address (a nameserver): in the container or on the host that
/// holds it, if any; `port` as given.
pub fn address_endpoint(topo: &Topology, ip: IpAddr, port: Option<u16>) -> ResolvedEndpoint {
    address_side(topo, ip, &ip.to_string(), port, false)
}

/// The host as a source towards `peer`: the address it would send from.
pub fn host_endpoint(topo: &Topology, peer: IpAddr) -> ResolvedEndpoint {
    let family = IpFamily::of(&peer);
    let ip = topo.host.source_for(peer).or_else(|| topo.host.primary(family)).unwrap_or(family.unspecified());
    ResolvedEndpoint::plain(EndpointKind::Host, "host", ip, Some(NetnsRef::Host), None)
}

/// An address end: inside the container or on the host that holds it, if any.
fn address_side(
    topo: &Topology,
    ip: IpAddr,
    label: &str,
    port: Option<u16>,
    is_source: bool,
) -> ResolvedEndpoint {
    let mut r = ResolvedEndpoint::plain(EndpointKind::Address, label, ip, None, port);
    if let Some((c, e)) = topo.container_by_ip(ip) {
        r.container = Some(ContainerRef::of(c));
        r.network = Some(e.network.clone());
        r.netns = c.netns.clone().map(NetnsRef::Path);
    } else if topo.host.owner_of(ip).is_some() || (is_source && ip.is_loopback()) {
        r.netns = Some(NetnsRef::Host);
    }
    r
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
