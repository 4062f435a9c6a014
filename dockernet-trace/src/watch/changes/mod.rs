//! Changes of the host's network seen while watching, each a `change` line (CONTRACT.md):
//! addresses, links, bridge ports, routes and neighbours from rtnetlink ([`netlink`]), the
//! ruleset from `nft monitor` ([`ruleset`]), the forwarding sysctls ([`sysctl`]) and Docker's
//! events ([`docker`]). Each source runs on its own and hands typed [`Change`]s to a [`Sink`],
//! which never blocks it: when the watch falls behind, changes are counted as lost instead.
//! All of them look at the namespace the tool runs in (the Docker host's).
pub mod docker;
mod interest;
pub mod netlink;
mod netlink_links;
pub mod ruleset;
pub mod sysctl;

use std::{
    fmt,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use ipnet::IpNet;
use tokio::sync::mpsc;

use super::line::{ChangeKind, ChangeLine, ChangeSource, ChangeWhat, SCHEMA, timestamp};

/// One change, as its source saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub at: SystemTime,
    pub what: What,
    /// The interface concerned (for a bridge port: the port).
    pub iface: Option<String>,
    pub network: Option<String>,
    pub container: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    AddressAdded(IpNet),
    AddressRemoved(IpNet),
    LinkUp,
    LinkDown(Down),
    PortJoined { bridge: String },
    PortLeft { bridge: String },
    StpState(PortState),
    RouteAdded(Route),
    RouteRemoved(Route),
    RulesChanged(Ruleset),
    Sysctl { name: &'static str, value: String },
    Docker { object: DockerObject, action: String },
}

/// How a link went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Down {
    /// Set down (`ip link set ... down`).
    Admin,
    /// Up, but without carrier (for a veth: its peer is down).
    NoCarrier,
    Deleted,
}

/// A bridge port's STP state (`bridge link show`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortState {
    Disabled,
    Listening,
    Learning,
    Forwarding,
    Blocking,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// None for the default route.
    pub dst: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
}

/// What happened to one chain (or table) of the ruleset within one batch of updates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub family: String,
    pub table: String,
    /// None when the change is to the table itself.
    pub chain: Option<String>,
    pub rules_added: u32,
    pub rules_deleted: u32,
    /// The rule, when exactly one was added and nothing else changed.
    pub rule: Option<String>,
    pub chain_op: Option<ObjectOp>,
    pub table_op: Option<ObjectOp>,
    /// A base chain's policy as (re)declared.
    pub policy: Option<String>,
    /// `flush chain` / `flush table`.
    pub flushed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectOp {
    Added,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DockerObject {
    Container,
    Network,
}

impl Change {
    pub fn new(what: What) -> Self {
        Change { at: SystemTime::now(), what, iface: None, network: None, container: None }
    }

    pub fn source(&self) -> ChangeSource {
        match self.what {
            What::RulesChanged(_) => ChangeSource::Netfilter,
            What::Sysctl { .. } => ChangeSource::Sysctl,
            What::Docker { .. } => ChangeSource::Docker,
            _ => ChangeSource::Netlink,
        }
    }

    fn what_code(&self) -> ChangeWhat {
        match &self.what {
            What::AddressAdded(_) => ChangeWhat::AddressAdded,
            What::AddressRemoved(_) => ChangeWhat::AddressRemoved,
            What::LinkUp => ChangeWhat::LinkUp,
            What::LinkDown(_) => ChangeWhat::LinkDown,
            What::PortJoined { .. } => ChangeWhat::PortJoined,
            What::PortLeft { .. } => ChangeWhat::PortLeft,
            What::StpState(_) => ChangeWhat::StpState,
            What::RouteAdded(_) => ChangeWhat::RouteAdded,
            What::RouteRemoved(_) => ChangeWhat::RouteRemoved,
            What::RulesChanged(_) => ChangeWhat::RulesChanged,
            What::Sysctl { .. } => ChangeWhat::Sysctl,
            What::Docker { object, action } => ChangeWhat::Event(format!("{object} {action}")),
        }
    }

    fn detail(&self) -> Option<String> {
        Some(match &self.what {
            What::AddressAdded(a) | What::AddressRemoved(a) => a.to_string(),
            What::LinkUp | What::Docker { .. } => return None,
            What::LinkDown(Down::Admin) => "set down".into(),
            What::LinkDown(Down::NoCarrier) => "no carrier".into(),
            What::LinkDown(Down::Deleted) => "deleted".into(),
            What::PortJoined { bridge } | What::PortLeft { bridge } => bridge.clone(),
            What::StpState(s) => format!("port state {s}"),
            What::RouteAdded(r) | What::RouteRemoved(r) => r.to_string(),
            What::RulesChanged(r) => r.to_string(),
            What::Sysctl { name, value } => format!("{name}={value}"),
        })
    }

    /// The `change` line of CONTRACT.md.
    pub fn line(&self) -> ChangeLine {
        ChangeLine {
            schema: SCHEMA,
            t: timestamp(self.at),
            kind: ChangeKind::Change,
            source: self.source(),
            what: self.what_code(),
            iface: self.iface.clone(),
            network: self.network.clone(),
            container: self.container.clone(),
            detail: self.detail(),
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortState::Disabled => "disabled",
            PortState::Listening => "listening",
            PortState::Learning => "learning",
            PortState::Forwarding => "forwarding",
            PortState::Blocking => "blocking",
        })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dst {
            Some(d) => write!(f, "{d}")?,
            None => f.write_str("default")?,
        }
        if let Some(g) = &self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for DockerObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DockerObject::Container => "container",
            DockerObject::Network => "network",
        })
    }
}

