//! Folding: repeated events of one flow (5-tuple) for one reason within a second become one
//! line with a count: a line covers the second from its first event on, and goes out only once
//! that second is over (and [`GRACE`] more, for events still in the ring buffer), so two lines
//! of one flow and reason are always at least a second apart (CONTRACT.md). The loop calls
//! `take_due` once per second, and `take` at exit.
//!
//! Drops and resets are mostly counted by the kernel already (`KernelCounts`): one event per
//! flow, reason and place, then a count that grows; each second the new packets of every key
//! are folded here like that many events.
use std::collections::HashMap;

use dockernet_trace_common::DropKey;

use super::{
    incident::{Incident, Reason},
    line::Kind,
};
use crate::{ebpf::watch_maps::CountedKey, flow::Tuple};

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
        self.add_many(i, 1);
    }

    /// `count` incidents like `i` (the first of them at `i.t_ns`).
    pub fn add_many(&mut self, i: Incident, count: u64) {
        let key = Key { kind: i.kind, tuple: i.tuple, reason: i.reason.clone() };
        match self.index.get(&key) {
            Some(&at) if i.t_ns < self.folded[at].first.t_ns + WINDOW_NS => {
                self.folded[at].count += count;
                self.folded[at].fresh += count;
            }
            _ => {
                // A new line; one whose second is over stays until it is due.
                self.index.insert(key, self.folded.len());
                self.folded.push(Folded { first: i, count, fresh: count });
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

    /// The flows with a line still collecting or waiting.
    pub fn flows(&self) -> impl Iterator<Item = Tuple> + '_ {
        self.folded.iter().map(|f| f.first.tuple)
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

/// A kernel-counted key is let go after this many scans without a new packet (one a second):
/// its entry is deleted, and a later packet starts it again with an event.
const IDLE_SCANS: u32 = 5;

/// What user space knows of each key the kernel counts.
struct Counted {
    /// The incident the key stands for; None when it is none (noise).
    incident: Option<Incident>,
    /// Packets already folded.
    folded: u64,
    idle: u32,
    /// When the previous scan was (CLOCK_MONOTONIC ns): the new packets came after it.
    last_scan_ns: u64,
}

/// The keys the kernel counts drops and resets under (see `dockernet_trace_common::DropKey`).
#[derive(Default)]
pub struct KernelCounts {
    keys: HashMap<DropKey, Counted>,
}

impl KernelCounts {
    pub fn knows(&self, key: &DropKey) -> bool {
        self.keys.contains_key(key)
    }

    /// The key's first event arrived (or was made up from the map): what it stands for.
    pub fn learn(&mut self, key: DropKey, incident: Option<Incident>) {
        self.keys.entry(key).or_insert(Counted { incident, folded: 0, idle: 0, last_scan_ns: 0 });
    }

    /// One scan of the kernel's counts (every key `learn`t first): the new packets of each key
    /// go into `folder`. Returns the keys to delete from the kernel's map: idle ones, or all
    /// when `restart` (their counts are taken now, so nothing is lost).
    pub fn fold(
        &mut self,
        scan: &[CountedKey],
        now_ns: u64,
        restart: bool,
        folder: &mut Folder,
    ) -> Vec<DropKey> {
        let mut gone = Vec::new();
        for c in scan {
            let Some(k) = self.keys.get_mut(&c.key) else { continue };
            let new = c.packets.saturating_sub(k.folded);
            if new > 0 {
                if let Some(i) = &k.incident {
                    let mut i = i.clone();
                    if k.folded > 0 {
                        i.t_ns = i.t_ns.max(k.last_scan_ns);
                    }
                    folder.add_many(i, new);
                }
                (k.folded, k.idle) = (c.packets, 0);
            } else {
                k.idle += 1;
            }
            k.last_scan_ns = now_ns;
            if restart || k.idle >= IDLE_SCANS {
                gone.push(c.key);
            }
        }
        // Keys the map no longer has (and the ones deleted now) are forgotten.
        let present: std::collections::HashSet<&DropKey> = scan.iter().map(|c| &c.key).collect();
        self.keys.retain(|k, _| present.contains(k));
        for k in &gone {
            self.keys.remove(k);
        }
        gone
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

    fn key(sport: u16) -> DropKey {
        DropKey { sport, dport: 3306, reason: 12, ..DropKey::default() }
    }

    fn scan(packets: &[(u16, u64)]) -> Vec<CountedKey> {
        packets
            .iter()
            .map(|&(sport, packets)| CountedKey {
                key: key(sport),
                packets,
                first_ns: 1,
                ifname: [0; 16],
                route: Default::default(),
            })
            .collect()
    }

    #[test]
    fn kernel_counts_fold_every_packet_once() {
        let (mut k, mut f) = (KernelCounts::default(), Folder::default());
        k.learn(key(1), Some(drop(10, 1, "NETFILTER_DROP")));
        k.learn(key(2), None);
        assert!(k.fold(&scan(&[(1, 3), (2, 50)]), 1_000, false, &mut f).is_empty());
        let lines = f.take();
        assert_eq!((lines.len(), lines[0].count, lines[0].first.t_ns), (1, 3, 10), "noise is not folded");
        // The next second: only the new packets, dated from the previous scan.
        k.fold(&scan(&[(1, 150_003), (2, 60)]), 2_000, false, &mut f);
        let lines = f.take();
        assert_eq!((lines[0].count, lines[0].first.t_ns), (150_000, 1_000));
        k.learn(key(1), None);
        k.fold(&scan(&[(1, 150_004)]), 3_000, false, &mut f);
        assert_eq!(f.take()[0].count, 1, "learning a known key again changes nothing");
    }

    #[test]
    fn idle_keys_are_let_go_and_a_restart_takes_the_counts_first() {
        let (mut k, mut f) = (KernelCounts::default(), Folder::default());
        k.learn(key(1), Some(drop(10, 1, "NETFILTER_DROP")));
        k.learn(key(2), Some(drop(10, 2, "NETFILTER_DROP")));
        let mut gone = vec![];
        for s in 0..=IDLE_SCANS {
            gone = k.fold(&scan(&[(1, 1), (2, 1 + u64::from(s))]), u64::from(s), false, &mut f);
        }
        assert_eq!(gone, [key(1)], "key 1 saw nothing new for {IDLE_SCANS} scans");
        assert!(!k.knows(&key(1)) && k.knows(&key(2)));
        f.take();
        let gone = k.fold(&scan(&[(2, 9)]), 99, true, &mut f);
        assert_eq!((gone, f.take()[0].count), (vec![key(2)], 9 - u64::from(IDLE_SCANS + 1)));
        assert!(!k.knows(&key(2)));
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
        assert_eq!(f.flows().collect::<Vec<_>>(), [drop(0, 40112, "x").tuple]);
        assert_eq!(f.take()[0].count, 3, "the line still counts them all");
    }
}
