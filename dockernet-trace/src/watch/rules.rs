//! The rule counters `watch` reads: at start, and again (at most once per second) when
//! netfilter drops arrive; the rules whose drop counters moved in between are attributed to the
//! interval's flows by the explanation core (`explain::rule_attribution::for_flows`), and each
//! flow's rule is then the one the ruleset evaluator names for its packets, cross-checked by
//! those counters (`explain::flow_rule`, the explanation a trace gets too). A flow keeps the
//! rule it was last given when the counters of an interval say nothing new (its drops were
//! counted just before the previous reading).
use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

use crate::{
    explain::{
        flow_rule::for_flow,
        netfilter_path::HostView,
        rule_attribution::{FlowDrops, Hit, for_flows},
    },
    flow::Tuple,
    netfilter::{self, Ruleset},
};

/// Counters are read again at most once per flush, and flushes are a second apart; measured
/// from the start of one read to the next, with slack for the timer's jitter.
const MIN_INTERVAL: Duration = Duration::from_millis(950);

pub struct RuleTracker {
    last: Ruleset,
    read_at: Instant,
    remembered: HashMap<Tuple, Hit>,
}

impl RuleTracker {
    pub fn new(baseline: Ruleset) -> Self {
        let mut t = Self { last: baseline, read_at: Instant::now(), remembered: HashMap::new() };
        t.allow_read_now();
        t
    }

    /// Lets the next `attribute` read the counters at once (the last flush, at exit).
    pub fn allow_read_now(&mut self) {
        if let Some(t) = Instant::now().checked_sub(MIN_INTERVAL) {
            self.read_at = t;
        }
    }

    /// Reads the counters again (unless that was done less than a second ago) and attributes
    /// each group's drops.
    pub async fn attribute(
        &mut self,
        groups: &[FlowDrops],
        bridges: &BTreeSet<String>,
        host: &HostView,
    ) -> Vec<Hit> {
        let mut deltas = Vec::new();
        if self.read_at.elapsed() >= MIN_INTERVAL {
            let started = Instant::now();
            match tokio::task::spawn_blocking(netfilter::snapshot).await {
                Ok(Ok(now)) => {
                    deltas = netfilter::diff(&self.last, &now);
                    self.last = now;
                    self.read_at = started;
                }
                Ok(Err(e)) => log::warn!("reading netfilter counters: {e}"),
                Err(e) => log::warn!("reading netfilter counters: {e}"),
            }
        }
        let counted = for_flows(&deltas, &self.last, groups, bridges, &self.remembered);
        let hits: Vec<Hit> =
            groups.iter().zip(&counted).map(|(g, c)| for_flow(&self.last, host, &deltas, g, c)).collect();
        for (g, h) in groups.iter().zip(&hits) {
            if h.rule.is_some() {
                self.remembered.insert(g.tuple, h.clone());
            }
        }
        hits
    }
}
