//! Which of the model's faults lie on a traced path.
use crate::{
    cause::{Cause, Finding},
    model::{ResolvedEndpoint, Topology},
    trace::plan::Plan,
};

/// Does the path cross the host's routing (FORWARD), rather than stay on one bridge or end
/// in the host itself?
pub fn forwarded(t: &Topology, plan: &Plan, from: &ResolvedEndpoint, to: &ResolvedEndpoint) -> bool {
    let Some(src) = from.container.as_ref().and_then(|c| t.container(&c.id).ok()) else {
        return false;
    };
    if plan.leaves_host {
        return true;
    }
    let dst_ip = plan.dnat.as_ref().map(|d| d.ip).unwrap_or(to.ip);
    if t.host.owner_of(dst_ip).is_some() {
        return false;
    }
    // Forwarded unless the destination sits on one of the source's own subnets.
    !t.networks_of(src).iter().any(|n| n.subnet_of(dst_ip).is_some())
}

pub fn on_path<'a>(
    findings: &'a [Finding],
    t: &Topology,
    plan: &Plan,
    from: &ResolvedEndpoint,
    to: &ResolvedEndpoint,
) -> Vec<&'a Finding> {
    let crosses = forwarded(t, plan, from, to);
    let dst_ip = plan.dnat.as_ref().map(|d| d.ip).unwrap_or(to.ip);
    findings
        .iter()
        // A fault of the other address family (an IPv6 gateway lost, for an IPv4 probe) is
        // not on this path.
        .filter(|f| f.family.is_none_or(|fam| fam == plan.family()))
        .filter(|f| {
            let net = f.network.as_deref();
            let in_plan = net.is_some_and(|n| plan.networks.iter().any(|p| p == n));
            let ours = f.container.as_deref().is_some_and(|c| plan.containers.iter().any(|p| p == c));
            match f.cause {
                // Container-level faults matter for the containers of the path; a network-wide
                // one for its network.
                Cause::VethDetached | Cause::LinkDown | Cause::BridgePortBlocked => ours,
                Cause::BridgeGatewayMissing | Cause::BridgeDown => in_plan,
                Cause::SubnetConflict => {
                    net.and_then(|n| t.network(n)).is_some_and(|n| n.subnet_of(dst_ip).is_some())
                }
                Cause::IpForwardDisabled => crosses,
                Cause::MasqueradeMissing => in_plan && plan.leaves_host,
                Cause::DnatMissing => plan.dnat.is_some() && (net.is_none() || in_plan || ours),
                Cause::FirewallDrop => crosses && (net.is_none() || in_plan),
                _ => in_plan || ours,
            }
        })
        .collect()
}