/// `ip filter DOCKER-USER: 1 rule added (ip saddr 172.17.0.2 drop)`: table and chain first.
impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.family, self.table)?;
        if let Some(c) = &self.chain {
            write!(f, " {c}")?;
        }
        let n = |k: u32| if k == 1 { "1 rule".to_string() } else { format!("{k} rules") };
        let mut parts = Vec::new();
        match self.table_op {
            Some(ObjectOp::Added) => parts.push("table added".to_string()),
            Some(ObjectOp::Deleted) => parts.push("table deleted".to_string()),
            None => {}
        }
        match self.chain_op {
            Some(ObjectOp::Added) => parts.push("chain added".to_string()),
            Some(ObjectOp::Deleted) => parts.push("chain deleted".to_string()),
            None => {}
        }
        if let Some(p) = &self.policy {
            parts.push(format!("policy {p}"));
        }
        if self.flushed {
            parts.push("flushed".into());
        }
        if self.rules_added > 0 {
            parts.push(format!("{} added", n(self.rules_added)));
        }
        if self.rules_deleted > 0 {
            parts.push(format!("{} deleted", n(self.rules_deleted)));
        }
        write!(f, ": {}", parts.join(", "))?;
        if let Some(r) = &self.rule {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// The sources of the tool's namespace, running; dropping this stops them all.
pub struct Sources {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ruleset: Option<ruleset::Monitor>,
    /// Sources that could not start, and why (the watch says so and goes on without them).
    pub missing: Vec<String>,
}

impl Sources {
    /// Starts rtnetlink, `nft monitor` and the sysctl poll. Once this returns, each running
    /// source reports what happens from then on. Docker's events come from the watch's own
    /// event stream ([`docker::change_of`]).
    pub async fn start(sink: &Sink, interest: tokio::sync::watch::Receiver<netlink::Interest>) -> Sources {
        let mut s = Sources { tasks: vec![], ruleset: None, missing: vec![] };
        match netlink::start(sink.clone(), interest).await {
            Ok(t) => s.tasks.push(t),
            Err(e) => s.missing.push(format!("rtnetlink ({e})")),
        }
        match ruleset::Monitor::start(sink.clone()).await {
            Ok(m) => s.ruleset = Some(m),
            Err(e) => s.missing.push(format!("nft monitor ({e})")),
        }
        s.tasks.push(sysctl::start(sink.clone()));
        s
    }

    /// The `nft monitor` process, while it runs.
    pub fn ruleset_monitor_pid(&self) -> Option<u32> {
        self.ruleset.as_ref().map(ruleset::Monitor::pid)
    }
}

impl Drop for Sources {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Where sources put their changes. Never waits: a full channel counts the change as lost.
#[derive(Clone, Debug)]
pub struct Sink {
    tx: mpsc::Sender<Change>,
    lost: Arc<AtomicU64>,
}

impl Sink {
    /// A sink and the receiving end; `capacity` changes may wait for the watch.
    pub fn channel(capacity: usize) -> (Sink, mpsc::Receiver<Change>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Sink { tx, lost: Arc::default() }, rx)
    }

    pub fn emit(&self, c: Change) {
        if self.tx.try_send(c).is_err() && !self.tx.is_closed() {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Changes dropped because the watch did not take them in time.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_become_contract_lines() {
        let mut c = Change::new(What::AddressRemoved("172.18.0.1/16".parse().unwrap()));
        c.iface = Some("br-73a00eba170c".into());
        c.network = Some("heima-net".into());
        let l = c.line();
        assert_eq!(
            (l.source, &l.what, l.detail.as_deref()),
            (ChangeSource::Netlink, &ChangeWhat::AddressRemoved, Some("172.18.0.1/16"))
        );
        let rules = Change::new(What::RulesChanged(Ruleset {
            family: "ip".into(),
            table: "filter".into(),
            chain: Some("DOCKER-USER".into()),
            rules_added: 1,
            rule: Some("ip saddr 172.17.0.2 counter packets 0 bytes 0 drop".into()),
            ..Default::default()
        }));
        let l = rules.line();
        assert_eq!((l.source, l.what.code()), (ChangeSource::Netfilter, "rules_changed"));
        assert_eq!(
            l.detail.as_deref(),
            Some("ip filter DOCKER-USER: 1 rule added (ip saddr 172.17.0.2 counter packets 0 bytes 0 drop)")
        );
        let d =
            Change::new(What::Docker { object: DockerObject::Network, action: "disconnect".into() }).line();
        assert_eq!((d.source, d.what.code(), d.detail), (ChangeSource::Docker, "network disconnect", None));
        let s = Change::new(What::Sysctl { name: "net.ipv4.ip_forward", value: "0".into() }).line();
        assert_eq!((s.source, s.detail.as_deref()), (ChangeSource::Sysctl, Some("net.ipv4.ip_forward=0")));
        let r = Route { dst: None, gateway: Some("10.0.0.1".parse().unwrap()), dev: Some("eth0".into()) };
        assert_eq!(r.to_string(), "default via 10.0.0.1 dev eth0");
    }

    #[tokio::test]
    async fn a_full_sink_counts_instead_of_waiting() {
        let (sink, mut rx) = Sink::channel(1);
        sink.emit(Change::new(What::LinkUp));
        sink.emit(Change::new(What::LinkUp));
        assert_eq!(sink.lost(), 1);
        assert!(rx.recv().await.is_some());
        drop(rx);
        sink.emit(Change::new(What::LinkUp));
        assert_eq!(sink.lost(), 1, "a closed watch is no loss");
        assert!(sink.is_closed());
    }
}
