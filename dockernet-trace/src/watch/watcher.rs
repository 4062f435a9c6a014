//! The state of a running watch: the attached programs and their filter, Docker's view, the
//! events folded in the current second, the rule tracker and the totals. The loop in `mod.rs`
//! drives it: events in, one flush per second, a refresh when Docker changes, a summary at exit.
mod reporting;

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Instant,
};

use dockernet_trace_common::{Event, Hook, drop_policy};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use super::{
    changes::{Change, Sink, Sources, netlink::Interest},
    docker_events::Observers,
    evidence::DropEvidence,
    fold::{Folded, Folder, KernelCounts},
    incident::{self, Hooks},
    line::{ChangeSource, Clock, mono_now_ns, timestamp},
    metrics::{Metrics, server},
    output::{Output, note},
    refresh::{self, Refresh, Reloaded},
    rules::{self, Landed, RuleTracker},
    scope::{self, Filter, Installed},
    summary::Totals,
};
use crate::{
    cli::WatchArgs,
    ebpf::{
        KernelEvent, Session, config, events::EventReader, hooks::Purpose, session::KernelInfo,
        watch_maps::counted_key,
    },
    error::{Error, Result},
    explain::{Names, netfilter_path::HostView, route_failure::ROUTE_REFUSAL_REASONS, rule_attribution::Hit},
    flow::Tuple,
    kernel::{DropReasons, Kallsyms, ResetReasons},
    model::Topology,
    netfilter::snapshot::{Listings, System},
};

pub struct Watcher {
    session: Session,
    /// Taken out of the session so the loop can wait on it while the rest is borrowed.
    pub reader: EventReader,
    installed: Installed,
    filter: Filter,
    docker_host: Option<String>,
    topology: Topology,
    names: Names,
    drop_reasons: DropReasons,
    reset_reasons: ResetReasons,
    hooks: Hooks,
    folder: Folder,
    /// Drops and resets the kernel counts (one event per key, then counts in a map).
    counts: KernelCounts,
    /// Public so that the loop can wait on its reading of the rule counters while the rest is
    /// borrowed (like `reader`).
    pub rules: RuleTracker,
    /// Reading Docker's view again after its events (waited for by the loop too).
    pub refresh: Refresh,
    totals: Totals,
    out: Output,
    clock: Clock,
    syms: Kallsyms,
    started: Instant,
    /// When Docker was first read: its events are followed from then on.
    pub docker_read_at: std::time::SystemTime,
    /// The host's network changes as they come (taken by the loop like `reader`).
    pub changes: mpsc::Receiver<Change>,
    sink: Sink,
    /// Dropped last of all the watcher's parts that run: stops `nft monitor`.
    _sources: Sources,
    interest: watch::Sender<Interest>,
    metrics: Option<Arc<Metrics>>,
    metrics_server: Option<JoinHandle<()>>,
    evidence: Option<DropEvidence>,
    /// The rule each flow's netfilter drops were last attributed to, until its line is out.
    hits: HashMap<Tuple, Hit>,
    /// Lines due whose netfilter drops wait for a reading of the rule counters, each with the
    /// number of the reading it waits for.
    held: Vec<(u64, Folded)>,
}

