//! One rule → its [`Role`] in Docker's scheme, from the rule's exact shape (which fields it
//! matches and what it does). A rule with anything more than Docker writes (a comment, an
//! extra port, a mark) is not Docker's, so a user's look-alike rule is not blamed on Docker.
use crate::netfilter::{
    matches::{Field, Matches, NetExt},
    model::{Chain, Rule, Table},
    target::Target,
};

use super::{BridgeAcceptKind, Role};

/// What `rule` (in `chain` of `table`) is for. Tables are told apart by their iptables
/// names (`filter`, `nat`, `raw`); rules of other tables are not Docker's.
pub fn classify(table: &Table, chain: &Chain, rule: &Rule) -> Role {
    if super::nft::is_docker_table(table) {
        return super::nft::classify(chain, rule);
    }
    match table.name.as_str() {
        "filter" => filter(table, chain, rule),
        "nat" => nat(chain, rule),
        "raw" => raw(rule),
        _ => Role::NotDocker,
    }
}

/// Interface named exactly by a positive match.
fn iface_in(m: &Matches) -> Option<&str> {
    m.in_iface.as_ref().and_then(|i| i.exact())
}
fn iface_out(m: &Matches) -> Option<&str> {
    m.out_iface.as_ref().and_then(|i| i.exact())
}
fn not_in(m: &Matches) -> Option<&str> {
    m.in_iface.as_ref().and_then(|i| i.exact_negated())
}
fn not_out(m: &Matches) -> Option<&str> {
    m.out_iface.as_ref().and_then(|i| i.exact_negated())
}

fn is_docker_chain(name: &str) -> bool {
    name == "DOCKER" || name.starts_with("DOCKER-")
}

/// `-i BR ! -o BR`: leaving BR for another interface.
fn leaving(m: &Matches) -> Option<&str> {
    let br = iface_in(m)?;
    (m.has_exactly(&[Field::In, Field::Out]) && not_out(m) == Some(br)).then_some(br)
}

/// `-o BR` and nothing else.
fn only_out(m: &Matches) -> Option<&str> {
    iface_out(m).filter(|_| m.has_exactly(&[Field::Out]))
}

/// Whether `chain` is where isolation drops happen: DOCKER-ISOLATION-STAGE-2, or any chain
/// that rules of the `-i BR ! -o BR` shape jump to.
fn is_isolation_chain(table: &Table, chain: &Chain) -> bool {
    chain.name == "DOCKER-ISOLATION-STAGE-2"
        || table.callers(&chain.name).any(|(_, r)| leaving(&r.matches).is_some())
}

/// Whether `chain` holds isolation drops (`-o BR -j DROP`), for the STAGE-1 jump into it.
fn drops_by_out_iface(table: &Table, chain: &str) -> bool {
    chain == "DOCKER-ISOLATION-STAGE-2"
        || table.chain(chain).is_some_and(|c| {
            c.rules.iter().any(|r| r.target == Target::Drop && only_out(&r.matches).is_some())
        })
}

fn filter(table: &Table, chain: &Chain, rule: &Rule) -> Role {
    let m = &rule.matches;
    if chain.name == "DOCKER-USER" {
        return if rule.target == Target::Return && m.is_empty() {
            Role::DockerReturn { bridge: None }
        } else {
            Role::DockerUser
        };
    }
    match &rule.target {
        Target::Jump(to) | Target::Goto(to) => {
            if let Some(br) = leaving(m).filter(|_| drops_by_out_iface(table, to)) {
                return Role::IsolationCheck { bridge: br.to_string() };
            }
            if !is_docker_chain(to) {
                return Role::NotDocker;
            }
            let bridge = only_out(m).map(str::to_string);
            Role::DockerJump { to: to.clone(), bridge }
        }
        Target::Drop => filter_drop(table, chain, m),
        Target::Accept => filter_accept(chain, m),
        Target::Return if m.is_empty() && is_docker_chain(&chain.name) => Role::DockerReturn { bridge: None },
        _ => Role::NotDocker,
    }
}

fn filter_drop(table: &Table, chain: &Chain, m: &Matches) -> Role {
    use Field::*;
    if let Some(br) = only_out(m) {
        if is_isolation_chain(table, chain) {
            return Role::Isolation { bridge: br.to_string() };
        }
        return Role::NotDocker;
    }
    if m.has_exactly(&[In, Out])
        && let Some(b) = iface_out(m)
    {
        if not_in(m) == Some(b) {
            return Role::InboundDrop { bridge: b.to_string() };
        }
        if iface_in(m) == Some(b) {
            return Role::IccDrop { bridge: b.to_string() };
        }
    }
    // --internal: packets into BR not from its subnet, or out of BR not to its subnet.
    let internal = |br: Option<&str>, net: Option<&crate::netfilter::AddrMatch>| {
        let (br, net) = (br?, net.filter(|n| n.negated)?);
        Some(Role::Internal { bridge: br.to_string(), subnet: net.net })
    };
    if m.has_exactly(&[Out, Src])
        && let Some(role) = internal(iface_out(m), m.src.as_ref())
    {
        return role;
    }
    if m.has_exactly(&[In, Dst])
        && let Some(role) = internal(iface_in(m), m.dst.as_ref())
    {
        return role;
    }
    Role::NotDocker
}

