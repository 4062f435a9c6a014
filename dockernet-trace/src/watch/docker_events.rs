//! Docker's event stream, reduced to "this container or the networks changed": the watch then
//! reads again what changed (`Topology::reload`) and updates its filter and names. A broken stream is reopened (after a
//! pause), and a reopening counts as a change, since events may have been missed meanwhile.
//! The stream starts at the moment the watch first read Docker, so a container started while
//! the programs were being attached is not missed. Each event is also counted in the metrics
//! and, if it is about the network, written as a `change` line (see `changes::docker`).
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, SystemTime},
};

use bollard::{Docker, models::EventMessage, query_parameters::EventsOptionsBuilder};
use futures::StreamExt;
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    changes::{Sink, docker::change_of},
    metrics::Metrics,
};

/// Actions after which addresses or namespaces may differ.
const CONTAINER_ACTIONS: &[&str] = &["start", "die", "destroy", "rename", "restart"];
const NETWORK_ACTIONS: &[&str] = &["connect", "disconnect", "create", "destroy"];

/// Why the watch should look at Docker again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A container's addresses or namespace may differ: it started, died, was connected to a
    /// network... `id` is its ID; `event` says what happened, for the log.
    Container { id: String, event: String },
    /// A network was created or removed: no container's own view changed.
    Networks { event: String },
    /// The stream was reopened; events may have been missed.
    Reconnected,
}

/// Where each event goes besides the refresh: a `change` line, and the metrics.
#[derive(Clone, Default)]
pub struct Observers {
    pub changes: Option<Sink>,
    pub metrics: Option<Arc<Metrics>>,
}

impl Observers {
    /// Counts the event, and hands it on as a change unless it is from before `since_ns`
    /// (the whole second the stream starts from) or was seen already (a reopened stream).
    fn observe(&self, ev: &EventMessage, since_ns: i64, last_ns: &mut i64) {
        if let Some(m) = &self.metrics {
            let typ = ev.typ.map(|t| t.to_string()).unwrap_or_default();
            m.docker_event(&typ, ev.action.as_deref().unwrap_or_default());
        }
        let t = ev.time_nano.unwrap_or(i64::MAX);
        if t < since_ns || t <= *last_ns {
            return;
        }
        *last_ns = t;
        if let (Some(sink), Some(c)) = (&self.changes, change_of(ev)) {
            sink.emit(c);
        }
    }
}

/// Follows the engine's events from `since` on, until the receiver is dropped.
pub fn spawn(
    client: Docker,
    since: SystemTime,
    observers: Observers,
) -> (mpsc::Receiver<Change>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(64);
    let since_ns = since.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    // Whole seconds, rounded down: an event of that second may come twice, which only costs
    // one more look at Docker.
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut since = secs(since).to_string();
    let task = tokio::spawn(async move {
        let filters: HashMap<&str, Vec<&str>> = HashMap::from([("type", vec!["container", "network"])]);
        let mut first = true;
        let mut last_ns = 0;
        loop {
            let opts = EventsOptionsBuilder::new().filters(&filters).since(&since).build();
            let mut stream = client.events(Some(opts));
            if !first && tx.send(Change::Reconnected).await.is_err() {
                return;
            }
            first = false;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(ev) => {
                        observers.observe(&ev, since_ns, &mut last_ns);
                        let Some(change) = describe(&ev) else { continue };
                        if tx.send(change).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        log::info!("Docker event stream: {e}");
                        break;
                    }
                }
            }
            if tx.is_closed() {
                return;
            }
            // The reopening itself is reported as a change; older events need not come again.
            since = secs(SystemTime::now()).to_string();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    (rx, task)
}

/// The change an event stands for, if it is one that matters.
fn describe(ev: &bollard::models::EventMessage) -> Option<Change> {
    let kind = ev.typ.map(|t| t.to_string()).unwrap_or_default();
    let action = ev.action.as_deref().unwrap_or_default();
    let wanted = match kind.as_str() {
        "container" => CONTAINER_ACTIONS.contains(&action),
        "network" => NETWORK_ACTIONS.contains(&action),
        _ => false,
    };
    if !wanted {
        return None;
    }
    let actor = ev.actor.as_ref();
    let attr = |k: &str| actor.and_then(|a| a.attributes.as_ref()).and_then(|a| a.get(k).cloned());
    let id = actor.and_then(|a| a.id.clone()).unwrap_or_default();
    let event = format!("{kind} {action} {}", attr("name").unwrap_or_else(|| id.clone()));
    // A network event names the container it connects or disconnects in its attributes.
    let container = if kind == "container" { Some(id) } else { attr("container") };
    Some(match container {
        Some(id) => Change::Container { id, event },
        None => Change::Networks { event },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_of_addresses_and_namespaces_matter() {
        let ev = |typ: &str, action: &str| -> bollard::models::EventMessage {
            serde_json::from_value(serde_json::json!({
                "Type": typ, "Action": action,
                "Actor": {"ID": "abc123", "Attributes": {"name": "late"}}
            }))
            .unwrap()
        };
        let container = |event: &str| Some(Change::Container { id: "abc123".into(), event: event.into() });
        assert_eq!(describe(&ev("container", "start")), container("container start late"));
        assert_eq!(
            describe(&ev("network", "create")),
            Some(Change::Networks { event: "network create late".into() })
        );
        assert_eq!(describe(&ev("container", "exec_start: sh")), None);
        assert_eq!(describe(&ev("image", "pull")), None);
    }

    #[test]
    fn a_network_connect_names_its_container() {
        let ev: bollard::models::EventMessage = serde_json::from_value(serde_json::json!({
            "Type": "network", "Action": "connect",
            "Actor": {"ID": "5e2b9c", "Attributes": {"name": "heima-net", "container": "4f1c0aa2d3e1"}}
        }))
        .unwrap();
        let event = "network connect heima-net".to_string();
        assert_eq!(describe(&ev), Some(Change::Container { id: "4f1c0aa2d3e1".into(), event }));
    }
}
