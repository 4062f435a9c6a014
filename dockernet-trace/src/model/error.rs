//! The one error type of the host model. Every message is one line that says what is wrong and
//! what to do about it, because `main` prints it as is and exits with code 2.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "cannot reach the Docker Engine at {host} ({reason}); start dockerd, or point to the \
         engine with --docker-host URI or the DOCKER_HOST variable"
    )]
    DockerUnreachable { host: String, reason: String },

    #[error("the Docker Engine at {host} failed to {what}: {reason}; check `docker info` works")]
    DockerApi { host: String, what: String, reason: String },

    #[error(
        "cannot enter the network namespace {path} ({reason}); check that it exists and that \
         you run as root"
    )]
    Netns { path: PathBuf, reason: String },

    #[error("netlink request to {what} failed: {reason}; the tool must run as root on Linux")]
    Netlink { what: String, reason: String },

    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },

    #[error("a worker thread for namespace {path} failed: {reason}; this is a bug, please report it")]
    Worker { path: String, reason: String },

    #[error("no container is named or has the ID '{name}'; list the containers with `docker ps -a`")]
    UnknownContainer { name: String },

    #[error(
        "'{prefix}' is the start of several container IDs ({candidates}); give more of the ID or the name"
    )]
    AmbiguousContainer { prefix: String, candidates: String },

    #[error(
        "invalid endpoint '{input}': {reason}; expected a container name or ID, host, an IPv4 \
         address, an IPv6 address ([ADDR] or [ADDR]:PORT), a DNS name, netns:NAME or pid:PID"
    )]
    BadEndpoint { input: String, reason: String },

    #[error("invalid port in '{input}': {reason}")]
    BadPort { input: String, reason: String },

    #[error(
        "cannot resolve the DNS name '{name}' to an {family} address ({reason}); use an IP address instead"
    )]
    Dns { name: String, family: String, reason: String },

    #[error("{what} has no {family} address to trace with; {hint}")]
    NoAddress { what: String, family: String, hint: String },

    #[error("{from} and {to} share no address family ({detail}); give addresses of one family")]
    NoCommonFamily { from: String, to: String, detail: String },
}

impl ModelError {
    /// A netlink failure, from any error type rtnetlink returns.
    pub(crate) fn netlink(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Netlink { what: what.to_string(), reason: e.to_string() }
    }
}
