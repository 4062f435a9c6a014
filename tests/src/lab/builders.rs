//! Building the lab's Docker world: networks, containers, listeners, published ports.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use super::{IMAGE, Lab};

#[derive(Clone, Debug)]
pub struct Network {
    pub name: String,
    pub id: String,
    /// The Linux bridge that carries it (`docker0`, `br-<id12>` or a custom name).
    pub bridge: String,
    pub subnet: String,
    pub gateway: String,
}

#[derive(Clone, Debug)]
pub struct Container {
    pub name: String,
    pub id: String,
    pub pid: u32,
    /// IPv4 address per network name.
    pub ips: BTreeMap<String, String>,
}

impl Container {
    /// The address on `network`, or the only one.
    pub fn ip(&self, network: &str) -> &str {
        self.ips.get(network).or_else(|| self.ips.values().next()).map(String::as_str).unwrap_or_default()
    }

    pub fn netns_path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid)
    }
}

impl Lab {
    /// `docker network create [args] name`, then reads back what Docker decided.
    pub fn create_network(&self, name: &str, args: &[&str]) -> Result<Network> {
        let mut argv = vec!["network", "create"];
        argv.extend_from_slice(args);
        argv.push(name);
        self.docker(&argv)?;
        self.network(name)
    }

    pub fn network(&self, name: &str) -> Result<Network> {
        let v: Value = serde_json::from_str(&self.docker(&["network", "inspect", name])?)?;
        let n = &v[0];
        let id = n["Id"].as_str().unwrap_or_default().to_string();
        let bridge = n["Options"]["com.docker.network.bridge.name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| if name == "bridge" { "docker0".into() } else { format!("br-{}", &id[..12]) });
        // The IPv4 configuration (a dual-stack network lists an IPv6 one too, in any order).
        let configs = n["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
        let ipam = configs
            .iter()
            .find(|c| {
                c["Subnet"].as_str().is_some_and(|s| {
                    s.split('/').next().is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
                })
            })
            .cloned()
            .unwrap_or(Value::Null);
        let ipam = &ipam;
        let subnet = ipam["Subnet"].as_str().unwrap_or_default().to_string();
        // A fresh daemon's default bridge lists no gateway; Docker then uses the subnet's
        // first address.
        let gateway = ipam["Gateway"]
            .as_str()
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| first_host(&subnet));
        Ok(Network { name: name.into(), id, bridge, subnet, gateway })
    }

    /// Starts a container running `cmd` (default: sleep) with extra `docker run` args.
    pub fn run(&self, name: &str, args: &[&str], cmd: &[&str]) -> Result<Container> {
        let mut argv = vec!["run", "-d", "--name", name];
        argv.extend_from_slice(args);
        argv.push(IMAGE);
        if cmd.is_empty() {
            argv.extend_from_slice(&["sleep", "100000"]);
        } else {
            argv.extend_from_slice(cmd);
        }
        self.docker(&argv).with_context(|| format!("starting container {name}"))?;
        let c = self.container(name)?;
        wait_addresses_usable(&c)?;
        Ok(c)
    }

    /// A container that serves TCP on `port` (busybox httpd) on the given networks.
    pub fn server(&self, name: &str, port: u16, args: &[&str]) -> Result<Container> {
        let p = port.to_string();
        let c = self.run(name, args, &["httpd", "-f", "-p", &p, "-h", "/www"])?;
        self.wait_listening(&c, port)?;
        Ok(c)
    }

    pub fn container(&self, name: &str) -> Result<Container> {
        let v: Value = serde_json::from_str(&self.docker(&["container", "inspect", name])?)?;
        let c = &v[0];
        let mut ips = BTreeMap::new();
        if let Some(nets) = c["NetworkSettings"]["Networks"].as_object() {
            for (net, ep) in nets {
                if let Some(ip) = ep["IPAddress"].as_str().filter(|s| !s.is_empty()) {
                    ips.insert(net.clone(), ip.to_string());
                }
            }
        }
        Ok(Container {
            name: name.into(),
            id: c["Id"].as_str().unwrap_or_default().into(),
            pid: c["State"]["Pid"].as_u64().unwrap_or(0) as u32,
            ips,
        })
    }

    /// `docker network connect` and the refreshed container.
    pub fn connect(&self, network: &str, container: &str) -> Result<Container> {
        self.docker(&["network", "connect", network, container])?;
        let c = self.container(container)?;
        wait_addresses_usable(&c)?;
        Ok(c)
    }

    /// Runs a command inside a container.
    pub fn exec(&self, container: &str, argv: &[&str]) -> Result<String> {
        let mut a = vec!["exec", container];
        a.extend_from_slice(argv);
        self.docker(&a)
    }

    /// The host-side veth of a container's `eth0` (the peer's ifindex, looked up in the lab).
    pub fn host_veth(&self, c: &Container, ifname: &str) -> Result<String> {
        let iflink = std::fs::read_to_string(format!("/proc/{}/root/sys/class/net/{ifname}/iflink", c.pid))
            .or_else(|_| self.exec(&c.name, &["cat", &format!("/sys/class/net/{ifname}/iflink")]))?;
        let idx = iflink.trim();
        let links = self.host(&["ip", "-o", "link", "show"])?;
        links
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(idx))
            .and_then(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
            .with_context(|| format!("no host link with ifindex {idx} for {}", c.name))
    }
}

fn first_host(subnet: &str) -> String {
    let base = subnet.split('/').next().unwrap_or_default();
    base.parse::<std::net::Ipv4Addr>()
        .map(|a| std::net::Ipv4Addr::from(u32::from(a) + 1).to_string())
        .unwrap_or_default()
}

/// Waits until none of the container's IPv6 addresses is still tentative (duplicate address
/// detection, ~1.5 s for the link-local one after the interface comes up): a trace started
/// earlier saw the first reply to its first probe turned away in the container. Nothing to
/// wait for without IPv6.
fn wait_addresses_usable(c: &Container) -> Result<()> {
    let net = format!("--net={}", c.netns_path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let tentative = super::cmd::run(std::process::Command::new("nsenter").args([
            net.as_str(),
            "ip",
            "-6",
            "addr",
            "show",
            "tentative",
        ]))?;
        if tentative.trim().is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{}: addresses still tentative: {tentative}",
            c.name
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
