//! Each phase of a trace marked in the debug log as `<phase>: <ms since the start> ms`;
//! `cargo xtask bench` reads them to say what a verdict's time is spent on.
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Phases(Instant);

impl Phases {
    pub fn start() -> Self {
        Self(Instant::now())
    }

    pub fn started(self) -> Instant {
        self.0
    }

    /// Logs that `what` ended now (under the trace's log target, wherever it is called).
    pub fn mark(self, what: &str) {
        log::debug!(target: "dockernet_trace::trace", "{what}: {} ms", self.0.elapsed().as_millis());
    }
}
