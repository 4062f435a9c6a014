//! The `change` line of `watch --json` (CONTRACT.md): a change of the host's network seen while
//! watching, as written and as `report` reads it back.
use serde::{Deserialize, Serialize};

/// A change of the host's network seen while watching (CONTRACT.md, `"kind": "change"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeLine {
    pub schema: u32,
    pub t: String,
    pub kind: ChangeKind,
    pub source: ChangeSource,
    pub what: ChangeWhat,
    pub iface: Option<String>,
    pub network: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    pub detail: Option<String>,
}

/// `"kind": "change"`, a type of its own like [`SummaryKind`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    #[default]
    Change,
}

/// Who told us about the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    Netlink,
    Netfilter,
    Sysctl,
    Docker,
}

impl ChangeSource {
    pub fn code(self) -> &'static str {
        match self {
            ChangeSource::Netlink => "netlink",
            ChangeSource::Netfilter => "netfilter",
            ChangeSource::Sysctl => "sysctl",
            ChangeSource::Docker => "docker",
        }
    }
}

/// The `what` of a change line. Docker's events are written as their type and action
/// (`container start`), which is also where a `what` of a newer version lands when read back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ChangeWhat {
    AddressAdded,
    AddressRemoved,
    LinkUp,
    LinkDown,
    PortJoined,
    PortLeft,
    StpState,
    RouteAdded,
    RouteRemoved,
    RulesChanged,
    Sysctl,
    Event(String),
}

const WHAT_CODES: [(ChangeWhat, &str); 11] = [
    (ChangeWhat::AddressAdded, "address_added"),
    (ChangeWhat::AddressRemoved, "address_removed"),
    (ChangeWhat::LinkUp, "link_up"),
    (ChangeWhat::LinkDown, "link_down"),
    (ChangeWhat::PortJoined, "port_joined"),
    (ChangeWhat::PortLeft, "port_left"),
    (ChangeWhat::StpState, "stp_state"),
    (ChangeWhat::RouteAdded, "route_added"),
    (ChangeWhat::RouteRemoved, "route_removed"),
    (ChangeWhat::RulesChanged, "rules_changed"),
    (ChangeWhat::Sysctl, "sysctl"),
];

impl ChangeWhat {
    pub fn code(&self) -> &str {
        match self {
            ChangeWhat::Event(s) => s,
            w => WHAT_CODES.iter().find(|(k, _)| k == w).map(|(_, c)| *c).unwrap_or("?"),
        }
    }
}

impl From<String> for ChangeWhat {
    fn from(s: String) -> Self {
        WHAT_CODES.iter().find(|(_, c)| *c == s).map(|(k, _)| k.clone()).unwrap_or(ChangeWhat::Event(s))
    }
}

impl From<ChangeWhat> for String {
    fn from(w: ChangeWhat) -> Self {
        w.code().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::line::Line;

    const CONTRACT_CHANGE: &str = r#"{"schema": 1, "t": "2026-11-21T03:12:44.102Z", "kind": "change", "source": "netlink",
 "what": "address_removed", "iface": "br-73a00eba170c", "network": "heima-net",
 "detail": "172.18.0.1/16"}"#;

    #[test]
    fn reads_and_writes_the_contract_change_line() {
        let Line::Change(c) = Line::parse(&CONTRACT_CHANGE.replace('\n', "")).unwrap() else { panic!() };
        assert_eq!(
            (c.source, &c.what, c.container.as_deref()),
            (ChangeSource::Netlink, &ChangeWhat::AddressRemoved, None)
        );
        let text = serde_json::to_string(&c).unwrap();
        let keys = ["schema", "t", "kind", "source", "what", "iface", "network", "container", "detail"];
        let pos: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains(r#""kind":"change","source":"netlink","what":"address_removed""#), "{text}");
        let docker = text.replace("address_removed", "network disconnect").replace("netlink", "docker");
        let Line::Change(d) = Line::parse(&docker).unwrap() else { panic!() };
        assert_eq!((d.source, d.what.code()), (ChangeSource::Docker, "network disconnect"));
        assert!(Line::parse(&text.replace("netlink", "carrier pigeon")).unwrap_err().contains("change"));
    }
}
