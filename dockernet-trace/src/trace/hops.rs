//! What the kernel saw of the probes, as hops: one line per sighting, in time order, with the
//! namespace named (container:nacos, host) and the 5-tuple as it was at that point.
use dockernet_trace_common::Hook;

use crate::{
    ebpf::{KernelEvent, events::Detail},
    explain::{Names, NetnsLabel},
    flow::{IcmpMessage, Proto, Tuple},
    kernel::DropReason,
    probe::ProbePorts,
};

/// Which probe an event's packet belongs to, and whether it travels towards the target.
pub fn locate(ports: &ProbePorts, e: &KernelEvent) -> Option<(u16, bool)> {
    ports.locate(e.tuple.as_ref()?, e.icmp)
}

/// The interface of an event: its own name, else (tc hooks) the host's interface by ifindex.
pub fn iface(names: &Names, e: &KernelEvent) -> String {
    names.iface(&e.place.ifname, e.place.ifindex).unwrap_or_else(|| format!("if{}", e.place.ifindex))
}

#[derive(Clone, Debug)]
pub struct Hop {
    pub seq: usize,
    /// Nanoseconds since the first hop.
    pub t_ns: u64,
    pub netns: NetnsLabel,
    pub iface: String,
    pub hook: Hook,
    /// The packet's addresses as they were at this hop (NAT shows as a change).
    pub tuple: Tuple,
    /// Which probe (0-based) this packet belongs to.
    pub probe: u16,
    /// true: towards the target; false: the answer coming back.
    pub forward: bool,
    /// TCP flags or ICMP type of the packet.
    pub packet: Option<String>,
    pub drop_reason: Option<DropReason>,
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
        Detail::Hop { .. } if e.icmp.is_some_and(IcmpMessage::is_error) => return true,
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
    let Detail::Hop { tcp_flags: f, quotes, .. } = &e.detail else { return None };
    match (e.icmp, e.tuple.map(|t| t.proto)) {
        (Some(m), _) if *quotes != 0 => Some(format!("{m} about our packet")),
        (_, Some(Proto::Tcp)) => Some(tcp_flags(*f)),
        (Some(m), _) if m.is_echo_request() => Some("echo request".into()),
        (Some(m), _) if m.is_echo_reply() => Some("echo reply".into()),
        _ => None,
    }
}

/// Hops from the run's kernel events (any order), numbered and timed from the first.
pub fn hops(events: &[KernelEvent], names: &Names, probes: &ProbePorts) -> Vec<Hop> {
    let mut seen: Vec<&KernelEvent> = events.iter().filter(|e| is_sighting(e.hook)).collect();
    seen.sort_by_key(|e| e.t_ns);
    let t0 = seen.first().map(|e| e.t_ns).unwrap_or(0);
    let mut out = Vec::new();
    for e in seen {
        let Some(t) = e.tuple else { continue };
        let Some((probe, forward)) = locate(probes, e) else { continue };
        if !relevant(e, forward) {
            continue;
        }
        out.push(Hop {
            seq: out.len(),
            t_ns: e.t_ns - t0,
            netns: names.netns_label(e.place.netns),
            iface: iface(names, e),
            hook: e.hook,
            tuple: t,
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
    use crate::{
        ebpf::events::Place,
        model::{container::tests_support::container, topology::tests::topology},
    };

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
            icmp: None,
            detail: if hook == Hook::KfreeSkb {
                Detail::Drop { reason: DropReason::NETFILTER_DROP, location: 0 }
            } else {
                Detail::Hop { tcp_flags: flags, quotes: 0, rc: 0 }
            },
        }
    }

    #[test]
    fn orders_labels_and_filters_hops() {
        // Host namespace 10 with veth1 as ifindex 7; nacos in namespace 20.
        let mut nacos = container("aaaa1111", "nacos", &[("bridge", "172.17.0.2")]);
        nacos.netns_inode = Some(20);
        let mut t = topology(vec![nacos], vec![]);
        t.host_netns_inode = 10;
        t.host.links.push(crate::model::links::tests::link(7, "veth1", None));
        let names = Names::new(&t);
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
        let h = hops(&events, &names, &ports);
        assert_eq!(h.len(), 3, "{h:#?}");
        assert_eq!(
            (h[0].netns.to_string().as_str(), h[0].iface.as_str(), h[0].t_ns),
            ("container:nacos", "eth0", 0)
        );
        assert_eq!(
            (h[1].netns.to_string().as_str(), h[1].iface.as_str(), h[1].hook.name()),
            ("host", "veth1", "tc_ingress")
        );
        assert_eq!(h[2].drop_reason.as_ref().map(DropReason::name), Some("NETFILTER_DROP"));
        assert_eq!(h[2].probe, 1);
        assert!(h.iter().all(|x| x.forward));
        assert_eq!(h[0].packet.as_deref(), Some("SYN"));
    }

    #[test]
    fn ipv6_hops_and_icmpv6_answers_are_labelled() {
        let t = topology(vec![], vec![]);
        let names = Names::new(&t);
        let ports = ProbePorts { proto: Proto::Tcp, base: 40000, count: 1 };
        let syn = ev(100, Hook::NetDevXmit, "eth0", 0, "fd00:30::2", 40000, "fd00:31::2", 80, 0x02);
        // The host's port unreachable quoting the SYN: its tuple is the quoted flow.
        let mut unreachable = ev(200, Hook::NetDevXmit, "br-x", 0, "fd00:30::2", 40000, "fd00:31::2", 80, 0);
        unreachable.icmp = IcmpMessage::of(Proto::Icmpv6, 1, 4);
        unreachable.detail = Detail::Hop { tcp_flags: 0, quotes: 6, rc: 0 };
        let h = hops(&[syn, unreachable], &names, &ports);
        assert_eq!(h.len(), 2, "{h:#?}");
        assert_eq!((h[0].forward, h[0].tuple.src_str().as_str()), (true, "[fd00:30::2]:40000"));
        assert_eq!((h[1].forward, h[1].packet.as_deref()), (false, Some("ICMPv6 1/4 about our packet")));
    }

    #[test]
    fn tcp_flags_are_named() {
        assert_eq!(tcp_flags(0x12), "SYN-ACK");
    }
}
