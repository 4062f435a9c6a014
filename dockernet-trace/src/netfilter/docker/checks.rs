//! What `doctor` expects Docker to have written, checked against a snapshot.
use std::{fmt, net::IpAddr};

use serde::Serialize;

use crate::netfilter::{
    IpNet,
    matches::Field,
    model::{Chain, Family, Ruleset, Source, Table, Verdict},
    target::Target,
};

/// A piece of Docker's iptables set-up that is gone (typically after `iptables -F`,
/// `iptables -t nat -F`, or a firewall reload that did not tell Docker).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub table: String,
    pub chain: String,
    /// Set when the chain exists but `jump_from` (a built-in chain) no longer jumps to it.
    pub jump_from: Option<String>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.jump_from {
            Some(from) => write!(f, "{} {from} no longer jumps to {}", self.table, self.chain),
            None => write!(f, "{} chain {} is missing", self.table, self.chain),
        }
    }
}

/// The iptables backend holding Docker's rules: the one with DOCKER chains, else the active
/// one (listed first).
fn docker_backend(rs: &Ruleset) -> Option<Source> {
    let ipt = || rs.tables.iter().filter(|t| t.family == Family::Ip && t.source != Source::Nft);
    ipt()
        .find(|t| t.chains.iter().any(|c| c.name == "DOCKER" || c.name.starts_with("DOCKER-")))
        .or_else(|| ipt().next())
        .map(|t| t.source)
}

fn docker_table<'a>(rs: &'a Ruleset, name: &str) -> Option<&'a Table> {
    let backend = docker_backend(rs)?;
    rs.tables.iter().find(|t| t.family == Family::Ip && t.source == backend && t.name == name)
}

const OLD_FILTER_CHAINS: &[&str] =
    &["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"];
const OLD_FILTER_JUMPS: &[(&str, &str)] =
    &[("FORWARD", "DOCKER-USER"), ("FORWARD", "DOCKER-ISOLATION-STAGE-1")];
// DOCKER-INTERNAL and the isolation chains come and go within 28.x, so they are not required.
const NEW_FILTER_CHAINS: &[&str] = &["DOCKER", "DOCKER-USER", "DOCKER-FORWARD", "DOCKER-BRIDGE", "DOCKER-CT"];
const NEW_FILTER_JUMPS: &[(&str, &str)] = &[
    ("FORWARD", "DOCKER-USER"),
    ("FORWARD", "DOCKER-FORWARD"),
    ("DOCKER-FORWARD", "DOCKER-CT"),
    ("DOCKER-FORWARD", "DOCKER-BRIDGE"),
];
const NAT_CHAINS: &[&str] = &["DOCKER"];
const NAT_JUMPS: &[(&str, &str)] = &[("PREROUTING", "DOCKER"), ("OUTPUT", "DOCKER")];
/// Docker 29's nftables backend: base chains of `table ip docker-bridges`.
const NFT_BASE_CHAINS: &[&str] = &["filter-FORWARD", "nat-PREROUTING", "nat-OUTPUT", "nat-POSTROUTING"];

/// Docker chains, and jumps into them, that a Docker host with iptables enabled must have.
/// The layout (20.10–27 or 28+) is read from the filter table. A daemon run with
/// `--iptables=false` has none of them: the caller knows whether that is the case.
pub fn missing_docker_chains(rs: &Ruleset) -> Vec<Missing> {
    let filter = docker_table(rs, "filter");
    let docker_in_iptables = filter.is_some_and(|t| t.chain("DOCKER").is_some())
        || docker_table(rs, "nat").is_some_and(|t| t.chain("DOCKER").is_some());
    let nft = rs.tables.iter().find(|t| t.source == Source::Nft && t.name == "docker-bridges");
    if let (Some(t), false) = (nft, docker_in_iptables) {
        return NFT_BASE_CHAINS
            .iter()
            .filter(|c| t.chain(c).is_none())
            .map(|c| Missing { table: t.name.clone(), chain: c.to_string(), jump_from: None })
            .collect();
    }
    let new_layout = filter.is_some_and(|t| {
        ["DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE"].iter().any(|c| t.chain(c).is_some())
    });
    let (chains, jumps) = if new_layout {
        (NEW_FILTER_CHAINS, NEW_FILTER_JUMPS)
    } else {
        (OLD_FILTER_CHAINS, OLD_FILTER_JUMPS)
    };
    let mut out = vec![];
    expect(&mut out, "filter", filter, chains, jumps);
    expect(&mut out, "nat", docker_table(rs, "nat"), NAT_CHAINS, NAT_JUMPS);
    out
}

