//! Which `skb:kfree_skb` events are drops worth a line. This is the one place that decides.
//!
//! kfree_skb fires for every packet the kernel frees with a reason other than "consumed", and
//! healthy traffic has some of those: TCP discards what it already has (a retransmitted segment,
//! an old ACK, data merged into the out-of-order queue), a connection's closing packets find
//! the socket gone, a bridge floods a frame to a port that is not its destination. None of them
//! is a fault a person could act on, and a busy host has thousands per second. They were
//! measured in the lab (ping, TCP request/response, iperf3 at full speed between containers on
//! a bridge, connections opened and closed; see issue 6) and are listed below.
//!
//! Two reasons depend on the protocol or the place:
//! - NO_SOCKET for ICMP (and ICMPv6) is an echo reply no ping socket claimed: a raw-socket ping
//!   (busybox, iputils as root) took its own copy already, or the pinger is gone. Measured in
//!   the lab: every reply of a container's `ping` shows up so, in `ping_rcv`.
//! - NOT_SPECIFIED inside TCP's state machine (`tcp_rcv_state_process` and friends) is the end
//!   of a connection: the last segments of a close that the socket no longer wants. Measured:
//!   two of three short `nc` exchanges with busybox httpd ended with one.
//! - NOT_SPECIFIED in `ip6_mc_input` is an IPv6 multicast packet for a group this host did not
//!   join: every neighbour solicitation a container sends for another's address reaches the
//!   bridge so. Measured in the lab: each first `ping -6` between two containers makes some.
//! - NOT_SPECIFIED in `icmpv6_rcv` is neighbour discovery refusing a message about itself:
//!   Docker 28.5 makes each new endpoint advertise its address to all nodes (ff02::1), and the
//!   sender's own copy comes back to it. Measured in the lab, a few per container start.
//! - NOT_SPECIFIED in `ip_rcv_finish_core` for IGMP is the IPv4 twin: a membership report or
//!   query (to 224.0.0.22, 224.0.0.1) that a namespace without multicast routing turns away.
//!   Measured in the lab on Docker 28.5: the bridge's own reports reach every container so.
//!
//! A TCP packet for a port nobody listens on (NO_SOCKET) is answered with a reset: it is
//! reported once, as the reset, while tcp:tcp_send_reset is attached.
use dockernet_trace_common::drop_policy;

use super::incident::Hooks;
use crate::{flow::Proto, kernel::DropReason};

/// IGMP, IPv4's multicast membership protocol.
const IGMP: Proto = Proto::Other(2);

/// Reasons that are no drop: the packet was used, or the kernel discarded a copy of something
/// it already had, as part of a protocol working normally.
pub const NOT_DROPS: &[(&str, &str)] = &[
    ("NOT_DROPPED_YET", "not a drop reason (older kernels pass it for consumed packets)"),
    ("CONSUMED", "the packet was used (kernels that route consume_skb through kfree_skb)"),
    ("TCP_OLD_DATA", "a retransmitted segment TCP had already received"),
    ("TCP_OFOMERGE", "out-of-order data merged into a segment TCP already queued"),
    ("TCP_OLD_ACK", "an ACK for data already acknowledged"),
    ("TCP_TOO_OLD_ACK", "an ACK older than the window, after retransmissions"),
    ("TCP_OLD_SEQUENCE", "a segment entirely before the window (a duplicate)"),
    ("TCP_RFC7323_PAWS", "an old duplicate rejected by timestamps (PAWS)"),
    ("TCP_RFC7323_PAWS_ACK", "an old duplicate ACK rejected by timestamps"),
    ("TCP_RFC7323_TW_PAWS", "an old duplicate for a TIME-WAIT socket"),
    ("TCP_CLOSE", "a segment arriving after the socket closed (the end of a connection)"),
    ("TCP_RESET", "a reset the socket received and acted on (reported where it is sent)"),
    ("SOCKET_CLOSE", "data still queued when an application closed its socket"),
    ("OTHERHOST", "a frame for another host, seen through a bridge's flooding"),
    ("UNICAST_IN_L2_MULTICAST", "an L2 multicast frame carrying unicast IP, ignored by design"),
    ("SOCKET_FILTER", "a packet socket's filter (tcpdump, DHCP client) did not want it"),
    ("QUEUE_PURGE", "a queue purged because its device or socket went away"),
    (
        "IPV6_NDISC_NS_OTHERHOST",
        "a neighbour solicitation for another host's address: every host on the link sees it",
    ),
];

/// Is a kfree_skb with `reason` for a packet of protocol `proto` reported? `function` names
/// the kernel function that freed it; it is asked for only when the answer depends on it.
pub fn is_reported_drop(
    reason: &DropReason,
    proto: Proto,
    function: impl FnOnce() -> Option<String>,
    hooks: Hooks,
) -> bool {
    if NOT_DROPS.iter().any(|(r, _)| *r == reason.name()) {
        return false;
    }
    if *reason == DropReason::NO_SOCKET {
        return match proto {
            Proto::Icmp | Proto::Icmpv6 => false,
            Proto::Tcp => !hooks.resets,
            _ => true,
        };
    }
    if *reason == DropReason::NOT_SPECIFIED && matches!(proto, Proto::Tcp | Proto::Icmpv6 | IGMP) {
        let not_a_drop = |f: String| match proto {
            Proto::Tcp => f.starts_with("tcp_"),
            IGMP => f == "ip_rcv_finish_core",
            _ => f == "ip6_mc_input" || f == "icmpv6_rcv",
        };
        return !function().is_some_and(not_a_drop);
    }
    true
}

