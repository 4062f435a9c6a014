//! What this kernel can do for us, decided up front from cheap facts. Whether a hook really
//! works is decided by trying it (see `ebpf::hooks`); this only avoids hopeless attempts and
//! explains failures.
use std::path::Path;

use aya::util::KernelVersion;

#[derive(Clone, Debug)]
pub struct Features {
    /// `uname -r`.
    pub release: String,
    /// The kprobe PMU exists (CONFIG_KPROBES).
    pub kprobes: bool,
    /// Kernel at least 6.6: tc programs can be attached as tcx links. The environment variable
    /// DOCKERNET_TRACE_NO_TCX forces the clsact + cls_bpf path of older kernels (for tests).
    pub tcx: bool,
}

impl Features {
    pub fn detect() -> Self {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let tcx = KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0))
            && std::env::var_os("DOCKERNET_TRACE_NO_TCX").is_none();
        Self { kprobes: Path::new("/sys/bus/event_source/devices/kprobe").exists(), tcx, release }
    }
}
