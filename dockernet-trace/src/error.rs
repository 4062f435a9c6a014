//! The library's top-level error. Every variant is an environment or usage problem (exit code 2)
//! and displays as one line: what is wrong, and what to do.
use crate::{ebpf::EbpfError, kernel::KernelError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(
        "dockernet-trace needs root privileges (CAP_SYS_ADMIN and CAP_NET_ADMIN: to load eBPF \
         programs, attach tc filters and enter container namespaces); run it with sudo"
    )]
    NotRoot,
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Ebpf(#[from] EbpfError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Netfilter(#[from] crate::netfilter::NetfilterError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Root, or at least the capabilities the tool uses.
pub fn require_privileges() -> Result<()> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    if has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN) { Ok(()) } else { Err(Error::NotRoot) }
}