impl Watcher {
    /// Reads Docker, the rules and the kernel's layout (in parallel), loads and attaches the
    /// programs, fills the filter, and says on stderr that it is watching.
    pub async fn start(args: &WatchArgs) -> Result<Self> {
        let started = Instant::now();
        let filter = Filter { containers: args.container.clone(), networks: args.network.clone() };
        let out = Output::open(args.output.json, args.record.as_deref())?;
        let evidence = args.pcap.as_deref().map(DropEvidence::create).transpose()?;
        // Bound before anything is attached: a taken address is a usage error right away.
        let (metrics, metrics_server) = match args.metrics {
            Some(addr) => {
                let m = Arc::new(Metrics::new());
                let (bound, task) = server::serve(addr, Arc::clone(&m)).await?;
                note(&format!("serving metrics on http://{bound}/metrics"));
                (Some(m), Some(task))
            }
            None => (None, None),
        };
        let kernel = tokio::task::spawn_blocking(KernelInfo::probe);
        // The rule counters as the watch starts, parsed once the programs are attached.
        let listings = tokio::task::spawn_blocking(|| Listings::read(&System));
        let docker_read_at = std::time::SystemTime::now();
        let topology = Topology::load(args.docker.docker_host.as_deref()).await?;
        filter.check(&topology)?;
        let join = |e: tokio::task::JoinError| Error::Usage(format!("startup task failed: {e}"));
        let kernel = kernel.await.map_err(join)??;

        let mut session = Session::load(&kernel, dockernet_trace_common::MODE_WATCH, true)?;
        session.attach_tracepoints(&kernel, Purpose::Watch)?;
        session.attached();
        // The counters read when the watch started (above), parsed only now: the programs
        // load meanwhile, and aya's copy of the kernel BTF is gone before thousands of parsed
        // rules are held (both at once were the watch's peak; their text is a fraction).
        let listings = listings.await.map_err(join)?;
        let baseline = tokio::task::spawn_blocking(move || listings.parse()).await.map_err(join)??;
        let resets = session.hooks.iter().any(|h| h.hook == "tcp:tcp_send_reset" && h.attached);
        for h in session.hooks.iter().filter(|h| !h.attached) {
            note(&format!(
                "{} not attached ({}): those events are not reported",
                h.hook,
                h.note.as_deref().unwrap_or("?")
            ));
        }
        if let Some(m) = &metrics {
            session.hooks.iter().for_each(|h| m.program(h.hook, h.attached));
        }
        let (sink, changes) = Sink::channel(CHANGES_QUEUED);
        let (interest, interest_rx) = watch::channel(Interest::of(&topology));
        let sources = Sources::start(&sink, interest_rx).await;
        for s in &sources.missing {
            note(&format!("{s} did not start: those changes of the host are not reported"));
        }
        // What is never an incident, the kernel turns away before it reads the packet.
        let mut policy = super::noise::kernel_policy(Hooks { resets });
        // Without the route layout the program cannot read a route (see `refused_route`).
        if kernel.route_layout.is_ok() {
            policy.extend(ROUTE_REFUSAL_REASONS.map(|r| (r, drop_policy::ROUTE_ERROR)));
        }
        let unknown = session.set_drop_policy(&kernel.drop_reasons, &policy)?;
        log::debug!("drop reasons this kernel does not have: {unknown:?}");
        let mut installed = Installed::default();
        installed.apply(&mut session, scope::compute(&topology, &filter))?;
        session.set_config(config::for_watch(session.config()))?;
        let reader = session.events()?;
        let w = Watcher {
            session,
            reader,
            installed,
            filter,
            docker_host: args.docker.docker_host.clone(),
            names: Names::new(&topology),
            topology,
            drop_reasons: kernel.drop_reasons.clone(),
            reset_reasons: ResetReasons::from_btf(&kernel.btf),
            hooks: Hooks { resets },
            folder: Folder::default(),
            counts: KernelCounts::default(),
            rules: RuleTracker::new(baseline),
            totals: Totals::default(),
            out,
            clock: Clock::now(),
            syms: Kallsyms::default(),
            started,
            docker_read_at,
            changes,
            sink,
            _sources: sources,
            interest,
            metrics,
            metrics_server,
            evidence,
            hits: HashMap::new(),
            held: Vec::new(),
            refresh: Refresh::default(),
        };
        log::debug!("watch ready after {} ms", started.elapsed().as_millis());
        w.announce_start();
        Ok(w)
    }

    /// The ready signal: printed once the programs are attached and the filter is in place, so
    /// anything dropped after it is reported.
    fn announce_start(&self) {
        let s = self.installed.scope();
        let nets: Vec<String> = s.prefixes.iter().map(|p| p.to_string()).collect();
        note(&format!(
            "watching {} containers, addresses {} (Ctrl-C stops and prints a summary)",
            self.filter.covered(&self.topology).len(),
            if nets.is_empty() { "none yet".into() } else { nets.join(", ") }
        ));
    }

    /// Where Docker's events go besides the refresh: change lines and the metrics.
    pub fn docker_observers(&self) -> Observers {
        Observers { changes: Some(self.sink.clone()), metrics: self.metrics.clone() }
    }

    /// Writes a change of the host's network as a line (Docker names its containers by ID in
    /// network events: named here when Docker's view knows them).
    pub fn change(&mut self, mut c: Change) {
        if c.source() == ChangeSource::Docker
            && let Some(id) = c.container.clone()
        {
            c.container = Some(match self.topology.container(&id) {
                Ok(known) => known.name.clone(),
                Err(_) => id.chars().take(12).collect(),
            });
        }
        let line = c.line();
        if let Some(m) = &self.metrics {
            m.change(&line);
        }
        self.out.change(&line);
    }

    pub fn docker_client(&self) -> Option<bollard::Docker> {
        // A second connection for the event stream; the model's own is not kept.
        let host = crate::model::docker::docker_host_uri(
            self.docker_host.as_deref(),
            std::env::var("DOCKER_HOST").ok(),
        );
        bollard::Docker::connect_with_host(&host).ok()
    }

    /// Folds a batch of kernel events. A drop or reset the kernel counts arrives once per key:
    /// it says what the key stands for, and its packets are folded from the counts.
    pub fn take(&mut self, batch: Vec<Event>) {
        for raw in batch {
            let key = counted_key(&raw);
            if key.is_some_and(|k| self.counts.knows(&k)) {
                continue;
            }
            let Some(e) = KernelEvent::from_raw(&raw, &self.drop_reasons) else { continue };
            let i = incident::from_event(&e, &self.reset_reasons, self.hooks, &mut self.syms);
            match key {
                Some(k) => {
                    if i.is_none() && e.hook == Hook::KfreeSkb {
                        // No incident here, ever (the noise rules depend on the function, the
                        // reason and the protocol only): the kernel stops counting such drops.
                        if let Err(err) = self.session.mark_noise(&raw) {
                            log::debug!("noise site not written: {err}");
                        }
                    }
                    self.counts.learn(k, i);
                }
                None => {
                    if let Some(i) = i {
                        self.folder.add(i);
                    }
                }
            }
        }
    }

