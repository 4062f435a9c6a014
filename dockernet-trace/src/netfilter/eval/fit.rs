//! Whether a rule's conditions hold for a packet: yes, no, or "may" (with why), never a guess.
use std::net::IpAddr;

use super::{
    lookup,
    packet::{Iface, L4, Packet},
};
use crate::netfilter::{
    conds::{Cond, Meaning},
    matches::{AddrMatch, AddrTypeMatch, CtStateMatch, IfaceMatch, Matches, ProtoMatch},
    model::Table,
};

/// Three-valued: a rule matches, does not, or may (the reasons say on what it depends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fit {
    Yes,
    No,
    Maybe(Vec<String>),
}

impl Fit {
    pub fn from_bool(b: bool) -> Fit {
        if b { Fit::Yes } else { Fit::No }
    }

    pub fn maybe(why: impl Into<String>) -> Fit {
        Fit::Maybe(vec![why.into()])
    }

    /// Both must hold: No wins, then Maybe (reasons gathered).
    pub fn and(self, other: Fit) -> Fit {
        match (self, other) {
            (Fit::No, _) | (_, Fit::No) => Fit::No,
            (Fit::Maybe(mut a), Fit::Maybe(b)) => {
                a.extend(b);
                Fit::Maybe(a)
            }
            (Fit::Maybe(a), Fit::Yes) | (Fit::Yes, Fit::Maybe(a)) => Fit::Maybe(a),
            (Fit::Yes, Fit::Yes) => Fit::Yes,
        }
    }

    /// `!` of a yes/no; "may" stays "may".
    pub fn negate_if(self, negated: bool) -> Fit {
        match (self, negated) {
            (Fit::Yes, true) => Fit::No,
            (Fit::No, true) => Fit::Yes,
            (f, _) => f,
        }
    }
}

/// Whether every condition of `m` holds for `p`; `table` holds the named sets.
pub fn fit(m: &Matches, p: &Packet, table: &Table) -> Fit {
    // The first condition that surely fails decides: most rules a packet meets are not for it.
    let mut f = Fit::Yes;
    let mut checks = fixed_conditions(m, p).chain(m.other.iter().map(|o| match &o.meaning {
        Meaning::Inert | Meaning::UnknownAction => Fit::Yes,
        Meaning::Conds { all } => all_of(all, p, table),
        Meaning::Unknown { needs } => {
            all_of(needs, p, table).and(Fit::maybe(format!("`{}` is not understood", o.text)))
        }
    }));
    for g in &mut checks {
        f = f.and(g);
        if f == Fit::No {
            return Fit::No;
        }
    }
    f
}

/// The conditions iptables names with options, one at a time (addresses first: they tell
/// most rules apart), so that the first that fails ends the check.
fn fixed_conditions<'m>(m: &'m Matches, p: &'m Packet) -> impl Iterator<Item = Fit> + 'm {
    (0..9).filter_map(move |i| match i {
        0 => m.src.as_ref().map(|a| addr(a, &p.src)),
        1 => m.dst.as_ref().map(|a| addr(a, &p.dst)),
        2 => m.in_iface.as_ref().map(|i| iface(i, &p.iif, "input")),
        3 => m.out_iface.as_ref().map(|o| iface(o, &p.oif, "output")),
        4 => m.proto.as_ref().map(|pr| proto(pr, p.proto)),
        5 => m.dports.as_ref().map(|ports| p.dport.map_or(Fit::No, |d| Fit::from_bool(ports.matches(d)))),
        6 => m.ct_state.as_ref().map(|ct| ct_state(ct, p)),
        7 => m.src_type.as_ref().map(|t| addr_type(t, &p.src, p.src_local)),
        _ => m.dst_type.as_ref().map(|t| addr_type(t, &p.dst, p.dst_local)),
    })
}

/// Every condition of a list, stopping at the first that surely fails.
fn all_of(conds: &[Cond], p: &Packet, table: &Table) -> Fit {
    let mut f = Fit::Yes;
    for c in conds {
        f = f.and(cond(c, p, table));
        if f == Fit::No {
            break;
        }
    }
    f
}

fn iface(m: &IfaceMatch, dev: &Iface, which: &str) -> Fit {
    match dev {
        Iface::Is(name) => Fit::from_bool(m.matches(name)),
        // The kernel compares an absent device's name as "".
        Iface::Absent => Fit::from_bool(m.matches("")),
        Iface::Unknown => Fit::maybe(format!("the {which} interface is not known")),
    }
}

