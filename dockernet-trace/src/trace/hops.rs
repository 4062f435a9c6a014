//! What the kernel saw of the probes, as hops: one line per sighting, in time order, with the
//! namespace named (container:nacos, host) and the 5-tuple as it was at that point.
use std::net::IpAddr;

use dockernet_trace_common::Hook;

use crate::{
    ebpf::{KernelEvent, events::Detail},
    explain::{Names, NetnsLabel},
    flow::{IcmpMessage, Proto, Tuple},
    kernel::DropReason,
    probe::Locate,
};

/// Which probe an event's packet belongs to, and whether it travels towards the target.
pub fn locate(ports: &dyn Locate, e: &KernelEvent) -> Option<(u16, bool)> {
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
    /// When (CLOCK_MONOTONIC), for the evidence file.
    pub mono_ns: u64,
    /// The packet's TCP flags, when it is TCP.
    pub tcp_flags: Option<u8>,
    /// The packet's ICMP type and code, when it is ICMP; an error quotes the probe, whose
    /// addresses `tuple` then holds.
    pub icmp: Option<IcmpSeen>,
    /// The bridge that forwarded the packet here (br_forward hops).
    pub bridge: Option<String>,
    /// Not seen by the kernel but inferred from the host's links (see `bridge_hops`).
    pub inferred: bool,
    /// ICMP errors: who sent the error (`tuple` is then the quoted packet's own).
    pub icmp_from: Option<IpAddr>,
    /// A drop of a probe that had already reached its target: the packet was consumed (our
    /// own socket closed, a queue purged), not dropped on the way.
    pub after_delivery: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpSeen {
    pub kind: u8,
    pub code: u8,
    pub quoting: bool,
}

fn icmp_seen(e: &KernelEvent) -> Option<IcmpSeen> {
    let m = e.icmp?;
    match &e.detail {
        Detail::Hop { quotes, .. } => Some(IcmpSeen { kind: m.kind, code: m.code, quoting: *quotes != 0 }),
        _ => Some(IcmpSeen { kind: m.kind, code: 0, quoting: m.is_error() }),
    }
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
        (Some(m), _) if *quotes != 0 => Some(format!("{m} from {} about", e.tuple?.src)),
        (_, Some(Proto::Tcp)) => Some(tcp_flags(*f)),
        (Some(m), _) if m.is_echo_request() => Some("echo request".into()),
        (Some(m), _) if m.is_echo_reply() => Some("echo reply".into()),
        _ => None,
    }
}

/// Hops from the run's kernel events (any order), numbered and timed from the first.
pub fn hops(events: &[KernelEvent], names: &Names, probes: &dyn Locate) -> Vec<Hop> {
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
        let mut hop = Hop {
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
            mono_ns: e.t_ns,
            tcp_flags: e.tcp_flags,
            icmp: icmp_seen(e),
            bridge: None,
            inferred: false,
            icmp_from: None,
            after_delivery: false,
        };
        if matches!(e.detail, Detail::Hop { quotes, .. } if quotes != 0) {
            hop.icmp_from = Some(t.src);
        }
        out.push(hop);
    }
    for i in 0..out.len() {
        if out[i].icmp_from.is_some() {
            out[i].tuple = quoted(&out, i);
        }
    }
    out
}

/// Marks drops of packets that had already been delivered, and were then consumed: for a
/// probe that reached its target, what came back or followed the answer; for any probe, an
/// answer freed in the source's own namespace once our socket had it (or was gone).
pub fn mark_after_delivery(hops: &mut [Hop], reached: impl Fn(u16) -> bool, source: &NetnsLabel) {
    for i in 0..hops.len() {
        let h = &hops[i];
        let Some(reason) = &h.drop_reason else { continue };
        let consumed_here = !h.forward && h.netns == *source && reason.is_socket_cleanup();
        let answered_before = hops[..i].iter().any(|p| p.probe == h.probe && !p.forward);
        if consumed_here || (reached(h.probe) && (!h.forward || answered_before)) {
            hops[i].after_delivery = true;
        }
    }
}

/// The packet the ICMP error `hops[i]` quotes, as it was where the error is seen: the probe's
/// own hop at the same place (NAT rewrites the quoted packet on the way back as it rewrote the
/// probe), else in the same namespace (the latest before the error, else the first after),
/// else the outer addresses swapped (the target's own answer) with the quoted ports.
fn quoted(hops: &[Hop], i: usize) -> Tuple {
    let err = &hops[i];
    let probe = |h: &&Hop| h.probe == err.probe && h.forward && h.icmp_from.is_none();
    let at = |h: &&Hop| h.netns == err.netns && h.iface == err.iface;
    let in_ns = |h: &&Hop| h.netns == err.netns;
    let before = hops[..i].iter().rev().filter(probe);
    let after = hops[i..].iter().filter(probe);
    let found =
        before.clone().find(at).or_else(|| before.clone().find(in_ns)).or_else(|| after.clone().find(in_ns));
    if let Some(h) = found {
        return h.tuple;
    }
    let t = err.tuple;
    Tuple { proto: t.proto, src: t.dst, sport: t.sport, dst: t.src, dport: t.dport }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ebpf::events::Place,
        model::{container::tests_support::container, topology::tests::topology},
        probe::ProbePorts,
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
            tcp_flags: Some(flags),
            detail: if hook == Hook::KfreeSkb {
                Detail::Drop { reason: DropReason::NETFILTER_DROP, location: 0, route: None }
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
    fn only_a_reset_made_for_the_probe_is_its_answer() {
        let t = topology(vec![], vec![]);
        let names = Names::new(&t);
        let ports = ProbePorts { proto: Proto::Tcp, base: 40000, count: 3 };
        let reset = |src, sport, dst, dport| KernelEvent {
            detail: Detail::Reset { reason: 0 },
            ..ev(100, Hook::TcpSendReset, "eth0", 20, src, sport, dst, dport, 0x02)
        };
        let events = [
            // The target turns away probe 1's SYN: nothing listens.
            reset("172.17.0.2", 40001, "172.18.0.2", 3306),
            // The source turns away the target's SYN-ACK to probe 2: not a refusal.
            reset("172.18.0.2", 3306, "172.17.0.2", 40002),
        ];
        let mut syms = crate::kernel::Kallsyms::new("/nonexistent");
        let f = crate::trace::facts::Facts::gather(&events, &names, &ports, &mut syms);
        assert_eq!(f.answers.iter().map(|a| a.probe).collect::<Vec<_>>(), vec![1]);
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
        assert_eq!((h[1].forward, h[1].packet.as_deref()), (false, Some("ICMPv6 1/4 from fd00:30::2 about")));
    }

    #[test]
    fn tcp_flags_are_named() {
        assert_eq!(tcp_flags(0x12), "SYN-ACK");
    }
}
