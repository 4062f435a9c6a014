//! What the running kernel is and how it lays out its data, probed once per run. The slow
//! parts that only some commands need (the enrichment layout, from module BTF; aya's own parse
//! of the kernel BTF) are made on threads of their own while the rest of the start goes on.
use std::{sync::Mutex, thread::JoinHandle};

use dockernet_trace_common::Config;

use super::enrich::{self, Enrichment};
use crate::kernel::{DropReasons, Features, KernelBtf, KernelError};

/// A value computed on a thread (or, `lazy`, on first use), waited for when first needed.
struct Later<T>(Mutex<Option<Pending<T>>>);

enum Pending<T> {
    Ready(T),
    Running(JoinHandle<T>),
    Lazy(Box<dyn FnOnce() -> T + Send>),
}

impl<T: Send + 'static> Later<T> {
    fn spawn(f: impl FnOnce() -> T + Send + 'static) -> Self {
        Self(Mutex::new(Some(Pending::Running(std::thread::spawn(f)))))
    }

    fn lazy(f: impl FnOnce() -> T + Send + 'static) -> Self {
        Self(Mutex::new(Some(Pending::Lazy(Box::new(f)))))
    }

    fn resolve(p: Pending<T>) -> Option<T> {
        match p {
            Pending::Ready(v) => Some(v),
            Pending::Running(handle) => handle.join().ok(),
            Pending::Lazy(f) => Some(f()),
        }
    }

    /// The value (None if the thread panicked or it was taken).
    fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        let mut slot = self.0.lock().ok()?;
        let v = Self::resolve(slot.take()?)?;
        *slot = Some(Pending::Ready(v.clone()));
        Some(v)
    }

    fn take(&self) -> Option<T> {
        Self::resolve(self.0.lock().ok()?.take()?)
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
    /// What the kprobe/fentry programs can read on this kernel (module BTF: ~100 ms).
    enrichment: Later<Enrichment>,
    /// aya's parse of the kernel BTF, for attaching BTF tracepoints and fentry.
    aya_btf: Later<Result<aya::Btf, String>>,
}

impl KernelInfo {
    pub fn probe() -> Result<Self, KernelError> {
        let t = std::time::Instant::now();
        let features = Features::detect();
        let aya_btf = Later::spawn(|| aya::Btf::from_sys_fs().map_err(|e| e.to_string()));
        let resolve = || KernelBtf::load().map(|b| enrich::resolve(&b)).unwrap_or_default();
        // Without kprobes the layout matters only if trampolines work, which attaching finds
        // out first (see Session::attach_enrichment): no need to read module BTF ahead.
        let enrichment = if features.kprobes { Later::spawn(resolve) } else { Later::lazy(resolve) };
        let btf = KernelBtf::load()?;
        log::debug!("btf parsed: {} ms", t.elapsed().as_millis());
        let drop_reasons = DropReasons::from_btf(&btf)?;
        log::debug!("drop reasons: {} ms", t.elapsed().as_millis());
        let (base_config, route_layout) = super::config::for_kernel(&btf)?;
        log::debug!("offsets: {} ms", t.elapsed().as_millis());
        Ok(Self {
            features,
            btf,
            drop_reasons,
            base_config,
            route_layout,
            enrichment,
            aya_btf,
        })
    }

    /// The enrichment layout (waits for its thread the first time).
    pub fn enrichment(&self) -> Enrichment {
        self.enrichment.get().unwrap_or_default()
    }

    /// aya's parse of the kernel BTF (it is megabytes: the first caller takes the one made in
    /// the background, later ones parse again).
    pub fn take_aya_btf(&self) -> Result<aya::Btf, String> {
        self.aya_btf.take().unwrap_or_else(|| aya::Btf::from_sys_fs().map_err(|e| e.to_string()))
    }
}
