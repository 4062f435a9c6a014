//! What the running kernel offers and how it lays out its data: BTF, kallsyms, the names of
//! its drop and reset reasons.
pub mod btf;
pub mod features;
pub mod kallsyms;
pub mod reasons;

pub use btf::KernelBtf;
pub use features::Features;
pub use kallsyms::Kallsyms;
pub use reasons::{DropReason, DropReasons, ResetReason, ResetReasons};

/// Problems with the running kernel; each message says what is missing and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(
        "{path} is missing: this kernel was built without BTF (CONFIG_DEBUG_INFO_BTF=y is needed; \
         all major distributions enable it since 2021)"
    )]
    NoBtf { path: String },
    #[error("cannot parse the kernel's BTF at {path}: {reason}")]
    BadBtf { path: String, reason: String },
    #[error("the kernel's BTF has no {what}; this kernel is not supported")]
    MissingType { what: String },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
}
