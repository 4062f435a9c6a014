//! The model step of a trace: Docker's and the host's view, and the two endpoints resolved in
//! it (checked: a stopped container, or one without network, is a usage error). A target
//! named by DNS has no address until the DNS leg resolved it as the source does
//! ([`Endpoints::answered`]).
use super::request::check_endpoints;
use crate::{
    cli::TraceArgs,
    dns::DnsName,
    error::{Error, Result},
    model::{
        EndpointArg, EndpointSpec, ModelError, NameAnswer, NetnsRef, ResolvedEndpoint, Topology, dns_name,
        netns_inode, resolve_pair_answered,
    },
};

pub struct Endpoints {
    pub topology: Topology,
    pub from: ResolvedEndpoint,
    pub to: ResolvedEndpoint,
    /// The inode of the namespace the probe leaves from (0: the tool's own).
    pub source_netns: u32,
    /// `--to`'s DNS name, when it names no container: resolved as the source resolves it.
    pub dns_name: Option<DnsName>,
}

pub async fn resolve(args: &TraceArgs, from: &EndpointArg, to: &EndpointArg) -> Result<Endpoints> {
    let topology = topology(args, from, to).await?;
    // A name DNS cannot carry is refused before anything is sent.
    let dns_name = dns_name(&topology, to)?
        .map(|n| DnsName::parse(n).map_err(|e| Error::Usage(e.to_string())))
        .transpose()?;
    let answer = dns_name.as_ref().map(|_| NameAnswer::Unresolved);
    let (from, to) = resolve_pair_answered(&topology, from, to, args.family(), answer).await?;
    check_endpoints(&from, &to)?;
    let source_netns = match &from.netns {
        Some(NetnsRef::Path(path)) => netns_inode(path).map(|i| i as u32).unwrap_or(0),
        _ => 0,
    };
    Ok(Endpoints { topology, from, to, source_netns, dns_name })
}

impl Endpoints {
    /// The pair again once the DNS leg resolved `--to`'s name to `ip`: the source's address
    /// (of `ip`'s family) and the target's place depend on it.
    pub async fn answered(
        &mut self,
        from: &EndpointArg,
        to: &EndpointArg,
        ip: std::net::IpAddr,
    ) -> Result<()> {
        let (f, t) =
            resolve_pair_answered(&self.topology, from, to, None, Some(NameAnswer::Address(ip))).await?;
        check_endpoints(&f, &t)?;
        (self.from, self.to) = (f, t);
        Ok(())
    }
}

/// The model, without Docker when the engine is unreachable and no endpoint names a container.
async fn topology(args: &TraceArgs, from: &EndpointArg, to: &EndpointArg) -> Result<Topology> {
    match Topology::load(args.docker.docker_host.as_deref()).await {
        Ok(t) => Ok(t),
        Err(ModelError::DockerUnreachable { host, reason })
            if !matches!(from.spec, EndpointSpec::Name(_)) && !matches!(to.spec, EndpointSpec::Name(_)) =>
        {
            let why = format!("no Docker Engine at {host} ({reason}): tracing without Docker's view");
            Ok(Topology::without_docker(host, why).await?)
        }
        Err(e) => Err(e.into()),
    }
}
