//! The lines `watch --json` prints and `--record` writes (CONTRACT.md, "watch --json"), which
//! `report` reads back: one event line per folded flow and reason, and a summary at the end.
//! Event lines are built here from the typed incident, its cause and the names of its peers.
use std::{
    collections::BTreeMap,
    net::IpAddr,
    time::{Duration, SystemTime},
};

use nix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};

pub use super::change_line::{ChangeKind, ChangeLine, ChangeSource, ChangeWhat};
use super::fold::Folded;
use crate::{cause::Cause, explain::Names};

pub const SCHEMA: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Drop,
    RouteFailure,
    Reset,
    Summary,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Kind::Drop => "drop",
            Kind::RouteFailure => "route_failure",
            Kind::Reset => "reset",
            Kind::Summary => "summary",
        }
    }
}

/// One end of a flow, named from Docker's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub ip: IpAddr,
    /// None for ICMP and for events that carry no port (route failures, ARP).
    pub port: Option<u16>,
    pub container: Option<String>,
    pub network: Option<String>,
    /// Containers sharing `container`'s network namespace (`--network container:NAME`): the
    /// address is theirs too. Left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sharers: Vec<String>,
}

/// A drop, route failure or reset: one flow and reason, `count` times within one second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub schema: u32,
    /// When the first of the `count` events happened (UTC, RFC 3339, milliseconds).
    pub t: String,
    pub kind: Kind,
    pub src: Peer,
    pub dst: Peer,
    pub proto: String,
    pub iface: Option<String>,
    /// Where it happened: `host`, `container:NAME` (an addition to the CONTRACT's fields).
    #[serde(default)]
    pub netns: Option<String>,
    pub function: Option<String>,
    pub drop_reason: Option<String>,
    pub cause: Cause,
    pub rule: Option<String>,
    pub count: u64,
}

impl Peer {
    /// `ip` (and `port`) with the container and network Docker has for it.
    pub fn named(ip: IpAddr, port: Option<u16>, names: &Names) -> Self {
        let held = names.container(ip);
        Peer {
            ip,
            port,
            container: held.map(|(c, _)| c.to_string()),
            network: held.map(|(_, n)| n.to_string()).or_else(|| names.network(ip).map(str::to_string)),
            sharers: held.map(|(c, _)| names.sharers(c).to_vec()).unwrap_or_default(),
        }
    }
}

impl EventLine {
    /// The line for a folded incident, its cause, rule and kernel function.
    pub fn new(
        f: &Folded,
        cause: Cause,
        rule: Option<String>,
        function: Option<String>,
        names: &Names,
        clock: &Clock,
    ) -> Self {
        let i = &f.first;
        let (sport, dport) = i.ports();
        EventLine {
            schema: SCHEMA,
            t: timestamp(clock.wall(i.t_ns)),
            kind: i.kind,
            src: Peer::named(i.tuple.src, sport, names),
            dst: Peer::named(i.tuple.dst, dport, names),
            proto: i.proto_label(),
            iface: i.iface.clone(),
            netns: Some(names.netns_label(i.netns).to_string()),
            function,
            drop_reason: Some(i.reason.to_string()),
            cause,
            rule,
            count: f.count,
        }
    }
}

/// Kernel time (CLOCK_MONOTONIC, as bpf_ktime_get_ns) to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    mono_ns: u64,
    wall: SystemTime,
}

/// CLOCK_MONOTONIC now, in nanoseconds (the kernel's event times are on this clock).
pub fn mono_now_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Clock {
    pub fn now() -> Self {
        Self { mono_ns: mono_now_ns(), wall: SystemTime::now() }
    }

    pub fn wall(&self, t_ns: u64) -> SystemTime {
        if t_ns >= self.mono_ns {
            self.wall + Duration::from_nanos(t_ns - self.mono_ns)
        } else {
            self.wall - Duration::from_nanos(self.mono_ns - t_ns)
        }
    }
}

/// The last line: totals of everything reported, and what the kernel could not deliver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub schema: u32,
    pub t: String,
    pub kind: SummaryKind,
    pub duration_s: f64,
    /// Events reported (the sum of the lines' counts).
    pub total: u64,
    pub kinds: BTreeMap<String, u64>,
    pub causes: BTreeMap<String, u64>,
    /// Events per container involved (an event between two containers counts for both).
    pub containers: BTreeMap<String, u64>,
    /// Netfilter drops per rule, as `iptables -S` prints it.
    pub rules: BTreeMap<String, u64>,
    /// Events the kernel could not hand over (ring buffer full), all CPUs together.
    pub lost_events: u64,
}

/// `"kind": "summary"`, as a type of its own so a summary never parses as an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryKind {
    #[default]
    Summary,
}

/// Any line of a recording.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Event(Box<EventLine>),
    Change(ChangeLine),
    Summary(SummaryLine),
}

