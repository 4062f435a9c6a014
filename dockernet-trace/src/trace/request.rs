//! What the user asked to trace: the endpoint arguments checked before anything is read, and
//! the resolved endpoints checked before anything is sent (exit 2, with what to do).
use std::net::IpAddr;

use crate::{
    cli::TraceArgs,
    error::{Error, Result},
    flow::Proto,
    model::{EndpointArg, EndpointIssue, EndpointKind, EndpointSpec, ResolvedEndpoint},
};

/// `--from` and `--to`, parsed; a tcp/udp target without a port is a usage error.
pub fn parse(args: &TraceArgs) -> Result<(EndpointArg, EndpointArg)> {
    let from = EndpointArg::parse_source(args.from.as_deref().unwrap_or_default())?;
    let to = EndpointArg::parse_target(args.to.as_deref().unwrap_or_default(), args.proto == Proto::Icmp)?;
    if args.proto != Proto::Icmp && to.port.is_none() {
        // An IPv6 address with a port goes in brackets (without them, all of it is the address).
        let example = match &to.spec {
            EndpointSpec::Address(IpAddr::V6(ip)) => format!("[{ip}]:3306"),
            _ => format!("{}:3306", to.input),
        };
        return Err(Error::Usage(format!(
            "--to {} needs a port for {} (e.g. {example}), or use --proto icmp",
            to.input,
            args.proto.name()
        )));
    }
    Ok((from, to))
}

/// Endpoints the probe cannot use are errors that say why (exit 2); the others go on (a
/// target without network is a verdict: see `unprobed`).
pub fn check_endpoints(from: &ResolvedEndpoint, to: &ResolvedEndpoint) -> Result<()> {
    if from.kind == EndpointKind::Address && from.netns.is_none() {
        // Sending "from" it would send from the host with another source address: a probe
        // of nothing that exists.
        return Err(Error::Usage(format!(
            "--from {}: no container, no interface of this host and no namespace under /run/netns holds this address, so nothing can send from it; give a container, host, netns:NAME or pid:PID",
            from.name
        )));
    }
    let start = |c: &str| format!("start it with: docker start {c}");
    match (&from.issue, &to.issue) {
        (Some(EndpointIssue::NotRunning { state }), _) => Err(Error::Usage(format!(
            "container {} is not running ({state}), so nothing can be sent from it; {}",
            from.name,
            start(&from.name)
        ))),
        (_, Some(EndpointIssue::NotRunning { state })) => Err(Error::Usage(format!(
            "container {} is not running ({state}), so it has no address to reach; {}",
            to.name,
            start(&to.name)
        ))),
        (_, Some(EndpointIssue::NoAddress)) | (Some(EndpointIssue::NoAddress), _) => {
            let end = if to.issue == Some(EndpointIssue::NoAddress) { to } else { from };
            Err(Error::Usage(format!(
                "{} has no {} address to trace with; connect it to a network that has one{}",
                end.name,
                end.family(),
                if end.family() == crate::flow::IpFamily::V6 { " (created with --ipv6)" } else { "" }
            )))
        }
        _ => Ok(()),
    }
}
