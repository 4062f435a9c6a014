//! The rule counters `watch` reads: at start, and again (at most once per second) when
//! netfilter drops arrive; the rules whose drop counters moved in between are attributed to the
//! interval's flows by the explanation core (`explain::rule_attribution::for_flows`), and each
//! flow's rule is then the one the ruleset evaluator names for its packets, cross-checked by
//! those counters (`explain::flow_rule`, the explanation a trace gets too). A flow keeps the
//! rule it was last given when the counters of an interval say nothing new (its drops were
//! counted just before the previous reading).
//!
//! A reading runs in a task of its own (at 10k rules it takes a third of a second): the watch
//! goes on draining the kernel's events meanwhile, and the flows waiting for it are attributed
//! when it lands ([`RuleTracker::landed`]). Flows whose drops come while a reading is under way
//! wait for the next one: the counters of the one under way may or may not hold their drops.
//! Readings are numbered; a line whose drops wait is held until the reading that covers them
//! has landed ([`RuleTracker::covering`], [`RuleTracker::has_landed`]), however long its flow
//! goes on dropping. Lines of other flows are not held: the output is in time order within a
//! flow, not across flows.
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    time::Duration,
};

// Tokio's clock, which `read` sleeps on (and which a test can pause).
use tokio::{task::JoinHandle, time::Instant};

use super::{
    fold::Folder,
    incident::{Incident, Reason},
    line::Kind,
};
use crate::{
    explain::{
        DropKind, Names,
        flow_rule::for_flow,
        netfilter_path::HostView,
        rule_attribution::{FlowDrops, Hit, for_flows},
    },
    flow::Tuple,
    netfilter::{self, NetfilterError, Ruleset, eval::CtState},
};

/// Readings start at most this often (measured from the start of one to the next): the
/// counters of a second's drops, not a reader that never stops under a flood.
const MIN_INTERVAL: Duration = Duration::from_millis(950);

/// Flows given their rules: each flow's drops and the rule they were attributed to.
pub type Attributed = Vec<(FlowDrops, Hit)>;

/// A reading of the counters under way, and the flows whose drops it is to explain.
struct Reading {
    task: JoinHandle<Result<Ruleset, NetfilterError>>,
    started: Instant,
    flows: Vec<FlowDrops>,
    tuples: HashSet<Tuple>,
}

/// A reading that has landed (see `RuleTracker::read`), to hand to `RuleTracker::landed`.
pub struct Landed {
    result: Result<Result<Ruleset, NetfilterError>, tokio::task::JoinError>,
    reading: Reading,
}

pub struct RuleTracker {
    last: Ruleset,
    read_at: Instant,
    remembered: HashMap<Tuple, Hit>,
    reading: Option<Reading>,
    /// Flows whose drops came since the last reading started: for the next one (in the order
    /// they came, with an index by tuple).
    waiting: Vec<FlowDrops>,
    waiting_at: HashMap<Tuple, usize>,
    /// Readings started and landed so far (each reading's number is its place in the count).
    started: u64,
    landed: u64,
    /// Reads the counters (the host's rule set; a fake in unit tests).
    reader: fn() -> Result<Ruleset, NetfilterError>,
}

impl RuleTracker {
    pub fn new(baseline: Ruleset) -> Self {
        Self::with_reader(baseline, netfilter::snapshot)
    }

    fn with_reader(baseline: Ruleset, reader: fn() -> Result<Ruleset, NetfilterError>) -> Self {
        let mut t = Self {
            last: baseline,
            read_at: Instant::now(),
            remembered: HashMap::new(),
            reading: None,
            waiting: Vec::new(),
            waiting_at: HashMap::new(),
            started: 0,
            landed: 0,
            reader,
        };
        t.allow_read_now();
        t
    }

    /// Starts a reading for the flows that wait, at once unless one is under way (at exit).
    pub fn read_now(&mut self) {
        self.allow_read_now();
        self.next();
    }

    fn allow_read_now(&mut self) {
        if let Some(t) = Instant::now().checked_sub(MIN_INTERVAL) {
            self.read_at = t;
        }
    }

    /// Flows wait for a reading, or one is under way.
    pub fn waits(&self) -> bool {
        self.reading.is_some() || !self.waiting.is_empty()
    }

