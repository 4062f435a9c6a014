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

/// Sends `count` UDP datagrams to `[dst]:port` from inside the namespace at `netns`, each with
/// an IPv6 Destination Options header (one PadN option) between the fixed header and UDP: an
/// extension header the tool must walk to find the ports. On a thread of its own, as `setns`
/// changes the calling thread's namespace.
pub fn send_udp6_with_dest_options(netns: &str, dst: &str, port: u16, count: usize) -> Result<()> {
    let path = netns.to_string();
    let to: std::net::SocketAddr = format!("[{dst}]:{port}").parse()?;
    std::thread::spawn(move || -> Result<()> {
        let ns = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("entering {path}"))?;
        let socket = std::net::UdpSocket::bind("[::]:0")?;
        // Next header (the kernel fills it in), length 0 (8 bytes in all), PadN of 4 bytes.
        let options: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0];
        // SAFETY: a valid socket and a buffer of the length given.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                libc::IPPROTO_IPV6,
                libc::IPV6_DSTOPTS,
                options.as_ptr().cast(),
                options.len() as libc::socklen_t,
            )
        };
        if rc != 0 {
            bail!("IPV6_DSTOPTS: {}", std::io::Error::last_os_error());
        }
        for _ in 0..count {
            socket.send_to(b"extension headers", to).context("sending")?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the sending thread panicked"))?
}
