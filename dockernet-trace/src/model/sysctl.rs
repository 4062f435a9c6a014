//! The network sysctls that decide whether a Docker host forwards container traffic, for IPv4
//! and IPv6.
//! /proc/sys/net shows the namespace of the *reading thread*, so reading them from a thread
//! that entered another namespace gives that namespace's values.
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{ModelError, netns};

pub const PROC_SYS: &str = "/proc/sys";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sysctls {
    /// net.ipv4.ip_forward: without it the host routes nothing between bridges and out.
    pub ip_forward: bool,
    /// net.bridge.bridge-nf-call-iptables; None when br_netfilter is not loaded (then
    /// bridged traffic between containers of one network skips iptables).
    pub bridge_nf_call_iptables: Option<bool>,
    /// net.ipv4.conf.all.rp_filter (0 off, 1 strict, 2 loose).
    pub rp_filter_all: u8,
    /// net.ipv4.conf.default.rp_filter: what new interfaces start with.
    pub rp_filter_default: u8,
    /// net.ipv4.conf.IFACE.rp_filter per interface.
    pub rp_filter: BTreeMap<String, u8>,
    /// IPv6; None when the kernel has none here (booted with ipv6.disable=1).
    pub ipv6: Option<Ipv6Sysctls>,
}

/// The IPv6 sysctls of a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ipv6Sysctls {
    /// net.ipv6.conf.all.forwarding: the switch `ip6_forward` checks; without it the host
    /// routes no IPv6 between bridges and out.
    pub forwarding: bool,
    /// net.ipv6.conf.IFACE.forwarding per interface (router or host behaviour of that
    /// interface: setting `all` sets every one of them).
    pub forwarding_iface: BTreeMap<String, bool>,
    /// Interfaces with net.ipv6.conf.IFACE.disable_ipv6 = 1 (no IPv6 there at all).
    pub disabled: BTreeSet<String>,
    /// net.bridge.bridge-nf-call-ip6tables; None without br_netfilter.
    pub bridge_nf_call_ip6tables: Option<bool>,
}

impl Sysctls {
    /// The calling thread's namespace.
    pub fn read() -> Result<Self, ModelError> {
        Self::read_from(Path::new(PROC_SYS))
    }

    /// The namespace at `ns` (None: the tool's own).
    pub async fn read_in(ns: Option<&Path>) -> Result<Self, ModelError> {
        netns::run_in_netns_async(ns, Self::read).await?
    }

    /// Reads from a /proc/sys-like tree at `root` (a directory in tests).
    pub fn read_from(root: &Path) -> Result<Self, ModelError> {
        let conf = root.join("net/ipv4/conf");
        let mut rp_filter = BTreeMap::new();
        let dir = std::fs::read_dir(&conf).map_err(|e| read_error(&conf, e))?;
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "all" || name == "default" {
                continue;
            }
            if let Some(v) = read_value(&entry.path().join("rp_filter")) {
                rp_filter.insert(name, to_u8(v));
            }
        }
        let required = |rel: &str| {
            let path = root.join(rel);
            read_value(&path).ok_or_else(|| read_error(&path, "missing or not a number"))
        };
        Ok(Self {
            ip_forward: required("net/ipv4/ip_forward")? != 0,
            bridge_nf_call_iptables: read_value(&root.join("net/bridge/bridge-nf-call-iptables"))
                .map(|v| v != 0),
            rp_filter_all: to_u8(required("net/ipv4/conf/all/rp_filter")?),
            rp_filter_default: to_u8(required("net/ipv4/conf/default/rp_filter")?),
            rp_filter,
            ipv6: read_ipv6(root),
        })
    }

    /// net.ipv6.conf.all.forwarding is on (false without IPv6).
    pub fn ipv6_forwarding(&self) -> bool {
        self.ipv6.as_ref().is_some_and(|v6| v6.forwarding)
    }

    /// Forwarding of `family` is on.
    pub fn forwarding(&self, family: crate::flow::IpFamily) -> bool {
        match family {
            crate::flow::IpFamily::V4 => self.ip_forward,
            crate::flow::IpFamily::V6 => self.ipv6_forwarding(),
        }
    }

    /// The rp_filter mode the kernel applies on `iface`: the higher of `all` and the
    /// interface's own value (unknown interfaces count as `default`).
    pub fn effective_rp_filter(&self, iface: &str) -> u8 {
        let own = self.rp_filter.get(iface).copied().unwrap_or(self.rp_filter_default);
        own.max(self.rp_filter_all)
    }
}

