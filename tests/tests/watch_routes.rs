//! `watch` and packets the host refuses for their route: an unreachable or a prohibited route,
//! forwarding turned off, in IPv4 and IPv6. Each is a `route_failure` line that names the
//! container the packet came from, the function that refused it, the errno of its route (read
//! from the packet in the kernel) and the fault: `no_route`, or `ip_forward_disabled`.
//!
//! Every route and sysctl changed here is in the lab's own namespace. The networks use subnets
//! no other lab test uses: the kernel programs see every namespace.
mod common;

use std::time::Duration;

use common::{
    tshark::tshark,
    watching::{Watch, between, json_lines, summary},
};
use dockernet_trace_tests::{
    Lab, LabOptions,
    lab::{OUTSIDE_IP, OUTSIDE_IP6, ipv6_options},
};
use nix::sys::signal::Signal;
use serde_json::Value;

const NET_A: &str = "192.168.225.0/24";

/// Asserts that `lines` hold `n` route failures from `src` (container `a1`) to `dst`, each
/// with this function, errno (`drop_reason`) and cause.
fn assert_route_failures(lines: &[Value], src: &str, dst: &str, n: u64, expected: (&str, &str, &str)) {
    let (found, count) = between(lines, src, dst);
    assert_eq!(count, n, "{found:#?}");
    for l in found {
        assert_eq!(l["kind"], "route_failure", "{l}");
        assert_eq!(
            (l["function"].as_str(), l["drop_reason"].as_str(), l["cause"].as_str()),
            (Some(expected.0), Some(expected.1), Some(expected.2)),
            "{l}"
        );
        assert_eq!(l["src"]["container"], "a1", "{l}");
    }
}

/// IPv4: a route of the host that is `unreachable` and one that is `prohibit` refuse the
/// container's packets in `ip_error`, each with its own errno; with forwarding off, every
/// packet the host would forward is refused there, and the fault is forwarding. (Towards the
/// outside: Docker 28 drops what another network sends to a container before routing.)
#[test]
fn refused_routes_and_forwarding_off_are_route_failures_with_their_errno() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("ra", &["--subnet", NET_A]).unwrap();
    let a1 = lab.run("a1", &["--network", "ra"], &[]).unwrap();
    let a1_ip = a1.ip("ra").to_string();
    let (unreachable, prohibited) = ("10.77.0.9", "10.78.0.9");
    lab.host(&["ip", "route", "add", "unreachable", "10.77.0.0/16"]).unwrap();
    lab.host(&["ip", "route", "add", "prohibit", "10.78.0.0/16"]).unwrap();
    let mut w = Watch::start(&lab, &["--json", "--network", "ra"]);

    for (dst, id) in [(unreachable, 0x6311), (prohibited, 0x6312)] {
        assert_eq!(common::ping(&a1.netns_path(), dst.parse().unwrap(), id, 2), 0, "{dst}: let through");
    }
    lab.sysctl("net.ipv4.ip_forward", "0").unwrap();
    assert_eq!(common::ping(&a1.netns_path(), OUTSIDE_IP.parse().unwrap(), 0x6313, 2), 0, "forwarded");
    w.wait_json(Duration::from_secs(15), |v| {
        [unreachable, prohibited, OUTSIDE_IP].iter().all(|dst| between(v, &a1_ip, dst).1 >= 2)
    });
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "stderr:\n{}", err.join("\n"));
    let v = json_lines(&out);
    assert_route_failures(&v, &a1_ip, unreachable, 2, ("ip_error", "EHOSTUNREACH", "no_route"));
    assert_route_failures(&v, &a1_ip, prohibited, 2, ("ip_error", "EACCES", "no_route"));
    assert_route_failures(&v, &a1_ip, OUTSIDE_IP, 2, ("ip_error", "EHOSTUNREACH", "ip_forward_disabled"));
    assert_eq!(summary(&v)["lost_events"], 0);
}

/// IPv6: an unreachable route refuses the container's packets in IPv6's discard route, with
/// the route's errno; with IPv6 forwarding off, `ip6_forward` refuses them. The watch's pcap
/// holds the refused echoes as ICMPv6, read by tshark.
#[test]
fn ipv6_refused_routes_and_forwarding_off_are_route_failures() {
    let lab = Lab::start(ipv6_options()).unwrap();
    lab.create_dual_network("r6a", "172.30.66.0/24", "fd00:66::/64").unwrap();
    lab.run("a1", &["--network", "r6a"], &[]).unwrap();
    let a16 = lab.ip6("a1", "r6a").unwrap();
    let unreachable = "fd00:77::9";
    lab.host(&["ip", "-6", "route", "add", "unreachable", "fd00:77::/64"]).unwrap();
    let pcap = std::env::temp_dir().join(format!("dnt-watch-routes-{}.pcapng", lab.id));
    let pcap_s = pcap.to_string_lossy().to_string();
    let mut w = Watch::start(&lab, &["--json", "--network", "r6a", "--pcap", &pcap_s]);

    assert!(lab.exec("a1", &["ping", "-6", "-c", "2", "-W", "1", unreachable]).is_err(), "let through");
    lab.sysctl("net.ipv6.conf.all.forwarding", "0").unwrap();
    assert!(lab.exec("a1", &["ping", "-6", "-c", "2", "-W", "1", OUTSIDE_IP6]).is_err(), "forwarded");
    w.wait_json(Duration::from_secs(15), |v| {
        between(v, &a16, unreachable).1 >= 2 && between(v, &a16, OUTSIDE_IP6).1 >= 2
    });
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "stderr:\n{}", err.join("\n"));
    let v = json_lines(&out);
    assert_route_failures(&v, &a16, unreachable, 2, ("ip6_pkt_discard", "EHOSTUNREACH", "no_route"));
    assert_route_failures(
        &v,
        &a16,
        OUTSIDE_IP6,
        2,
        ("ip6_forward", "IP_INADDRERRORS", "ip_forward_disabled"),
    );
    assert_eq!(summary(&v)["lost_events"], 0);

    // One packet per line: an echo request (ICMPv6 type 128) of each refused flow.
    let rows = tshark(&pcap, &["ipv6.src", "ipv6.dst", "icmpv6.type", "frame.comment"]);
    let _ = std::fs::remove_file(&pcap);
    for (dst, cause) in [(unreachable, "cause no_route"), (OUTSIDE_IP6, "cause ip_forward_disabled")] {
        let of_flow: Vec<_> = rows.iter().filter(|r| r[0] == a16 && r[1] == dst).collect();
        assert!(!of_flow.is_empty(), "no packet to {dst}: {rows:#?}");
        assert!(of_flow.iter().all(|r| r[2] == "128" && r[3].contains(cause)), "{rows:#?}");
    }
}
