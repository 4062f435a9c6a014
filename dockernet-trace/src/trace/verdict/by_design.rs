//! Paths Docker closes by design, named as such: an `--internal` network (no way out, and no
//! way in but for its members), a network with inter-container communication off, and a
//! macvlan/ipvlan network, whose parent interface cannot reach the containers hanging off it. What the kernel showed (the rule that dropped the probe,
//! the failed route or ARP) stays the location and evidence; the story and the fix change.
use std::net::IpAddr;

use super::{Context, Location, TraceVerdict, drops, silent};
use crate::{
    cause::Cause,
    explain::{NetnsLabel, neighbour},
    model::{Container, DockerNetwork},
};

pub fn decide(cx: &Context) -> Option<TraceVerdict> {
    internal_way_out(cx).or_else(|| internal_way_in(cx)).or_else(|| icc_off(cx)).or_else(|| sub_interface(cx))
}

fn source_container<'a>(cx: &Context<'a>) -> Option<&'a Container> {
    cx.from.container.as_ref().and_then(|c| cx.topology.container(&c.id).ok())
}

/// Where the probe is meant to end: the container behind a published port, else the target.
fn destination(cx: &Context) -> IpAddr {
    cx.plan.dnat.as_ref().map_or(cx.to.ip, |d| d.ip)
}

/// The source sits on internal networks only and the destination is on none of them.
fn internal_way_out(cx: &Context) -> Option<TraceVerdict> {
    let src = source_container(cx)?;
    let nets = cx.topology.networks_of(src);
    if nets.is_empty() || !nets.iter().all(|n| n.internal) {
        return None;
    }
    let dst = destination(cx);
    if nets.iter().any(|n| n.subnet_of(dst).is_some()) {
        return None;
    }
    let mut v = drops::dropped(cx).or_else(|| silent::decide(cx))?;
    let names: Vec<&str> = nets.iter().map(|n| n.name.as_str()).collect();
    let how = match (&v.location.rule, &v.location.iface) {
        (Some(_), Some(iface)) => format!("its rule dropped the probe on {iface}"),
        _ => format!("{} has no route beyond it ({})", src.name, v.summary),
    };
    v.summary =
        format!("network {} is internal: Docker gives it no way out, by design, and {how}", names.join(", "));
    v.fix = vec![way_out(cx, src)];
    Some(v)
}

/// A network that is not internal to connect `src` to.
fn way_out(cx: &Context, src: &Container) -> String {
    let usable = |n: &&DockerNetwork| !n.internal && n.bridge.is_some();
    let nets = &cx.topology.docker.networks;
    let pick = nets.iter().filter(usable).find(|n| n.name == "bridge").or_else(|| nets.iter().find(usable));
    match pick {
        Some(n) => format!(
            "docker network connect {} {}   # a network that is not internal gives {} a way out",
            n.name, src.name, src.name
        ),
        None => format!(
            "docker network create outside && docker network connect outside {}   # a network that is not internal",
            src.name
        ),
    }
}

/// The target's network is internal and the source is not on it: only members get in.
fn internal_way_in(cx: &Context) -> Option<TraceVerdict> {
    let dst = destination(cx);
    let net = cx.topology.network_containing(dst).filter(|n| n.internal)?;
    let on_it =
        source_container(cx).is_some_and(|s| cx.topology.networks_of(s).iter().any(|n| n.name == net.name));
    if on_it {
        return None;
    }
    let mut v = drops::dropped(cx)?;
    v.summary = format!(
        "network {} is internal: only its own containers reach it, by design ({})",
        net.name, v.summary
    );
    if let Some(src) = source_container(cx) {
        v.fix = vec![format!("docker network connect {} {}", net.name, src.name)];
    }
    Some(v)
}

