//! Each probe's outcome as far as the path goes: answered by the target, delivered to the
//! target's socket without a reply (UDP), or stopped on the way. A path is reachable only when
//! every probe got through; when some stopped, the verdict explains those.
use dockernet_trace_common::Hook;

use super::{Context, Location, TraceVerdict, stopped};
use crate::{
    cause::Cause,
    flow::Proto,
    probe::Answer,
    trace::{collect::ProbeRecord, exited::exited, facts::Facts, hops::Hop},
    words::count,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered (connected, echo reply, a UDP reply).
    Answered,
    /// UDP: the kernel delivered the datagram to a bound socket, which sent nothing back.
    Delivered,
    Stopped,
}

impl Outcome {
    fn through(self) -> bool {
        self != Self::Stopped
    }
}

/// The outcome of probe `p`.
pub fn of(cx: &Context, p: &ProbeRecord) -> Outcome {
    if p.answer.reached() {
        Outcome::Answered
    } else if delivered(cx, p) {
        Outcome::Delivered
    } else {
        Outcome::Stopped
    }
}

/// A UDP probe that went unanswered, yet arrived in the target's namespace where a socket is
/// bound on its port, and that the kernel neither dropped nor answered with an ICMP error:
/// the socket got it.
fn delivered(cx: &Context, p: &ProbeRecord) -> bool {
    let Some(arrival) = cx.sockets.arrival.as_ref() else { return false };
    let arrived = cx
        .hops
        .iter()
        .any(|h| h.probe == p.index && h.forward && h.netns == arrival.netns && h.hook == Hook::NetifReceive);
    cx.plan.proto == Proto::Udp
        && p.answer == Answer::NoAnswer
        && arrival.socket == Some(true)
        && arrived
        && !cx.facts.drops.iter().any(|d| d.probe == p.index)
        && !cx.facts.answers.iter().any(|a| a.probe == p.index)
}

/// Every probe got through: the target is reachable.
pub fn all_through(cx: &Context) -> Option<TraceVerdict> {
    let outcomes: Vec<Outcome> = cx.probes.iter().map(|p| of(cx, p)).collect();
    if outcomes.is_empty() || !outcomes.iter().all(|o| o.through()) {
        return None;
    }
    let n = outcomes.len();
    let delivered = outcomes.iter().filter(|o| **o == Outcome::Delivered).count();
    let how = match (delivered, n) {
        (0, 1) => "the probe was answered".to_string(),
        (0, _) => format!("all {n} probes were answered"),
        (d, _) => {
            let a = cx.sockets.arrival.as_ref();
            let place = a.map(|a| format!(" on port {} in {}", a.port, a.netns)).unwrap_or_default();
            let which = if d == n { "every probe".to_string() } else { count(d as u64, "probe") };
            format!(
                "delivered, no reply: the kernel delivered {which} to the socket bound{place}, which sent nothing back (a UDP service answers only what it understands)"
            )
        }
    };
    let mut evidence = Vec::new();
    if let Some(a) = cx.sockets.arrival.as_ref().filter(|_| delivered > 0) {
        evidence.push(format!(
            "after arriving in {}, the kernel neither dropped the probe nor answered it with an ICMP error",
            a.netns
        ));
        evidence.push(format!("a UDP socket is bound on port {} in {}", a.port, a.netns));
    }
    let last = cx.last_forward_hop();
    Some(TraceVerdict {
        cause: Cause::Ok,
        summary: format!("{} reached {}: {how}", cx.from.name, cx.target()),
        location: Location {
            iface: last.map(|h| h.iface.clone()),
            netns: last.map(|h| h.netns.clone()),
            ..Location::default()
        },
        evidence,
        fix: vec![],
    })
}

/// Some probes got through and some stopped: not reachable. The verdict is that of the probes
/// that stopped, told with how many of all got through.
pub fn partial(cx: &Context) -> Option<TraceVerdict> {
    let stopped_ones: Vec<u16> =
        cx.probes.iter().filter(|p| of(cx, p) == Outcome::Stopped).map(|p| p.index).collect();
    let through = cx.probes.len() - stopped_ones.len();
    if through == 0 || stopped_ones.is_empty() {
        return None;
    }
    // The target exited mid-trace and only the probes after that went unanswered: the path
    // worked while the target was there (exited::with_target_exit tells the rest).
    let last_through = cx.probes.iter().filter(|p| of(cx, p) != Outcome::Stopped).map(|p| p.index).max();
    if exited(cx.to) && stopped_ones.iter().all(|i| Some(*i) > last_through) {
        let answered = Subset::of(cx, |i| !stopped_ones.contains(&i));
        return all_through(&answered.context(cx));
    }
    let stopped_subset = Subset::of(cx, |i| stopped_ones.contains(&i));
    let mut v = stopped(&stopped_subset.context(cx));
    let names: Vec<String> = stopped_ones.iter().map(|i| (i + 1).to_string()).collect();
    let which = match names.as_slice() {
        [one] => format!("probe {one} stopped"),
        many => format!("probes {} stopped", many.join(", ")),
    };
    v.summary = format!(
        "only {through} of {} got through; {which}: {}",
        count(cx.probes.len() as u64, "probe"),
        v.summary
    );
    Some(v)
}

/// What the kernel and the sockets showed of some of the probes.
struct Subset {
    facts: Facts,
    hops: Vec<Hop>,
    probes: Vec<ProbeRecord>,
}

impl Subset {
    fn of(cx: &Context, keep: impl Fn(u16) -> bool) -> Self {
        Subset {
            facts: cx.facts.of_probes(&keep),
            hops: cx.hops.iter().filter(|h| keep(h.probe)).cloned().collect(),
            probes: cx.probes.iter().filter(|p| keep(p.index)).cloned().collect(),
        }
    }

    /// `cx`, narrowed to these probes.
    fn context<'a>(&'a self, cx: &Context<'a>) -> Context<'a> {
        Context {
            probes: &self.probes,
            hops: &self.hops,
            facts: &self.facts,
            findings: cx.findings.clone(),
            source_netns: cx.source_netns.clone(),
            ..*cx
        }
    }
}
