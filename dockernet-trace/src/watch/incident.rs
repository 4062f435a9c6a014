//! Kernel events turned into what `watch` reports: a drop, a route failure or a reset, with the
//! flow, the reason and where it happened. Everything else the watch-mode programs send (the
//! ICMP errors the kernel answers with) is left out: each comes with a drop that is reported
//! instead. A packet refused for its route (no route, an unreachable route, forwarding off)
//! is a route failure, reported with the errno of that route, which the kfree_skb program
//! read from the packet.
use std::{
    fmt,
    hash::{Hash, Hasher},
};

use crate::{
    ebpf::{KernelEvent, events::Detail},
    explain::{
        drop_cause::NEIGHBOUR_FAILURE_SITES,
        neighbour::{self, NeighbourState},
        route_failure::{ErrorRoute, route_refusal},
    },
    flow::{IpFamily, Proto, Tuple},
    kernel::{DropReason, Kallsyms, ResetReason, ResetReasons},
};

use super::{line::Kind, noise};

/// Where the kernel function that is to blame comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    /// kfree_skb's caller, a kernel text address (resolved through kallsyms when printed).
    Address(u64),
    Named(&'static str),
}

/// Why the kernel dropped, failed to route, or reset: typed until the line is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The drop reason (also of a packet `ip_error` refused with no failed lookup before it).
    Drop(DropReason),
    /// The error route a packet was refused for (`ip_error`, IPv6's discard), by its errno.
    Route(ErrorRoute),
    /// The neighbour state ARP ended in.
    Neighbour(NeighbourState),
    Reset(ResetReason),
}

impl Hash for Reason {
    // Neither nix's Errno nor netlink's NeighbourState is Hash.
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Reason::Drop(r) => (0u8, r).hash(h),
            Reason::Route(e) => (1u8, e).hash(h),
            Reason::Neighbour(s) => (2u8, u16::from(*s)).hash(h),
            Reason::Reset(r) => (3u8, r).hash(h),
        }
    }
}

/// As the line's `drop_reason` spells it: `NETFILTER_DROP`, `ENETUNREACH`, `NUD_FAILED`.
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Drop(r) => r.fmt(f),
            Reason::Route(e) => e.fmt(f),
            Reason::Neighbour(s) => f.write_str(&neighbour::name(*s)),
            Reason::Reset(r) => r.fmt(f),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub kind: Kind,
    /// CLOCK_MONOTONIC nanoseconds.
    pub t_ns: u64,
    /// The flow; ports are ICMP echo ids for ICMP and 0 when the hook has none.
    pub tuple: Tuple,
    pub reason: Reason,
    pub function: Function,
    pub iface: Option<String>,
    /// Namespace inode (0: unknown, taken as the host).
    pub netns: u32,
    /// The packet's TCP flags and ICMP type, where the event told them (for `--pcap`).
    pub tcp_flags: Option<u8>,
    pub icmp_type: Option<u8>,
}

impl Incident {
    /// Ports as the CONTRACT shows them: for TCP and UDP only, and only when known.
    pub fn ports(&self) -> (Option<u16>, Option<u16>) {
        if !self.tuple.proto.has_ports() {
            return (None, None);
        }
        let p = |x: u16| (x != 0).then_some(x);
        (p(self.tuple.sport), p(self.tuple.dport))
    }

    /// The protocol as the line names it: `arp` (IPv6: `ndp`, neighbour discovery) for
    /// neighbour failures, `ip` when the hook knows no protocol.
    pub fn proto_label(&self) -> String {
        match (&self.reason, self.tuple.proto) {
            (Reason::Neighbour(_), _) if self.tuple.dst.is_ipv6() => "ndp".into(),
            (Reason::Neighbour(_), _) => "arp".into(),
            (_, Proto::Other(0)) => "ip".into(),
            (_, p) => p.name(),
        }
    }
}

/// What the hooks that are attached can tell.
#[derive(Clone, Copy, Debug)]
pub struct Hooks {
    /// tcp:tcp_send_reset is attached, so a TCP packet to a closed port shows as a reset.
    pub resets: bool,
}

