//! Set lookups (`ip saddr @blocked`, `iifname { "a", "b" }`) and verdict-map keys: the
//! packet's value for a key, and whether a set holds it.
use std::net::IpAddr;

use super::{
    fit::Fit,
    packet::{Iface, L4, Packet},
};
use crate::netfilter::{
    conds::{Elem, Key, SetRef},
    model::Table,
};

/// What a packet has for a key.
#[derive(Clone, Debug)]
pub enum Value {
    Name(String),
    Addr(IpAddr),
    Num(u64),
    Proto(L4),
    State(&'static str),
    Tuple(Vec<Value>),
}

/// The packet's value for `key`: Err(fit) when there is none to compare (No: a port of a
/// protocol without ports; Maybe: not known).
pub fn value(key: &Key, p: &Packet) -> Result<Value, Fit> {
    let dev = |d: &Iface, which: &str| match d {
        Iface::Is(n) => Ok(Value::Name(n.clone())),
        Iface::Absent => Ok(Value::Name(String::new())),
        Iface::Unknown => Err(Fit::maybe(format!("the {which} interface is not known"))),
    };
    let port = |port: Option<u16>| port.map(|p| Value::Num(p.into())).ok_or(Fit::No);
    match key {
        Key::Iif => dev(&p.iif, "input"),
        Key::Oif => dev(&p.oif, "output"),
        Key::Saddr => Ok(Value::Addr(p.src)),
        Key::Daddr => Ok(Value::Addr(p.dst)),
        Key::Sport => port(p.sport),
        Key::Dport => port(p.dport),
        Key::L4proto => Ok(Value::Proto(p.proto)),
        Key::CtState => {
            p.ct.map(|s| Value::State(s.name())).ok_or_else(|| Fit::maybe("the conntrack state is not known"))
        }
        Key::Mark => {
            p.mark.map(|m| Value::Num(m.into())).ok_or_else(|| Fit::maybe("the packet mark is not known"))
        }
        Key::Concat(keys) => {
            keys.iter().map(|k| value(k, p)).collect::<Result<Vec<_>, _>>().map(Value::Tuple)
        }
        Key::Other(what) => Err(Fit::maybe(format!("`{what}` is not modelled"))),
    }
}

/// Whether one element holds the value.
pub fn holds(e: &Elem, v: &Value) -> Fit {
    match (e, v) {
        (Elem::Unknown(text), _) => Fit::maybe(format!("set element `{text}` is not understood")),
        (Elem::Word(w), Value::Name(n)) => Fit::from_bool(match w.strip_suffix('*') {
            Some(prefix) => n.starts_with(prefix),
            None => w == n,
        }),
        (Elem::Net(net), Value::Addr(ip)) => Fit::from_bool(net.contains(ip)),
        (Elem::AddrRange(lo, hi), Value::Addr(ip)) => {
            Fit::from_bool(lo.is_ipv4() == ip.is_ipv4() && lo <= ip && ip <= hi)
        }
        (Elem::Range(lo, hi), Value::Num(n)) => Fit::from_bool((*lo..=*hi).contains(n)),
        (Elem::Range(lo, hi), Value::Proto(p)) => {
            Fit::from_bool((*lo..=*hi).contains(&u64::from(p.number())))
        }
        (Elem::Word(w), Value::Proto(p)) => match L4::parse(w) {
            Some(want) => Fit::from_bool(want.number() == p.number()),
            None => Fit::maybe(format!("protocol `{w}` is not known")),
        },
        (Elem::Word(w), Value::State(s)) => Fit::from_bool(w.eq_ignore_ascii_case(s)),
        (Elem::Concat(es), Value::Tuple(vs)) if es.len() == vs.len() => {
            es.iter().zip(vs).fold(Fit::Yes, |f, (e, v)| f.and(holds(e, v)))
        }
        (e, v) => Fit::maybe(format!("cannot compare set element {e:?} with {v:?}")),
    }
}

/// Whether any of `elems` holds the value: Yes if one surely does, else Maybe if one may.
pub fn any_holds<'a>(elems: impl IntoIterator<Item = &'a Elem>, v: &Value) -> Fit {
    let mut f = Fit::No;
    for e in elems {
        match holds(e, v) {
            Fit::Yes => return Fit::Yes,
            Fit::Maybe(why) => f = Fit::Maybe(why),
            Fit::No => {}
        }
    }
    f
}

/// `key` looked up in `set` (not negated).
pub fn lookup(key: &Key, set: &SetRef, p: &Packet, table: &Table) -> Fit {
    let v = match value(key, p) {
        Ok(v) => v,
        Err(f) => return f,
    };
    match set {
        SetRef::Anon(elems) => any_holds(elems, &v),
        SetRef::Named(name) => match table.set(name) {
            None => Fit::maybe(format!("set @{name} is not in the listing")),
            Some(s) => match any_holds(&s.elems, &v) {
                // The kernel adds elements to a changing set: absent now may be present then.
                Fit::No if s.changing => Fit::maybe(format!("set @{name} changes as packets pass")),
                f => f,
            },
        },
    }
}
