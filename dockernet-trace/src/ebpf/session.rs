//! One loaded copy of the kernel programs: configure, attach, read events, detach on drop.
use std::{collections::BTreeSet, sync::mpsc};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, LpmTrie, MapData, PerCpuArray, RingBuf},
};
use dockernet_trace_common::{Config, Ipv4Prefix, Ipv6Prefix, counters, maps, programs};
use ipnet::IpNet;

pub use super::kernel_info::KernelInfo;
use super::{
    EbpfError, OBJECT, config,
    events::EventReader,
    hooks::{self, Coverage, HookContext, HookStatus, Purpose},
    tc, verify,
};
use crate::kernel::KernelError;

/// Totals of the per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub emitted: u64,
    pub lost: u64,
    pub inspected: u64,
}

/// How tc programs were attached to one interface, or why not.
pub type TcResult = Result<tc::Attachment, EbpfError>;

pub struct Session {
    ebpf: Ebpf,
    /// Declared after `ebpf`, so it drops after it: once the programs' filters are detached,
    /// the clsact qdiscs we added for them (kernels without tcx) go too.
    _clsact: tc::ClsactCleanup,
    config: Config,
    pub coverage: Coverage,
    pub hooks: Vec<HookStatus>,
    /// aya's parse of the kernel BTF, kept only while programs are being attached.
    aya_btf: Option<aya::Btf>,
    /// Watch mode: the prefixes in WATCH_NETS (host-order address, length), and the /16
    /// bitmap as last written (see `watch_maps`).
    pub(super) watched_prefixes: BTreeSet<(u32, u8)>,
    pub(super) net16: Vec<u64>,
    /// A prefix or namespace left the watched set since the last `take_scope_shrunk`.
    scope_shrunk: bool,
    /// tcx links of the tc programs, detached together at the end (see `Drop`).
    tc_links: Vec<tc::TcxLink>,
    /// Where the interfaces to attach the tc programs to while the programs are verified come
    /// from (tcx only): the trace's plan, which may be known only once verifying began.
    tc_ahead: Option<mpsc::Receiver<Vec<String>>>,
    /// Interfaces that have both tc programs (ahead or later), and how they were attached.
    tc_attached: Vec<(String, tc::Attachment)>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Everything else goes with `ebpf`, one link after the other; tcx links each wait for
        // an RCU grace period, so they go first, side by side.
        tc::detach_all(std::mem::take(&mut self.tc_links));
    }
}