/// The incident a kernel event reports, if it is one `watch` shows. `syms` names a drop's
/// function where the noise filter needs it (cached: a host has few drop locations).
pub fn from_event(
    e: &KernelEvent,
    resets: &ResetReasons,
    hooks: Hooks,
    syms: &mut Kallsyms,
) -> Option<Incident> {
    let iface = (!e.place.ifname.is_empty()).then(|| e.place.ifname.clone());
    let base = |kind, tuple: Tuple, reason: Reason, function| Incident {
        kind,
        t_ns: e.t_ns,
        tuple,
        reason,
        function,
        iface: iface.clone(),
        netns: e.place.netns,
        tcp_flags: e.tcp_flags,
        icmp_type: e.icmp.map(|m| m.kind),
    };
    match &e.detail {
        Detail::Drop { reason, location, route } => {
            let t = e.tuple?;
            // Noise first: it names the function only where its answer depends on it.
            if !noise::is_reported_drop(reason, t.proto, || syms.resolve(*location).map(|s| s.name), hooks) {
                log::debug!("not a drop: {reason} {} → {} ({:?})", t.src_str(), t.dst_str(), t.proto);
                return None;
            }
            // Cached from here on: every reported drop's function is named when it is printed.
            let function = syms.resolve(*location).map(|s| s.name);
            if function.as_deref().is_some_and(|f| NEIGHBOUR_FAILURE_SITES.contains(&f)) {
                // A packet that waited for a neighbour nobody answered for (ARP, neighbour
                // discovery): the neighbour failed, in the namespace that asked.
                let reason = Reason::Neighbour(NeighbourState::Failed);
                return Some(base(Kind::RouteFailure, t, reason, Function::Named("neigh_invalidate")));
            }
            if let Some(refused) = syms.resolve(*location).and_then(|s| route_refusal(&s.name, reason)) {
                // The packet's route was an error (a failed lookup, an unreachable route, or
                // forwarding off): a route failure, in the namespace of the device it came in by.
                let why = route.map_or_else(|| Reason::Drop(reason.clone()), Reason::Route);
                return Some(base(Kind::RouteFailure, t, why, Function::Named(refused)));
            }
            Some(base(Kind::Drop, t, Reason::Drop(reason.clone()), Function::Address(*location)))
        }
        Detail::Reset { reason } => {
            let t = e.tuple?;
            let function = if t.src.is_ipv6() { "tcp_v6_send_reset" } else { "tcp_v4_send_reset" };
            Some(base(Kind::Reset, t, Reason::Reset(resets.name(*reason)), Function::Named(function)))
        }
        Detail::Neighbour { addr, state, .. } if neighbour::failed(*state) => {
            let unspecified = IpFamily::of(addr).unspecified();
            let tuple = Tuple { proto: Proto::Other(0), src: unspecified, sport: 0, dst: *addr, dport: 0 };
            Some(base(Kind::RouteFailure, tuple, Reason::Neighbour(*state), Function::Named("neigh_update")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use dockernet_trace_common::Hook;

    use std::net::IpAddr;

    use super::*;
    use crate::{ebpf::events::Place, explain::neighbour::NeighbourState};

    fn event(detail: Detail, hook: Hook) -> KernelEvent {
        KernelEvent {
            t_ns: 5,
            hook,
            skb: 1,
            place: Place { ifindex: 3, ifname: "docker0".into(), netns: 0 },
            tuple: Some(Tuple {
                proto: Proto::Tcp,
                src: "172.17.0.2".parse().unwrap(),
                sport: 40112,
                dst: "172.18.0.2".parse().unwrap(),
                dport: 3306,
            }),
            icmp: None,
            tcp_flags: Some(0x02),
            detail,
        }
    }

    const HOOKS: Hooks = Hooks { resets: true };

    fn from_event(e: &KernelEvent, r: &ResetReasons, h: Hooks) -> Option<Incident> {
        super::from_event(e, r, h, &mut Kallsyms::new("/nonexistent"))
    }

    #[test]
    fn a_netfilter_drop_is_a_drop() {
        let e = event(drop(DropReason::NETFILTER_DROP, 0xffff_1234, None), Hook::KfreeSkb);
        let i = from_event(&e, &ResetReasons::default(), HOOKS).unwrap();
        assert_eq!(
            (i.kind, i.reason.to_string().as_str(), i.proto_label().as_str()),
            (Kind::Drop, "NETFILTER_DROP", "tcp")
        );
        assert_eq!(i.function, Function::Address(0xffff_1234));
        assert_eq!(i.ports(), (Some(40112), Some(3306)));
        assert_eq!(i.iface.as_deref(), Some("docker0"));
    }

    fn drop(reason: DropReason, location: u64, route: Option<ErrorRoute>) -> Detail {
        Detail::Drop { reason, location, route }
    }

    #[test]
    fn a_packet_refused_for_its_route_is_a_route_failure_with_the_routes_errno() {
        let mut syms_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut syms_file,
            b"ffffffff81234000 t ip_error\nffffffff81235000 t ip_forward\nffffffff81236000 T nf_hook_slow\n",
        )
        .unwrap();
        let mut syms = Kallsyms::new(syms_file.path());
        let r = ResetReasons::default();
        let mut from = |e: &KernelEvent| super::from_event(e, &r, HOOKS, &mut syms);
        let (ip_error, ip_forward) = (0xffff_ffff_8123_4010, 0xffff_ffff_8123_5010);
        let unreachable =
            ErrorRoute::reported(dockernet_trace_common::RefusedRoute { error: 113, forwarding_off: 0 });
        let i = from(&event(drop(DropReason::NOT_SPECIFIED, ip_error, unreachable), Hook::KfreeSkb)).unwrap();
        assert_eq!((i.kind, i.reason.to_string().as_str()), (Kind::RouteFailure, "EHOSTUNREACH"));
        assert_eq!((i.function.clone(), i.iface.as_deref()), (Function::Named("ip_error"), Some("docker0")));
        // A route that is no error route (IPv6's forwarding off refuses a good one): the reason.
        let i = from(&event(drop(DropReason::IP_INADDRERRORS, ip_error, None), Hook::KfreeSkb)).unwrap();
        assert_eq!((i.kind, i.reason.to_string().as_str()), (Kind::RouteFailure, "IP_INADDRERRORS"));
        // Elsewhere, the same reason is a drop.
        let i = from(&event(drop(DropReason::NOT_SPECIFIED, ip_forward, None), Hook::KfreeSkb)).unwrap();
        assert_eq!(i.kind, Kind::Drop);
    }

    #[test]
    fn a_packet_freed_by_a_failed_neighbour_discovery_is_a_neighbour_failure() {
        let mut syms_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut syms_file,
            b"ffffffff81234000 t neigh_invalidate
",
        )
        .unwrap();
        let mut syms = Kallsyms::new(syms_file.path());
        let mut e = event(drop(DropReason::NOT_SPECIFIED, 0xffff_ffff_8123_407e, None), Hook::KfreeSkb);
        let t = e.tuple.as_mut().unwrap();
        (t.proto, t.src, t.dst) =
            (Proto::Icmpv6, "fd00:60::4".parse().unwrap(), "fd00:60::99".parse().unwrap());
        let i = super::from_event(&e, &ResetReasons::default(), HOOKS, &mut syms);
        let i = i.unwrap();
        assert_eq!((i.kind, i.reason.to_string().as_str()), (Kind::RouteFailure, "NUD_FAILED"));
        assert_eq!((i.proto_label().as_str(), i.function), ("ndp", Function::Named("neigh_invalidate")));
    }

    #[test]
    fn failed_arp_is_a_route_failure_without_ports() {
        let addr: IpAddr = "172.18.0.9".parse().unwrap();
        let failed = NeighbourState::Failed;
        let e = event(Detail::Neighbour { addr, state: failed, created: false }, Hook::NeighUpdate);
        let i = from_event(&e, &ResetReasons::default(), HOOKS).unwrap();
        assert_eq!((i.tuple.dst, i.proto_label().as_str(), i.ports()), (addr, "arp", (None, None)));
        let addr6: IpAddr = "fd00:18::9".parse().unwrap();
        let e = event(Detail::Neighbour { addr: addr6, state: failed, created: false }, Hook::NeighUpdate);
        let i = from_event(&e, &ResetReasons::default(), HOOKS).unwrap();
        assert_eq!(
            (i.tuple.dst, i.tuple.src, i.proto_label().as_str()),
            (addr6, "::".parse().unwrap(), "ndp")
        );
        let reachable = NeighbourState::Reachable;
        let reachable =
            event(Detail::Neighbour { addr, state: reachable, created: false }, Hook::NeighUpdate);
        assert!(from_event(&reachable, &ResetReasons::default(), HOOKS).is_none());
    }

    #[test]
    fn resets_are_named_and_icmp_errors_are_not_reported() {
        let r = ResetReasons::from_values(vec![("SK_RST_REASON_NO_SOCKET".into(), 2)]);
        let i = from_event(&event(Detail::Reset { reason: 2 }, Hook::TcpSendReset), &r, HOOKS).unwrap();
        assert_eq!((i.kind, i.reason.to_string().as_str()), (Kind::Reset, "NO_SOCKET"));
        assert_eq!(ResetReasons::default().name(0).name(), "NOT_SPECIFIED");
        let message = crate::flow::IcmpMessage { family: IpFamily::V4, kind: 3, code: 3 };
        let icmp = event(Detail::IcmpError { message }, Hook::IcmpSend);
        assert!(from_event(&icmp, &r, HOOKS).is_none());
    }
}
