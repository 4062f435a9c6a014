//! Reading Docker's view again after its events, in a task of its own: the watch goes on
//! draining the kernel's events meanwhile. Only what the events said changed is read again
//! (`Topology::reload`): the networks, the host's links and the containers named; a reopened
//! event stream (events may have been missed) reads everything.
use std::collections::BTreeSet;

use tokio::task::JoinHandle;

use super::{docker_events::Change, scope::Filter};
use crate::model::{ModelError, Topology};

/// What a reading gives back.
pub type Reloaded = Result<Result<Topology, ModelError>, tokio::task::JoinError>;

#[derive(Default)]
pub struct Refresh {
    /// Containers (IDs) Docker's events named since the last reading started.
    containers: BTreeSet<String>,
    networks: bool,
    everything: bool,
    reading: Option<JoinHandle<Result<Topology, ModelError>>>,
}

impl Refresh {
    /// Notes what an event says changed.
    pub fn note(&mut self, change: Change) {
        match change {
            Change::Container { id, .. } => {
                self.containers.insert(id);
            }
            Change::Networks { .. } => self.networks = true,
            Change::Reconnected => self.everything = true,
        }
    }

    /// Changes wait for a reading.
    pub fn stale(&self) -> bool {
        self.everything || self.networks || !self.containers.is_empty()
    }

    /// Starts reading what changed since `current` was read, unless a reading is under way
    /// (the changes then wait for the next one: see `stale`).
    pub fn start(&mut self, current: &Topology) {
        if self.reading.is_some() || !self.stale() {
            return;
        }
        let changed = std::mem::take(&mut self.containers);
        let everything = std::mem::take(&mut self.everything);
        self.networks = false;
        let current = current.clone();
        self.reading = Some(tokio::spawn(async move { current.reload(&changed, everything).await }));
    }

    /// The reading under way, once it has landed (never, when none is). Cancel-safe.
    pub async fn landed(&mut self) -> Reloaded {
        let result = match &mut self.reading {
            Some(task) => task.await,
            None => std::future::pending().await,
        };
        self.reading = None;
        result
    }
}

/// What the watch says on stderr about a reading: containers it watches now, containers it no
/// longer watches, and containers watched before and after whose addresses changed.
pub fn coverage_notes(before: &Topology, after: &Topology, filter: &Filter) -> Vec<String> {
    let (was, is) = (filter.covered(before), filter.covered(after));
    let started = is
        .difference(&was)
        .map(|name| format!("now watching container {name} ({})", addresses(after, name).join(", ")));
    let moved = is.intersection(&was).filter_map(|name| {
        let now = addresses(after, name);
        (addresses(before, name) != now)
            .then(|| format!("container {name} has other addresses now ({})", now.join(", ")))
    });
    let stopped = was.difference(&is).map(|name| format!("no longer watching container {name} (it stopped)"));
    started.chain(moved).chain(stopped).collect()
}

/// A container's addresses, each with its network, as the notes give them.
fn addresses(t: &Topology, name: &str) -> Vec<String> {
    let Ok(c) = t.container(name) else { return Vec::new() };
    let endpoints = t.endpoints_of(c);
    let v4 = endpoints.iter().filter_map(|e| e.ip.map(|ip| format!("{ip} on {}", e.network)));
    let v6 = endpoints.iter().filter_map(|e| e.ip6.map(|ip| format!("{ip} on {}", e.network)));
    v4.chain(v6).collect()
}

impl Drop for Refresh {
    /// A reading under way at exit is not waited for.
    fn drop(&mut self) {
        if let Some(task) = &self.reading {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_say_what_to_read_again() {
        let mut r = Refresh::default();
        assert!(!r.stale());
        r.note(Change::Container { id: "4f1c".into(), event: "container start nacos".into() });
        r.note(Change::Container { id: "4f1c".into(), event: "network connect heima-net".into() });
        assert!(r.stale());
        assert_eq!(r.containers.iter().collect::<Vec<_>>(), ["4f1c"]);
        r.note(Change::Networks { event: "network create late".into() });
        r.note(Change::Reconnected);
        assert!(r.networks && r.everything);
    }
}
