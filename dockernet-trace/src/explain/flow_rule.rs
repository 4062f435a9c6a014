//! A watch's flow: the rule that dropped its packets, from the same explanation a trace gets
//! ([`super::dropping_rule`]): the evaluator on the packet as the kernel showed it, the
//! interval's counters as the cross-check (loosely: the watch's flows share them).
use super::{
    dropping_rule::{Counters, How, dropping_rule},
    netfilter_path::{DropDevice, Dropped, HostView},
    rule_attribution::{FlowDrops, Hit},
};
use crate::netfilter::{CounterDelta, Ruleset, eval::Evaluator};

/// The rule for flow `g`; `counted` is what the counters alone gave it (kept when the
/// evaluation cannot name a rule).
pub fn for_flow(rs: &Ruleset, host: &HostView, deltas: &[CounterDelta], g: &FlowDrops, counted: &Hit) -> Hit {
    if !g.in_host {
        // A container's own firewall: its rules are not the ones we read.
        return counted.clone();
    }
    let dropped = Dropped {
        tuple: g.tuple,
        entry: None,
        local_origin: host.is_local(g.tuple.src),
        iif: None,
        oif: None,
        drop_device: g.iface.clone().map_or(DropDevice::Unknown, DropDevice::Device),
        ct: g.ct,
        hook: None,
    };
    let counters =
        Counters { deltas: Some(deltas), strict: false, pick: counted.named.clone().map(|r| (r, false)) };
    let found = dropping_rule(&Evaluator::new(rs), rs, host, &dropped, &counters);
    for line in &found.evidence {
        log::debug!("{} → {}: {line}", g.tuple.src_str(), g.tuple.dst_str());
    }
    match found.named() {
        Some(b) if found.how != How::Unknown => {
            Hit { rule: Some(b.rule.listed()), cause: found.cause, named: Some(b.rule.clone()) }
        }
        _ => counted.clone(),
    }
}

#[cfg(test)]
#[path = "flow_rule_tests.rs"]
mod tests;
