//! Kernel events turned into what `watch` reports: a drop, a route failure or a reset, with the
//! flow, the reason and where it happened. Everything else the watch-mode programs send (the
//! ICMP errors the kernel answers with) is left out: each comes with a drop that is reported
//! instead. A failed route lookup is reported through the drop of its packet in `ip_error`
//! (see `route_failures`).
use std::{collections::HashMap, net::Ipv4Addr};

use crate::{
    ebpf::{
        KernelEvent, Tuple,
        events::{Detail, Proto},
    },
    kernel::{Kallsyms, KernelBtf, KernelError},
};

use super::{line::Kind, noise, route_failures::RouteFailures};

/// `fib:fib_table_lookup` reports -EAGAIN for "not in this table, try the next rule".
const EAGAIN: i32 = 11;
/// `NUD_FAILED`: ARP got no answer.
pub const NUD_FAILED: u8 = 0x20;

/// Where the kernel function that is to blame comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    /// kfree_skb's caller, a kernel text address (resolved through kallsyms when printed).
    Address(u64),
    Named(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub kind: Kind,
    /// CLOCK_MONOTONIC nanoseconds.
    pub t_ns: u64,
    /// The flow; ports are ICMP echo ids for ICMP and 0 when the hook has none.
    pub tuple: Tuple,
    /// `ip` when the hook knows no protocol, `arp` for neighbour failures.
    pub proto: String,
    /// Drop reason, errno name of a failed lookup, NUD state, or reset reason.
    pub reason: String,
    pub function: Function,
    pub iface: Option<String>,
    /// Namespace inode (0: unknown, taken as the host).
    pub netns: u32,
}

impl Incident {
    /// Ports as the CONTRACT shows them: for TCP and UDP only, and only when known.
    pub fn ports(&self) -> (Option<u16>, Option<u16>) {
        match self.tuple.proto {
            Proto::Tcp | Proto::Udp => {
                let p = |x: u16| (x != 0).then_some(x);
                (p(self.tuple.sport), p(self.tuple.dport))
            }
            _ => (None, None),
        }
    }
}

/// `enum sk_rst_reason` (kernel 6.10+) by value, named without its prefix.
#[derive(Clone, Debug, Default)]
pub struct ResetReasons(HashMap<u32, String>);

impl ResetReasons {
    pub fn from_btf(btf: &KernelBtf) -> Self {
        let values: Result<Vec<(String, u64)>, KernelError> = btf.enum_values("sk_rst_reason");
        Self(
            values
                .unwrap_or_default()
                .into_iter()
                .map(|(n, v)| (v as u32, n.strip_prefix("SK_RST_REASON_").unwrap_or(&n).to_string()))
                .collect(),
        )
    }

    /// Kernels before 6.10 pass no reason: NOT_SPECIFIED, as the kernel itself would say.
    pub fn name(&self, reason: u32) -> String {
        self.0.get(&reason).cloned().unwrap_or_else(|| {
            if self.0.is_empty() { "NOT_SPECIFIED".into() } else { format!("UNKNOWN_{reason}") }
        })
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
    routes: &mut RouteFailures,
) -> Option<Incident> {
    let iface = (!e.place.ifname.is_empty()).then(|| e.place.ifname.clone());
    let base = |kind, tuple: Tuple, reason: String, function| Incident {
        kind,
        t_ns: e.t_ns,
        proto: proto_label(tuple.proto),
        tuple,
        reason,
        function,
        iface: iface.clone(),
        netns: e.place.netns,
    };
    match &e.detail {
        Detail::Drop { reason, location } => {
            let t = e.tuple?;
            // Noise first: it names the function only where its answer depends on it.
            if !noise::is_reported_drop(reason, t.proto, || syms.resolve(*location).map(|s| s.name), hooks) {
                log::debug!("not a drop: {reason} {} → {} ({:?})", t.src_str(), t.dst_str(), t.proto);
                return None;
            }
            // Cached from here on: every reported drop's function is named when it is printed.
            if syms.resolve(*location).is_some_and(|s| s.name == "ip_error") {
                // The packet's route was an error (a failed lookup, an unreachable route, or
                // forwarding off): a route failure, in the namespace of the device it came in by.
                let (why, function) = match routes.error_for(e.t_ns, t.src, t.dst) {
                    Some(err) => (errno_name(err), Function::Named("fib_table_lookup")),
                    None => (reason.clone(), Function::Named("ip_error")),
                };
                return Some(base(Kind::RouteFailure, t, why, function));
            }
            Some(base(Kind::Drop, t, reason.clone(), Function::Address(*location)))
        }
        Detail::Reset { reason } => {
            Some(base(Kind::Reset, e.tuple?, resets.name(*reason), Function::Named("tcp_v4_send_reset")))
        }
        Detail::Route { err, .. } if *err != 0 && *err != -EAGAIN => {
            let t = e.tuple?;
            routes.note(e.t_ns, t.src, t.dst, *err);
            None
        }
        Detail::Neighbour { addr, state, .. } if *state == NUD_FAILED => {
            let tuple =
                Tuple { proto: Proto::Other(0), src: Ipv4Addr::UNSPECIFIED, sport: 0, dst: *addr, dport: 0 };
            let mut i = base(Kind::RouteFailure, tuple, "NUD_FAILED".into(), Function::Named("neigh_update"));
            i.proto = "arp".into();
            Some(i)
        }
        _ => None,
    }
}

fn proto_label(p: Proto) -> String {
    match p {
        Proto::Other(0) => "ip".into(),
        p => p.name(),
    }
}

/// The errno a failed route lookup returned, by name (`ENETUNREACH`).
pub fn errno_name(err: i32) -> String {
    match -err {
        101 => "ENETUNREACH".into(),
        113 => "EHOSTUNREACH".into(),
        1 => "EPERM".into(),
        13 => "EACCES".into(),
        22 => "EINVAL".into(),
        n => format!("errno {n}"),
    }
}

#[cfg(test)]
mod tests {
    use dockernet_trace_common::Hook;

