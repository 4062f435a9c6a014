//! Targets no probe can reach, whatever the path: a container with `--network none` has only
//! its loopback. That is a verdict about the target (exit 1, a report like any other), given
//! without sending anything.
use super::verdict::{Location, TraceVerdict};
use crate::{
    cause::Cause,
    explain::NetnsLabel,
    model::{EndpointIssue, ResolvedEndpoint},
};

/// The verdict for a target that cannot be reached by design, if it is one.
pub fn verdict(to: &ResolvedEndpoint) -> Option<TraceVerdict> {
    if to.issue != Some(EndpointIssue::NoNetwork) {
        return None;
    }
    let name = to.container.as_ref().map_or(to.name.as_str(), |c| c.name.as_str());
    Some(TraceVerdict {
        cause: Cause::NoRoute,
        summary: format!(
            "{name} runs with --network none: it has only its loopback, so nothing outside it can reach it"
        ),
        location: Location {
            iface: Some("lo".into()),
            netns: Some(NetnsLabel::Container(name.to_string())),
            ..Location::default()
        },
        evidence: vec![
            format!("docker inspect {name}: HostConfig.NetworkMode is none"),
            "no probe was sent: there is no address to send it to".into(),
        ],
        fix: vec![format!("docker network connect bridge {name}   # or the network its clients are on")],
    })
}
