//! A folded incident as a line: names for its addresses and namespace, the kernel function,
//! the cause code and, for a netfilter drop, the rule.
use std::{
    net::Ipv4Addr,
    time::{Duration, SystemTime},
};

use nix::time::{ClockId, clock_gettime};

use super::{
    fold::Folded,
    incident::{Function, Incident},
    line::{EventLine, Kind, SCHEMA, timestamp},
    names::Names,
    rules::Hit,
};
use crate::{cause::Cause, kernel::Kallsyms, model::HostNet};

/// Kernel time (CLOCK_MONOTONIC, as bpf_ktime_get_ns) to wall-clock time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    mono_ns: u64,
    wall: SystemTime,
}

impl Clock {
    pub fn now() -> Self {
        let mono = clock_gettime(ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
            .unwrap_or(0);
        Self { mono_ns: mono, wall: SystemTime::now() }
    }

    pub fn wall(&self, t_ns: u64) -> SystemTime {
        if t_ns >= self.mono_ns {
            self.wall + Duration::from_nanos(t_ns - self.mono_ns)
        } else {
            self.wall - Duration::from_nanos(self.mono_ns - t_ns)
        }
    }
}

/// The state of the host's links and addresses, read when a route failed, to tell a missing
/// or down bridge from any other missing route.
pub fn route_cause(dst: Ipv4Addr, names: &Names, host: Option<&HostNet>) -> Cause {
    let (Some(host), Some(bridge)) = (host, names.bridge_for(dst)) else { return Cause::NoRoute };
    let Some(link) = host.link_by_name(bridge) else { return Cause::BridgeDown };
    if !link.admin_up {
        return Cause::BridgeDown;
    }
    match names.gateway_for(dst) {
        Some(gw) if !host.addresses_of(link.index).any(|a| a.ip == gw) => Cause::BridgeGatewayMissing,
        _ => Cause::NoRoute,
    }
}

/// Does explaining this incident need the host's routing state?
pub fn needs_host_state(i: &Incident) -> bool {
    match i.kind {
        Kind::Drop => matches!(i.reason.as_str(), "IP_INNOROUTES" | "IP_OUTNOROUTES"),
        Kind::RouteFailure => i.reason != "NUD_FAILED",
        _ => false,
    }
}

/// The CONTRACT's cause code for an incident (`hit`: the rule of a netfilter drop).
pub fn cause(i: &Incident, hit: Option<&Hit>, names: &Names, host: Option<&HostNet>) -> Cause {
    match (i.kind, i.reason.as_str()) {
        (Kind::Drop, "NETFILTER_DROP") => hit.map(|h| h.cause).unwrap_or(Cause::FirewallDrop),
        (Kind::Drop, "NO_SOCKET") => Cause::NoListener,
        (Kind::Drop, "BRIDGE_INGRESS_STP_STATE") => Cause::BridgePortBlocked,
        (Kind::Drop, r) if r.starts_with("NEIGH_") => Cause::NeighborUnreachable,
        (Kind::Drop, "IP_INNOROUTES" | "IP_OUTNOROUTES") => route_cause(i.tuple.dst, names, host),
        (Kind::RouteFailure, "NUD_FAILED") => Cause::NeighborUnreachable,
        // Dropped in ip_error without a failed lookup before it: with forwarding off, ip_error
        // refuses everything the host would forward.
        (Kind::RouteFailure, _)
            if i.function == Function::Named("ip_error") && host.is_some_and(|h| !h.sysctls.ip_forward) =>
        {
            Cause::IpForwardDisabled
        }
        (Kind::RouteFailure, _) => route_cause(i.tuple.dst, names, host),
        (Kind::Reset, "NO_SOCKET" | "NOT_SPECIFIED") => Cause::NoListener,
        _ => Cause::Unknown,
    }
}

/// The kernel function to name: the symbol kfree_skb's caller address falls in.
fn function(f: &Function, syms: &mut Kallsyms) -> Option<String> {
    match f {
        Function::Named(n) => Some(n.to_string()),
        Function::Address(0) => None,
        Function::Address(a) => Some(syms.resolve(*a).map(|s| s.name).unwrap_or_else(|| format!("{a:#x}"))),
    }
}

/// Resolves every drop location of a batch in one pass over kallsyms.
pub fn resolve_locations(batch: &[Folded], syms: &mut Kallsyms) {
    let addrs: Vec<u64> = batch
        .iter()
        .filter_map(|f| match f.first.function {
            Function::Address(a) => Some(a),
            Function::Named(_) => None,
        })
        .collect();
    syms.resolve_many(&addrs);
}

pub fn line(
    f: &Folded,
    cause: Cause,
    rule: Option<String>,
    names: &Names,
    clock: &Clock,
    syms: &mut Kallsyms,
) -> EventLine {
    let i = &f.first;
    let (sport, dport) = i.ports();
    EventLine {
        schema: SCHEMA,
        t: timestamp(clock.wall(i.t_ns)),
        kind: i.kind,
        src: names.peer(i.tuple.src, sport),
        dst: names.peer(i.tuple.dst, dport),
        proto: i.proto.clone(),
        iface: i.iface.clone(),
        netns: Some(names.netns_label(i.netns)),
        function: function(&i.function, syms),
        drop_reason: Some(i.reason.clone()),
        cause,
        rule,
        count: f.count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ebpf::{Tuple, events::Proto},
        model::{
            Address,
            topology::tests::{network, topology},
        },
    };

    fn incident(kind: Kind, reason: &str, dst: &str) -> Incident {
        Incident {
            kind,
            t_ns: 0,
            tuple: Tuple {
                proto: Proto::Tcp,
                src: "172.30.0.2".parse().unwrap(),
                sport: 1,
                dst: dst.parse().unwrap(),
                dport: 2,
            },
            proto: "tcp".into(),
            reason: reason.into(),
            function: Function::Named("x"),
            iface: None,
            netns: 0,
        }
    }

    fn host(bridge_up: bool, gateway: bool) -> HostNet {
        let mut h = HostNet::default();
        let mut bridge = crate::model::links::tests::link(7, "br-fd26fbfb41d5", Some("bridge"));
        (bridge.admin_up, bridge.carrier) = (bridge_up, bridge_up);
        h.links.push(bridge);
        if gateway {
            h.addresses.push(Address { ifindex: 7, ip: "172.30.0.1".parse().unwrap(), prefix: 24 });
        }
        h
    }

    #[test]
    fn route_failures_are_told_apart_by_the_bridge() {
        let names = Names::new(&topology(vec![], vec![network("labnet", "fd26fbfb41d5aa", "172.30.0.0/24")]));
        let fail = incident(Kind::RouteFailure, "ENETUNREACH", "172.30.0.5");
        assert_eq!(cause(&fail, None, &names, Some(&host(true, false))), Cause::BridgeGatewayMissing);
        assert_eq!(cause(&fail, None, &names, Some(&host(false, true))), Cause::BridgeDown);
        assert_eq!(cause(&fail, None, &names, Some(&host(true, true))), Cause::NoRoute);
        assert_eq!(cause(&fail, None, &names, None), Cause::NoRoute);
        let outside = incident(Kind::RouteFailure, "ENETUNREACH", "10.9.9.9");
        assert_eq!(cause(&outside, None, &names, Some(&host(true, true))), Cause::NoRoute);
        assert!(needs_host_state(&fail));
    }

    #[test]
    fn drop_reasons_map_to_causes() {
        let names = Names::default();
        let c = |kind, r| cause(&incident(kind, r, "172.30.0.5"), None, &names, None);
        assert_eq!(c(Kind::Drop, "NETFILTER_DROP"), Cause::FirewallDrop);
        assert_eq!(c(Kind::Drop, "NO_SOCKET"), Cause::NoListener);
        assert_eq!(c(Kind::Drop, "NEIGH_FAILED"), Cause::NeighborUnreachable);
        assert_eq!(c(Kind::Drop, "BRIDGE_INGRESS_STP_STATE"), Cause::BridgePortBlocked);
        assert_eq!(c(Kind::Drop, "TCP_OFO_DROP"), Cause::Unknown);
        assert_eq!(c(Kind::Reset, "NO_SOCKET"), Cause::NoListener);
        assert_eq!(c(Kind::RouteFailure, "NUD_FAILED"), Cause::NeighborUnreachable);
        let hit = Hit { rule: Some("-A X".into()), cause: Cause::NetworkIsolation };
        assert_eq!(
            cause(&incident(Kind::Drop, "NETFILTER_DROP", "1.2.3.4"), Some(&hit), &names, None),
            Cause::NetworkIsolation
        );
    }

    #[test]
    fn kernel_time_becomes_wall_time() {
        let c = Clock { mono_ns: 1_000_000_000, wall: SystemTime::UNIX_EPOCH + Duration::from_secs(100) };
        assert_eq!(c.wall(1_500_000_000), SystemTime::UNIX_EPOCH + Duration::from_millis(100_500));
        assert_eq!(c.wall(500_000_000), SystemTime::UNIX_EPOCH + Duration::from_millis(99_500));
    }
}