/// Both ends on one network whose inter-container communication is off: Docker's rule drops
/// what goes between its containers.
fn icc_off(cx: &Context) -> Option<TraceVerdict> {
    let dst = destination(cx);
    let net = cx.topology.network_containing(dst).filter(|n| !n.icc)?;
    let src = source_container(cx)?;
    if !cx.topology.networks_of(src).iter().any(|n| n.name == net.name) {
        return None;
    }
    let mut v = drops::dropped(cx)?;
    v.summary = format!(
        "network {} has inter-container communication off (com.docker.network.bridge.enable_icc=false): Docker drops what goes between its containers, by design ({})",
        net.name,
        v.location.iface.as_deref().map_or_else(
            || "its rule dropped the probe".into(),
            |i| format!("its rule dropped the probe on {i}")
        )
    );
    v.fix = vec![format!(
        "recreate network {} without -o com.docker.network.bridge.enable_icc=false, or let {} reach the target on a network that allows it",
        net.name, src.name
    )];
    Some(v)
}

/// The target hangs off a host interface (macvlan/ipvlan) that the probe left through: the
/// kernel never passes frames between such a parent and its children.
fn sub_interface(cx: &Context) -> Option<TraceVerdict> {
    let dst = destination(cx);
    let (c, e) = cx.topology.container_by_ip(dst)?;
    let net = cx.topology.network(&e.network)?;
    let parent = net.parent.as_deref().filter(|p| cx.topology.link_by_name(p).is_some())?;
    if source_container(cx).is_some_and(|s| cx.topology.networks_of(s).iter().any(|n| n.name == net.name)) {
        return None;
    }
    let arp = cx.facts.neighbours.iter().find(|n| {
        n.iface == parent
            && n.addr == dst
            && (neighbour::failed(n.state) || neighbour::waiting(n.state) || n.created)
    });
    let out = cx.last_forward_hop().is_some_and(|h| h.netns.is_host() && h.iface == parent);
    // The host's own route says where it sends the probe, even when the kernel showed nothing
    // within the probe's time (a neighbour already FAILED holds packets silently).
    let parent_index = cx.topology.link_by_name(parent).map(|l| l.index);
    let routed =
        cx.topology.routes_covering(dst).first().is_some_and(|r| r.oif.is_some() && r.oif == parent_index);
    if arp.is_none() && !out && !routed {
        return None;
    }
    let mut evidence =
        vec![format!("{}'s interface is a {} child of {parent} (network {})", c.name, net.driver, net.name)];
    if out {
        evidence.push(format!("the probe was last seen leaving the host through {parent}"));
    } else if routed {
        evidence.push(format!("the host routes {dst} through {parent}"));
    }
    if let Some(n) = arp {
        evidence.push(format!("ARP for {} on {parent} got no answer", n.addr));
    }
    let shim = format!("{}-host", net.name.chars().take(10).collect::<String>());
    let mode = if net.driver == "ipvlan" { "l2" } else { "bridge" };
    Some(TraceVerdict {
        cause: Cause::NeighborUnreachable,
        summary: format!(
            "{} is on {} network {}, a child of this host's {parent}: the kernel never passes frames between a {} parent and its children, so the host cannot reach {} through {parent}, by design",
            c.name, net.driver, net.name, net.driver, c.name
        ),
        location: Location {
            iface: Some(parent.to_string()),
            netns: Some(NetnsLabel::Host),
            ..Location::default()
        },
        evidence,
        fix: vec![
            format!(
                "ip link add {shim} link {parent} type {} mode {mode}   # the host's own child of {parent}",
                net.driver
            ),
            format!(
                "ip addr add FREE_ADDRESS/32 dev {shim} && ip link set {shim} up   # a free address of {}",
                subnet_text(net)
            ),
            format!("ip route add {dst}/32 dev {shim}"),
        ],
    })
}

fn subnet_text(n: &DockerNetwork) -> String {
    n.subnets.first().map_or_else(|| "its subnet".into(), |s| s.subnet.to_string())
}
