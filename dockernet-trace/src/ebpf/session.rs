//! One loaded copy of the kernel programs: configure, attach, read events, detach on drop.
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, LpmTrie, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
};
use dockernet_trace_common::{Config, Ipv4Prefix, Ipv6Prefix, counters, maps};
use ipnet::IpNet;

use super::{
    EbpfError, OBJECT, config,
    events::EventReader,
    hooks::{self, Coverage, HookContext, HookStatus, Purpose},
    tc,
};
use crate::kernel::{DropReasons, Features, KernelBtf, KernelError};

/// What the running kernel is and how it lays out its data, probed once per run.
pub struct KernelInfo {
    pub features: Features,
    pub btf: KernelBtf,
    pub drop_reasons: DropReasons,
    /// What the kprobe/fentry programs can read on this kernel.
    pub enrichment: super::enrich::Enrichment,
    /// Offsets and argument layout, with no filter set.
    pub base_config: Config,
    /// Whether BTF described the structures the route and neighbour hooks read (else why not).
    pub route_layout: Result<(), String>,
    /// Whether BTF described the structures the IPv6 route hook reads (else why not).
    pub route6_layout: Result<(), String>,
}

impl KernelInfo {
    pub fn probe() -> Result<Self, KernelError> {
        let t = std::time::Instant::now();
        let btf = KernelBtf::load()?;
        log::debug!("btf parsed: {} ms", t.elapsed().as_millis());
        let drop_reasons = DropReasons::from_btf(&btf)?;
        log::debug!("drop reasons: {} ms", t.elapsed().as_millis());
        let enrichment = super::enrich::resolve(&btf);
        log::debug!("enrichment layout: {} ms", t.elapsed().as_millis());
        let (mut base_config, route_layout, route6_layout) = super::config::for_kernel(&btf)?;
        log::debug!("offsets: {} ms", t.elapsed().as_millis());
        base_config.enrich = enrichment.layout;
        let features = Features::detect();
        Ok(Self { features, btf, drop_reasons, enrichment, base_config, route_layout, route6_layout })
    }
}

/// Totals of the per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub emitted: u64,
    pub lost: u64,
    pub inspected: u64,
}

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
}

impl Session {
    pub fn load(kernel: &KernelInfo) -> Result<Self, EbpfError> {
        if OBJECT.is_empty() {
            return Err(EbpfError::Missing("kernel programs".into()));
        }
        raise_memlock();
        let ebpf = EbpfLoader::new().load(OBJECT)?;
        let mut s = Self {
            ebpf,
            _clsact: tc::ClsactCleanup,
            config: kernel.base_config,
            coverage: Coverage::default(),
            hooks: vec![],
            aya_btf: None,
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

    fn map_mut<'a, T>(&'a mut self, name: &str) -> Result<T, EbpfError>
    where
        T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let m = self.ebpf.map_mut(name).ok_or_else(|| EbpfError::Missing(format!("map {name}")))?;
        T::try_from(m).map_err(|source| EbpfError::Map { map: name.into(), source })
    }

    fn map<'a, T>(&'a self, name: &str) -> Result<T, EbpfError>
    where
        T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
    {
        let m = self.ebpf.map(name).ok_or_else(|| EbpfError::Missing(format!("map {name}")))?;
        T::try_from(m).map_err(|source| EbpfError::Map { map: name.into(), source })
    }

    /// Attaches hooks, parsing the kernel's BTF for aya once per session.
    fn attach_hooks(
        &mut self,
        kernel: &KernelInfo,
        list: &[Box<dyn hooks::Attachable>],
    ) -> Result<(), EbpfError> {
        if self.aya_btf.is_none() {
            let parsed = aya::Btf::from_sys_fs().map_err(|e| {
                EbpfError::Kernel(KernelError::BadBtf {
                    path: kernel.btf.path().into(),
                    reason: e.to_string(),
                })
            })?;
            self.aya_btf = Some(parsed);
        }
        let Some(aya_btf) = self.aya_btf.as_ref() else { return Ok(()) };
        let cx = HookContext {
            aya_btf,
            btf: &kernel.btf,
            features: &kernel.features,
            route_layout: &kernel.route_layout,
            route6_layout: &kernel.route6_layout,
            trampolines_refused: Default::default(),
        };
        let status = hooks::attach_all(&mut self.ebpf, &cx, list, &mut self.coverage)?;
        self.hooks.extend(status);
        Ok(())
    }

    /// Attaches the tracepoints a purpose needs; optional ones that fail become notes.
    pub fn attach_tracepoints(&mut self, kernel: &KernelInfo, purpose: Purpose) -> Result<(), EbpfError> {
        self.attach_hooks(kernel, &hooks::tracepoints(purpose))
    }

    /// Attaches what the kernel allows of the kprobe/fentry enrichment; failures are notes.
    pub fn attach_enrichment(&mut self, kernel: &KernelInfo) {
        if let Err(e) = self.attach_hooks(kernel, &hooks::enrichment(&kernel.enrichment)) {
            log::info!("enrichment not attached: {e}");
        }
    }

    /// Frees what only attaching needed (aya's copy of the kernel BTF: megabytes).
    pub fn attached(&mut self) {
        self.aya_btf = None;
    }

    /// Attaches the tc classifiers to `iface` in the current network namespace.
    pub fn attach_tc(&mut self, iface: &str, kernel: &KernelInfo) -> Result<tc::Attachment, EbpfError> {
        tc::load(&mut self.ebpf)?;
        let how = tc::attach(&mut self.ebpf, iface, kernel.features.tcx)?;
        self.coverage.tc = true;
        Ok(how)
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

    /// Packets the tc programs saw on `ifindex`, all CPUs together.
    pub fn tc_packets(&self, ifindex: u32) -> u64 {
        let Ok(m) = self.map::<PerCpuHashMap<&MapData, u32, u64>>(maps::TC_PACKETS) else { return 0 };
        m.get(&ifindex, 0).map(|v| v.iter().sum()).unwrap_or(0)
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

    /// Replaces nothing: adds a prefix (IPv4 or IPv6: a trie each) to the watched set.
    pub fn watch_prefix(&mut self, prefix: &IpNet) -> Result<(), EbpfError> {
        let err = |map: &'static str| move |source| EbpfError::Map { map: map.into(), source };
        match prefix {
            IpNet::V4(p) => {
                let mut trie: LpmTrie<&mut MapData, Ipv4Prefix, u8> = self.map_mut(maps::WATCH_NETS)?;
                trie.insert(&config::watch_key(p), 1, 0).map_err(err(maps::WATCH_NETS))
            }
            IpNet::V6(p) => {
                let mut trie: LpmTrie<&mut MapData, Ipv6Prefix, u8> = self.map_mut(maps::WATCH_NETS6)?;
                trie.insert(&config::watch_key6(p), 1, 0).map_err(err(maps::WATCH_NETS6))
            }
        }
    }

    pub fn unwatch_prefix(&mut self, prefix: &IpNet) -> Result<(), EbpfError> {
        let err = |map: &'static str| move |source| EbpfError::Map { map: map.into(), source };
        match prefix {
            IpNet::V4(p) => {
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
        r.map_err(|source| EbpfError::Map { map: maps::WATCH_NETNS.into(), source })
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
