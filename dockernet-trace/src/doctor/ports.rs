//! Container ports of the bridges: each running container's host-side veth is up, is a port of
//! its network's bridge, and that port forwards (STP may hold it in listening/learning).
use crate::{
    cause::{Cause, Finding},
    model::{Container, DockerNetwork, Endpoint, PortState, Topology},
};

pub fn check(t: &Topology, c: &Container, e: &Endpoint, n: &DockerNetwork, out: &mut Vec<Finding>) {
    let (Some(bridge_name), Some(link)) = (n.bridge.as_deref(), e.link.as_ref()) else { return };
    let Some(bridge) = t.bridge_link(n) else { return };
    let mk = |cause, iface: &str, summary: String, fix: Vec<String>, evidence: Vec<String>| Finding {
        cause,
        network: Some(n.name.clone()),
        iface: Some(iface.to_string()),
        container: Some(c.name.clone()),
        summary,
        fix,
        evidence,
        family: None,
    };
    if !link.admin_up {
        let pid = c.pid.unwrap_or(0);
        out.push(mk(
            Cause::LinkDown,
            &link.ifname,
            format!("interface {} inside container {} is down", link.ifname, c.name),
            vec![format!("nsenter -t {pid} -n ip link set {} up", link.ifname)],
            vec![format!("{} in {}: admin down", link.ifname, c.name)],
        ));
        return;
    }
    let Some(veth_name) = link.host_veth.as_deref() else { return };
    let Some(veth) = link.host_veth_ifindex.and_then(|i| t.link_by_index(i)) else { return };
    if veth.master != Some(bridge.index) {
        let now = veth.master.and_then(|m| t.link_by_index(m)).map(|m| format!("port of {}", m.name));
        out.push(mk(
            Cause::VethDetached,
            veth_name,
            format!(
                "the host side of {}'s interface, {veth_name}, is not a port of bridge {bridge_name}, so its packets reach no one",
                c.name
            ),
            vec![format!("ip link set {veth_name} master {bridge_name}")],
            vec![format!("{veth_name}: {}", now.unwrap_or_else(|| "no master".into()))],
        ));
        return;
    }
    if !veth.admin_up {
        out.push(mk(
            Cause::LinkDown,
            veth_name,
            format!("{veth_name}, the host side of {}'s interface, is down", c.name),
            vec![format!("ip link set {veth_name} up")],
            vec![format!("{veth_name}: admin down")],
        ));
        return;
    }
    if !link.carrier || !veth.carrier {
        out.push(mk(
            Cause::LinkDown,
            &link.ifname,
            format!("the link between {} and bridge {bridge_name} has no carrier", c.name),
            vec![
                format!("ip link set {veth_name} up"),
                format!("nsenter -t {} -n ip link set {} up", c.pid.unwrap_or(0), link.ifname),
            ],
            vec![format!("{} carrier {}, {veth_name} carrier {}", link.ifname, link.carrier, veth.carrier)],
        ));
        return;
    }
    // A bridge taken down disables all its ports: that is the bridge_down finding, not one
    // per port.
    if !bridge.admin_up {
        return;
    }
    if let Some(state) = veth.port_state.filter(|s| !s.is_forwarding()) {
        let stp = bridge.stp_enabled == Some(true);
        let mut fix = Vec::new();
        if stp && matches!(state, PortState::Listening | PortState::Learning) {
            fix.push(format!(
                "ip link set {bridge_name} type bridge stp_state 0   # or wait 2 x forward_delay"
            ));
        } else if stp {
            fix.push(format!("ip link set {bridge_name} type bridge stp_state 0"));
        } else {
            fix.push(format!("bridge link set dev {veth_name} state 3"));
        }
        out.push(mk(
            Cause::BridgePortBlocked,
            veth_name,
            format!(
                "bridge port {veth_name} of {} is {state}, not forwarding, so {bridge_name} drops its frames",
                c.name
            ),
            fix,
            vec![format!(
                "{veth_name}: STP port state {state}; {bridge_name} STP {}",
                if stp { "on" } else { "off" }
            )],
        ));
    }
}