/// What of the above the kernel decides by itself, from the reason (and the protocol) alone,
/// before it reads anything else: `(reason, dockernet_trace_common::drop_policy flags)`.
/// Rules that need the function's name stay here.
pub fn kernel_policy(hooks: Hooks) -> Vec<(&'static str, u8)> {
    let mut v: Vec<(&str, u8)> = NOT_DROPS.iter().map(|(r, _)| (*r, drop_policy::IGNORE)).collect();
    let tcp = if hooks.resets { drop_policy::IGNORE_TCP } else { 0 };
    v.push(("NO_SOCKET", drop_policy::IGNORE_ICMP | tcp));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Hooks = Hooks { resets: true };

    /// `is_reported_drop` for a reason by name.
    fn is_reported_drop(
        reason: &str,
        proto: Proto,
        function: impl FnOnce() -> Option<String>,
        hooks: Hooks,
    ) -> bool {
        super::is_reported_drop(&DropReason::named(reason), proto, function, hooks)
    }

    fn at(f: &str) -> impl FnOnce() -> Option<String> + '_ {
        move || Some(f.to_string())
    }

    #[test]
    fn igmp_turned_away_by_a_namespace_without_multicast_routing_is_no_drop() {
        assert!(!is_reported_drop("NOT_SPECIFIED", IGMP, at("ip_rcv_finish_core"), H));
        assert!(is_reported_drop("NOT_SPECIFIED", Proto::Udp, at("ip_rcv_finish_core"), H));
        assert!(is_reported_drop("NETFILTER_DROP", IGMP, at("nf_hook_slow"), H));
    }

    #[test]
    fn neighbour_discovery_refusing_its_own_advertisement_is_no_drop() {
        assert!(!is_reported_drop("NOT_SPECIFIED", Proto::Icmpv6, at("icmpv6_rcv"), H));
        assert!(is_reported_drop("NETFILTER_DROP", Proto::Icmpv6, at("nf_hook_slow"), H));
    }

    #[test]
    fn faults_are_drops_and_protocol_housekeeping_is_not() {
        for r in
            ["NETFILTER_DROP", "NEIGH_FAILED", "IP_INNOROUTES", "BRIDGE_INGRESS_STP_STATE", "NOT_SPECIFIED"]
        {
            assert!(is_reported_drop(r, Proto::Udp, at("nf_hook_slow"), H), "{r}");
        }
        for r in ["TCP_OLD_DATA", "CONSUMED", "OTHERHOST", "TCP_CLOSE", "QUEUE_PURGE"] {
            assert!(!is_reported_drop(r, Proto::Tcp, at("tcp_v4_rcv"), H), "{r}");
        }
    }

    #[test]
    fn the_kernel_turns_away_only_what_is_never_reported() {
        for hooks in [H, Hooks { resets: false }] {
            for (reason, flags) in kernel_policy(hooks) {
                for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Icmpv6, Proto::Other(47)] {
                    // (The kernel applies IGNORE_ICMP to ICMP and ICMPv6 alike.)
                    let turned_away = flags & drop_policy::IGNORE != 0
                        || (flags & drop_policy::IGNORE_ICMP != 0 && proto.is_icmp())
                        || (flags & drop_policy::IGNORE_TCP != 0 && proto == Proto::Tcp);
                    if turned_away {
                        for f in ["tcp_v4_rcv", "ip_rcv_core", "nf_hook_slow"] {
                            assert!(!is_reported_drop(reason, proto, at(f), hooks), "{reason} {proto:?} {f}");
                        }
                    }
                }
            }
        }
        let policy = kernel_policy(Hooks { resets: false });
        let no_socket = policy.iter().find(|(r, _)| *r == "NO_SOCKET").unwrap().1;
        assert_eq!(
            no_socket & drop_policy::IGNORE_TCP,
            0,
            "without the reset hook TCP's NO_SOCKET is the report"
        );
    }

    #[test]
    fn a_closed_tcp_port_is_one_reset_not_also_a_drop() {
        assert!(!is_reported_drop("NO_SOCKET", Proto::Tcp, at("tcp_v4_rcv"), H));
        assert!(
            is_reported_drop("NO_SOCKET", Proto::Tcp, at("tcp_v4_rcv"), Hooks { resets: false }),
            "no reset hook: keep the drop"
        );
        assert!(is_reported_drop("NO_SOCKET", Proto::Udp, at("__udp4_lib_rcv"), H), "UDP has no reset");
    }

    #[test]
    fn echo_replies_and_the_end_of_tcp_connections_are_not_drops() {
        assert!(!is_reported_drop("NO_SOCKET", Proto::Icmp, at("ping_rcv"), H));
        assert!(!is_reported_drop("NO_SOCKET", Proto::Icmpv6, at("ping_rcv"), H));
        assert!(!is_reported_drop("IPV6_NDISC_NS_OTHERHOST", Proto::Icmpv6, at("ndisc_recv_ns"), H));
        assert!(!is_reported_drop("NOT_SPECIFIED", Proto::Icmpv6, at("ip6_mc_input"), H));
        assert!(is_reported_drop("NOT_SPECIFIED", Proto::Icmpv6, at("neigh_invalidate"), H));
        assert!(!is_reported_drop("NOT_SPECIFIED", Proto::Tcp, at("tcp_rcv_state_process"), H));
        assert!(
            is_reported_drop("NOT_SPECIFIED", Proto::Tcp, at("ip_rcv_core"), H),
            "outside TCP it is a drop"
        );
        assert!(is_reported_drop("NOT_SPECIFIED", Proto::Tcp, || None, H), "unknown function: reported");
    }
}