impl Line {
    /// Parses one line; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        match v.get("schema").and_then(|s| s.as_u64()) {
            Some(s) if s == u64::from(SCHEMA) => {}
            Some(s) => return Err(format!("schema {s}, this version reads schema {SCHEMA}")),
            None => return Err("no \"schema\": not a line of `watch --json`".into()),
        }
        let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or_default().to_string();
        let r = if kind == "summary" {
            serde_json::from_value(v).map(Line::Summary)
        } else if kind == "change" {
            serde_json::from_value(v).map(Line::Change)
        } else {
            serde_json::from_value(v).map(|e| Line::Event(Box::new(e)))
        };
        r.map_err(|e| format!("not a watch {} line ({e})", if kind.is_empty() { "?" } else { &kind }))
    }
}

/// UTC with milliseconds, as the CONTRACT writes `t`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses `t` back (for `report`).
pub fn parse_timestamp(t: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT_LINE: &str = r#"{"schema": 1, "t": "2026-11-21T22:41:24.281Z", "kind": "drop",
 "src": {"ip": "172.17.0.2", "port": 40112, "container": "loner", "network": "bridge"},
 "dst": {"ip": "172.18.0.2", "port": 3306, "container": "mysql", "network": "heima-net"},
 "proto": "tcp", "iface": "br-e685d9c814c0", "function": "nft_do_chain", "drop_reason": "NETFILTER_DROP",
 "cause": "network_isolation", "rule": "-A DOCKER-ISOLATION-STAGE-2 -o br-e685d9c814c0 -j DROP", "count": 1}"#;

    #[test]
    fn reads_the_contract_example() {
        let Line::Event(e) = Line::parse(&CONTRACT_LINE.replace('\n', "")).unwrap() else { panic!() };
        assert_eq!(e.kind, Kind::Drop);
        assert_eq!(e.cause, Cause::NetworkIsolation);
        assert_eq!(e.src.container.as_deref(), Some("loner"));
        assert_eq!(e.dst.port, Some(3306));
        assert_eq!(e.count, 1);
        assert!(e.netns.is_none());
    }

    #[test]
    fn writes_the_contract_fields_in_order() {
        let Line::Event(e) = Line::parse(&CONTRACT_LINE.replace('\n', "")).unwrap() else { panic!() };
        let text = serde_json::to_string(&e).unwrap();
        let keys = [
            "schema",
            "t",
            "kind",
            "src",
            "dst",
            "proto",
            "iface",
            "function",
            "drop_reason",
            "cause",
            "rule",
            "count",
        ];
        let pos: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn summary_round_trips_and_is_told_apart() {
        let mut s = SummaryLine {
            schema: SCHEMA,
            t: "2026-11-21T22:41:25.000Z".into(),
            lost_events: 2,
            ..Default::default()
        };
        s.causes.insert("network_isolation".into(), 3);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"kind\":\"summary\"") && text.contains("\"lost_events\":2"), "{text}");
        assert_eq!(Line::parse(&text).unwrap(), Line::Summary(s));
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(Line::parse("hello").unwrap_err().contains("not JSON"));
        assert!(Line::parse(r#"{"a":1}"#).unwrap_err().contains("schema"));
        assert!(Line::parse(r#"{"schema":2}"#).unwrap_err().contains("schema 2"));
        assert!(Line::parse(r#"{"schema":1,"kind":"drop"}"#).unwrap_err().contains("drop"));
    }

    #[test]
    fn kernel_time_becomes_wall_time() {
        let c = Clock { mono_ns: 1_000_000_000, wall: SystemTime::UNIX_EPOCH + Duration::from_secs(100) };
        assert_eq!(c.wall(1_500_000_000), SystemTime::UNIX_EPOCH + Duration::from_millis(100_500));
        assert_eq!(c.wall(500_000_000), SystemTime::UNIX_EPOCH + Duration::from_millis(99_500));
    }

    #[test]
    fn peers_are_named_from_dockers_view() {
        use crate::model::{
            container::tests_support::container,
            topology::tests::{network, topology},
        };
        let db = container("aaaa2222", "db", &[("labnet", "172.30.0.3")]);
        let names =
            Names::new(&topology(vec![db], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]));
        let p = Peer::named("172.30.0.3".parse().unwrap(), Some(5432), &names);
        assert_eq!(
            (p.container.as_deref(), p.network.as_deref(), p.port),
            (Some("db"), Some("labnet"), Some(5432))
        );
        let gw = Peer::named("172.30.0.1".parse().unwrap(), None, &names);
        assert_eq!((gw.container, gw.network.as_deref()), (None, Some("labnet")));
        assert_eq!(Peer::named("8.8.8.8".parse().unwrap(), None, &names).network, None);
    }

    #[test]
    fn timestamps_have_milliseconds_and_parse_back() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_300_884_281);
        let s = timestamp(t);
        assert!(s.ends_with(".281Z"), "{s}");
        assert_eq!(parse_timestamp(&s), Some(t));
    }
}