    /// The kernel's counts since the last scan, into the folder; keys it no longer needs to
    /// count are deleted from its map.
    fn fold_kernel_counts(&mut self) {
        // Events first, in their order (a failed route lookup comes before the drop it
        // explains), so that only keys made since are known from the map alone.
        let pending = self.reader.drain();
        self.take(pending);
        let scan = match self.session.drop_counts() {
            Ok(s) => s,
            Err(e) => {
                log::warn!("reading the kernel's drop counts: {e}");
                return;
            }
        };
        // A key whose event has not come (or was lost) is known from the map alone.
        let unknown: Vec<Event> =
            scan.iter().filter(|c| !self.counts.knows(&c.key)).map(|c| c.first_event()).collect();
        self.take(unknown);
        let restart = self.session.take_scope_shrunk();
        let gone = self.counts.fold(&scan, mono_now_ns(), restart, &mut self.folder);
        if let Err(e) = self.session.forget_drop_keys(&gone) {
            log::warn!("deleting idle drop counts: {e}");
        }
    }

    /// Hands the netfilter drops since the last tick to the rule tracker, and reports the lines
    /// whose second is over (see `fold`) unless their drops wait for the rule counters.
    pub async fn flush(&mut self) {
        if let Some(m) = &self.metrics {
            m.lost_events(self.session.counters().lost);
        }
        self.fold_kernel_counts();
        self.rules.add(rules::fresh_drops(&mut self.folder, &self.names));
        let due = self.folder.take_due(mono_now_ns());
        self.hold(due);
        self.report_ready().await;
    }

    /// A reading of the rule counters landed (see `RuleTracker::read`): the flows that waited
    /// for it get their rules, and the lines that waited are reported.
    pub async fn rules_read(&mut self, landed: Landed) {
        let bridges: BTreeSet<String> = self.names.bridges().map(str::to_string).collect();
        let host = HostView::of(&self.topology);
        for (flow, hit) in self.rules.landed(landed, &bridges, &host) {
            self.hits.insert(flow.tuple, hit);
        }
        self.report_ready().await;
    }

    /// Starts reading again what Docker's events said changed (see `refresh`).
    pub fn start_refresh(&mut self) {
        self.refresh.start(&self.topology);
    }

    /// Docker's view read again (see `refresh`): the filter and the names brought up to date.
    pub fn refreshed(&mut self, reloaded: Reloaded) {
        let t = match reloaded {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return log::warn!("reading Docker again: {e}"),
            Err(e) => return log::warn!("reading Docker again: {e}"),
        };
        if let Err(e) = self.installed.apply(&mut self.session, scope::compute(&t, &self.filter)) {
            note(&format!("updating the kernel filter failed: {e}"));
        }
        refresh::coverage_notes(&self.topology, &t, &self.filter).iter().for_each(|n| note(n));
        self.interest.send_replace(Interest::of(&t));
        self.names = Names::new(&t).with_fallback(&self.names);
        self.topology = t;
    }

    /// The last flush (events still in the ring buffer included) and the summary. Detaching
    /// happens when the watcher is dropped, after the summary is out.
    pub async fn finish(&mut self) {
        // A reading of Docker under way (a container started just before the end) names them.
        if self.refresh.under_way()
            && let Ok(reloaded) = tokio::time::timeout(REFRESH_AT_EXIT, self.refresh.landed()).await
        {
            self.refreshed(reloaded);
        }
        // The events still in the ring buffer, then the packets the kernel counted since the
        // last tick: up to a second of a drop flood.
        self.fold_kernel_counts();
        self.rules.add(rules::fresh_drops(&mut self.folder, &self.names));
        // The readings under way or due, at once: nothing else is to be waited for now.
        while self.rules.waits() {
            self.rules.read_now();
            let result = self.rules.read().await;
            self.rules_read(result).await;
        }
        let rest = self.folder.take();
        self.hold(rest);
        self.report_ready().await;
        while let Ok(c) = self.changes.try_recv() {
            self.change(c);
        }
        if self.sink.lost() > 0 {
            note(&format!(
                "{} changes of the host came faster than they could be written and are missing",
                self.sink.lost()
            ));
        }
        if let Some(t) = self.metrics_server.take() {
            t.abort();
        }
        let lost = self.session.counters().lost;
        if let Some(m) = &self.metrics {
            m.lost_events(lost);
        }
        let s = self.totals.summary(
            timestamp(std::time::SystemTime::now()),
            self.started.elapsed().as_secs_f64(),
            lost,
        );
        self.out.summary(&s);
    }
}

/// How long the end waits for a reading of Docker under way.
const REFRESH_AT_EXIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Changes that may wait for the loop; more are counted as lost (the sources never wait).
const CHANGES_QUEUED: usize = 4096;
