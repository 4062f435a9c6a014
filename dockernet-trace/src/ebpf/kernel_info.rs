//! What the running kernel is and how it lays out its data, probed once per run. The
//! enrichment layout, read from module BTF (~100 ms), only when it is first needed: a watch
//! never needs it, nor does a trace on a kernel without kprobes that refuses trampolines.
//! (Work is not moved to threads: on two busy cores that gained nothing, and a second thread's
//! allocator arena kept ~18 MB more resident.)
use std::sync::Mutex;

use dockernet_trace_common::Config;

use super::enrich::{self, Enrichment};
use crate::kernel::{DropReasons, Features, KernelBtf, KernelError};

/// A value computed when first asked for (and kept, unless taken).
struct Later<T>(Mutex<Option<Pending<T>>>);

enum Pending<T> {
    Ready(T),
    Lazy(Box<dyn FnOnce() -> T + Send>),
}

impl<T> Later<T> {
    fn lazy(f: impl FnOnce() -> T + Send + 'static) -> Self {
        Self(Mutex::new(Some(Pending::Lazy(Box::new(f)))))
    }

    fn resolve(p: Pending<T>) -> T {
        match p {
            Pending::Ready(v) => v,
            Pending::Lazy(f) => f(),
        }
    }

    /// The value (None once it was taken).
    fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        let mut slot = self.0.lock().ok()?;
        let v = Self::resolve(slot.take()?);
        *slot = Some(Pending::Ready(v.clone()));
        Some(v)
    }
}

pub struct KernelInfo {
    pub features: Features,
    pub btf: KernelBtf,
    pub drop_reasons: DropReasons,
    /// Offsets and argument layout, with no filter set (the enrichment layout is added when
    /// enrichment is attached).
    pub base_config: Config,
    /// Whether BTF described the structures the route and neighbour hooks read (else why not).
    pub route_layout: Result<(), String>,
    /// Whether BTF described the structures the IPv6 route hook reads (else why not).
    pub route6_layout: Result<(), String>,
    /// What the kprobe/fentry programs can read on this kernel (module BTF: ~100 ms).
    enrichment: Later<Enrichment>,
}

impl KernelInfo {
    pub fn probe() -> Result<Self, KernelError> {
        let t = std::time::Instant::now();
        let features = Features::detect();
        let enrichment = Later::lazy(|| KernelBtf::load().map(|b| enrich::resolve(&b)).unwrap_or_default());
        let btf = KernelBtf::load()?;
        log::debug!("btf parsed: {} ms", t.elapsed().as_millis());
        let drop_reasons = DropReasons::from_btf(&btf)?;
        log::debug!("drop reasons: {} ms", t.elapsed().as_millis());
        let (base_config, route_layout, route6_layout) = super::config::for_kernel(&btf)?;
        log::debug!("offsets: {} ms", t.elapsed().as_millis());
        Ok(Self { features, btf, drop_reasons, base_config, route_layout, route6_layout, enrichment })
    }

    /// The enrichment layout (waits for its thread the first time).
    pub fn enrichment(&self) -> Enrichment {
        self.enrichment.get().unwrap_or_default()
    }

    /// aya's parse of the kernel BTF (megabytes: made when attaching, dropped after).
    pub fn aya_btf(&self) -> Result<aya::Btf, String> {
        aya::Btf::from_sys_fs().map_err(|e| e.to_string())
    }
}
