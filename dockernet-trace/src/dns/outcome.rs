//! What a resolution ended with: the addresses, or why not (CONTRACT.md's `resolution.error`),
//! and every query sent on the way (which nameserver, which name, what came back, how long it
//! took) so a verdict can explain.
use std::{fmt, net::IpAddr, time::Duration};

use super::{DnsName, Upstreams};

/// Why a name did not resolve (CONTRACT.md spells these in `resolution.error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolutionError {
    /// The nameserver said the name does not exist.
    Nxdomain,
    /// The name exists but has no address of the asked family (NOERROR, no answer). Not among
    /// CONTRACT.md's codes yet: printed as `no_data`.
    NoData,
    /// The nameserver failed to resolve it (SERVFAIL).
    Servfail,
    /// The nameserver refused to answer (REFUSED, or another error code).
    Refused,
    /// No nameserver answered in time (silence, an ICMP error, or no route: see the attempts).
    Timeout,
    /// The resolver configuration names no nameserver.
    NoNameserver,
}

impl ResolutionError {
    /// The code as CONTRACT.md spells it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Nxdomain => "nxdomain",
            Self::NoData => "no_data",
            Self::Servfail => "servfail",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::NoNameserver => "no_nameserver",
        }
    }
}

impl fmt::Display for ResolutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// UDP or TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What one query to one nameserver got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryResult {
    /// NOERROR with addresses of the asked type.
    Answer(Vec<IpAddr>),
    /// NOERROR without one.
    NoData,
    /// An error code: NXDOMAIN, SERVFAIL, REFUSED... (`rcode` as DNS names it).
    Rcode(Rcode),
    /// Nothing came back within the wait.
    Timeout,
    /// ICMP port unreachable: nothing listens on port 53 there.
    PortUnreachable,
    /// The network stack refused the send or reported an error (no route, unreachable host):
    /// errno and its text.
    NetworkError { errno: i32, error: String },
    /// A reply that was not a DNS answer to our question.
    Malformed(String),
}

/// A response code other than NOERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    Nxdomain,
    Servfail,
    Refused,
    /// FORMERR, NOTIMP and the rest, by number.
    Other(u16),
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nxdomain => f.write_str("NXDOMAIN"),
            Self::Servfail => f.write_str("SERVFAIL"),
            Self::Refused => f.write_str("REFUSED"),
            Self::Other(n) => write!(f, "RCODE {n}"),
        }
    }
}

impl fmt::Display for QueryResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer(addrs) => {
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                write!(f, "answered {}", list.join(", "))
            }
            Self::NoData => f.write_str("answered with no address of that type"),
            Self::Rcode(r) => write!(f, "answered {r}"),
            Self::Timeout => f.write_str("no answer"),
            Self::PortUnreachable => f.write_str("ICMP port unreachable (nothing listens on port 53)"),
            Self::NetworkError { error, .. } => write!(f, "not sent: {error}"),
            Self::Malformed(why) => write!(f, "a malformed reply ({why})"),
        }
    }
}

/// A record type the tool asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryType {
    A,
    Aaaa,
}

impl fmt::Display for QueryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
        })
    }
}

/// One query sent (a TCP retry after truncation is an attempt of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub server: IpAddr,
    pub name: DnsName,
    pub qtype: QueryType,
    pub transport: Transport,
    /// The DNS message id and the source port it left from.
    pub id: u16,
    pub sport: u16,
    /// The reply was truncated (TC): the answer follows over TCP.
    pub truncated: bool,
    pub result: QueryResult,
    pub elapsed: Duration,
}

/// Where the answer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerSource {
    /// The source's /etc/hosts.
    HostsFile,
    /// A nameserver, for this (possibly search-expanded) name.
    Nameserver { server: IpAddr, name: DnsName },
}

/// The resolution of one name as one source sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The name as given.
    pub name: DnsName,
    /// `container:NAME`, `host`, `netns:NAME`, `pid:PID`.
    pub seen_from: String,
    /// The source's nameservers, as its resolv.conf lists them.
    pub nameservers: Vec<IpAddr>,
    /// Where Docker's embedded DNS forwards (None when the source does not use it).
    pub upstreams: Option<Upstreams>,
    /// The addresses, IPv4 first, in the order they came; empty when `error` is set.
    pub addresses: Vec<IpAddr>,
    pub source: Option<AnswerSource>,
    pub error: Option<ResolutionError>,
    pub attempts: Vec<Attempt>,
    /// The whole resolution ran out of time before every query was tried.
    pub deadline_hit: bool,
}

impl Resolution {
    /// The address a trace goes on to: the first answer (of the family asked: see
    /// `ResolveOptions::family`).
    pub fn answer(&self) -> Option<IpAddr> {
        self.addresses.first().copied()
    }

    /// The resolution went through Docker's embedded DNS server.
    pub fn via_embedded_dns(&self) -> bool {
        self.nameservers.contains(&super::EMBEDDED_DNS)
    }
}
