//! Which of the kernel's events belong to the DNS leg, and to which of its two flows: the
//! source's own queries (from the port the tool chose) and the queries Docker's embedded DNS
//! forwards to its upstreams (from ports dockerd chooses, learnt from the events seen in the
//! source's namespace or carrying one of its addresses).
use std::net::IpAddr;

use crate::{
    dns::DNS_PORT,
    ebpf::KernelEvent,
    flow::{IcmpMessage, Proto, Tuple},
    probe::Locate,
};

/// The hops' and facts' "probe" index of the source's own queries...
pub const QUERY: u16 = 0;
/// ... and of the queries the embedded DNS forwarded.
pub const FORWARDED: u16 = 1;

/// An upstream and whether dockerd asks it from the host's namespace (then every query to it
/// while the leg ran is taken as forwarded: nothing tells dockerd's apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub addr: IpAddr,
    pub from_host: bool,
}

#[derive(Clone, Debug, Default)]
pub struct DnsFlows {
    /// The source port of the source's own queries.
    pub sport: u16,
    pub upstreams: Vec<Upstream>,
    /// (protocol, upstream, source port) of each forwarded query seen.
    pub forwarded: Vec<(Proto, IpAddr, u16)>,
}

/// Where the source is, to recognise the forwarded queries it caused.
pub struct SourcePlace<'a> {
    /// Its namespace's inode (0: the tool's own).
    pub netns: u32,
    pub addrs: &'a [IpAddr],
    /// The inode of the tool's own namespace, the host's: a query from the source's address
    /// counts only when seen there (other namespaces may hold the same addresses for networks
    /// of theirs).
    pub host_netns: u32,
}

impl DnsFlows {
    pub fn learn(sport: u16, upstreams: Vec<Upstream>, source: &SourcePlace, events: &[KernelEvent]) -> Self {
        let mut forwarded = Vec::new();
        for e in events {
            let Some(t) = e.tuple.filter(|t| t.proto.has_ports() && t.dport == DNS_PORT) else { continue };
            if e.icmp.is_some() || t.sport == sport {
                continue;
            }
            let Some(up) = upstreams.iter().find(|u| u.addr == t.dst) else { continue };
            // Strictly: a route lookup's event (netns 0: the hook cannot tell) may be anyone's.
            let in_host = e.place.netns == source.host_netns;
            let ours = (in_host && (up.from_host || source.addrs.contains(&t.src)))
                || (source.netns != 0 && e.place.netns == source.netns);
            let key = (t.proto, t.dst, t.sport);
            if ours && !forwarded.contains(&key) {
                forwarded.push(key);
            }
        }
        Self { sport, upstreams, forwarded }
    }

    /// A forwarded query was seen.
    pub fn forwarded_seen(&self) -> bool {
        !self.forwarded.is_empty()
    }

    fn is_forwarded(&self, proto: Proto, server: IpAddr, port: u16) -> bool {
        self.forwarded.contains(&(proto, server, port))
    }
}

