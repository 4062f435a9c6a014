//! Resolving a name as the source's C library would: /etc/hosts, then the query names of the
//! search list, each asked of the nameservers in order for `attempts` rounds, with glibc's
//! rules for when to go on (NXDOMAIN, no data, SERVFAIL: next name) and when to stop
//! (an answer; REFUSED; no nameserver answering). All of it within one time budget: each
//! nameserver of a round gets an equal share of what is left (at most resolv.conf's timeout).
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use tokio::time::Instant;

use super::{
    AnswerSource, Attempt, DnsError, DnsName, Family, QueryResult, QueryType, Resolution, ResolutionError,
    ResolverView, Transport,
    message::encode_query,
    outcome::Rcode,
    query_list::query_names,
    transport::{self, Query},
};

/// The port nameservers listen on.
pub const DNS_PORT: u16 = 53;

/// Below this, a query is not worth sending: the budget is spent.
const MIN_WAIT: Duration = Duration::from_millis(20);

/// How to resolve.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    pub family: Family,
    /// Every query leaves from this source port (UDP, and TCP after truncation), one query at
    /// a time, so a kernel filter on the port follows them all.
    pub sport: u16,
    /// The whole resolution ends within this.
    pub budget: Duration,
    /// The first query's id; the next ones count up.
    pub first_id: u16,
}

impl ResolveOptions {
    /// IPv4 only, ids from the clock.
    pub fn new(sport: u16, budget: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or(0x5eed);
        Self { family: Family::Ipv4, sport, budget, first_id: (seed & 0xffff) as u16 }
    }
}

/// Resolves `name` as `view`'s source does. `Err` only when no query could be sent at all
/// (the namespace is gone, the port is taken); every nameserver failure is in the outcome.
pub async fn resolve(
    view: &ResolverView,
    name: &DnsName,
    opts: &ResolveOptions,
) -> Result<Resolution, DnsError> {
    let mut run =
        Run { view, opts, until: Instant::now() + opts.budget, next_id: opts.first_id, attempts: vec![] };
    let mut res = Resolution {
        name: name.clone(),
        seen_from: view.seen_from.clone(),
        nameservers: view.config.nameservers.clone(),
        upstreams: view.upstreams.clone(),
        addresses: vec![],
        source: None,
        error: None,
        attempts: vec![],
        deadline_hit: false,
    };
    let pinned = view.hosts.lookup(name.as_str(), opts.family);
    if !pinned.is_empty() {
        res.addresses = pinned;
        res.source = Some(AnswerSource::HostsFile);
        return Ok(res);
    }
    if view.config.nameservers.is_empty() {
        res.error = Some(ResolutionError::NoNameserver);
        return Ok(res);
    }
    let (mut as_is, mut other, mut stopped) = (None, None, None);
    for candidate in query_names(name, &view.config) {
        match run.ask_all_types(&candidate).await? {
            Ok((addresses, server)) => {
                res.addresses = addresses;
                res.source = Some(AnswerSource::Nameserver { server, name: candidate });
                break;
            }
            Err(e) => {
                if candidate.as_str() == name.as_str() {
                    as_is = Some(e);
                } else if e != ResolutionError::Nxdomain {
                    other.get_or_insert(e);
                }
                if matches!(e, ResolutionError::Timeout | ResolutionError::Refused) {
                    stopped = Some(e);
                    break;
                }
            }
        }
    }
    if res.addresses.is_empty() {
        res.error = Some(stopped.or(as_is).or(other).unwrap_or(ResolutionError::Nxdomain));
    }
    res.deadline_hit = run.until <= Instant::now() && res.error == Some(ResolutionError::Timeout);
    res.attempts = run.attempts;
    Ok(res)
}

struct Run<'a> {
    view: &'a ResolverView,
    opts: &'a ResolveOptions,
    until: Instant,
    next_id: u16,
    attempts: Vec<Attempt>,
}

type Found = (Vec<IpAddr>, IpAddr);

