//! Totals of the lines reported: per kind, cause, container and rule. The summary line on exit
//! is made of them, and `report` builds the same totals from a recording.
use std::collections::BTreeMap;

use super::line::{EventLine, SCHEMA, SummaryKind, SummaryLine};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub total: u64,
    pub kinds: BTreeMap<String, u64>,
    pub causes: BTreeMap<String, u64>,
    pub containers: BTreeMap<String, u64>,
    pub rules: BTreeMap<String, u64>,
}

impl Totals {
    pub fn add(&mut self, l: &EventLine) {
        let n = l.count;
        self.total += n;
        *self.kinds.entry(l.kind.code().to_string()).or_default() += n;
        *self.causes.entry(l.cause.code().to_string()).or_default() += n;
        let mut involved: Vec<&str> =
            [&l.src.container, &l.dst.container].into_iter().flatten().map(String::as_str).collect();
        involved.dedup();
        for c in involved {
            *self.containers.entry(c.to_string()).or_default() += n;
        }
        if let Some(r) = &l.rule {
            *self.rules.entry(r.clone()).or_default() += n;
        }
    }

    pub fn summary(&self, t: String, duration_s: f64, lost_events: u64) -> SummaryLine {
        SummaryLine {
            schema: SCHEMA,
            t,
            kind: SummaryKind::Summary,
            duration_s: (duration_s * 10.0).round() / 10.0,
            total: self.total,
            kinds: self.kinds.clone(),
            causes: self.causes.clone(),
            containers: self.containers.clone(),
            rules: self.rules.clone(),
            lost_events,
        }
    }
}

/// Entries of a count map, largest first (ties by name), at most `n`.
pub fn top(m: &BTreeMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = m.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        cause::Cause,
        watch::line::{Kind, Peer},
    };

    fn line(src: Option<&str>, dst: Option<&str>, cause: Cause, rule: Option<&str>, count: u64) -> EventLine {
        let peer = |c: Option<&str>| Peer {
            ip: "172.17.0.2".parse().unwrap(),
            port: None,
            container: c.map(str::to_string),
            network: None,
            sharers: vec![],
        };
        EventLine {
            schema: 1,
            t: String::new(),
            kind: Kind::Drop,
            src: peer(src),
            dst: peer(dst),
            proto: "icmp".into(),
            iface: None,
            netns: None,
            function: None,
            drop_reason: Some("NETFILTER_DROP".into()),
            cause,
            rule: rule.map(str::to_string),
            count,
        }
    }

    #[test]
    fn counts_add_up_per_cause_container_and_rule() {
        let mut t = Totals::default();
        t.add(&line(Some("nacos"), Some("mysql"), Cause::NetworkIsolation, Some("-A ISO"), 3));
        t.add(&line(Some("nacos"), None, Cause::FirewallDrop, Some("-A USER"), 2));
        t.add(&line(Some("self"), Some("self"), Cause::Unknown, None, 1));
        let s = t.summary("t".into(), 12.34, 4);
        assert_eq!(s.total, 6);
        assert_eq!(s.causes["network_isolation"], 3);
        assert_eq!(s.causes["firewall_drop"], 2);
        assert_eq!((s.containers["nacos"], s.containers["mysql"], s.containers["self"]), (5, 3, 1));
        assert_eq!((s.rules["-A ISO"], s.rules.len()), (3, 2));
        assert_eq!((s.kinds["drop"], s.lost_events, s.duration_s), (6, 4, 12.3));
        assert_eq!(top(&s.containers, 2), [("nacos", 5), ("mysql", 3)]);
    }
}
