//! The model step of a trace: Docker's and the host's view, and the two endpoints resolved in
//! it (checked: a stopped container, or one without network, is a usage error).
use super::request::check_endpoints;
use crate::{
    cli::TraceArgs,
    error::Result,
    model::{
        EndpointArg, EndpointSpec, ModelError, NetnsRef, ResolvedEndpoint, Topology, netns_inode,
        resolve_pair,
    },
};

pub struct Endpoints {
    pub topology: Topology,
    pub from: ResolvedEndpoint,
    pub to: ResolvedEndpoint,
    /// The inode of the namespace the probe leaves from (0: the tool's own).
    pub source_netns: u32,
}

pub async fn resolve(args: &TraceArgs, from: &EndpointArg, to: &EndpointArg) -> Result<Endpoints> {
    let topology = topology(args, from, to).await?;
    let (from, to) = resolve_pair(&topology, from, to, args.family()).await?;
    check_endpoints(&from, &to)?;
    let source_netns = match &from.netns {
        Some(NetnsRef::Path(path)) => netns_inode(path).map(|i| i as u32).unwrap_or(0),
        _ => 0,
    };
    Ok(Endpoints { topology, from, to, source_netns })
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
