//! Containers that exit while they are traced: the source (nothing more can be sent, a usage
//! error) or the target (the verdict says so, and how to bring it back).
use super::verdict::TraceVerdict;
use crate::{
    cause::Cause,
    error::Error,
    model::{NetnsRef, ResolvedEndpoint},
};

/// A container endpoint whose process, and so its network namespace, is gone since the model
/// was read: it stopped (or restarted) during the trace.
pub fn exited(e: &ResolvedEndpoint) -> bool {
    e.container.is_some() && matches!(&e.netns, Some(NetnsRef::Path(p)) if !p.exists())
}

/// Sending failed because the source exited meanwhile: say so instead of the socket's error.
pub fn source_exited(from: &ResolvedEndpoint) -> Error {
    Error::Usage(format!(
        "container {0} exited during the trace (its network namespace is gone), so nothing more can be sent from it; start it again (docker start {0}) and trace again",
        from.name
    ))
}

/// The verdict, told with the target's exit when it exited during the trace.
pub fn with_target_exit(mut verdict: TraceVerdict, to: &ResolvedEndpoint) -> TraceVerdict {
    if !exited(to) {
        return verdict;
    }
    let gone = format!("{} exited during the trace", to.name);
    verdict.summary = if verdict.cause == Cause::Ok {
        format!("{}; then {gone}, so the later probes went unanswered", verdict.summary)
    } else {
        format!("{gone}, so it could not answer: {}", verdict.summary)
    };
    verdict.evidence.push(format!("{}'s network namespace is gone since the trace began", to.name));
    verdict.fix.insert(0, format!("docker start {}   # if it is still stopped", to.name));
    verdict
}