impl Run<'_> {
    /// One query name, for each record type of the family.
    async fn ask_all_types(&mut self, name: &DnsName) -> Result<Result<Found, ResolutionError>, DnsError> {
        let (mut found, mut failure): (Option<Found>, Option<ResolutionError>) = (None, None);
        for qtype in self.opts.family.query_types() {
            match self.ask(name, *qtype).await? {
                Ok((addrs, server)) => found.get_or_insert((vec![], server)).0.extend(addrs),
                Err(e @ (ResolutionError::Timeout | ResolutionError::Refused)) => return Ok(Err(e)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        Ok(found.ok_or(failure.unwrap_or(ResolutionError::NoData)))
    }

    /// One question, asked of the nameservers in order, for up to `attempts` rounds while some
    /// nameserver stayed silent.
    async fn ask(
        &mut self,
        name: &DnsName,
        qtype: QueryType,
    ) -> Result<Result<Found, ResolutionError>, DnsError> {
        let servers = self.view.config.nameservers.clone();
        let (mut servfail, mut refused) = (false, false);
        'rounds: for _ in 0..self.view.config.attempts {
            let mut silent = false;
            for (i, server) in servers.iter().enumerate() {
                let Some(wait) = self.slot(servers.len() - i) else { break 'rounds };
                match self.exchange(*server, name, qtype, wait).await? {
                    QueryResult::Answer(addrs) => return Ok(Ok((addrs, *server))),
                    QueryResult::NoData => return Ok(Err(ResolutionError::NoData)),
                    QueryResult::Rcode(Rcode::Nxdomain) => return Ok(Err(ResolutionError::Nxdomain)),
                    QueryResult::Rcode(Rcode::Servfail) => servfail = true,
                    QueryResult::Rcode(_) => refused = true,
                    _ => silent = true,
                }
            }
            if !silent {
                break;
            }
        }
        Ok(Err(if servfail {
            ResolutionError::Servfail
        } else if refused {
            ResolutionError::Refused
        } else {
            ResolutionError::Timeout
        }))
    }

    /// The wait for the next query when `left` nameservers remain in this round; None when the
    /// budget is spent.
    fn slot(&self, left: usize) -> Option<Duration> {
        let remaining = self.until.saturating_duration_since(Instant::now());
        let share = remaining / u32::try_from(left.max(1)).unwrap_or(1);
        Some(share.min(self.view.config.timeout)).filter(|w| *w >= MIN_WAIT)
    }

    /// One query to one server (UDP, then TCP when truncated, or TCP only with `use-vc`),
    /// recorded as attempts; the last result.
    async fn exchange(
        &mut self,
        server: IpAddr,
        name: &DnsName,
        qtype: QueryType,
        wait: Duration,
    ) -> Result<QueryResult, DnsError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let wire = encode_query(id, name, qtype, self.view.config.edns0)
            .map_err(|reason| DnsError::BadName { name: name.to_string(), reason })?;
        let q = Query {
            server: SocketAddr::new(server, DNS_PORT),
            name,
            qtype,
            id,
            sport: self.opts.sport,
            wire: &wire,
        };
        let until = Instant::now() + wait;
        let ns = self.view.netns.as_deref();
        let mut done = if self.view.config.use_tcp {
            transport::tcp(ns, &q, until).await?
        } else {
            transport::udp(ns, &q, until).await?
        };
        if done.reply.truncated && done.transport == Transport::Udp {
            self.record(&q, &done);
            done = transport::tcp(ns, &q, until).await?;
        }
        self.record(&q, &done);
        Ok(done.reply.result)
    }

    fn record(&mut self, q: &Query<'_>, done: &transport::Exchanged) {
        self.attempts.push(Attempt {
            server: q.server.ip(),
            name: q.name.clone(),
            qtype: q.qtype,
            transport: done.transport,
            id: q.id,
            sport: q.sport,
            truncated: done.reply.truncated,
            result: done.reply.result.clone(),
            elapsed: done.elapsed,
        });
    }
}
