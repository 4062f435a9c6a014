//! Folding: repeated events of one flow (5-tuple) for one reason within a second become one
//! line with a count: a line covers the second from its first event on, and goes out only once
//! that second is over (and [`GRACE`] more, for events still in the ring buffer), so two lines
//! of one flow and reason are always at least a second apart (CONTRACT.md). The loop calls
//! `take_due` once per second, and `take` at exit.
use std::collections::HashMap;

use super::{
    incident::{Incident, Reason},
    line::Kind,
};
use crate::flow::Tuple;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: Kind,
    tuple: Tuple,
    reason: Reason,
}

/// The first incident of a flow and reason in this second, and how many there were.
#[derive(Clone, Debug)]
pub struct Folded {
    pub first: Incident,
    pub count: u64,
    /// Events since the rules were last attributed (see `take_fresh`).
    fresh: u64,
}

/// What one line covers, from its first event on.
pub const WINDOW_NS: u64 = 1_000_000_000;
/// How long after its second a line waits for events the reader has not fetched yet (it reads
/// the ring buffer every 250 ms at most).
pub const GRACE_NS: u64 = 300_000_000;

#[derive(Default)]
pub struct Folder {
    /// The line each flow and reason is collecting into.
    index: HashMap<Key, usize>,
    folded: Vec<Folded>,
}

impl Folder {
    pub fn add(&mut self, i: Incident) {
        let key = Key { kind: i.kind, tuple: i.tuple, reason: i.reason.clone() };
        match self.index.get(&key) {
            Some(&at) if i.t_ns < self.folded[at].first.t_ns + WINDOW_NS => {
                self.folded[at].count += 1;
                self.folded[at].fresh += 1;
            }
            _ => {
                // A new line; one whose second is over stays until it is due.
                self.index.insert(key, self.folded.len());
                self.folded.push(Folded { first: i, count: 1, fresh: 1 });
            }
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// The lines that got events since the last call, with how many: a rule's counter moves
    /// when its drop happens, so its drops are attributed then, not when their line goes out.
    pub fn take_fresh(&mut self) -> Vec<(&Incident, u64)> {
        self.folded
            .iter_mut()
            .filter(|f| f.fresh > 0)
            .map(|f| (&f.first, std::mem::take(&mut f.fresh)))
            .collect()
    }

    /// Whether a line of this flow is still collecting or waiting.
    pub fn holds(&self, tuple: &Tuple) -> bool {
        self.folded.iter().any(|f| f.first.tuple == *tuple)
    }

    /// Everything folded, in the order the flows first appeared (at exit).
    pub fn take(&mut self) -> Vec<Folded> {
        self.index.clear();
        let mut out = std::mem::take(&mut self.folded);
        out.sort_by_key(|f| f.first.t_ns);
        out
    }

    /// The lines whose second ended (plus [`GRACE_NS`]) by `now_ns` (CLOCK_MONOTONIC), in the
    /// order their flows first appeared; the others keep collecting.
    pub fn take_due(&mut self, now_ns: u64) -> Vec<Folded> {
        let due = |f: &Folded| f.first.t_ns + WINDOW_NS + GRACE_NS <= now_ns;
        let (mut out, keep): (Vec<Folded>, Vec<Folded>) =
            std::mem::take(&mut self.folded).into_iter().partition(due);
        self.index = keep
            .iter()
            .enumerate()
            .map(|(k, f)| {
                (Key { kind: f.first.kind, tuple: f.first.tuple, reason: f.first.reason.clone() }, k)
            })
            .collect();
        self.folded = keep;
        out.sort_by_key(|f| f.first.t_ns);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{flow::Proto, kernel::DropReason, watch::incident::Function};

    fn drop(t_ns: u64, sport: u16, reason: &str) -> Incident {
        Incident {
            kind: Kind::Drop,
            t_ns,
            tuple: Tuple {
                proto: Proto::Tcp,
                src: "172.17.0.2".parse().unwrap(),
                sport,
                dst: "172.18.0.2".parse().unwrap(),
                dport: 3306,
            },
            reason: Reason::Drop(DropReason::named(reason)),
            function: Function::Address(1),
            iface: None,
            netns: 0,
            tcp_flags: None,
            icmp_type: None,
        }
    }

    #[test]
    fn one_line_per_flow_and_reason() {
        let mut f = Folder::default();
        f.add(drop(30, 40112, "NETFILTER_DROP"));
        f.add(drop(10, 40113, "NETFILTER_DROP"));
        f.add(drop(40, 40112, "NETFILTER_DROP"));
        f.add(drop(50, 40112, "NO_SOCKET"));
        let lines = f.take();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].first.tuple.sport, lines[0].count), (40113, 1));
        assert_eq!((lines[1].first.tuple.sport, lines[1].count, lines[1].first.t_ns), (40112, 2, 30));
        assert_eq!(lines[2].first.reason.to_string(), "NO_SOCKET");
        assert!(f.is_empty() && f.take().is_empty(), "the next second starts empty");
    }

    #[test]
    fn a_flow_gets_at_most_one_line_per_second() {
        const S: u64 = WINDOW_NS;
        let mut f = Folder::default();
        // 0.8 s and 1.2 s: one line (the second from 0.8 s on), not two 0.4 s apart.
        f.add(drop(8 * S / 10, 40112, "NETFILTER_DROP"));
        assert!(f.take_due(S).is_empty(), "its second is not over");
        f.add(drop(12 * S / 10, 40112, "NETFILTER_DROP"));
        f.add(drop(19 * S / 10, 40113, "NETFILTER_DROP"));
        assert!(f.take_due(18 * S / 10 + GRACE_NS - 1).is_empty(), "the grace is waited for");
        let lines = f.take_due(2 * S + GRACE_NS);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].count, lines[0].first.t_ns), (2, 8 * S / 10));
        // The next event of that flow starts a line of its own, a second or more later.
        f.add(drop(21 * S / 10, 40112, "NETFILTER_DROP"));
        f.add(drop(22 * S / 10, 40113, "NETFILTER_DROP"));
        let lines = f.take_due(4 * S);
        assert_eq!(
            lines.iter().map(|l| (l.first.tuple.sport, l.count)).collect::<Vec<_>>(),
            [(40113, 2), (40112, 1)]
        );
        assert!(f.is_empty());
    }

    #[test]
    fn fresh_events_are_handed_out_once() {
        let mut f = Folder::default();
        f.add(drop(10, 40112, "NETFILTER_DROP"));
        f.add(drop(20, 40112, "NETFILTER_DROP"));
        let fresh: Vec<u64> = f.take_fresh().into_iter().map(|(_, n)| n).collect();
        assert_eq!(fresh, [2]);
        assert!(f.take_fresh().is_empty(), "nothing new");
        f.add(drop(30, 40112, "NETFILTER_DROP"));
        assert_eq!(f.take_fresh()[0].1, 1);
        assert!(f.holds(&drop(0, 40112, "x").tuple) && !f.holds(&drop(0, 1, "x").tuple));
        assert_eq!(f.take()[0].count, 3, "the line still counts them all");
    }
}