/// net/ipv6 under `root`, if the kernel has IPv6.
fn read_ipv6(root: &Path) -> Option<Ipv6Sysctls> {
    let conf = root.join("net/ipv6/conf");
    let forwarding = read_value(&conf.join("all/forwarding"))? != 0;
    let mut v6 = Ipv6Sysctls {
        forwarding,
        bridge_nf_call_ip6tables: read_value(&root.join("net/bridge/bridge-nf-call-ip6tables"))
            .map(|v| v != 0),
        ..Ipv6Sysctls::default()
    };
    for entry in std::fs::read_dir(&conf).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "all" || name == "default" {
            continue;
        }
        if let Some(v) = read_value(&entry.path().join("forwarding")) {
            v6.forwarding_iface.insert(name.clone(), v != 0);
        }
        if read_value(&entry.path().join("disable_ipv6")).is_some_and(|v| v != 0) {
            v6.disabled.insert(name);
        }
    }
    Some(v6)
}

/// A sysctl file's value: one decimal number and a newline.
pub fn parse_value(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

fn read_value(path: &Path) -> Option<u32> {
    parse_value(&std::fs::read_to_string(path).ok()?)
}

fn to_u8(v: u32) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Read { path: PathBuf::from(path), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, value: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, value).unwrap();
    }

    fn tree(bridge: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "net/ipv4/ip_forward", "1\n");
        write(r, "net/ipv4/conf/all/rp_filter", "0\n");
        write(r, "net/ipv4/conf/default/rp_filter", "2\n");
        write(r, "net/ipv4/conf/eth0/rp_filter", "1\n");
        write(r, "net/ipv4/conf/docker0/rp_filter", "2\n");
        write(r, "net/ipv6/conf/all/forwarding", "1\n");
        write(r, "net/ipv6/conf/default/forwarding", "1\n");
        write(r, "net/ipv6/conf/docker0/forwarding", "1\n");
        write(r, "net/ipv6/conf/docker0/disable_ipv6", "0\n");
        write(r, "net/ipv6/conf/eth0/forwarding", "0\n");
        write(r, "net/ipv6/conf/eth0/disable_ipv6", "1\n");
        if bridge {
            write(r, "net/bridge/bridge-nf-call-iptables", "1\n");
        }
        dir
    }

    #[test]
    fn reads_ipv6_forwarding_and_disabled_interfaces() {
        let dir = tree(false);
        let s = Sysctls::read_from(dir.path()).unwrap();
        let v6 = s.ipv6.as_ref().unwrap();
        assert!(v6.forwarding && s.forwarding(crate::flow::IpFamily::V6));
        assert_eq!(v6.forwarding_iface.get("eth0"), Some(&false));
        assert_eq!(v6.forwarding_iface.get("docker0"), Some(&true));
        assert!(!v6.forwarding_iface.contains_key("all"));
        assert_eq!(v6.disabled.iter().collect::<Vec<_>>(), ["eth0"]);
        std::fs::remove_dir_all(dir.path().join("net/ipv6")).unwrap();
        let s = Sysctls::read_from(dir.path()).unwrap();
        assert!(s.ipv6.is_none() && !s.ipv6_forwarding(), "a kernel without IPv6");
    }

    #[test]
    fn parses_values() {
        assert_eq!(parse_value("1\n"), Some(1));
        assert_eq!(parse_value(" 0 "), Some(0));
        assert_eq!(parse_value("abc"), None);
        assert_eq!(parse_value(""), None);
    }

    #[test]
    fn reads_a_tree() {
        let dir = tree(true);
        let s = Sysctls::read_from(dir.path()).unwrap();
        assert!(s.ip_forward);
        assert_eq!(s.bridge_nf_call_iptables, Some(true));
        assert_eq!((s.rp_filter_all, s.rp_filter_default), (0, 2));
        assert_eq!(s.rp_filter.get("eth0"), Some(&1));
        assert!(!s.rp_filter.contains_key("all"));
    }

    #[test]
    fn bridge_sysctl_absent_without_br_netfilter() {
        let dir = tree(false);
        assert_eq!(Sysctls::read_from(dir.path()).unwrap().bridge_nf_call_iptables, None);
    }

    #[test]
    fn missing_ip_forward_is_an_error() {
        let dir = tree(false);
        std::fs::remove_file(dir.path().join("net/ipv4/ip_forward")).unwrap();
        let e = Sysctls::read_from(dir.path()).unwrap_err();
        assert!(e.to_string().contains("ip_forward"), "{e}");
    }

    #[test]
    fn effective_rp_filter_is_the_max_of_all_and_iface() {
        let mut s = Sysctls::read_from(tree(false).path()).unwrap();
        assert_eq!(s.effective_rp_filter("eth0"), 1);
        assert_eq!(s.effective_rp_filter("new0"), 2, "unknown iface uses default");
        s.rp_filter_all = 2;
        assert_eq!(s.effective_rp_filter("eth0"), 2);
    }

    #[test]
    fn reads_the_real_proc() {
        if Path::new("/proc/sys/net/ipv4/ip_forward").exists() {
            let s = Sysctls::read().unwrap();
            assert!(s.rp_filter.contains_key("lo"));
        }
    }
}
