//! Breaking the lab the way the seed incidents broke real hosts. Everything here acts inside
//! the lab's namespaces only.
use anyhow::Result;

use super::{Container, Lab, cmd};

impl Lab {
    /// The VM-suspend story: the bridge keeps its link but loses its gateway address.
    pub fn remove_bridge_address(&self, bridge: &str, cidr: &str) -> Result<()> {
        self.host(&["ip", "addr", "del", cidr, "dev", bridge]).map(drop)
    }

    /// Takes a container's host-side veth out of its bridge.
    pub fn detach_veth(&self, c: &Container) -> Result<String> {
        let veth = self.host_veth(c, "eth0")?;
        self.host(&["ip", "link", "set", &veth, "nomaster"])?;
        Ok(veth)
    }

    pub fn set_link(&self, iface: &str, up: bool) -> Result<()> {
        self.host(&["ip", "link", "set", iface, if up { "up" } else { "down" }]).map(drop)
    }

    /// Sets an interface inside a container's namespace up or down.
    pub fn set_container_link(&self, c: &Container, iface: &str, up: bool) -> Result<()> {
        cmd::sh(&[
            "nsenter",
            &format!("--net={}", c.netns_path()),
            "ip",
            "link",
            "set",
            iface,
            if up { "up" } else { "down" },
        ])
        .map(drop)
    }

    pub fn iptables(&self, args: &[&str]) -> Result<String> {
        let mut a = vec!["iptables"];
        a.extend_from_slice(args);
        self.host(&a)
    }

    pub fn nft(&self, args: &[&str]) -> Result<String> {
        let mut a = vec!["nft"];
        a.extend_from_slice(args);
        self.host(&a)
    }

    /// Writes a sysctl of the lab's namespace, e.g. `net.ipv4.ip_forward`.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.host(&["sysctl", "-q", "-w", &format!("{key}={value}")]).map(drop)
    }

    /// Turns on the kernel's STP on a bridge: new ports then spend forward_delay in
    /// listening and again in learning before they forward anything.
    pub fn enable_stp(&self, bridge: &str, forward_delay_s: u32) -> Result<()> {
        let centis = (forward_delay_s * 100).to_string();
        self.host(&["ip", "link", "set", bridge, "type", "bridge", "forward_delay", &centis])?;
        self.host(&["ip", "link", "set", bridge, "type", "bridge", "stp_state", "1"]).map(drop)
    }
}