impl Session {
    /// `loaded_for`: the mode the programs will run in (`MODE_PROBE`, `MODE_WATCH`), or
    /// `MODE_ANY`; `ipv6`: whether IPv6 packets may be of interest. The verifier checks only
    /// the code they leave.
    pub fn load(kernel: &KernelInfo, loaded_for: u32, ipv6: bool) -> Result<Self, EbpfError> {
        if OBJECT.is_empty() {
            return Err(EbpfError::Missing("kernel programs".into()));
        }
        raise_memlock();
        // The skb and device offsets, and the mode, are constants of the programs (see the eBPF
        // crate's context.rs), fixed before anything is verified. (aya's parse of the kernel BTF
        // is made after this load, not beside it: both at once left ~13 MB more resident.)
        let ebpf = EbpfLoader::new()
            .override_global(dockernet_trace_common::globals::SKB_LAYOUT, &kernel.base_config.skb, true)
            .override_global(dockernet_trace_common::globals::LOADED_FOR, &loaded_for, true)
            .override_global(dockernet_trace_common::globals::LOADED_V6, &u32::from(ipv6), true)
            .load(OBJECT)?;
        let mut s = Self {
            ebpf,
            _clsact: tc::ClsactCleanup,
            config: kernel.base_config,
            coverage: Coverage::default(),
            hooks: vec![],
            aya_btf: None,
            watched_prefixes: BTreeSet::new(),
            net16: vec![0; dockernet_trace_common::WATCH_NET16_WORDS as usize],
            scope_shrunk: false,
            tc_links: Vec::new(),
            tc_ahead: None,
            tc_attached: Vec::new(),
        };
        s.set_config(kernel.base_config)?;
        Ok(s)
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// Writes the configuration the programs read on every event.
    pub fn set_config(&mut self, cfg: Config) -> Result<(), EbpfError> {
        let mut arr: Array<&mut MapData, Config> = self.map_mut(maps::CONFIG)?;
        arr.set(0, cfg, 0).map_err(|source| EbpfError::Map { map: maps::CONFIG.into(), source })?;
        self.config = cfg;
        Ok(())
    }

    pub(super) fn map_mut<'a, T>(&'a mut self, name: &str) -> Result<T, EbpfError>
    where
        T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let m = self.ebpf.map_mut(name).ok_or_else(|| EbpfError::Missing(format!("map {name}")))?;
        T::try_from(m).map_err(|source| EbpfError::Map { map: name.into(), source })
    }

    pub(super) fn map<'a, T>(&'a self, name: &str) -> Result<T, EbpfError>
    where
        T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
    {
        let m = self.ebpf.map(name).ok_or_else(|| EbpfError::Missing(format!("map {name}")))?;
        T::try_from(m).map_err(|source| EbpfError::Map { map: name.into(), source })
    }

    /// Attaches hooks, with aya's parse of the kernel's BTF (kept until `attached`).
    /// `classifiers`: tc programs to verify beside the hooks' (the trace attaches them next).
    fn attach_hooks(
        &mut self,
        kernel: &KernelInfo,
        list: &[Box<dyn hooks::Attachable>],
        classifiers: &[&str],
    ) -> Result<(), EbpfError> {
        if self.aya_btf.is_none() {
            let t = std::time::Instant::now();
            let parsed = kernel.aya_btf().map_err(|reason| {
                EbpfError::Kernel(KernelError::BadBtf { path: kernel.btf.path().into(), reason })
            })?;
            log::debug!("aya's BTF parsed: {} ms", t.elapsed().as_millis());
            self.aya_btf = Some(parsed);
        }
        let Some(aya_btf) = self.aya_btf.as_ref() else { return Ok(()) };
        let mut cx = HookContext {
            aya_btf,
            attached_ahead: Vec::new(),
            btf: &kernel.btf,
            features: &kernel.features,
            route_layout: &kernel.route_layout,
            route6_layout: &kernel.route6_layout,
            trampolines_refused: Default::default(),
        };
        let ahead: Vec<_> = list.iter().filter_map(|h| h.verified_ahead(&cx)).collect();
        // tc ahead only through tcx: cls_bpf filters need the qdisc bookkeeping of `attach_tc`.
        let told = self.tc_ahead.take().filter(|_| kernel.features.tcx);
        // Nothing told (the sender gone): nothing ahead.
        let tc_ifaces = move || told.and_then(|rx| rx.recv().ok()).unwrap_or_default();
        let done = verify::verify_ahead(&mut self.ebpf, aya_btf, &ahead, classifiers, tc_ifaces);
        cx.attached_ahead = done.attached;
        let status = hooks::attach_all(&mut self.ebpf, &cx, list, &mut self.coverage);
        let made = done.tcx.map(|t| t.join().unwrap_or_default()).unwrap_or_default();
        self.tc_attached_ahead(made);
        self.hooks.extend(status?);
        Ok(())
    }

    /// Attaches the tracepoints a purpose needs; optional ones that fail become notes.
    pub fn attach_tracepoints(&mut self, kernel: &KernelInfo, purpose: Purpose) -> Result<(), EbpfError> {
        // A trace attaches tc next: its classifiers are verified with the tracepoints.
        let classifiers: &[&str] = match purpose {
            Purpose::Trace => &[programs::TC_INGRESS, programs::TC_EGRESS],
            Purpose::Watch | Purpose::Drops => &[],
        };
        self.attach_hooks(kernel, &hooks::tracepoints(purpose), classifiers)
    }

    /// Attaches what the kernel allows of the kprobe/fentry enrichment; failures are notes.
    pub fn attach_enrichment(&mut self, kernel: &KernelInfo) {
        if !kernel.features.kprobes && !self.trampolines_load(kernel) {
            // Every enrichment hook would fail the same way: say so for each, without
            // reading the modules' BTF for a layout nothing could use.
            for h in hooks::enrichment(&Default::default()) {
                let note = "fentry: refused by this kernel; kprobes: not in this kernel".to_string();
                log::info!("{} not attached: {note}", h.name());
                self.hooks.push(hooks::HookStatus { hook: h.name(), attached: false, note: Some(note) });
            }
            return;
        }
        let enrichment = kernel.enrichment();
        let mut cfg = self.config;
        cfg.enrich = enrichment.layout;
        if let Err(e) = self.set_config(cfg) {
            log::info!("enrichment layout not written: {e}");
            return;
        }
        if let Err(e) = self.attach_hooks(kernel, &hooks::enrichment(&enrichment), &[]) {
            log::info!("enrichment not attached: {e}");
        }
    }

    /// Does this kernel load trampoline (fexit) programs? Tried with the first enrichment
    /// program, which stays loaded for its hook. Only a refusal (EPERM) says no.
    fn trampolines_load(&mut self, kernel: &KernelInfo) -> bool {
        if self.aya_btf.is_none() {
            match kernel.aya_btf() {
                Ok(b) => self.aya_btf = Some(b),
                Err(_) => return true,
            }
        }
        let Some(btf) = self.aya_btf.as_ref() else { return true };
        let Some(p) = self.ebpf.program_mut(hooks::TRAMPOLINE_PROBE) else { return true };
        let Ok(p): Result<&mut aya::programs::FExit, _> = p.try_into() else { return true };
        let refused = matches!(
            p.load(hooks::TRAMPOLINE_PROBE_TARGET, btf),
            Err(aya::programs::ProgramError::LoadError { io_error, .. })
                if io_error.raw_os_error() == Some(libc::EPERM)
        );
        !refused
    }

    /// Frees what only attaching needed (aya's copy of the kernel BTF: megabytes).
    pub fn attached(&mut self) {
        self.aya_btf = None;
    }

    /// Where the interfaces a trace will attach tc to will be told (an empty list: none):
    /// `attach_tracepoints` attaches tc to them as soon as the classifiers are verified and
    /// the interfaces known.
    pub fn attach_tc_ahead(&mut self, ifaces: mpsc::Receiver<Vec<String>>) {
        self.tc_ahead = Some(ifaces);
    }

    /// Keeps the links `verify_ahead` made for interfaces that got both directions; one that
    /// got only one is detached again, for `attach_tc` to do whole.
    fn tc_attached_ahead(&mut self, made: Vec<tc::TcxMade>) {
        let both = |iface: &str| made.iter().filter(|(i, ..)| i == iface).count() == 2;
        let ready: Vec<String> = made.iter().map(|(i, ..)| i.clone()).filter(|i| both(i)).collect();
        let mut partial = Vec::new();
        for (iface, _, link) in made {
            if ready.contains(&iface) { self.tc_links.push(link) } else { partial.push(link) }
        }
        tc::detach_all(partial);
        self.coverage.tc |= !ready.is_empty();
        for iface in ready {
            if self.tc_how(&iface).is_none() {
                self.tc_attached.push((iface, tc::Attachment::Tcx));
            }
        }
    }

    /// How `iface` got both tc programs, if it has them.
    fn tc_how(&self, iface: &str) -> Option<tc::Attachment> {
        self.tc_attached.iter().find(|(i, _)| i == iface).map(|(_, how)| *how)
    }

    /// Attaches the tc classifiers to each of `ifaces` in the current network namespace, all at
    /// once: how, or why not, per interface (the error: the programs did not load). An
    /// interface that has them already (attached ahead, or by an earlier call) keeps them.
    pub fn attach_tc(&mut self, ifaces: &[String], kernel: &KernelInfo) -> Result<Vec<TcResult>, EbpfError> {
        let t = std::time::Instant::now();
        tc::load(&mut self.ebpf)?;
        let known: Vec<Option<tc::Attachment>> = ifaces.iter().map(|i| self.tc_how(i)).collect();
        let todo: Vec<String> =
            ifaces.iter().zip(&known).filter(|(_, k)| k.is_none()).map(|(i, _)| i.clone()).collect();
        let (results, links) = tc::attach(&mut self.ebpf, &todo, kernel.features.tcx);
        log::debug!("tc on {todo:?} ({} tcx links): {} ms", links.len(), t.elapsed().as_millis());
        self.tc_links.extend(links);
        self.coverage.tc |= results.iter().any(Result::is_ok);
        for (iface, result) in todo.iter().zip(&results) {
            if let Ok(how) = result {
                self.tc_attached.push((iface.clone(), *how));
            }
        }
        // `todo`'s results, in order, where nothing was known.
        let mut fresh = results.into_iter();
        Ok(known
            .into_iter()
            .zip(ifaces)
            .map(|(k, iface)| match k {
                Some(how) => Ok(how),
                None => fresh.next().unwrap_or_else(|| {
                    Err(EbpfError::Tc { iface: iface.clone(), reason: "not attached".into() })
                }),
            })
            .collect())
    }

    /// The event stream (can be taken once).
    pub fn events(&mut self) -> Result<EventReader, EbpfError> {
        let map = self
            .ebpf
            .take_map(maps::EVENTS)
            .ok_or_else(|| EbpfError::Missing(format!("map {}", maps::EVENTS)))?;
        let ring =
            RingBuf::try_from(map).map_err(|source| EbpfError::Map { map: maps::EVENTS.into(), source })?;
        Ok(EventReader::new(ring))
    }

    pub fn counters(&self) -> Counters {
        let Ok(m) = self.map::<PerCpuArray<&MapData, u64>>(maps::COUNTERS) else {
            return Counters::default();
        };
        let total = |i| m.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
        Counters {
            emitted: total(counters::EMITTED),
            lost: total(counters::LOST),
            inspected: total(counters::INSPECTED),
        }
    }

    /// Replaces nothing: adds a prefix (IPv4 or IPv6: a trie each) to the watched set. IPv4
    /// prefixes also set their /16s in the bitmap in front of their trie.
    pub fn watch_prefix(&mut self, prefix: &IpNet) -> Result<(), EbpfError> {
        let err = |map: &'static str| move |source| EbpfError::Map { map: map.into(), source };
        match prefix {
            IpNet::V4(p) => {
                let mut trie: LpmTrie<&mut MapData, Ipv4Prefix, u8> = self.map_mut(maps::WATCH_NETS)?;
                trie.insert(&config::watch_key(p), 1, 0).map_err(err(maps::WATCH_NETS))?;
                self.watched_prefixes.insert((u32::from(p.network()), p.prefix_len()));
                self.sync_net16()
            }
            IpNet::V6(p) => {
                let mut trie: LpmTrie<&mut MapData, Ipv6Prefix, u8> = self.map_mut(maps::WATCH_NETS6)?;
                trie.insert(&config::watch_key6(p), 1, 0).map_err(err(maps::WATCH_NETS6))
            }
        }
    }

    pub fn unwatch_prefix(&mut self, prefix: &IpNet) -> Result<(), EbpfError> {
        let err = |map: &'static str| move |source| EbpfError::Map { map: map.into(), source };
        self.scope_shrunk = true;
        match prefix {
            IpNet::V4(p) => {
                self.watched_prefixes.remove(&(u32::from(p.network()), p.prefix_len()));
                self.sync_net16()?;
                let mut trie: LpmTrie<&mut MapData, Ipv4Prefix, u8> = self.map_mut(maps::WATCH_NETS)?;
                trie.remove(&config::watch_key(p)).map_err(err(maps::WATCH_NETS))
            }
            IpNet::V6(p) => {
                let mut trie: LpmTrie<&mut MapData, Ipv6Prefix, u8> = self.map_mut(maps::WATCH_NETS6)?;
                trie.remove(&config::watch_key6(p)).map_err(err(maps::WATCH_NETS6))
            }
        }
    }

    pub fn watch_netns(&mut self, inode: u32, on: bool) -> Result<(), EbpfError> {
        let mut m: HashMap<&mut MapData, u32, u8> = self.map_mut(maps::WATCH_NETNS)?;
        let r = if on { m.insert(inode, 1, 0) } else { m.remove(&inode) };
        self.scope_shrunk |= !on;
        r.map_err(|source| EbpfError::Map { map: maps::WATCH_NETNS.into(), source })
    }

    /// Whether the watched set shrank since the last call: keys the kernel counts may then
    /// be outside it (a counted key is not filtered again), so they are started afresh.
    pub fn take_scope_shrunk(&mut self) -> bool {
        std::mem::take(&mut self.scope_shrunk)
    }
}

/// Kernels before 5.11 charge eBPF maps to RLIMIT_MEMLOCK; lift it so loading cannot fail on it.
fn raise_memlock() {
    let _ = nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_MEMLOCK,
        nix::sys::resource::RLIM_INFINITY,
        nix::sys::resource::RLIM_INFINITY,
    );
}
