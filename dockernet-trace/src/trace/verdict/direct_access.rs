//! Another host reaching a container by the container's own address, stopped by Docker's own
//! protection: Docker 28+ drops, in raw PREROUTING (`-d IP ! -i BR -j DROP`, NAT gateway mode)
//! or filter DOCKER (`! -i BR -o BR -j DROP`), whatever reaches a container from anywhere but
//! its bridge, other than a published port. That is by design: the fix publishes the port (and,
//! under NAT, uses the host's address) or changes the network's gateway mode, never deleting
//! the rule that keeps unpublished ports closed.
use std::net::IpAddr;

use super::{Context, TraceVerdict, drops::drop_location};
use crate::{
    cause::Cause,
    flow::Proto,
    model::{Container, PublishedPort},
    netfilter::{
        docker::{Role, classify},
        eval::NamedRule,
    },
    trace::facts::DropSighting,
};

const GATEWAY_MODE: &str = "com.docker.network.bridge.gateway_mode_ipv4";

/// The verdict when `rule`, which dropped the probe, is Docker's protection of a container's
/// address against a packet that came from outside Docker's networks (the caller has told
/// isolation, the same rules met from another Docker network, apart already).
pub fn decide(cx: &Context, d: &DropSighting, rule: &NamedRule, evidence: &[String]) -> Option<TraceVerdict> {
    let (table, chain, r) = cx.rules.locate(rule)?;
    // Docker writes the raw rule only for NAT networks; the DOCKER chain's drop also guards
    // routed ones, which do not masquerade.
    let nat = match classify(table, chain, r?) {
        Role::RawDirectAccessDrop { .. } => true,
        Role::InboundDrop { bridge } => cx.topology.network_by_bridge(&bridge).is_none_or(|n| n.masquerade),
        _ => return None,
    };
    let dst = cx.plan.dnat.as_ref().map_or(cx.to.ip, |x| x.ip);
    let (c, e) = cx.topology.container_by_ip(dst)?;
    let net = cx.topology.network(&e.network).map_or(e.network.as_str(), |n| n.name.as_str());
    let port = cx.plan.dnat.as_ref().map(|x| x.port).or(cx.to.port).filter(|_| cx.plan.proto.has_ports());
    let published = published(c, port, cx.plan.proto);
    if !nat && published.is_some() {
        // A routed network opens a published port at the container's address: this drop is
        // not Docker's design at work.
        return None;
    }
    let why = if nat {
        format!(
            "network {net} uses NAT, so only ports published on the host are reachable, at the host's address"
        )
    } else {
        format!("network {net} is routed, so only published ports are open at a container's address")
    };
    let summary = format!(
        "Docker keeps {}'s address ({dst}) closed to other hosts, by design: {why}; its rule `{}` ({}) dropped the probe on {}",
        c.name,
        rule.listed(),
        rule.place(),
        d.iface
    );
    let reach = if nat { host_address(cx, d, dst) } else { Some(dst) };
    Some(TraceVerdict {
        cause: Cause::FirewallDrop,
        summary,
        location: drop_location(d, Some(rule.listed())),
        evidence: evidence.to_vec(),
        fix: fixes(&c.name, net, port, published, reach, nat),
    })
}

/// The port of `c` published on the host for `port`/`proto`, if any.
fn published(c: &Container, port: Option<u16>, proto: Proto) -> Option<&PublishedPort> {
    let port = port?;
    c.ports.iter().find(|p| p.container_port == port && p.proto.eq_ignore_ascii_case(&proto.name()))
}

/// The host's address (of `dst`'s family) on the interface the probe came in by.
fn host_address(cx: &Context, d: &DropSighting, dst: IpAddr) -> Option<IpAddr> {
    if !d.netns.is_host() {
        return None;
    }
    let link = cx.topology.link_by_name(&d.iface)?;
    cx.topology.addresses_of(link.index).iter().map(|a| a.ip).find(|ip| ip.is_ipv4() == dst.is_ipv4())
}

/// What to do: use (or create) a published port, reached at `reach` (under NAT the host's
/// address the probe came in by; routed, the container's own), or change the gateway mode.
fn fixes(
    container: &str,
    net: &str,
    port: Option<u16>,
    published: Option<&PublishedPort>,
    reach: Option<IpAddr>,
    nat: bool,
) -> Vec<String> {
    let at = |ip: Option<String>| ip.unwrap_or_else(|| "the host's address".into());
    let mut fix = Vec::new();
    match (port, published) {
        (Some(_), Some(p)) => {
            let ip = (!p.host_ip.is_unspecified()).then(|| p.host_ip.to_string()).or(reach.map(|r| r.to_string()));
            fix.push(format!(
                "connect to {}:{} instead: port {} of {container} is published there (-p {}:{})",
                at(ip),
                p.host_port,
                p.container_port,
                p.host_port,
                p.container_port
            ));
        }
        (Some(port), None) => fix.push(format!(
            "publish the port: recreate {container} with -p {port}:{port} (docker run -p {port}:{port} ...), then connect to {}:{port}",
            at(reach.map(|r| r.to_string()))
        )),
        (None, _) => {}
    }
    if nat {
        fix.push(format!(
            "or, to reach containers by their own addresses, create network {net} with -o {GATEWAY_MODE}=routed (published ports only) or =nat-unprotected (every port)"
        ));
    } else {
        fix.push(format!(
            "or, to open every port of its containers, create network {net} with -o {GATEWAY_MODE}=nat-unprotected"
        ));
    }
    fix
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn port(host_ip: &str, host_port: u16, container_port: u16) -> PublishedPort {
        PublishedPort { container_port, proto: "tcp".into(), host_ip: host_ip.parse().unwrap(), host_port }
    }

    const UPLINK: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2)));

    #[test]
    fn an_unpublished_port_is_published_and_reached_at_the_host() {
        let f = fixes("mysql", "heima-net", Some(3306), None, UPLINK, true);
        assert!(f[0].contains("-p 3306:3306") && f[0].ends_with("connect to 10.200.0.2:3306"), "{f:?}");
        assert!(f[1].contains("gateway_mode_ipv4=routed") && f[1].contains("nat-unprotected"), "{f:?}");
        assert!(f.iter().all(|l| !l.contains("iptables")), "never delete Docker's rule: {f:?}");
    }

    #[test]
    fn a_published_port_is_reached_where_it_is_published() {
        let p = port("0.0.0.0", 13306, 3306);
        let f = fixes("mysql", "heima-net", Some(3306), Some(&p), UPLINK, true);
        assert!(f[0].starts_with("connect to 10.200.0.2:13306 instead"), "{f:?}");
        let p = port("192.0.2.7", 13306, 3306);
        let f = fixes("mysql", "heima-net", Some(3306), Some(&p), UPLINK, true);
        assert!(f[0].starts_with("connect to 192.0.2.7:13306 instead"), "{f:?}");
    }

    #[test]
    fn a_routed_network_is_reached_at_the_container() {
        let f =
            fixes("r1", "routed", Some(80), None, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 223, 2))), false);
        assert!(f[0].ends_with("connect to 192.168.223.2:80"), "{f:?}");
        assert!(f[1].contains("=nat-unprotected") && !f[1].contains("=routed"), "{f:?}");
    }

    #[test]
    fn icmp_has_no_port_to_publish() {
        let f = fixes("mysql", "heima-net", None, None, UPLINK, true);
        assert_eq!(f.len(), 1, "{f:?}");
    }
}
