//! What the kernel saw of the probes, as hops: one line per sighting, in time order, with the
//! namespace named (container:nacos, host) and the 5-tuple as it was at that point.
use std::collections::HashMap;

use dockernet_trace_common::{Hook, is_icmp_error};
use serde::Serialize;

use crate::ebpf::{
    KernelEvent, Tuple,
    events::{Detail, Proto},
};

/// Names for network namespaces (by inode) and for the tool's own interfaces (by ifindex).
#[derive(Clone, Debug, Default)]
pub struct Places {
    pub host_inode: u32,
    pub netns: HashMap<u32, String>,
    pub host_links: HashMap<u32, String>,
}

impl Places {
    /// `host`, `container:NAME`, or `netns:INODE` for a namespace we cannot name.
    pub fn netns_label(&self, inode: u32) -> String {
        if inode == 0 || inode == self.host_inode {
            return "host".into();
        }
        self.netns.get(&inode).cloned().unwrap_or_else(|| format!("netns:{inode}"))
    }

    /// The interface of an event: its own name, else (tc hooks) our interface by ifindex.
    pub fn iface(&self, e: &KernelEvent) -> String {
        if !e.place.ifname.is_empty() {
            return e.place.ifname.clone();
        }
        self.host_links.get(&e.place.ifindex).cloned().unwrap_or_else(|| format!("if{}", e.place.ifindex))
    }
}

/// The probes of one run: which ports (ICMP: ids) they use.
#[derive(Clone, Copy, Debug)]
pub struct ProbePorts {
    pub proto: Proto,
    pub base: u16,
    pub count: u16,
}

impl ProbePorts {
    /// Index of the probe a packet belongs to, and whether it travels towards the target.
    /// `icmp_type` is the packet's own ICMP type when it is ICMP: an echo reply, or an error
    /// quoting the probe (whose tuple is the quoted one), travels back.
    pub fn locate(&self, t: &Tuple, icmp_type: Option<u8>) -> Option<(u16, bool)> {
        let idx = |p: u16| p.checked_sub(self.base).filter(|i| *i < self.count);
        let answer = icmp_type.is_some_and(|k| k == 0 || is_icmp_error(k));
        if self.proto == Proto::Icmp {
            // The echo identifier is the probe's "port".
            return idx(t.sport).map(|i| (i, !answer));
        }
        if icmp_type.is_some_and(is_icmp_error) {
            return idx(t.sport).or_else(|| idx(t.dport)).map(|i| (i, false));
        }
        // A packet carrying the probe port as source goes forward; as destination, back.
        idx(t.sport).map(|i| (i, true)).or_else(|| idx(t.dport).map(|i| (i, false)))
    }