    use super::*;
    use crate::ebpf::events::Place;

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
            icmp_type: None,
            detail,
        }
    }

    const HOOKS: Hooks = Hooks { resets: true };

    fn from_event(e: &KernelEvent, r: &ResetReasons, h: Hooks) -> Option<Incident> {
        super::from_event(e, r, h, &mut Kallsyms::new("/nonexistent"), &mut RouteFailures::default())
    }

    #[test]
    fn a_netfilter_drop_is_a_drop() {
        let e =
            event(Detail::Drop { reason: "NETFILTER_DROP".into(), location: 0xffff_1234 }, Hook::KfreeSkb);
        let i = from_event(&e, &ResetReasons::default(), HOOKS).unwrap();
        assert_eq!((i.kind, i.reason.as_str(), i.proto.as_str()), (Kind::Drop, "NETFILTER_DROP", "tcp"));
        assert_eq!(i.function, Function::Address(0xffff_1234));
        assert_eq!(i.ports(), (Some(40112), Some(3306)));
        assert_eq!(i.iface.as_deref(), Some("docker0"));
    }

    #[test]
    fn a_failed_lookup_is_reported_through_its_packets_drop_in_ip_error() {
        let route = |table, err| {
            event(Detail::Route { table, err, oif: 0, gateway: Ipv4Addr::UNSPECIFIED }, Hook::FibLookup)
        };
        let mut syms_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut syms_file,
            b"ffffffff81234000 t ip_error\nffffffff81235000 t ip_forward\nffffffff81236000 T nf_hook_slow\n",
        )
        .unwrap();
        let mut syms = Kallsyms::new(syms_file.path());
        let (r, mut routes) = (ResetReasons::default(), RouteFailures::default());
        let mut from = |e: &KernelEvent| super::from_event(e, &r, HOOKS, &mut syms, &mut routes);
        // Lookups alone are no incident: they carry no namespace.
        assert!(from(&route(254, 0)).is_none());
        assert!(from(&route(255, -11)).is_none());
        assert!(from(&route(254, -101)).is_none());
        let freed =
            |location| event(Detail::Drop { reason: "NOT_SPECIFIED".into(), location }, Hook::KfreeSkb);
        let i = from(&freed(0xffff_ffff_8123_4010)).unwrap();
        assert_eq!((i.kind, i.reason.as_str()), (Kind::RouteFailure, "ENETUNREACH"));
        assert_eq!(
            (i.function.clone(), i.iface.as_deref()),
            (Function::Named("fib_table_lookup"), Some("docker0"))
        );
        // Elsewhere, the same reason is a drop.
        let i = from(&freed(0xffff_ffff_8123_5010)).unwrap();
        assert_eq!(i.kind, Kind::Drop);
    }

    #[test]
    fn failed_arp_is_a_route_failure_without_ports() {
        let addr: Ipv4Addr = "172.18.0.9".parse().unwrap();
        let e = event(Detail::Neighbour { addr, state: NUD_FAILED, created: false }, Hook::NeighUpdate);
        let i = from_event(&e, &ResetReasons::default(), HOOKS).unwrap();
        assert_eq!((i.tuple.dst, i.proto.as_str(), i.ports()), (addr, "arp", (None, None)));
        let reachable = event(Detail::Neighbour { addr, state: 0x02, created: false }, Hook::NeighUpdate);
        assert!(from_event(&reachable, &ResetReasons::default(), HOOKS).is_none());
    }

    #[test]
    fn resets_are_named_and_icmp_errors_are_not_reported() {
        let r = ResetReasons(HashMap::from([(2, "NO_SOCKET".to_string())]));
        let i = from_event(&event(Detail::Reset { reason: 2 }, Hook::TcpSendReset), &r, HOOKS).unwrap();
        assert_eq!((i.kind, i.reason.as_str()), (Kind::Reset, "NO_SOCKET"));
        assert_eq!(ResetReasons::default().name(0), "NOT_SPECIFIED");
        let icmp = event(Detail::IcmpError { icmp_type: 3, icmp_code: 3 }, Hook::IcmpSend);
        assert!(from_event(&icmp, &r, HOOKS).is_none());
    }
}