impl Locate for DnsFlows {
    fn locate(&self, t: &Tuple, icmp: Option<IcmpMessage>) -> Option<(u16, bool)> {
        if !t.proto.has_ports() {
            return None;
        }
        // An ICMP error carries the quoted query's ports, and comes back.
        let error = icmp.is_some_and(IcmpMessage::is_error);
        if t.sport == self.sport {
            return Some((QUERY, !error));
        }
        if t.dport == self.sport {
            return Some((QUERY, false));
        }
        // The quoted query's address is not in the error: its ports must do.
        let quoted = |port: u16| self.forwarded.iter().any(|(p, _, s)| *p == t.proto && *s == port);
        if t.dport == DNS_PORT && (self.is_forwarded(t.proto, t.dst, t.sport) || (error && quoted(t.sport))) {
            return Some((FORWARDED, !error));
        }
        if t.sport == DNS_PORT && self.is_forwarded(t.proto, t.src, t.dport) {
            return Some((FORWARDED, false));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use dockernet_trace_common::Hook;

    use super::*;
    use crate::ebpf::events::{Detail, Place};

    fn icmp4(kind: u8) -> Option<IcmpMessage> {
        IcmpMessage::of(Proto::Icmp, kind, 0)
    }

    fn tuple(proto: Proto, src: &str, sport: u16, dst: &str, dport: u16) -> Tuple {
        Tuple { proto, src: src.parse().unwrap(), sport, dst: dst.parse().unwrap(), dport }
    }

    fn ev(netns: u32, t: Tuple) -> KernelEvent {
        KernelEvent {
            t_ns: 1,
            hook: Hook::NetDevXmit,
            skb: 1,
            place: Place { ifindex: 2, ifname: "eth0".into(), netns },
            tuple: Some(t),
            icmp: None,
            tcp_flags: None,
            detail: Detail::Hop { tcp_flags: 0, quotes: 0, rc: 0 },
        }
    }

    #[test]
    fn forwarded_queries_are_those_the_source_caused() {
        let up = Upstream { addr: "10.0.0.2".parse().unwrap(), from_host: false };
        let me: Vec<IpAddr> = vec!["172.18.0.2".parse().unwrap()];
        let source = SourcePlace { netns: 20, addrs: &me, host_netns: 10 };
        let events = vec![
            // dockerd's query from the container's namespace, and its masqueraded form
            ev(20, tuple(Proto::Udp, "172.18.0.2", 51000, "10.0.0.2", 53)),
            ev(10, tuple(Proto::Udp, "10.200.0.2", 51000, "10.0.0.2", 53)),
            // another container's query to the same upstream
            ev(30, tuple(Proto::Udp, "172.18.0.3", 52000, "10.0.0.2", 53)),
            // a namespace of someone else's holding the source's address (a nested host)
            ev(40, tuple(Proto::Udp, "172.18.0.2", 53000, "10.0.0.2", 53)),
            // a hook that cannot tell the namespace (a route lookup's) may be anyone's
            ev(0, tuple(Proto::Udp, "172.18.0.2", 54000, "10.0.0.2", 53)),
        ];
        let f = DnsFlows::learn(41000, vec![up], &source, &events);
        assert_eq!(f.forwarded, vec![(Proto::Udp, up.addr, 51000)]);
        let at = |t: Tuple, icmp| f.locate(&t, icmp);
        assert_eq!(at(tuple(Proto::Udp, "10.200.0.2", 51000, "10.0.0.2", 53), None), Some((FORWARDED, true)));
        assert_eq!(
            at(tuple(Proto::Udp, "10.0.0.2", 53, "10.200.0.2", 51000), None),
            Some((FORWARDED, false))
        );
        assert_eq!(
            at(tuple(Proto::Udp, "10.0.0.1", 51000, "10.200.0.2", 53), icmp4(3)),
            Some((FORWARDED, false))
        );
        assert_eq!(at(tuple(Proto::Udp, "172.18.0.3", 52000, "10.0.0.2", 53), None), None);
        // the source's own queries, to 127.0.0.11 (DNATed to dockerd's port) and back
        assert_eq!(
            at(tuple(Proto::Udp, "127.0.0.11", 41000, "127.0.0.11", 33111), None),
            Some((QUERY, true))
        );
        assert_eq!(at(tuple(Proto::Tcp, "127.0.0.11", 53, "127.0.0.11", 41000), None), Some((QUERY, false)));
        assert_eq!(at(tuple(Proto::Icmp, "1.1.1.1", 41000, "2.2.2.2", 41000), icmp4(8)), None);
    }

    #[test]
    fn an_upstream_asked_from_the_host_takes_every_query_to_it() {
        let up = Upstream { addr: "127.0.0.53".parse().unwrap(), from_host: true };
        let source = SourcePlace { netns: 20, addrs: &[], host_netns: 10 };
        let events = vec![ev(10, tuple(Proto::Udp, "127.0.0.1", 40999, "127.0.0.53", 53))];
        let f = DnsFlows::learn(41000, vec![up], &source, &events);
        assert!(f.forwarded_seen());
        let elsewhere = vec![ev(40, tuple(Proto::Udp, "127.0.0.1", 40999, "127.0.0.53", 53))];
        assert!(!DnsFlows::learn(41000, vec![up], &source, &elsewhere).forwarded_seen());
    }
}
