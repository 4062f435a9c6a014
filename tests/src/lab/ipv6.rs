//! Dual-stack labs: a dockerd that writes ip6tables rules, the IPv6 side of networks and
//! containers, ip6tables in the lab, and an IPv6 service beyond the uplink.
use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{Lab, LabOptions};

/// Options for a lab whose dockerd manages ip6tables as it does iptables: Docker 27+ does by
/// default, 20.10 only as an experimental feature.
pub fn ipv6_options() -> LabOptions {
    LabOptions {
        extra_dockerd_args: vec!["--experimental".into(), "--ip6tables".into()],
        ..Default::default()
    }
}

/// The IPv6 side of a network.
#[derive(Clone, Debug)]
pub struct Net6 {
    pub subnet: String,
    pub gateway: String,
}

impl Lab {
    /// `docker network create --ipv6` with an IPv4 and an IPv6 subnet (IPv4 listed first, so
    /// `network` reads the IPv4 one).
    pub fn create_dual_network(&self, name: &str, subnet4: &str, subnet6: &str) -> Result<super::Network> {
        self.create_network(name, &["--ipv6", "--subnet", subnet4, "--subnet", subnet6])
    }

    /// The IPv6 subnet and gateway of a network.
    pub fn network6(&self, name: &str) -> Result<Net6> {
        let v: Value = serde_json::from_str(&self.docker(&["network", "inspect", name])?)?;
        let configs = v[0]["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
        let c = configs
            .iter()
            .find(|c| c["Subnet"].as_str().is_some_and(|s| s.contains(':')))
            .with_context(|| format!("network {name} has no IPv6 subnet"))?;
        let subnet = c["Subnet"].as_str().unwrap_or_default().to_string();
        let gateway = match c["Gateway"].as_str().filter(|g| !g.is_empty()) {
            Some(g) => g.to_string(),
            None => first_host6(&subnet)?,
        };
        Ok(Net6 { subnet, gateway })
    }

    /// A container's IPv6 address on `network`.
    pub fn ip6(&self, container: &str, network: &str) -> Result<String> {
        let v: Value = serde_json::from_str(&self.docker(&["container", "inspect", container])?)?;
        let ip =
            v[0]["NetworkSettings"]["Networks"][network]["GlobalIPv6Address"].as_str().unwrap_or_default();
        if ip.is_empty() {
            bail!("container {container} has no IPv6 address on {network}");
        }
        Ok(ip.to_string())
    }

    pub fn ip6tables(&self, args: &[&str]) -> Result<String> {
        let mut a = vec!["ip6tables"];
        a.extend_from_slice(args);
        self.host(&a)
    }

    /// A TCP listener on `[ip]:port` in the sink namespace (a service outside the host), once
    /// it listens.
    pub fn outside_server6(&self, ip: &str, port: u16) -> Result<()> {
        let addr = format!("[{ip}]:{port}");
        let sink = format!("/run/netns/{}", self.sink);
        self.spawn_in(&sink, &["busybox", "httpd", "-f", "-p", &addr, "-h", "/tmp"])?;
        let listening = format!("grep -qi ':{port:04X} .* 0A ' /proc/net/tcp6");
        for _ in 0..50 {
            if self.sink_exec(&["sh", "-c", &listening]).is_ok() {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        bail!("the outside server on {addr} did not start")
    }
}

/// `fd00:30::/64` → `fd00:30::1`, Docker's default gateway of a subnet.
fn first_host6(subnet: &str) -> Result<String> {
    let base: std::net::Ipv6Addr = subnet.split('/').next().unwrap_or_default().parse()?;
    Ok(std::net::Ipv6Addr::from(u128::from(base) + 1).to_string())
}
