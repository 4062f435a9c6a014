//! Reading Docker's view again after its events, in a task of its own: the watch goes on
//! draining the kernel's events meanwhile. Only what the events said changed is read again
//! (`Topology::reload`): the networks, the host's links, the containers named and those the
//! model did not hold; a reopened event stream (events may have been missed) or a failed
//! reading reads everything the next time.
use std::{collections::BTreeSet, net::IpAddr, time::Duration};

use tokio::task::JoinHandle;

use super::{docker_events::Change, scope::Filter};
use crate::model::{ModelError, Topology};

/// Docker's events come in bursts (a container start is create, connect, start): one reading
/// after the burst.
const SETTLE: Duration = Duration::from_millis(150);
/// After a failed reading (Docker restarting, say), the next waits this long.
const RETRY: Duration = Duration::from_secs(2);

/// What a reading gives back.
pub type Reloaded = Result<Result<Topology, ModelError>, tokio::task::JoinError>;

#[derive(Default)]
pub struct Refresh {
    /// Containers (IDs) Docker's events named since the last reading started.
    containers: BTreeSet<String>,
    networks: bool,
    everything: bool,
    /// The last reading failed.
    failed: bool,
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

    /// How long the next reading waits for more events (longer after a failed one).
    pub fn delay(&self) -> Duration {
        if self.failed { RETRY } else { SETTLE }
    }

    /// A reading is under way.
    pub fn under_way(&self) -> bool {
        self.reading.is_some()
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
        // What that reading was to bring is lost with it: the next reads everything again.
        self.failed = !matches!(result, Ok(Ok(_)));
        self.everything |= self.failed;
        result
    }
}

/// What the watch says on stderr about a reading: containers it watches now, containers it no
/// longer watches, and containers watched before and after whose addresses changed.
pub fn coverage_notes(before: &Topology, after: &Topology, filter: &Filter) -> Vec<String> {
    let (was, is) = (filter.covered(before), filter.covered(after));
    let started = is
        .difference(&was)
        .map(|name| format!("now watching container {name} ({})", shown(&addresses(after, name))));
    let moved = is.intersection(&was).filter_map(|name| {
        let now = addresses(after, name);
        (addresses(before, name) != now)
            .then(|| format!("container {name} has other addresses now ({})", shown(&now)))
    });
    let stopped = was.difference(&is).map(|name| format!("no longer watching container {name} (it stopped)"));
    started.chain(moved).chain(stopped).collect()
}

/// A container's addresses, each with its network.
fn addresses<'a>(t: &'a Topology, name: &str) -> Vec<(IpAddr, &'a str)> {
    let Ok(c) = t.container(name) else { return Vec::new() };
    let endpoints = t.endpoints_of(c);
    endpoints.iter().flat_map(|e| e.ips().map(|ip| (ip, e.network.as_str()))).collect()
}

/// Addresses as the notes give them: `172.30.0.2 on wa, fd00:30::2 on wa`.
fn shown(addresses: &[(IpAddr, &str)]) -> String {
    let each: Vec<String> = addresses.iter().map(|(ip, network)| format!("{ip} on {network}")).collect();
    each.join(", ")
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

    #[tokio::test]
    async fn a_failed_reading_reads_everything_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let topology = Topology {
            docker_host: format!("unix://{}", dir.path().join("gone.sock").display()),
            docker: Default::default(),
            host: Default::default(),
            host_netns_inode: 0,
        };
        let mut r = Refresh::default();
        r.note(Change::Container { id: "4f1c".into(), event: "container start nacos".into() });
        r.start(&topology);
        assert!(r.under_way() && !r.stale(), "the container was handed to the reading");
        let result = r.landed().await;
        assert!(matches!(result, Ok(Err(ModelError::DockerUnreachable { .. }))), "{result:?}");
        assert!(!r.under_way() && r.stale() && r.everything, "nothing the reading was to bring is lost");
        assert_eq!(r.delay(), RETRY);
    }
}
