//! How the watch's folded lines go out: each waits, if its drops were netfilter's, for the
//! reading of the rule counters that covers them; then it is described (cause, rule,
//! function, names) and written, to the output, the metrics and the pcap.
use super::Watcher;
use crate::{
    flow::Tuple,
    model::HostNet,
    watch::{describe, fold::Folded, line::EventLine, rules::netfilter_drop},
};

impl Watcher {
    /// Lines to report, each with the reading of the rule counters its netfilter drops wait
    /// for (none for other lines).
    pub(super) fn hold(&mut self, lines: Vec<Folded>) {
        for f in lines {
            let reading = if netfilter_drop(&f.first) { self.rules.covering(&f.first.tuple) } else { 0 };
            self.held.push((reading, f));
        }
    }

    /// Reports the lines held whose reading has landed, in their order.
    pub(super) async fn report_ready(&mut self) {
        let rules = &self.rules;
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.held).into_iter().partition(|(n, _)| rules.has_landed(*n));
        self.held = waiting;
        self.report(ready.into_iter().map(|(_, f)| f).collect()).await;
    }

    /// Reports folded lines: their causes (with the rules their flows were attributed), names,
    /// metrics and packets.
    async fn report(&mut self, batch: Vec<Folded>) {
        if batch.is_empty() {
            return;
        }
        let host = if batch.iter().any(|f| describe::needs_host_state(&f.first)) {
            HostNet::load(None).await.ok()
        } else {
            None
        };
        describe::resolve_locations(&batch, &mut self.syms);
        for f in &batch {
            let hit = if netfilter_drop(&f.first) { self.hits.get(&f.first.tuple) } else { None };
            let cause = describe::cause(&f.first, hit, &self.names, host.as_ref());
            let function = describe::function(&f.first.function, &mut self.syms);
            let rule = hit.and_then(|h| h.rule.clone());
            let line = EventLine::new(f, cause, rule, function, &self.names, &self.clock);
            self.totals.add(&line);
            self.out.event(&line);
            if let Some(m) = &self.metrics {
                m.event(&line);
            }
            if let Some(e) = &mut self.evidence {
                e.add(f, &line, &self.names, &self.clock);
            }
        }
        if let Some(e) = &mut self.evidence {
            e.flush();
        }
        // The flows of lines not out yet keep theirs (a set: a flood may hold thousands).
        let mut pending: std::collections::HashSet<Tuple> = self.folder.flows().collect();
        pending.extend(self.held.iter().map(|(_, f)| f.first.tuple));
        self.hits.retain(|t, _| pending.contains(t));
    }
}