    /// `locate` for a kernel event.
    pub fn locate_event(&self, e: &KernelEvent) -> Option<(u16, bool)> {
        self.locate(e.tuple.as_ref()?, e.icmp_type)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    pub seq: usize,
    /// Nanoseconds since the first hop.
    pub t_ns: u64,
    pub netns: String,
    pub iface: String,
    pub hook: &'static str,
    pub src: String,
    pub dst: String,
    /// Which probe (0-based) this packet belongs to.
    pub probe: u16,
    /// true: towards the target; false: the answer coming back.
    pub forward: bool,
    /// TCP flags or ICMP type of the packet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_reason: Option<String>,
}

/// The hooks that show a packet passing (or ending) somewhere.
fn is_sighting(h: Hook) -> bool {
    matches!(
        h,
        Hook::TcIngress
            | Hook::TcEgress
            | Hook::NetifReceive
            | Hook::NetDevXmit
            | Hook::KfreeSkb
            | Hook::BrForward
            | Hook::BrPassUp
    )
}

pub fn tcp_flags(f: u8) -> String {
    let mut names = Vec::new();
    for (bit, name) in [(0x02, "SYN"), (0x04, "RST"), (0x01, "FIN"), (0x08, "PSH"), (0x10, "ACK")] {
        if f & bit != 0 {
            names.push(name);
        }
    }
    names.join("-")
}

/// Only the exchange that tells reachability: TCP SYN out, SYN-ACK or RST back (our own
/// closing ACK/RST are the tool's business, not the path's); everything for UDP and ICMP.
fn relevant(e: &KernelEvent, forward: bool) -> bool {
    let f = match &e.detail {
        Detail::Drop { .. } => return true,
        // An ICMP error about the probe, on its way back.
        Detail::Hop { .. } if e.icmp_type.is_some_and(is_icmp_error) => return true,
        Detail::Hop { tcp_flags, .. } => *tcp_flags,
        _ => return false,
    };
    match e.tuple.map(|t| t.proto) {
        Some(Proto::Tcp) if forward => f & 0x02 != 0,
        Some(Proto::Tcp) => f & 0x06 != 0,
        _ => true,
    }
}

fn packet_label(e: &KernelEvent) -> Option<String> {
    match (&e.detail, e.tuple.map(|t| t.proto)) {
        (Detail::Hop { inner_proto, icmp_type, icmp_code, .. }, _) if *inner_proto != 0 => {
            Some(format!("ICMP {icmp_type}/{icmp_code} about our packet"))
        }
        (Detail::Hop { tcp_flags: f, .. }, Some(Proto::Tcp)) => Some(tcp_flags(*f)),
        (Detail::Hop { icmp_type: 8, .. }, Some(Proto::Icmp)) => Some("echo request".into()),
        (Detail::Hop { icmp_type: 0, .. }, Some(Proto::Icmp)) => Some("echo reply".into()),
        _ => None,
    }
}

/// Hops from the run's kernel events (any order), numbered and timed from the first.
pub fn hops(events: &[KernelEvent], places: &Places, probes: ProbePorts) -> Vec<Hop> {
    let mut seen: Vec<&KernelEvent> = events.iter().filter(|e| is_sighting(e.hook)).collect();
    seen.sort_by_key(|e| e.t_ns);
    let t0 = seen.first().map(|e| e.t_ns).unwrap_or(0);
    let mut out = Vec::new();
    for e in seen {
        let Some(t) = e.tuple else { continue };
        let Some((probe, forward)) = probes.locate_event(e) else { continue };
        if !relevant(e, forward) {
            continue;
        }
        out.push(Hop {
            seq: out.len(),
            t_ns: e.t_ns - t0,
            netns: places.netns_label(e.place.netns),
            iface: places.iface(e),
            hook: e.hook.name(),
            src: t.src_str(),
            dst: t.dst_str(),
            probe,
            forward,
            packet: packet_label(e),
            drop_reason: match &e.detail {
                Detail::Drop { reason, .. } => Some(reason.clone()),
                _ => None,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::events::Place;

    #[allow(clippy::too_many_arguments)] // one event, spelled out per test
    fn ev(
        t: u64,
        hook: Hook,
        ifname: &str,
        netns: u32,
        src: &str,
        sport: u16,
        dst: &str,
        dport: u16,
        flags: u8,
    ) -> KernelEvent {
        KernelEvent {
            t_ns: t,
            hook,
            skb: 1,
            place: Place { ifindex: 7, ifname: ifname.into(), netns },
            tuple: Some(Tuple {
                proto: Proto::Tcp,
                src: src.parse().unwrap(),
                sport,
                dst: dst.parse().unwrap(),
                dport,
            }),
            icmp_type: None,
            detail: if hook == Hook::KfreeSkb {
                Detail::Drop { reason: "NETFILTER_DROP".into(), location: 0 }
            } else {
                Detail::Hop { tcp_flags: flags, icmp_type: 0, icmp_code: 0, inner_proto: 0, rc: 0 }
            },
        }
    }

    #[test]
    fn orders_labels_and_filters_hops() {
        let places = Places {
            host_inode: 10,
            netns: HashMap::from([(20, "container:nacos".to_string())]),
            host_links: HashMap::from([(7, "veth1".to_string())]),
        };
        let ports = ProbePorts { proto: Proto::Tcp, base: 40000, count: 3 };
        let events = vec![
            ev(300, Hook::KfreeSkb, "br-x", 10, "172.17.0.2", 40001, "172.18.0.2", 3306, 0x02),
            ev(100, Hook::NetDevXmit, "eth0", 20, "172.17.0.2", 40001, "172.18.0.2", 3306, 0x02),
            ev(200, Hook::TcIngress, "", 0, "172.17.0.2", 40001, "172.18.0.2", 3306, 0x02),
            // our own closing ACK: not part of the path
            ev(250, Hook::NetDevXmit, "eth0", 20, "172.17.0.2", 40001, "172.18.0.2", 3306, 0x10),
            // unrelated flow
            ev(260, Hook::NetDevXmit, "eth0", 20, "172.17.0.2", 5555, "172.18.0.2", 3306, 0x02),
        ];
        let h = hops(&events, &places, ports);
        assert_eq!(h.len(), 3, "{h:#?}");
        assert_eq!((h[0].netns.as_str(), h[0].iface.as_str(), h[0].t_ns), ("container:nacos", "eth0", 0));
        assert_eq!((h[1].netns.as_str(), h[1].iface.as_str(), h[1].hook), ("host", "veth1", "tc_ingress"));
        assert_eq!(h[2].drop_reason.as_deref(), Some("NETFILTER_DROP"));
        assert_eq!(h[2].probe, 1);
        assert!(h.iter().all(|x| x.forward));
        assert_eq!(h[0].packet.as_deref(), Some("SYN"));
    }

    #[test]
    fn answers_travel_backwards() {
        let ports = ProbePorts { proto: Proto::Tcp, base: 40000, count: 1 };
        let t = Tuple {
            proto: Proto::Tcp,
            src: "172.18.0.2".parse().unwrap(),
            sport: 3306,
            dst: "172.17.0.2".parse().unwrap(),
            dport: 40000,
        };
        assert_eq!(ports.locate(&t, None), Some((0, false)));
        assert_eq!(tcp_flags(0x12), "SYN-ACK");
        // An ICMP error quoting the SYN (its tuple is the quoted one) is an answer too.
        let quoted = Tuple { proto: Proto::Tcp, src: t.dst, sport: 40000, dst: t.src, dport: 3306 };
        assert_eq!(ports.locate(&quoted, Some(3)), Some((0, false)));
        assert_eq!(ports.locate(&quoted, None), Some((0, true)));
    }

    #[test]
    fn icmp_probes_are_told_apart_by_their_identifier() {
        let ports = ProbePorts { proto: Proto::Icmp, base: 62000, count: 3 };
        let echo = |id| Tuple {
            proto: Proto::Icmp,
            src: "172.17.0.2".parse().unwrap(),
            sport: id,
            dst: "172.18.0.2".parse().unwrap(),
            dport: id,
        };
        assert_eq!(ports.locate(&echo(62002), Some(8)), Some((2, true)));
        assert_eq!(ports.locate(&echo(62001), Some(0)), Some((1, false)));
        assert_eq!(ports.locate(&echo(62001), Some(3)), Some((1, false)));
        assert_eq!(ports.locate(&echo(62003), Some(8)), None);
    }
}