    /// The number of the reading that covers the drops of the flow so far (0: none needed, they
    /// were all covered by readings that landed).
    pub fn covering(&self, tuple: &Tuple) -> u64 {
        if self.waiting_at.contains_key(tuple) {
            self.started + 1
        } else if self.reading.as_ref().is_some_and(|r| r.tuples.contains(tuple)) {
            self.started
        } else {
            0
        }
    }

    /// Reading number `n` has landed (0: always).
    pub fn has_landed(&self, n: u64) -> bool {
        n <= self.landed
    }

    /// Takes new drops of flows: they wait for the next reading, which starts now unless one is
    /// under way or the last started less than `MIN_INTERVAL` ago (then once that has passed:
    /// see `read`).
    pub fn add(&mut self, flows: Vec<FlowDrops>) {
        for f in flows {
            match self.waiting_at.get(&f.tuple) {
                Some(&i) => {
                    let w = &mut self.waiting[i];
                    *w = FlowDrops { count: w.count + f.count, ..f };
                }
                None => {
                    self.waiting_at.insert(f.tuple, self.waiting.len());
                    self.waiting.push(f);
                }
            }
        }
        self.next();
    }

    /// Starts a reading for the waiting flows, if one may start.
    fn next(&mut self) {
        if self.reading.is_some() || self.waiting.is_empty() || self.read_at.elapsed() < MIN_INTERVAL {
            return;
        }
        self.waiting_at.clear();
        let flows = std::mem::take(&mut self.waiting);
        let tuples = flows.iter().map(|f| f.tuple).collect();
        let task = tokio::task::spawn_blocking(self.reader);
        self.started += 1;
        self.reading = Some(Reading { task, started: Instant::now(), flows, tuples });
    }

    /// The next reading, once it has landed: the one under way, or the one the waiting flows
    /// need, started once `MIN_INTERVAL` has passed (never, when no flow waits). Cancel-safe:
    /// a reading goes on when the wait is dropped.
    pub async fn read(&mut self) -> Landed {
        loop {
            if let Some(r) = &mut self.reading {
                let result = (&mut r.task).await;
                // Taken at once: a finished task is never polled again.
                let reading = self.reading.take().expect("the reading just awaited");
                return Landed { result, reading };
            }
            if self.waiting.is_empty() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(self.read_at + MIN_INTERVAL).await;
            self.next();
        }
    }

    /// Attributes the flows that waited for the reading that landed (see `read`), and starts
    /// the next one if flows wait for it and it may start.
    pub fn landed(&mut self, landed: Landed, bridges: &BTreeSet<String>, host: &HostView) -> Attributed {
        let Landed { result, reading } = landed;
        self.landed += 1;
        let mut deltas = Vec::new();
        // A failed reading counts too: the next waits its turn.
        self.read_at = reading.started;
        match result {
            Ok(Ok(now)) => {
                deltas = netfilter::diff(&self.last, &now);
                self.last = now;
            }
            Ok(Err(e)) => log::warn!("reading netfilter counters: {e}"),
            Err(e) => log::warn!("reading netfilter counters: {e}"),
        }
        let out = self.attribute(reading.flows, &deltas, bridges, host);
        self.next();
        out
    }

    fn attribute(
        &mut self,
        flows: Vec<FlowDrops>,
        deltas: &[netfilter::CounterDelta],
        bridges: &BTreeSet<String>,
        host: &HostView,
    ) -> Attributed {
        let counted = for_flows(deltas, &self.last, &flows, bridges, &self.remembered);
        let hits: Vec<Hit> =
            flows.iter().zip(&counted).map(|(g, c)| for_flow(&self.last, host, deltas, g, c)).collect();
        for (g, h) in flows.iter().zip(&hits) {
            if h.rule.is_some() {
                self.remembered.insert(g.tuple, h.clone());
            }
        }
        flows.into_iter().zip(hits).collect()
    }
}

/// The flows whose netfilter drops were folded since the last tick, and what is known of their
/// path. The counters moved when the packets were dropped, so each gets its rule from the
/// reading that follows, whether or not its line is due.
pub fn fresh_drops(folder: &mut Folder, names: &Names) -> Vec<FlowDrops> {
    let fresh = folder.take_fresh().into_iter().filter(|(i, _)| netfilter_drop(i));
    fresh
        .map(|(i, count)| {
            let in_host = names.is_host(i.netns);
            FlowDrops {
                tuple: i.tuple,
                count,
                iface: i.iface.clone().filter(|_| in_host),
                in_host,
                src_bridge: names.bridge_for(i.tuple.src).map(str::to_string),
                dst_bridge: names.bridge_for(i.tuple.dst).map(str::to_string),
                ct: first_of_connection(i).then_some(CtState::New),
            }
        })
        .collect()
}

