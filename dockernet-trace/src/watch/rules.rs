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
use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

use tokio::task::JoinHandle;

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

/// Counters are read again at most once per flush, and flushes are a second apart; measured
/// from the start of one read to the next, with slack for the timer's jitter.
const MIN_INTERVAL: Duration = Duration::from_millis(950);

/// What a reading's task gives back.
pub type ReadResult = Result<Result<Ruleset, NetfilterError>, tokio::task::JoinError>;

/// Flows given their rules: each flow's drops and the rule they were attributed to.
pub type Attributed = Vec<(FlowDrops, Hit)>;

/// A reading of the counters under way, and the flows whose drops it is to explain.
struct Reading {
    task: JoinHandle<Result<Ruleset, NetfilterError>>,
    started: Instant,
    flows: Vec<FlowDrops>,
}

pub struct RuleTracker {
    last: Ruleset,
    read_at: Instant,
    remembered: HashMap<Tuple, Hit>,
    reading: Option<Reading>,
    /// Flows whose drops came while a reading was under way: for the next one.
    waiting: Vec<FlowDrops>,
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
            reader,
        };
        t.allow_read_now();
        t
    }

    /// Starts a reading for the flows that wait, at once unless one is under way (the last
    /// flush, at exit).
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

    /// The flow's drops wait for a reading (under way or next).
    pub fn pending(&self, tuple: &Tuple) -> bool {
        let reading = self.reading.iter().flat_map(|r| &r.flows);
        reading.chain(&self.waiting).any(|f| f.tuple == *tuple)
    }

    /// Takes new drops of flows: they wait for the next reading, which starts now unless one is
    /// under way or the counters were read less than a second ago (then at the next flush).
    pub fn add(&mut self, flows: Vec<FlowDrops>) {
        for f in flows {
            match self.waiting.iter_mut().find(|w| w.tuple == f.tuple) {
                Some(w) => *w = FlowDrops { count: w.count + f.count, ..f },
                None => self.waiting.push(f),
            }
        }
        self.next();
    }

    /// Starts a reading for the waiting flows, if one may start.
    fn next(&mut self) {
        if self.reading.is_some() || self.waiting.is_empty() || self.read_at.elapsed() < MIN_INTERVAL {
            return;
        }
        let flows = std::mem::take(&mut self.waiting);
        let task = tokio::task::spawn_blocking(self.reader);
        self.reading = Some(Reading { task, started: Instant::now(), flows });
    }

    /// The reading under way, once it has landed (never, when none is). Cancel-safe: the
    /// reading goes on when the wait is dropped.
    pub async fn read(&mut self) -> ReadResult {
        match &mut self.reading {
            Some(r) => (&mut r.task).await,
            None => std::future::pending().await,
        }
    }

    /// Attributes the flows that waited for the reading that landed (see `read`), and starts
    /// the next one if flows wait for it and it may start.
    pub fn landed(&mut self, result: ReadResult, bridges: &BTreeSet<String>, host: &HostView) -> Attributed {
        let Some(reading) = self.reading.take() else { return Vec::new() };
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

    fn land(t: &mut RuleTracker, result: ReadResult) -> Vec<(u16, u64)> {
        let host = HostView::default();
        let out = t.landed(result, &BTreeSet::new(), &host);
        out.iter().map(|(f, _)| (f.tuple.dport, f.count)).collect()
    }

    #[tokio::test]
    async fn flows_wait_for_the_reading_that_follows_their_drops() {
        let mut t = RuleTracker::with_reader(Ruleset::default(), empty_rules);
        t.add(vec![flow(3306, 5)]);
        assert!(t.pending(&flow(3306, 0).tuple), "a reading started for the first drops");
        // Drops that come while it is under way: the next reading's, merged per flow.
        t.add(vec![flow(3306, 2), flow(80, 1)]);
        t.add(vec![flow(80, 4)]);
        let first = t.read().await;
        assert_eq!(land(&mut t, first), vec![(3306, 5)]);
        // Less than a second after the last reading started: the next one waits for a flush.
        assert!(t.pending(&flow(80, 0).tuple) && t.waits());
        t.read_now();
        let second = t.read().await;
        assert_eq!(land(&mut t, second), vec![(3306, 2), (80, 5)]);
        assert!(!t.waits() && !t.pending(&flow(3306, 0).tuple));
    }

    #[tokio::test]
    async fn a_failed_reading_still_lets_its_flows_go() {
        fn failing() -> Result<Ruleset, NetfilterError> {
            Err(NetfilterError::NftJson("no listing".into()))
        }
        let mut t = RuleTracker::with_reader(Ruleset::default(), failing);
        t.add(vec![flow(3306, 1)]);
        let result = t.read().await;
        let out = land(&mut t, result);
        assert_eq!(out, vec![(3306, 1)]);
        assert!(!t.waits());
    }
}
