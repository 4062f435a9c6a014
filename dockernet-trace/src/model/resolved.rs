//! A resolved trace endpoint: what it is (container, host, address...), its address, the
//! namespace it sends from or arrives in, and why it cannot take part, if it cannot.
use std::{fmt, net::IpAddr, path::PathBuf};

use serde::{Serialize, Serializer};

use super::{Container, NetworkMode};
use crate::flow::IpFamily;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    Container,
    Host,
    Address,
    Netns,
    Pid,
}

impl EndpointKind {
    /// The kind as JSON spells it (`container`, `host`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Host => "host",
            Self::Address => "address",
            Self::Netns => "netns",
            Self::Pid => "pid",
        }
    }
}

/// A network namespace: the tool's own ("host") or one named by a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsRef {
    Host,
    Path(PathBuf),
}

impl fmt::Display for NetnsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host => f.write_str("host"),
            Self::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Serialize for NetnsRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a resolved endpoint cannot take part in a trace as is; the trace explains it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum EndpointIssue {
    /// The container is not running (state as Docker says: exited, created, paused...).
    NotRunning { state: String },
    /// `--network host`: the container's namespace is the host's.
    HostNetwork,
    /// `--network none`: only loopback.
    NoNetwork,
    /// Running, but no address of the trace's family on any network.
    NoAddress,
    /// A DNS name that did not resolve as the source resolves it: the trace's DNS leg says why.
    Unresolved,
}

/// The container behind an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    pub state: String,
    pub network_mode: NetworkMode,
}

impl ContainerRef {
    pub(super) fn of(c: &Container) -> Self {
        Self {
            id: c.id.clone(),
            name: c.name.clone(),
            state: c.state.clone(),
            network_mode: c.network_mode.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ResolvedEndpoint {
    pub kind: EndpointKind,
    /// Container name, `host`, the address or DNS name given, `netns:NAME`, `pid:PID`.
    pub name: String,
    /// Of the trace's family; 0.0.0.0 (::) when the endpoint has no address, `issue` says why.
    pub ip: IpAddr,
    /// Where packets leave (source) or arrive (target); None for an address not on this host.
    pub netns: Option<NetnsRef>,
    pub port: Option<u16>,
    /// The container this endpoint is, or whose address or namespace it names.
    pub container: Option<ContainerRef>,
    /// The Docker network the chosen address is on.
    pub network: Option<String>,
    pub issue: Option<EndpointIssue>,
}

impl ResolvedEndpoint {
    /// An end with nothing known beyond what is given (no container, network or issue).
    pub fn plain(
        kind: EndpointKind,
        name: &str,
        ip: IpAddr,
        netns: Option<NetnsRef>,
        port: Option<u16>,
    ) -> Self {
        Self { kind, name: name.into(), ip, netns, port, container: None, network: None, issue: None }
    }

    /// The family of the trace this end belongs to.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.ip)
    }
}
