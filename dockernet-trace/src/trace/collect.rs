//! Sending the probes, each once the previous one's fate is known, while reading the kernel's
//! events, and stopping early once the kernel has shown a probe's fate (a drop, an ICMP error,
//! a reset): a dropped SYN would otherwise keep us waiting for the whole timeout.
use std::time::{Duration, Instant};

use dockernet_trace_common::Hook;
use futures::stream::{FuturesUnordered, StreamExt};

use super::{
    attach::Attached,
    early_reads::EarlyReads,
    exited,
    hops::locate,
    nftrace::{NfTrace, Step},
    plan::Plan,
};
use crate::{
    cli::TraceArgs,
    ebpf::{KernelEvent, events::EventReader},
    error::Result,
    kernel::DropReasons,
    model::{ModelError, ResolvedEndpoint},
    probe::{self, Answer, Probe, ProbePorts},
};

/// How long to keep listening after a decisive event, for the events that follow it (an ICMP
/// error after a drop, the reset after a NO_SOCKET drop).
const GRACE: Duration = Duration::from_millis(120);
/// Events still in flight when a probe's answer arrives.
const TRAILING: Duration = Duration::from_millis(30);
/// The longest wait for kernel events before the loop looks at its probes again.
const BATCH: Duration = Duration::from_millis(20);

/// What one probe's socket saw.
#[derive(Clone, Debug)]
pub struct ProbeRecord {
    pub index: u16,
    pub sport: u16,
    pub answer: Answer,
    pub elapsed_ms: f64,
}

pub struct Collected {
    pub probes: Vec<ProbeRecord>,
    pub events: Vec<KernelEvent>,
    /// netfilter's own trace of the probes (`--allow-system-changes` only).
    pub nftrace: Vec<Step>,
    /// Reads for the explanation, started once every probe's fate was known (see `send`).
    pub early: EarlyReads,
}

/// Does this event settle the fate of probe `index`?
fn decisive(e: &KernelEvent, ports: &ProbePorts, index: u16) -> bool {
    let ours = locate(ports, e).is_some_and(|(i, _)| i == index);
    ours && matches!(e.hook, Hook::KfreeSkb | Hook::IcmpSend | Hook::TcpSendReset)
}

/// Sends the probes of `plan` from `from` (each waiting `--timeout` at most) and gathers what
/// the kernel, and with `--allow-system-changes` netfilter's own tracing, saw of them.
pub async fn collect(
    args: &TraceArgs,
    plan: &Plan,
    from: &ResolvedEndpoint,
    a: &mut Attached,
) -> Result<Collected> {
    let ports = plan.ports;
    let nft = match args.allow_system_changes {
        true => tokio::task::spawn_blocking(move || NfTrace::start(ports)).await.ok().flatten(),
        false => None,
    };
    let sent = send(plan, args.timeout, &mut a.reader, &a.kernel.drop_reasons).await;
    let nftrace = match nft {
        Some(t) => tokio::task::spawn_blocking(move || t.finish()).await.unwrap_or_default(),
        None => vec![],
    };
    let (probes, events, early) = match sent {
        Err(_) if exited::exited(from) => return Err(exited::source_exited(from)),
        other => other?,
    };
    Ok(Collected { probes, events, nftrace, early })
}

