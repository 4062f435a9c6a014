//! The sockets at the probe's end, read once the probes are done: whether the port the probe
//! arrives at has a socket (a UDP datagram that got no reply was still delivered when one is
//! bound and the kernel dropped nothing), and which process holds the port on the host
//! (docker-proxy answers published ports in the container's place).
use std::{net::IpAddr, path::PathBuf};

use super::{endpoints::Endpoints, plan::Plan};
use crate::{
    explain::{Names, NetnsLabel},
    flow::Proto,
    model::{NetnsRef, Topology, listeners, netns, run_in_netns_async},
};

/// Where the probe is meant to arrive: the namespace and the port there.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub netns: NetnsLabel,
    pub port: u16,
    /// A socket listens (TCP) or is bound (UDP) there; None when that could not be read.
    pub socket: Option<bool>,
}

/// A docker-proxy process and where it forwards.
#[derive(Clone, Debug)]
pub struct Proxy {
    pub pid: u32,
    pub ip: IpAddr,
    pub port: u16,
    /// The container holding `ip`.
    pub container: Option<String>,
    /// Something listens on `port` in that container; None when that could not be read.
    pub listening: Option<bool>,
}

/// The process holding the probe's port on the host.
#[derive(Clone, Debug)]
pub struct HostHolder {
    pub pid: Option<u32>,
    pub command: Option<String>,
    /// It is docker-proxy, forwarding there.
    pub proxy: Option<Proxy>,
}

#[derive(Clone, Debug, Default)]
pub struct Sockets {
    pub arrival: Option<Arrival>,
    pub host_holder: Option<HostHolder>,
}

fn proto_name(p: Proto) -> &'static str {
    if p == Proto::Udp { "udp" } else { "tcp" }
}

/// Reads what the verdict needs about sockets at the target (nothing for ICMP).
pub async fn read(ends: &Endpoints, plan: &Plan, names: &Names) -> Sockets {
    if plan.proto == Proto::Icmp {
        return Sockets::default();
    }
    let proto = proto_name(plan.proto);
    let t = &ends.topology;
    let arrival = match arrival_place(ends, plan) {
        Some((path, port)) => {
            let inode = path.as_deref().map_or(Ok(t.host_netns_inode), netns::netns_inode);
            let label = inode.map(|i| names.netns_label(i as u32)).unwrap_or(NetnsLabel::Host);
            let socket = bound(path, proto, port).await;
            Some(Arrival { netns: label, port, socket })
        }
        None => None,
    };
    let on_host = plan.dnat.is_some() || ends.to.netns == Some(NetnsRef::Host);
    let host_holder = match (on_host, ends.to.port) {
        (true, Some(port)) => holder(t, proto, port).await,
        _ => None,
    };
    Sockets { arrival, host_holder }
}

/// The namespace (None: the host's) and port the probe should end in.
fn arrival_place(ends: &Endpoints, plan: &Plan) -> Option<(Option<PathBuf>, u16)> {
    if let Some(d) = &plan.dnat {
        let c = ends.topology.container(&d.container).ok()?;
        return Some((Some(c.netns.clone()?), d.port));
    }
    let port = ends.to.port?;
    match ends.to.netns.as_ref()? {
        NetnsRef::Host => Some((None, port)),
        NetnsRef::Path(p) => Some((Some(p.clone()), port)),
    }
}

async fn bound(path: Option<PathBuf>, proto: &'static str, port: u16) -> Option<bool> {
    run_in_netns_async(path.as_deref(), move || listeners::bound_here(proto, port)).await.ok().flatten()
}

/// Who holds `port` on the host; for docker-proxy, where it forwards and whether anything
/// listens there.
async fn holder(t: &Topology, proto: &'static str, port: u16) -> Option<HostHolder> {
    let l = tokio::task::spawn_blocking(move || listeners::host_listener(proto, port)).await.ok()??;
    let target = match (l.pid, l.command.as_deref()) {
        (Some(pid), Some("docker-proxy")) => listeners::proxy_target(pid).map(|t| (pid, t)),
        _ => None,
    };
    let proxy = match target {
        Some((pid, (ip, cport))) => {
            let owner = t.container_by_ip(ip);
            let listening = match owner.and_then(|(c, _)| c.netns.clone()) {
                Some(path) => bound(Some(path), proto, cport).await,
                None => None,
            };
            Some(Proxy { pid, ip, port: cport, container: owner.map(|(c, _)| c.name.clone()), listening })
        }
        None => None,
    };
    Some(HostHolder { pid: l.pid, command: l.command, proxy })
}
