//! What this kernel can do for us, decided up front from cheap facts. Whether a hook really
//! works is decided by trying it (see `ebpf::hooks`); this only avoids hopeless attempts and
//! explains failures.
use std::path::Path;

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
        let tcx = version(&release).is_some_and(|v| v >= (6, 6))
            && std::env::var_os("DOCKERNET_TRACE_NO_TCX").is_none();
        Self { kprobes: Path::new("/sys/bus/event_source/devices/kprobe").exists(), tcx, release }
    }
}

/// (major, minor) of a release string like `6.18.44-fc-v595`.
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_release() {
        assert_eq!(super::version("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(super::version("6.1.0-56-cloud-amd64"), Some((6, 1)));
        assert_eq!(super::version("garbage"), None);
    }
}