fn expect(out: &mut Vec<Missing>, name: &str, t: Option<&Table>, chains: &[&str], jumps: &[(&str, &str)]) {
    let has = |c: &str| t.and_then(|t| t.chain(c)).is_some();
    for c in chains.iter().filter(|c| !has(c)) {
        out.push(Missing { table: name.into(), chain: c.to_string(), jump_from: None });
    }
    for (from, to) in jumps {
        // A missing chain is reported as such; its jumps necessarily went with it.
        if !has(to) || !has(from) {
            continue;
        }
        let jumps = t
            .and_then(|t| t.chain(from))
            .is_some_and(|c| c.rules.iter().any(|r| r.target.chain() == Some(to)));
        if !jumps {
            out.push(Missing {
                table: name.into(),
                chain: to.to_string(),
                jump_from: Some(from.to_string()),
            });
        }
    }
}

/// Docker writes ip6tables rules (Docker 27+ by default, 20.10 with `"ip6tables": true`): an
/// IPv6 table holds a chain of Docker's. Without them it has no IPv6 NAT or isolation to
/// check.
pub fn manages_ip6tables(rs: &Ruleset) -> bool {
    rs.tables
        .iter()
        .filter(|t| t.family == Family::Ip6 && t.source != Source::Nft)
        .any(|t| t.chains.iter().any(|c| c.name == "DOCKER" || c.name.starts_with("DOCKER-")))
}

/// The policy of filter FORWARD in the backend Docker uses.
pub fn forward_policy(rs: &Ruleset) -> Option<Verdict> {
    docker_table(rs, "filter").and_then(|t| t.chain("FORWARD")).and_then(|c| c.policy.clone())
}

/// Every base chain on `hook` (`forward`, `input`, ...) whose policy is DROP, in any table
/// or backend: each of them drops what its rules do not accept.
pub fn dropping_policies<'a>(rs: &'a Ruleset, hook: &str) -> Vec<(&'a Table, &'a Chain)> {
    rs.chains().filter(|(_, c)| c.hook.as_deref() == Some(hook) && c.policy == Some(Verdict::Drop)).collect()
}

/// Whether traffic from `subnet` leaving by any interface but `bridge` is masqueraded (or
/// SNATed) by a rule the postrouting hook reaches. Docker's `-s SUBNET ! -o BR -j MASQUERADE`
/// counts, and so does a broader rule of the user's (`-s 172.16.0.0/12 -o eth0`).
pub fn has_masquerade(rs: &Ruleset, subnet: &IpNet, bridge: &str) -> bool {
    let family = crate::flow::IpFamily::of(&subnet.addr());
    rs.tables.iter().filter(|t| t.family.carries(family)).any(|t| {
        let reachable = t.reachable(&["postrouting"]);
        t.chains.iter().filter(|c| reachable.contains(c.name.as_str())).flat_map(|c| &c.rules).any(|r| {
            let m = &r.matches;
            let nat = matches!(r.target, Target::Masquerade | Target::Snat { .. });
            let allowed = [Field::Src, Field::Out, Field::Dst];
            let src_ok = m.src.as_ref().is_none_or(|s| !s.negated && s.net.contains(subnet));
            let dst_ok = m.dst.as_ref().is_none_or(|d| d.negated);
            // The rule must apply to some interface other than the bridge: any negated match
            // does (`! -o BR`), a positive one must not name the bridge.
            let out_ok = m.out_iface.as_ref().is_none_or(|o| o.negated || !o.matches(bridge));
            nat && m.fields().iter().all(|f| allowed.contains(f)) && src_ok && dst_ok && out_ok
        })
    })
}

/// Whether a DNAT the prerouting hook reaches sends `proto` port `host_port` to
/// `container_ip:container_port` (the published port `-p host_port:container_port`).
pub fn has_dnat(
    rs: &Ruleset,
    proto: &str,
    host_port: u16,
    container_ip: IpAddr,
    container_port: u16,
) -> bool {
    let family = crate::flow::IpFamily::of(&container_ip);
    rs.tables.iter().filter(|t| t.family.carries(family)).any(|t| {
        let reachable = t.reachable(&["prerouting"]);
        t.chains.iter().filter(|c| reachable.contains(c.name.as_str())).flat_map(|c| &c.rules).any(|r| {
            let Some((ip, port)) = r.target.nat_to().filter(|_| matches!(r.target, Target::Dnat { .. }))
            else {
                return false;
            };
            let m = &r.matches;
            ip == container_ip
                && port.unwrap_or(host_port) == container_port
                && m.proto_name() == Some(proto)
                && m.dports.as_ref().is_some_and(|p| p.matches(host_port))
        })
    })
}
