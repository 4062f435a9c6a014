//! Docker's events as changes: a container started, died, paused..., a network created,
//! removed, connected or disconnected. The watch already follows the event stream (to keep its
//! filter and names current, `watch/docker_events.rs`); this maps each event it sees to a line.
use bollard::models::{EventMessage, EventMessageTypeEnum};

use super::{Change, DockerObject, What};

/// Container actions that change who is on the network.
const CONTAINER_ACTIONS: &[&str] =
    &["start", "restart", "die", "kill", "stop", "oom", "pause", "unpause", "destroy", "rename"];
const NETWORK_ACTIONS: &[&str] = &["create", "connect", "disconnect", "destroy", "remove"];

/// The change an event stands for, if it is one about the network. `container` of a network
/// event is the container's ID as Docker gives it (the watch names it from its topology).
pub fn change_of(ev: &EventMessage) -> Option<Change> {
    let action = ev.action.as_deref()?;
    let attrs = ev.actor.as_ref().and_then(|a| a.attributes.as_ref());
    let attr = |k: &str| attrs.and_then(|a| a.get(k)).cloned();
    let id = ev.actor.as_ref().and_then(|a| a.id.clone());
    let (object, network, container) = match ev.typ? {
        EventMessageTypeEnum::CONTAINER if CONTAINER_ACTIONS.contains(&action) => {
            (DockerObject::Container, None, attr("name").or(id))
        }
        EventMessageTypeEnum::NETWORK if NETWORK_ACTIONS.contains(&action) => {
            (DockerObject::Network, attr("name").or(id), attr("container"))
        }
        _ => return None,
    };
    let mut c = Change::new(What::Docker { object, action: action.to_string() });
    c.network = network;
    c.container = container;
    if let Some(t) = ev.time_nano.and_then(|n| u64::try_from(n).ok()) {
        c.at = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(t);
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(typ: &str, action: &str, attrs: serde_json::Value) -> EventMessage {
        serde_json::from_value(serde_json::json!({
            "Type": typ, "Action": action, "timeNano": 1_795_300_000_123_000_000u64,
            "Actor": {"ID": "4f1c0aa2d3e1b7", "Attributes": attrs}
        }))
        .unwrap()
    }

    #[test]
    fn container_and_network_events_become_changes() {
        let c = change_of(&ev("container", "die", serde_json::json!({"name": "mysql", "exitCode": "137"})))
            .unwrap();
        let l = c.line();
        assert_eq!(
            (l.what.code(), l.container.as_deref(), l.network),
            ("container die", Some("mysql"), None)
        );
        assert_eq!(l.t, "2026-11-21T22:26:40.123Z", "Docker's own time of the event");
        let n = change_of(&ev(
            "network",
            "disconnect",
            serde_json::json!({"name": "heima-net", "container": "4f1c0aa2d3e1b7", "type": "bridge"}),
        ))
        .unwrap()
        .line();
        assert_eq!(
            (n.what.code(), n.network.as_deref(), n.container.as_deref()),
            ("network disconnect", Some("heima-net"), Some("4f1c0aa2d3e1b7"))
        );
        assert!(change_of(&ev("container", "exec_start: sh", serde_json::json!({}))).is_none());
        assert!(change_of(&ev("image", "pull", serde_json::json!({}))).is_none());
        assert!(change_of(&ev("volume", "create", serde_json::json!({}))).is_none());
    }
}
