//! The lab's namespaces and uplink. The lab namespace's only way out is `uplink0`, a veth into
//! the sink namespace, which has no default route and forwards nothing: a packet that "leaves
//! the host" ends there.
use anyhow::Result;

use super::cmd::sh;

pub const UPLINK_IF: &str = "uplink0";
/// The lab host's address on the uplink.
pub const LAB_IP: &str = "10.200.0.2";
/// The sink's address: the lab's default gateway.
pub const SINK_IP: &str = "10.200.0.1";
pub const UPLINK_NET: &str = "10.200.0.0/16";
/// A service "outside" the host, beyond the gateway (held by the sink).
pub const OUTSIDE_IP: &str = "10.201.0.7";
/// The same over IPv6: the lab's uplink address, the sink's (the IPv6 default gateway), the
/// uplink's prefix and an outside service beyond it.
pub const LAB_IP6: &str = "fd00:200::2";
pub const SINK_IP6: &str = "fd00:200::1";
pub const UPLINK_NET6: &str = "fd00:200::/64";
pub const OUTSIDE_IP6: &str = "fd00:201::7";

pub fn create(lab: &str, sink: &str) -> Result<()> {
    sh(&["ip", "netns", "add", lab])?;
    sh(&["ip", "netns", "add", sink])?;
    sh(&["ip", "-n", lab, "link", "set", "lo", "up"])?;
    sh(&["ip", "-n", sink, "link", "set", "lo", "up"])?;
    sh(&["ip", "-n", lab, "link", "add", UPLINK_IF, "type", "veth", "peer", "name", "sink0", "netns", sink])?;
    sh(&["ip", "-n", lab, "addr", "add", &format!("{LAB_IP}/16"), "dev", UPLINK_IF])?;
    sh(&["ip", "-n", lab, "link", "set", UPLINK_IF, "up"])?;
    sh(&["ip", "-n", lab, "route", "add", "default", "via", SINK_IP])?;
    sh(&["ip", "-n", sink, "addr", "add", &format!("{SINK_IP}/16"), "dev", "sink0"])?;
    sh(&["ip", "-n", sink, "link", "set", "sink0", "up"])?;
    // On the sink's loopback: dummy interfaces need a module some kernels lack.
    sh(&["ip", "-n", sink, "addr", "add", &format!("{OUTSIDE_IP}/32"), "dev", "lo"])?;
    ipv6_uplink(lab, sink)
}

/// The uplink's IPv6 side, the same shape as its IPv4 one (nodad: usable at once, nobody else
/// is on the link to clash with).
fn ipv6_uplink(lab: &str, sink: &str) -> Result<()> {
    sh(&["ip", "-n", lab, "addr", "add", &format!("{LAB_IP6}/64"), "dev", UPLINK_IF, "nodad"])?;
    sh(&["ip", "-n", lab, "-6", "route", "add", "default", "via", SINK_IP6])?;
    sh(&["ip", "-n", sink, "addr", "add", &format!("{SINK_IP6}/64"), "dev", "sink0", "nodad"])?;
    sh(&["ip", "-n", sink, "addr", "add", &format!("{OUTSIDE_IP6}/128"), "dev", "lo"])?;
    Ok(())
}
