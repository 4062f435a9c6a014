//! The DNS leg of a trace whose target is a DNS name: the name resolved as the source resolves
//! it (its own resolv.conf and hosts, from its own namespace, through Docker's embedded DNS
//! where it uses it), within `--timeout`, while the kernel programs follow the queries: the
//! source's own (from a port of the run's own) and the ones the embedded DNS forwards to its
//! upstreams (any port, to port 53 of an upstream). Then the trace goes on to the answer's
//! address, or explains why there is none ([`explain::unresolved`]).
pub mod explain;
pub mod flows;
pub mod plan;
pub mod source;

use std::{
    net::IpAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use self::{
    flows::{DnsFlows, SourcePlace, Upstream},
    plan::LegPlan,
};
use super::{attach::Attached, endpoints::Endpoints, exited, hops::Hop};
use crate::{
    cli::TraceArgs,
    dns::{self, DNS_PORT, DnsName, Resolution, ResolveOptions, ResolverView, UpstreamNetns},
    ebpf::{KernelEvent, config, events::EventReader},
    error::{Error, Result},
    explain::{Names, NetnsLabel},
    flow::IpFamily,
    kernel::DropReasons,
    model::{EndpointArg, EndpointKind},
    probe::ProbePorts,
};

/// Events still in flight when the resolution ends (the last answer's way back).
const TRAILING: Duration = Duration::from_millis(50);

pub struct DnsLeg {
    pub resolution: Resolution,
    /// The resolv.conf the source reads.
    pub resolv_conf: PathBuf,
    pub plan: LegPlan,
    pub flows: DnsFlows,
    pub events: Vec<KernelEvent>,
    pub budget: Duration,
}

/// What the report shows of the leg.
pub struct DnsReport {
    pub resolution: Resolution,
    pub hops: Vec<Hop>,
}

/// Resolves `name` as the trace's source does, following the queries in the kernel. A source
/// whose resolver files cannot be read is a usage error (one line); every nameserver failure is
/// in the outcome.
pub async fn run(
    args: &TraceArgs,
    ends: &Endpoints,
    from: &EndpointArg,
    name: &DnsName,
    asked: Asked,
    ports: &ProbePorts,
    a: &mut Attached,
) -> Result<DnsLeg> {
    let kind = source::source_kind(&ends.topology, from, &ends.from);
    let view = ResolverView::load(&kind).map_err(|e| Error::Usage(e.to_string()))?;
    let plan = LegPlan::new(&ends.topology, &ends.from, &view, ports.dns_port());
    a.add_tc(plan.tc_ifaces());
    let cfg = config::for_dns(a.session.config(), &plan.ports, &plan.path_addrs, DNS_PORT, &plan.dns_addrs);
    a.session.set_config(cfg)?;
    let started = Instant::now();
    let mut opts = ResolveOptions::new(plan.ports.base, args.timeout);
    opts.family = asked.first;
    let (mut resolved, mut events) =
        following(&view, name, &opts, &mut a.reader, &a.kernel.drop_reasons).await;
    // A name without an IPv4 address, for a source that has IPv6: its IPv6 address, as the
    // source's C library would go on to use (within what is left of the budget).
    if let (Some(family), Ok(r)) = (asked.then, &mut resolved)
        && r.error == Some(dns::ResolutionError::NoData)
    {
        let asked_before = std::mem::take(&mut r.attempts);
        opts.family = family;
        opts.budget = args.timeout.saturating_sub(started.elapsed());
        opts.first_id = opts.first_id.wrapping_add(asked_before.len() as u16);
        let (again, more) = following(&view, name, &opts, &mut a.reader, &a.kernel.drop_reasons).await;
        events.extend(more);
        resolved = again.map(|mut r| {
            r.attempts.splice(0..0, asked_before);
            r
        });
    }
    // Port 53 to a nameserver is anyone's lookup: namespaces this host does not know (another
    // host's containers in nested namespaces, with the same addresses) are not the leg's.
    let names = Names::new(&ends.topology).with_named_namespaces();
    let known =
        |netns| netns == ends.source_netns || !matches!(names.netns_label(netns), NetnsLabel::Inode(_));
    events.retain(|e| known(e.place.netns));
    let resolution = match resolved {
        Ok(r) => r,
        Err(_) if exited::exited(&ends.from) => return Err(exited::source_exited(&ends.from)),
        Err(e) => return Err(Error::Usage(e.to_string())),
    };
    let addrs = source_addrs(ends);
    let host_netns = ends.topology.host_netns_inode as u32;
    let place = SourcePlace { netns: ends.source_netns, addrs: &addrs, host_netns };
    let flows = DnsFlows::learn(plan.ports.base, upstreams(&resolution), &place, &events);
    Ok(DnsLeg { resolution, resolv_conf: view.resolv_conf_path, plan, flows, events, budget: args.timeout })
}

/// The record types the leg asks for: `first`, and `then` after a NOERROR without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asked {
    pub first: dns::Family,
    pub then: Option<dns::Family>,
}

