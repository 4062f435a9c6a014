//! `watch`: stay attached and report, live, every drop, route failure and reset that involves
//! Docker containers (CONTRACT.md, "watch --json"); `report` summarises a recording of it.
//!
//! The kernel side runs in watch mode: drops (skb:kfree_skb), resets, failed route lookups and
//! failed ARP, filtered in the kernel to Docker's subnets (or the chosen networks or
//! containers) and to the host's and containers' namespaces; no per-packet hop hooks. User
//! space leaves out what is no drop ([`noise`]), folds repeats of a flow into one line per
//! second ([`fold`]), names addresses and namespaces and finds the cause and the netfilter
//! rule through the explanation core (`crate::explain`; counters read by [`rules`]), and
//! follows Docker's events to keep the filter current.
//!
//! Ready signal: the first stderr line, `dockernet-trace: watching ...`, comes once the
//! programs are attached and the filter is set; whatever is dropped after it is reported.
//! Containers picked up later are announced as `dockernet-trace: now watching container NAME`.
//! SIGINT, SIGTERM or the end of `--duration` print the summary, then detach (tracepoint links
//! belong to the process's file descriptors; nothing stays in the kernel).
mod bursts;
pub mod change_line;
pub mod changes;
mod describe;
mod docker_events;
mod evidence;
mod fold;
mod incident;
pub mod line;
pub mod metrics;
pub mod noise;
mod output;
mod recording;
mod refresh;
pub mod report;
mod rules;
mod scope;
mod summary;
mod timeline;
mod watcher;

use std::time::Duration;

use tokio::{
    signal::unix::{SignalKind, signal},
    time::{Instant, MissedTickBehavior, sleep_until},
};

use crate::{
    cli::WatchArgs,
    error::{Result, require_privileges},
};

pub async fn run(args: &WatchArgs) -> Result<u8> {
    require_privileges()?;
    // Signals are ours before anything is attached, so a Ctrl-C at any point ends cleanly.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut w = watcher::Watcher::start(args).await?;
    let (mut changes, follower) = match w.docker_client() {
        Some(client) => {
            let (rx, task) = docker_events::spawn(client, w.docker_read_at, w.docker_observers());
            (Some(rx), Some(task))
        }
        None => (None, None),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let far = Instant::now() + Duration::from_secs(100 * 365 * 86_400);
    let deadline = args.duration.map(|d| Instant::now() + d).unwrap_or(far);
    let mut refresh_at: Option<Instant> = None;
    loop {
        tokio::select! {
            batch = w.reader.next_batch(Duration::from_millis(250)) => w.take(batch),
            _ = tick.tick() => w.flush().await,
            result = w.rules.read() => w.rules_read(result).await,
            Some(c) = w.changes.recv() => w.change(c),
            Some(change) = recv(&mut changes) => {
                log::debug!("docker: {change:?}");
                w.refresh.note(change);
                refresh_at.get_or_insert(Instant::now() + w.refresh.delay());
            }
            _ = sleep_until(refresh_at.unwrap_or(far)), if refresh_at.is_some() => {
                refresh_at = None;
                w.start_refresh();
            }
            reloaded = w.refresh.landed() => {
                w.refreshed(reloaded);
                // Changes that came while it was read, or a failed reading: read again.
                if w.refresh.stale() {
                    refresh_at.get_or_insert(Instant::now() + w.refresh.delay());
                }
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = sleep_until(deadline) => break,
        }
    }
    if let Some(t) = follower {
        t.abort();
    }
    w.finish().await;
    drop(w);
    Ok(0)
}

/// The next Docker change, or never when there is no event stream.
async fn recv(
    rx: &mut Option<tokio::sync::mpsc::Receiver<docker_events::Change>>,
) -> Option<docker_events::Change> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
