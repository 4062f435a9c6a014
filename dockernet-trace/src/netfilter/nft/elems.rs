//! nft JSON set elements and lookup keys → [`Elem`] and [`Key`].
use serde_json::Value;

use crate::netfilter::{
    conds::{Elem, IpVersion, Key},
    matches::parse_net,
};

use super::render;

/// One element of a set (`"10.0.0.1"`, `{"prefix": ...}`, `{"range": [a, b]}`, `22`,
/// `{"concat": [...]}`, `{"elem": {"val": ...}}`).
pub fn elem(v: &Value) -> Elem {
    match v {
        Value::String(s) => match parse_net(s) {
            Some(net) if !s.contains('*') => Elem::Net(net),
            _ => Elem::Word(s.clone()),
        },
        Value::Number(n) => match n.as_u64() {
            Some(n) => Elem::Range(n, n),
            None => Elem::Unknown(n.to_string()),
        },
        Value::Object(o) => {
            if let Some(inner) = o.get("elem").and_then(|e| e.get("val")) {
                return elem(inner);
            }
            if let Some(p) = o.get("prefix") {
                let text = format!("{}/{}", render::expr(&p["addr"], false), render::expr(&p["len"], false));
                return parse_net(&text).map_or(Elem::Unknown(text), Elem::Net);
            }
            if let Some(Value::Array(r)) = o.get("range")
                && let [a, b] = r.as_slice()
            {
                return range(a, b);
            }
            if let Some(Value::Array(items)) = o.get("concat") {
                return Elem::Concat(items.iter().map(elem).collect());
            }
            Elem::Unknown(render::expr(v, false))
        }
        _ => Elem::Unknown(render::expr(v, false)),
    }
}

fn range(a: &Value, b: &Value) -> Elem {
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return Elem::Range(a, b);
    }
    match (a.as_str().and_then(|a| a.parse().ok()), b.as_str().and_then(|b| b.parse().ok())) {
        (Some(a), Some(b)) => Elem::AddrRange(a, b),
        _ => Elem::Unknown(format!("{}-{}", render::expr(a, false), render::expr(b, false))),
    }
}

/// The elements of an anonymous set (`{"set": [...]}`), a bare list, or a single value.
pub fn elems(right: &Value) -> Vec<Elem> {
    match right.get("set") {
        Some(Value::Array(items)) => items.iter().map(elem).collect(),
        Some(single) => vec![elem(single)],
        None => match right {
            Value::Array(items) => items.iter().map(elem).collect(),
            v => vec![elem(v)],
        },
    }
}

/// What a lookup's left side reads, and the IP version it implies (`ip saddr` only ever
/// matches IPv4).
pub fn key(left: &Value) -> (Key, Option<IpVersion>) {
    let Some((kind, body)) = left.as_object().and_then(|o| o.iter().next()) else {
        return (Key::Other(render::expr(left, false)), None);
    };
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let version = match s("protocol") {
        "ip" => Some(IpVersion::V4),
        "ip6" => Some(IpVersion::V6),
        _ => None,
    };
    let key = match (kind.as_str(), s("key"), s("field")) {
        ("meta", "iifname" | "iif", _) => Key::Iif,
        ("meta", "oifname" | "oif", _) => Key::Oif,
        ("meta", "l4proto", _) | ("payload", _, "protocol" | "nexthdr") => Key::L4proto,
        ("meta", "mark", _) => Key::Mark,
        ("ct", "state", _) => Key::CtState,
        ("payload", _, "saddr") if version.is_some() => Key::Saddr,
        ("payload", _, "daddr") if version.is_some() => Key::Daddr,
        ("payload", _, "sport") => Key::Sport,
        ("payload", _, "dport") => Key::Dport,
        ("concat", _, _) => {
            let parts: Vec<(Key, Option<IpVersion>)> =
                body.as_array().map(|a| a.iter().map(key).collect()).unwrap_or_default();
            let version = parts.iter().find_map(|(_, v)| *v);
            return (Key::Concat(parts.into_iter().map(|(k, _)| k).collect()), version);
        }
        _ => Key::Other(render::expr(left, false)),
    };
    (key, version)
}

/// The transport protocol a payload expression implies (`tcp dport` → tcp), for the
/// dependency nft leaves out of the listing.
pub fn implied_l4(left: &Value) -> Option<String> {
    let payload = left.get("payload").or_else(|| {
        // `tcp flags & syn`: the payload inside a bitwise expression.
        left.as_object()?.values().next()?.as_array()?.first()?.get("payload")
    })?;
    match payload.get("protocol")?.as_str()? {
        p @ ("tcp" | "udp" | "sctp" | "dccp" | "udplite" | "icmp") => Some(p.to_string()),
        "icmpv6" => Some("ipv6-icmp".into()),
        _ => None,
    }
}