impl Asked {
    /// `-4` A, `-6` AAAA; without either A, and AAAA after none when the source has an IPv6
    /// address (IPv4 first, as for containers with both).
    pub fn of(family: Option<IpFamily>, source_has_ipv6: bool) -> Self {
        let (first, then) = match family {
            Some(IpFamily::V4) => (dns::Family::Ipv4, None),
            Some(IpFamily::V6) => (dns::Family::Ipv6, None),
            None => (dns::Family::Ipv4, source_has_ipv6.then_some(dns::Family::Ipv6)),
        };
        Self { first, then }
    }

    /// For a trace's source: from its family option and its addresses.
    pub fn for_source(args: &TraceArgs, ends: &Endpoints) -> Self {
        Self::of(args.family(), has_ipv6(ends))
    }

    /// The answer may be an IPv6 address (the programs must then follow IPv6).
    pub fn may_be_ipv6(self) -> bool {
        self.first == dns::Family::Ipv6 || self.then == Some(dns::Family::Ipv6)
    }
}

/// Whether the trace's source has an IPv6 address of its own (a container on an IPv6 network,
/// the host with one): an answer in IPv6 is of use to it.
fn has_ipv6(ends: &Endpoints) -> bool {
    let host = ends.from.kind == EndpointKind::Host && ends.topology.host.primary(IpFamily::V6).is_some();
    host || source_addrs(ends).iter().any(IpAddr::is_ipv6)
}

/// The resolution, with the kernel's events read while it runs and shortly after.
async fn following(
    view: &ResolverView,
    name: &DnsName,
    opts: &ResolveOptions,
    reader: &mut EventReader,
    reasons: &DropReasons,
) -> (std::result::Result<Resolution, dns::DnsError>, Vec<KernelEvent>) {
    let mut events = Vec::new();
    let work = dns::resolve(view, name, opts);
    tokio::pin!(work);
    let resolved = loop {
        tokio::select! {
            r = &mut work => break r,
            batch = reader.next_batch(Duration::from_millis(20)) => {
                events.extend(batch.iter().filter_map(|raw| KernelEvent::from_raw(raw, reasons)));
            }
        }
    };
    let until = Instant::now() + TRAILING;
    while Instant::now() < until {
        let batch = reader.next_batch(Duration::from_millis(10)).await;
        events.extend(batch.iter().filter_map(|raw| KernelEvent::from_raw(raw, reasons)));
    }
    (resolved, events)
}

/// Every address of the source: a container's on each of its networks.
fn source_addrs(ends: &Endpoints) -> Vec<IpAddr> {
    let t = &ends.topology;
    let mut addrs = vec![ends.from.ip];
    let container = ends.from.container.as_ref().and_then(|c| t.container(&c.id).ok());
    for e in container.iter().flat_map(|c| t.endpoints_of(c)) {
        addrs.extend(e.ips());
    }
    addrs
}

fn upstreams(r: &Resolution) -> Vec<Upstream> {
    let Some(u) = r.upstreams.as_ref().filter(|_| r.via_embedded_dns()) else { return vec![] };
    u.servers.iter().map(|s| Upstream { addr: s.addr, from_host: s.from == UpstreamNetns::Host }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_records_asked_follow_the_family_and_the_source() {
        use dns::Family::{Ipv4, Ipv6};
        let asked = |family, v6| {
            let a = Asked::of(family, v6);
            (a.first, a.then, a.may_be_ipv6())
        };
        assert_eq!(asked(Some(IpFamily::V4), true), (Ipv4, None, false));
        assert_eq!(asked(Some(IpFamily::V6), false), (Ipv6, None, true));
        // Without -4/-6: A, and AAAA after none only for a source that can use IPv6.
        assert_eq!(asked(None, true), (Ipv4, Some(Ipv6), true));
        assert_eq!(asked(None, false), (Ipv4, None, false));
    }
}
