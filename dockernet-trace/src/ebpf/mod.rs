//! Loading, configuring and attaching the kernel programs, and reading what they report.
pub mod config;
pub mod enrich;
pub mod events;
mod hook_status;
pub mod hooks;
pub mod kernel_info;
pub mod session;
pub mod tc;
mod verify;
pub mod watch_maps;

pub use events::KernelEvent;
pub use hooks::Coverage;
pub use session::Session;

/// The eBPF object built from `dockernet-trace-ebpf`, embedded so the binary stands alone.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/dockernet-trace"));

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {program}: {source}")]
    Program { program: String, source: aya::programs::ProgramError },
    #[error("eBPF map {map}: {source}")]
    Map { map: String, source: aya::maps::MapError },
    #[error(
        "the eBPF object has no {0}; the binary was built without its kernel programs (run `cargo xtask build`)"
    )]
    Missing(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("tc on {iface}: {reason}")]
    Tc { iface: String, reason: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
