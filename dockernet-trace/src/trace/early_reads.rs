//! What the explanation will read about the probes' drops, started while the trace still
//! waits for the events that follow them (`collect`'s grace): the rule set again (the rule
//! counted each netfilter drop before the kernel reported it) and the drop locations' kernel
//! functions (/proc/kallsyms: ~80 ms of the kernel writing 120k lines). Both run on blocking
//! threads, so the verdict does not wait for them after the grace.
use tokio::task::JoinHandle;

use crate::{
    ebpf::{KernelEvent, events::Detail},
    explain::DropKind,
    kernel::Kallsyms,
    netfilter::{self, NetfilterError, Ruleset},
};

/// A read of the rule set under way.
pub type RulesRead = JoinHandle<Result<Ruleset, NetfilterError>>;

#[derive(Default)]
pub struct EarlyReads {
    started: bool,
    pub rules: Option<RulesRead>,
    /// kallsyms with the drop locations seen so far already resolved.
    pub kallsyms: Option<JoinHandle<Kallsyms>>,
}

impl EarlyReads {
    /// Starts the reads the drops among `events[decisive]` (the events that settled the
    /// probes' fates) call for, once: every drop location in `events` (all so far) is resolved.
    pub fn start(&mut self, decisive: &[usize], events: &[KernelEvent]) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let netfilter = decisive.iter().any(|&i| drop_kind(&events[i]) == Some(DropKind::Netfilter));
        if netfilter {
            self.rules = Some(tokio::task::spawn_blocking(netfilter::snapshot));
        }
        let locations: Vec<u64> = events
            .iter()
            .filter_map(|e| match &e.detail {
                Detail::Drop { location, .. } => Some(*location),
                _ => None,
            })
            .collect();
        if !locations.is_empty() {
            self.kallsyms = Some(tokio::task::spawn_blocking(move || {
                let mut k = Kallsyms::default();
                k.resolve_many(&locations);
                k
            }));
        }
    }

    /// The kallsyms reader, with what was resolved early (a fresh one if nothing was).
    pub async fn kallsyms(&mut self) -> Kallsyms {
        match self.kallsyms.take() {
            Some(read) => read.await.unwrap_or_default(),
            None => Kallsyms::default(),
        }
    }
}

fn drop_kind(e: &KernelEvent) -> Option<DropKind> {
    match &e.detail {
        Detail::Drop { reason, .. } => Some(DropKind::of(reason)),
        _ => None,
    }
}