/// Sends the probes one after another, each as soon as the previous one's fate is known: its
/// answer, or the kernel's decisive event (a drop, an ICMP error, a reset). The wait for what
/// follows a decisive event (`GRACE`) overlaps the next probes, so a dropped path costs one
/// grace, not one per probe; a probe that vanishes silently still has the next wait for its
/// timeout (and `TRAILING`), as neighbour discovery or a bridge's learning take their time.
/// Once every probe's fate is known, what the explanation reads about the drops is started
/// (`EarlyReads`), side by side with the grace.
async fn send(
    plan: &Plan,
    timeout: Duration,
    reader: &mut EventReader,
    reasons: &DropReasons,
) -> Result<(Vec<ProbeRecord>, Vec<KernelEvent>, EarlyReads), ModelError> {
    let count = plan.ports.count as usize;
    let mut pending = FuturesUnordered::new();
    let mut started: Vec<Instant> = Vec::with_capacity(count);
    // Each probe's answer and when it came.
    let mut answers: Vec<Option<(Answer, Instant)>> = vec![None; count];
    let mut settled_at: Vec<Option<Instant>> = vec![None; count];
    let mut events = Vec::new();
    // Which of `events` settled a probe's fate.
    let mut decisive_events: Vec<usize> = Vec::new();
    let mut early = EarlyReads::default();
    while answers.iter().any(Option::is_none) {
        let all_known = started.len() == count
            && answers.iter().zip(&settled_at).all(|(a, s)| a.is_some() || s.is_some());
        if all_known && !decisive_events.is_empty() {
            early.start(&decisive_events, &events);
        }
        let next = started.len();
        // An answered probe's events in flight get `TRAILING` before the next probe starts,
        // as they always did: a timed-out probe's successor then still sees what follows it.
        let previous_known = next == 0
            || settled_at[next - 1].is_some()
            || answers[next - 1].as_ref().is_some_and(|(_, t)| t.elapsed() >= TRAILING);
        if next < count && previous_known {
            let p = probe_of(plan, next as u16, timeout);
            let socket = probe::open(plan.send_from.as_deref(), p).await?;
            started.push(Instant::now());
            pending.push(async move { (next, probe::send(socket, p).await) });
            continue;
        }
        // Wake when the previous probe's `TRAILING` ends, not only at the next batch.
        let trailing_left = match next.checked_sub(1).map(|i| (&answers[i], settled_at[i])) {
            Some((Some((_, t)), None)) if next < count => TRAILING.saturating_sub(t.elapsed()),
            _ => BATCH,
        };
        tokio::select! {
            Some((i, a)) = pending.next() => {
                answers[i].get_or_insert((a, Instant::now()));
            }
            batch = reader.next_batch(trailing_left.clamp(Duration::from_millis(1), BATCH)) => {
                for raw in batch {
                    let Some(e) = KernelEvent::from_raw(&raw, reasons) else { continue };
                    for (i, settled) in settled_at.iter_mut().enumerate().take(started.len()) {
                        if settled.is_none() && decisive(&e, &plan.ports, i as u16) {
                            *settled = Some(Instant::now());
                            decisive_events.push(events.len());
                        }
                    }
                    events.push(e);
                }
                for (answer, settled) in answers.iter_mut().zip(&settled_at) {
                    if answer.is_none() && settled.is_some_and(|t| t.elapsed() >= GRACE) {
                        *answer = Some((Answer::Stopped, Instant::now()));
                    }
                }
            }
        }
    }
    drop(pending);
    let until = Instant::now() + TRAILING;
    while let Some(left) = until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        for raw in reader.next_batch(left.min(BATCH)).await {
            events.extend(KernelEvent::from_raw(&raw, reasons));
        }
    }
    let records = answers
        .into_iter()
        .zip(started)
        .enumerate()
        .map(|(i, (a, started))| {
            let (answer, at) = a.expect("the loop ends once every probe has an answer");
            let elapsed_ms = at.duration_since(started).as_secs_f64() * 1000.0;
            ProbeRecord { index: i as u16, sport: plan.ports.base + i as u16, answer, elapsed_ms }
        })
        .collect();
    Ok((records, events, early))
}

/// Probe `index` of the plan.
fn probe_of(plan: &Plan, index: u16, timeout: Duration) -> Probe {
    Probe {
        proto: plan.proto,
        dst: plan.dst,
        dport: plan.dport,
        // ICMP: the echo identifier, one per probe like the ports.
        sport: plan.ports.base + index,
        seq: index,
        timeout,
    }
}