/// An address match of the other IP version never matches (nft's implicit `meta nfproto`).
fn addr(m: &AddrMatch, ip: &IpAddr) -> Fit {
    if m.net.addr().is_ipv4() != ip.is_ipv4() {
        return Fit::No;
    }
    Fit::from_bool(m.net.contains(ip)).negate_if(m.negated)
}

fn proto(m: &ProtoMatch, p: L4) -> Fit {
    if m.name == "all" || m.name == "0" {
        return Fit::Yes.negate_if(m.negated);
    }
    match L4::parse(&m.name) {
        Some(want) => Fit::from_bool(want.number() == p.number()).negate_if(m.negated),
        None => Fit::maybe(format!("protocol `{}` is not known", m.name)),
    }
}

fn ct_state(m: &CtStateMatch, p: &Packet) -> Fit {
    let mut f = Fit::No;
    for s in &m.states {
        let one = match s.as_str() {
            "DNAT" => p
                .ct_dnat
                .map_or_else(|| Fit::maybe("whether conntrack DNATed it is not known"), Fit::from_bool),
            "SNAT" => Fit::maybe("whether conntrack SNATed it is not known"),
            s => match p.ct {
                Some(state) => Fit::from_bool(state.name() == s),
                None => Fit::maybe("the conntrack state is not known"),
            },
        };
        f = match (f, one) {
            (Fit::Yes, _) | (_, Fit::Yes) => Fit::Yes,
            (Fit::Maybe(a), _) | (_, Fit::Maybe(a)) => Fit::Maybe(a),
            _ => Fit::No,
        };
    }
    f.negate_if(m.negated)
}

/// `addrtype`/`fib ... type`: LOCAL from what the caller knows; MULTICAST from the address.
fn addr_type(m: &AddrTypeMatch, ip: &IpAddr, local: Option<bool>) -> Fit {
    let unknown = || Fit::maybe(format!("whether {ip} is of type {} is not known", m.kind));
    let f = match m.kind.as_str() {
        "LOCAL" => local.map_or_else(unknown, Fit::from_bool),
        "MULTICAST" => Fit::from_bool(ip.is_multicast()),
        "BROADCAST" if *ip == IpAddr::from([255, 255, 255, 255]) => Fit::Yes,
        // A local, multicast or IPv6 address is not a broadcast address.
        "BROADCAST" if local == Some(true) || ip.is_multicast() || ip.is_ipv6() => Fit::No,
        "UNICAST" if local == Some(true) || ip.is_multicast() => Fit::No,
        _ => unknown(),
    };
    f.negate_if(m.negated)
}

/// One typed condition.
pub fn cond(c: &Cond, p: &Packet, table: &Table) -> Fit {
    match c {
        Cond::Lookup { key, set, negated } => lookup::lookup(key, set, p, table).negate_if(*negated),
        Cond::Mark { value, mask, negated } => match p.mark {
            Some(mark) => Fit::from_bool(mark & mask == *value).negate_if(*negated),
            None => Fit::maybe("the packet mark is not known"),
        },
        Cond::Sport { ports } => p.sport.map_or(Fit::No, |s| Fit::from_bool(ports.matches(s))),
        Cond::Nfproto { version } => Fit::from_bool(p.version() == *version),
        Cond::L4 { proto } => match L4::parse(proto) {
            Some(want) => Fit::from_bool(want.number() == p.proto.number()),
            None => Fit::maybe(format!("protocol `{proto}` is not known")),
        },
        Cond::CtStatus { any, negated } => {
            let dnat = any.iter().any(|s| s == "DNAT");
            let only_dnat = any.iter().all(|s| s == "DNAT");
            match p.ct_dnat {
                Some(d) if only_dnat => Fit::from_bool(d).negate_if(*negated),
                Some(true) if dnat && !*negated => Fit::Yes,
                _ => Fit::maybe(format!("conntrack status {} is not known", any.join(","))),
            }
        }
        Cond::RouteBack { exists } => match p.route_back {
            Some(back) => Fit::from_bool(back == *exists),
            None => {
                Fit::maybe(format!("whether {} is routed back by the input interface is not known", p.src))
            }
        },
        Cond::Sometimes { what } => Fit::maybe(format!("`{what}` matches some packets, not others")),
    }
}
