//! The bridge on a bridged path. Frames a bridge forwards between two of its ports never pass
//! its own tc hooks, so the hops would jump from one veth to the next. Where the kernel shows
//! the forwarding (br_forward enrichment: kprobe/fentry), that hop names its bridge; where it
//! cannot, a hop is inferred from the two ports' common master and marked as inferred.
use dockernet_trace_common::Hook;

use super::hops::Hop;
use crate::model::Topology;

/// The bridge `iface` is a port of, in the host's namespace.
fn master_bridge(t: &Topology, iface: &str) -> Option<String> {
    let port = t.link_by_name(iface)?;
    let bridge = t.link_by_index(port.master?)?;
    bridge.is_bridge().then(|| bridge.name.clone())
}

/// Names the bridge of observed br_forward hops, and infers a bridge hop between two
/// consecutive host hops of one probe and direction on two ports of the same bridge.
pub fn add_bridges(hops: Vec<Hop>, t: &Topology) -> Vec<Hop> {
    let mut out: Vec<Hop> = Vec::with_capacity(hops.len());
    for mut h in hops {
        if h.hook == Hook::BrForward && h.bridge.is_none() {
            h.bridge = master_bridge(t, &h.iface);
        }
        let prev = out.iter().rev().find(|p| p.probe == h.probe && p.forward == h.forward);
        if let Some((bridge, at)) = prev.and_then(|p| inferred_between(p, &h, t).map(|b| (b, p.t_ns))) {
            out.push(Hop {
                t_ns: at,
                iface: bridge.clone(),
                hook: Hook::BrForward,
                bridge: Some(bridge),
                inferred: true,
                drop_reason: None,
                ..h.clone()
            });
        }
        out.push(h);
    }
    for (i, h) in out.iter_mut().enumerate() {
        h.seq = i;
    }
    out
}

/// The bridge that must have forwarded between `prev` and `next`: both in the host, on two
/// different ports of one bridge, with no bridge hop of their own between them.
fn inferred_between(prev: &Hop, next: &Hop, t: &Topology) -> Option<String> {
    if !prev.netns.is_host() || !next.netns.is_host() || prev.iface == next.iface {
        return None;
    }
    if prev.hook == Hook::BrForward || next.hook == Hook::BrForward {
        return None;
    }
    let a = master_bridge(t, &prev.iface)?;
    (master_bridge(t, &next.iface)? == a).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        explain::NetnsLabel,
        flow::{Proto, Tuple},
        model::{links::tests::link, topology::tests::topology},
    };

    fn hop(t_ns: u64, netns: NetnsLabel, iface: &str, hook: Hook) -> Hop {
        Hop {
            seq: 0,
            t_ns,
            netns,
            iface: iface.into(),
            hook,
            tuple: Tuple {
                proto: Proto::Tcp,
                src: "172.18.0.3".parse().unwrap(),
                sport: 40000,
                dst: "172.18.0.2".parse().unwrap(),
                dport: 3306,
            },
            probe: 0,
            forward: true,
            packet: Some("SYN".into()),
            drop_reason: None,
            mono_ns: t_ns,
            tcp_flags: Some(0x02),
            icmp: None,
            bridge: None,
            inferred: false,
            icmp_from: None,
            after_delivery: false,
        }
    }

    fn host() -> Topology {
        let mut t = topology(vec![], vec![]);
        let br = link(3, "br-x", Some("bridge"));
        let mut a = link(7, "vetha", Some("veth"));
        a.master = Some(3);
        let mut b = link(8, "vethb", Some("veth"));
        b.master = Some(3);
        let c = link(9, "uplink0", Some("veth"));
        t.host.links = vec![br, a, b, c];
        t
    }

    #[test]
    fn infers_the_bridge_between_two_of_its_ports() {
        let hops = vec![
            hop(0, NetnsLabel::Container("nacos".into()), "eth0", Hook::NetDevXmit),
            hop(5, NetnsLabel::Host, "vetha", Hook::TcIngress),
            hop(9, NetnsLabel::Host, "vethb", Hook::TcEgress),
            hop(12, NetnsLabel::Container("mysql".into()), "eth0", Hook::NetifReceive),
        ];
        let out = add_bridges(hops, &host());
        assert_eq!(out.len(), 5, "{out:#?}");
        let b = &out[2];
        assert_eq!((b.iface.as_str(), b.hook, b.inferred), ("br-x", Hook::BrForward, true));
        assert_eq!(b.bridge.as_deref(), Some("br-x"));
        assert_eq!(out.iter().map(|h| h.seq).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn names_an_observed_forward_and_infers_nothing_then() {
        let hops = vec![
            hop(5, NetnsLabel::Host, "vetha", Hook::TcIngress),
            hop(7, NetnsLabel::Host, "vethb", Hook::BrForward),
            hop(9, NetnsLabel::Host, "vethb", Hook::TcEgress),
        ];
        let out = add_bridges(hops, &host());
        assert_eq!(out.len(), 3, "{out:#?}");
        assert_eq!((out[1].bridge.as_deref(), out[1].inferred), (Some("br-x"), false));
    }

    #[test]
    fn routed_hops_get_no_bridge() {
        let hops = vec![
            hop(5, NetnsLabel::Host, "vetha", Hook::TcIngress),
            hop(9, NetnsLabel::Host, "uplink0", Hook::TcEgress),
        ];
        assert_eq!(add_bridges(hops, &host()).len(), 2);
    }
}
