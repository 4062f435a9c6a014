//! The dns module's one error type: what stops a resolution before any answer can be had. Each
//! message is one line saying what is wrong and what to do, since `main` prints it as is. A
//! nameserver that fails (NXDOMAIN, silence...) is no error here but an outcome
//! (`outcome::ResolutionError`): the trace explains those in a verdict.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("'{name}' is not a valid DNS name: {reason}")]
    BadName { name: String, reason: String },

    #[error(
        "cannot read {path} ({reason}), so it is unknown how the source resolves names; give an \
         IP address instead, or fix the file"
    )]
    ResolverFile { path: PathBuf, reason: String },

    #[error("cannot send a DNS query from {netns}: {reason}")]
    Socket { netns: String, reason: String },
}
