//! Name resolution as the source sees it: the DNS leg of a path.
//!
//! `--to NAME:PORT` must resolve NAME the way the source would, not the way the host does: a
//! container reads its own /etc/hosts and /etc/resolv.conf, asks its own nameservers (on a
//! user-defined network Docker's embedded DNS at 127.0.0.11, which forwards to the upstreams
//! Docker gave it), from its own network namespace. This module reads that view
//! ([`ResolverView`]), lists the names the C library would ask for ([`query_names`]), sends
//! real queries from the source's namespace from a port the caller chooses, and returns what
//! happened ([`Resolution`]), every query included, so a verdict can say why a name did not
//! resolve.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dockernet_trace::dns::DnsError> {
//! use std::time::Duration;
//! use dockernet_trace::dns::{DnsName, DockerDnsSettings, ResolveOptions, ResolverView, SourceKind, resolve};
//!
//! let view = ResolverView::load(&SourceKind::Container {
//!     name: "app".into(),
//!     pid: 4242,
//!     netns: "/proc/4242/ns/net".into(),
//!     settings: DockerDnsSettings::default(),
//! })?;
//! let name = DnsName::parse("xxxx.mysql.rds.aliyuncs.com")?;
//! let outcome = resolve(&view, &name, &ResolveOptions::new(41000, Duration::from_secs(2))).await?;
//! match (outcome.answer(), outcome.error) {
//!     (Some(ip), _) => println!("{name} is {ip} as {} sees it", outcome.seen_from),
//!     (None, e) => println!("{name} does not resolve from {}: {e:?}", outcome.seen_from),
//! }
//! # Ok(()) }
//! ```
mod config;
pub mod docker;
mod error;
pub mod files;
mod hosts;
mod message;
mod name;
mod outcome;
mod query_list;
mod resolver;
mod transport;
mod view;

use std::net::IpAddr;

pub use config::ResolverConfig;
pub use docker::{DockerDnsSettings, EMBEDDED_DNS, Upstream, UpstreamNetns, UpstreamOrigin, Upstreams};
pub use error::DnsError;
pub use hosts::HostsFile;
pub use name::DnsName;
pub use outcome::{
    AnswerSource, Attempt, QueryResult, QueryType, Rcode, Resolution, ResolutionError, Transport,
};
pub use query_list::query_names;
pub use resolver::{DNS_PORT, ResolveOptions, resolve};
pub use view::{ResolverView, SourceKind};

/// Which addresses to ask for. IPv4 is what the tool traces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// A records only.
    #[default]
    Ipv4,
    /// AAAA records only.
    Ipv6,
    /// A, then AAAA.
    Ipv4AndIpv6,
}

impl Family {
    pub fn wants(self, addr: &IpAddr) -> bool {
        match self {
            Self::Ipv4 => addr.is_ipv4(),
            Self::Ipv6 => addr.is_ipv6(),
            Self::Ipv4AndIpv6 => true,
        }
    }

    pub fn query_types(self) -> &'static [QueryType] {
        match self {
            Self::Ipv4 => &[QueryType::A],
            Self::Ipv6 => &[QueryType::Aaaa],
            Self::Ipv4AndIpv6 => &[QueryType::A, QueryType::Aaaa],
        }
    }
}