fn filter_accept(chain: &Chain, m: &Matches) -> Role {
    use Field::*;
    let accept = |br: &str, kind| Role::BridgeAccept { bridge: br.to_string(), kind };
    if let Some(br) = iface_out(m).filter(|_| m.has_exactly(&[Out, CtState])) {
        let ct = m.ct_state.as_ref().filter(|c| !c.negated);
        let established = ct.is_some_and(|c| {
            c.states.iter().any(|s| s == "ESTABLISHED")
                && c.states.iter().all(|s| s == "ESTABLISHED" || s == "RELATED")
        });
        return if established { accept(br, BridgeAcceptKind::Established) } else { Role::NotDocker };
    }
    if let Some(br) = leaving(m) {
        return accept(br, BridgeAcceptKind::Outbound);
    }
    // 28+: `-A DOCKER-FORWARD -i BR -j ACCEPT`; on INPUT the same shape means something else.
    let forwarding = chain.hook.as_deref().is_none_or(|h| h == "forward");
    if let Some(br) = iface_in(m).filter(|_| m.has_exactly(&[In]) && forwarding) {
        return accept(br, BridgeAcceptKind::Outbound);
    }
    if m.has_exactly(&[In, Out])
        && let Some(b) = iface_out(m)
    {
        if iface_in(m) == Some(b) {
            return accept(b, BridgeAcceptKind::IntraBridge);
        }
        if not_in(m) == Some(b) {
            return accept(b, BridgeAcceptKind::Inbound);
        }
    }
    if m.has_exactly(&[Dst, In, Out, Proto, Dport]) {
        let dst = m.dst.as_ref().and_then(|d| d.positive()).filter(|d| d.is_host());
        let (Some(dst), Some(br), Some(port)) =
            (dst, iface_out(m), m.dports.as_ref().and_then(|p| p.single()))
        else {
            return Role::NotDocker;
        };
        if not_in(m) == Some(br)
            && let Some(proto) = m.proto_name()
        {
            return Role::PublishedAccept {
                proto: proto.to_string(),
                ip: dst.addr(),
                port,
                bridge: br.to_string(),
            };
        }
    }
    Role::NotDocker
}

fn nat(chain: &Chain, rule: &Rule) -> Role {
    use Field::*;
    let m = &rule.matches;
    match &rule.target {
        Target::Jump(to) | Target::Goto(to) if is_docker_chain(to) => {
            Role::DockerJump { to: to.clone(), bridge: None }
        }
        Target::Return if is_docker_chain(&chain.name) => {
            if m.is_empty() {
                return Role::DockerReturn { bridge: None };
            }
            match iface_in(m).filter(|_| m.has_exactly(&[In])) {
                Some(br) => Role::DockerReturn { bridge: Some(br.to_string()) },
                None => Role::NotDocker,
            }
        }
        Target::Masquerade => masquerade(m),
        Target::Dnat { .. } => {
            // IPv6 DNATs of 28+ also skip link-local clients: `! -s fe80::/10`.
            let fe80 = ipnet::Ipv6Net::new(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10)
                .map(ipnet::IpNet::V6);
            let link_local = m.src.as_ref().is_some_and(|s| s.negated && Ok(s.net) == fe80);
            let allowed = [In, Dst, Proto, Dport];
            if !m.fields().iter().all(|f| allowed.contains(f) || (*f == Src && link_local)) {
                return Role::NotDocker;
            }
            let bridge = not_in(m);
            // Docker's DNATs live in nat DOCKER; elsewhere only the `! -i BR` shape is theirs.
            if bridge.is_none() && (m.in_iface.is_some() || chain.name != "DOCKER") {
                return Role::NotDocker;
            }
            let host_ip = match &m.dst {
                Some(d) if !d.negated && d.net.is_host() => Some(d.net.addr()),
                Some(_) => return Role::NotDocker,
                None => None,
            };
            let (Some(proto), Some(host_port), Some((to_ip, to_port))) =
                (m.proto_name(), m.dports.as_ref().and_then(|p| p.single()), rule.target.nat_to())
            else {
                return Role::NotDocker;
            };
            Role::Dnat {
                proto: proto.to_string(),
                host_ip,
                host_port,
                to_ip,
                to_port: to_port.unwrap_or(host_port),
                bridge: bridge.map(str::to_string),
            }
        }
        _ => Role::NotDocker,
    }
}

fn masquerade(m: &Matches) -> Role {
    use Field::*;
    if m.has_exactly(&[Src, Out])
        && let (Some(src), Some(br)) = (m.src.as_ref().and_then(|s| s.positive()), not_out(m))
    {
        return Role::Masquerade { subnet: *src, bridge: br.to_string() };
    }
    if m.has_exactly(&[Out, SrcType]) {
        let local = m.src_type.as_ref().is_some_and(|t| !t.negated && t.kind == "LOCAL");
        if let Some(br) = iface_out(m).filter(|_| local) {
            return Role::LocalMasquerade { bridge: br.to_string() };
        }
    }
    if m.has_exactly(&[Src, Dst, Proto, Dport]) {
        let host = |a: Option<&crate::netfilter::AddrMatch>| {
            a.and_then(|a| a.positive()).filter(|n| n.is_host()).map(|n| n.addr())
        };
        let (src, dst) = (host(m.src.as_ref()), host(m.dst.as_ref()));
        if let (Some(ip), true, Some(proto), Some(port)) =
            (src, src == dst, m.proto_name(), m.dports.as_ref().and_then(|p| p.single()))
        {
            return Role::HairpinMasquerade { ip, proto: proto.to_string(), port };
        }
    }
    Role::NotDocker
}

fn raw(rule: &Rule) -> Role {
    let m = &rule.matches;
    if rule.target != Target::Drop || !m.has_exactly(&[Field::Dst, Field::In]) {
        return Role::NotDocker;
    }
    let dst = m.dst.as_ref().and_then(|d| d.positive()).filter(|d| d.is_host());
    match (dst, not_in(m)) {
        (Some(dst), Some(br)) => Role::RawDirectAccessDrop { ip: dst.addr(), bridge: br.to_string() },
        _ => Role::NotDocker,
    }
}