/// A TCP SYN without ACK: the first packet of its connection, as conntrack sees it (a dropped
/// SYN is never confirmed, so its retransmissions are new too).
fn first_of_connection(i: &Incident) -> bool {
    i.tuple.proto == crate::flow::Proto::Tcp && i.tcp_flags.is_some_and(|f| f & 0x12 == 0x02)
}

/// A drop by a netfilter rule, whose rule the counters may tell.
pub fn netfilter_drop(i: &Incident) -> bool {
    i.kind == Kind::Drop && matches!(&i.reason, Reason::Drop(r) if DropKind::of(r) == DropKind::Netfilter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Proto;

    fn flow(dport: u16, count: u64) -> FlowDrops {
        FlowDrops {
            tuple: Tuple {
                proto: Proto::Tcp,
                src: "172.17.0.2".parse().unwrap(),
                sport: 40000,
                dst: "172.18.0.2".parse().unwrap(),
                dport,
            },
            count,
            iface: None,
            in_host: true,
            src_bridge: None,
            dst_bridge: None,
            ct: None,
        }
    }

    fn empty_rules() -> Result<Ruleset, NetfilterError> {
        Ok(Ruleset::default())
    }

    /// Waits for the next reading and attributes it: the flows it explained.
    async fn land(t: &mut RuleTracker) -> Vec<(u16, u64)> {
        let landed = t.read().await;
        let out = t.landed(landed, &BTreeSet::new(), &HostView::default());
        out.iter().map(|(f, _)| (f.tuple.dport, f.count)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn flows_wait_for_the_reading_that_follows_their_drops() {
        let (mysql, web) = (flow(3306, 0).tuple, flow(80, 0).tuple);
        let mut t = RuleTracker::with_reader(Ruleset::default(), empty_rules);
        assert_eq!(t.covering(&mysql), 0);
        t.add(vec![flow(3306, 5)]);
        assert_eq!(t.covering(&mysql), 1, "a reading started for the first drops");
        // Drops that come while it is under way: the next reading's, merged per flow.
        t.add(vec![flow(3306, 2), flow(80, 1)]);
        t.add(vec![flow(80, 4)]);
        assert_eq!((t.covering(&mysql), t.covering(&web)), (2, 2));
        assert_eq!(land(&mut t).await, vec![(3306, 5)]);
        assert!(t.has_landed(1) && !t.has_landed(2));
        // The next starts once MIN_INTERVAL has passed since the first started (the clock is
        // paused: the test's runtime skips the wait).
        let before = Instant::now();
        assert_eq!(land(&mut t).await, vec![(3306, 2), (80, 5)]);
        assert!(before.elapsed() >= MIN_INTERVAL - Duration::from_millis(50), "{:?}", before.elapsed());
        assert!(t.has_landed(2) && !t.waits() && t.covering(&mysql) == 0);
    }

    #[tokio::test]
    async fn a_line_waits_for_its_own_reading_not_for_its_flows_later_ones() {
        let mysql = flow(3306, 0).tuple;
        let mut t = RuleTracker::with_reader(Ruleset::default(), empty_rules);
        t.add(vec![flow(3306, 1)]);
        let first_line = t.covering(&mysql);
        // The flow goes on dropping while each reading is under way.
        for round in 1..=3u64 {
            t.add(vec![flow(3306, 1)]);
            assert_eq!(t.covering(&mysql), round + 1);
            land(&mut t).await;
            // The flow still waits (the old rule, "held while its flow waits", never let go).
            assert!(t.has_landed(first_line) && !t.has_landed(round + 1), "round {round}");
            t.read_now();
        }
    }

    #[tokio::test]
    async fn a_failed_reading_still_lets_its_flows_go() {
        fn failing() -> Result<Ruleset, NetfilterError> {
            Err(NetfilterError::NftJson("no listing".into()))
        }
        let mut t = RuleTracker::with_reader(Ruleset::default(), failing);
        t.add(vec![flow(3306, 1)]);
        assert_eq!(land(&mut t).await, vec![(3306, 1)]);
        assert!(!t.waits() && t.has_landed(1));
    }
}
