//! nft `match` statements → [`Matches`]: the summary fields for the expressions Docker paths
//! depend on (interface names, addresses, protocol, destination ports, conntrack state,
//! `fib daddr type`), and an [`Other`] with typed conditions for the rest (set lookups,
//! marks, source ports, `ct status`, `meta nfproto`), or "not understood" with what is
//! certain about it.
use serde_json::Value;

use super::elems;
use crate::netfilter::{
    conds::{Cond, IpVersion, Key, Meaning, Other, SetRef},
    matches::{
        AddrMatch, AddrTypeMatch, CtStateMatch, IfaceMatch, Matches, PortMatch, ProtoMatch, parse_net,
    },
};

/// Stores the match in `m`: in a summary field when it is one of those, else as an [`Other`]
/// with the given `text` and what it means.
pub fn read_match(body: &Value, text: String, m: &mut Matches) {
    if !summary(body, m) {
        m.other.push(Other::new(text, meaning(body)));
    }
}

/// `==`/`in` → false, `!=` → true; other operators (`<`, `>`) are not modelled.
fn negation(body: &Value) -> Option<bool> {
    match body.get("op").and_then(Value::as_str).unwrap_or("==") {
        "==" | "in" => Some(false),
        "!=" => Some(true),
        _ => None,
    }
}

/// Fills a summary field of `m`; false when the match is not one of those.
fn summary(body: &Value, m: &mut Matches) -> bool {
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else { return false };
    let Some(negated) = negation(body) else { return false };
    let Some((kind, l)) = left.as_object().and_then(|o| o.iter().next()) else { return false };
    let key = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or_default();
    match (kind.as_str(), key("key"), key("protocol"), key("field")) {
        ("meta", "iifname" | "iif", _, _) => iface(&mut m.in_iface, right, negated),
        ("meta", "oifname" | "oif", _, _) => iface(&mut m.out_iface, right, negated),
        ("meta", "l4proto", _, _) => proto(m, right, negated),
        ("payload", _, "ip", "protocol") | ("payload", _, "ip6", "nexthdr") => proto(m, right, negated),
        ("payload", _, "ip" | "ip6", "saddr") => addr(&mut m.src, right, negated),
        ("payload", _, "ip" | "ip6", "daddr") => addr(&mut m.dst, right, negated),
        ("payload", _, p @ ("tcp" | "udp" | "sctp" | "dccp" | "udplite" | "th"), "dport") => {
            let ok = ports(&mut m.dports, right, negated);
            // `tcp dport 80` also means "protocol tcp" (nft drops the explicit l4proto match).
            if ok && p != "th" && m.proto.is_none() {
                m.proto = Some(ProtoMatch { name: p.to_string(), negated: false });
            }
            ok
        }
        ("ct", "state", _, _) => {
            let states = match right.get("set").unwrap_or(right) {
                Value::String(s) => vec![s.to_ascii_uppercase()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_ascii_uppercase).collect(),
                _ => return false,
            };
            m.ct_state = Some(CtStateMatch { states, negated });
            true
        }
        ("fib", _, _, _) => fib(l, right, negated, m),
        _ => false,
    }
}

/// The typed meaning of a match that is not a summary field.
fn meaning(body: &Value) -> Meaning {
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else {
        return Meaning::Unknown { needs: vec![] };
    };
    let (key, version) = elems::key(left);
    let mut needs: Vec<Cond> = version.map(|version| Cond::Nfproto { version }).into_iter().collect();
    needs.extend(elems::implied_l4(left).map(|proto| Cond::L4 { proto }));
    let Some(negated) = negation(body) else { return Meaning::Unknown { needs } };
    let cond = match typed(left, right, key, negated) {
        Some(c) => c,
        None => return Meaning::Unknown { needs },
    };
    needs.push(cond);
    Meaning::conds(needs)
}

fn typed(left: &Value, right: &Value, key: Key, negated: bool) -> Option<Cond> {
    let l = |k: &str| left.get(k);
    if let Some(fib) = l("fib")
        && let Some(exists) = route_back(fib, right)
    {
        return Some(Cond::RouteBack { exists: exists != negated });
    }
    if let Some(numgen) = l("numgen") {
        return Some(Cond::Sometimes { what: format!("numgen {}", super::render::expr(numgen, false)) });
    }
    if let Some(ct) = l("ct")
        && ct.get("key").and_then(Value::as_str) == Some("status")
    {
        let any = elems::elems(right)
            .into_iter()
            .map(|e| match e {
                crate::netfilter::Elem::Word(w) => Some(w.to_ascii_uppercase()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        return Some(Cond::CtStatus { any, negated });
    }
    if let Some(Value::Array(and)) = l("&")
        && let [inner, mask] = and.as_slice()
        && inner.get("meta").and_then(|m| m.get("key")).and_then(Value::as_str) == Some("mark")
    {
        let (value, mask) = (u32::try_from(right.as_u64()?).ok()?, u32::try_from(mask.as_u64()?).ok()?);
        return Some(Cond::Mark { value, mask, negated });
    }
    if key == Key::Mark
        && let Some(v) = right.as_u64()
    {
        return Some(Cond::Mark { value: u32::try_from(v).ok()?, mask: u32::MAX, negated });
    }
    if l("meta").and_then(|m| m.get("key")).and_then(Value::as_str) == Some("nfproto") {
        let version = match right.as_str()? {
            "ipv4" => IpVersion::V4,
            "ipv6" => IpVersion::V6,
            _ => return None,
        };
        return (!negated).then_some(Cond::Nfproto { version });
    }
    if key == Key::Sport {
        let mut slot = None;
        if ports(&mut slot, right, negated) {
            return slot.map(|ports| Cond::Sport { ports });
        }
    }
    if matches!(key, Key::Other(_)) {
        return None;
    }
    let set = match right.as_str() {
        Some(name) if name.starts_with('@') => SetRef::Named(name[1..].to_string()),
        _ => SetRef::Anon(elems::elems(right)),
    };
    Some(Cond::Lookup { key, set, negated })
}

/// `fib saddr . [mark .] iif oif exists|missing` (a reverse-path filter, firewalld's for IPv6):
/// whether it asks for a route back to exist.
fn route_back(fib: &Value, right: &Value) -> Option<bool> {
    let flags: Vec<&str> = fib.get("flags")?.as_array()?.iter().filter_map(Value::as_str).collect();
    let reverse = flags.contains(&"saddr") && flags.contains(&"iif") && !flags.contains(&"daddr");
    (fib.get("result").and_then(Value::as_str) == Some("oif") && reverse).then(|| right.as_bool()).flatten()
}

fn iface(slot: &mut Option<IfaceMatch>, right: &Value, negated: bool) -> bool {
    match right.as_str() {
        // `@set` names a set of interfaces: not one interface, a lookup.
        Some(name) if !name.starts_with('@') => {
            *slot = Some(IfaceMatch { name: name.to_string(), negated });
            true
        }
        _ => false,
    }
}

fn proto(m: &mut Matches, right: &Value, negated: bool) -> bool {
    let name = match right {
        Value::String(s) if !s.starts_with('@') => s.to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    m.proto = Some(ProtoMatch { name, negated });
    true
}

fn addr(slot: &mut Option<AddrMatch>, right: &Value, negated: bool) -> bool {
    let text = match right {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("prefix") {
            Some(p) => format!(
                "{}/{}",
                p.get("addr").and_then(Value::as_str).unwrap_or_default(),
                p.get("len").and_then(Value::as_u64).unwrap_or_default()
            ),
            None => return false,
        },
        _ => return false,
    };
    match parse_net(&text) {
        Some(net) => {
            *slot = Some(AddrMatch { net, negated });
            true
        }
        None => false,
    }
}

pub fn ports(slot: &mut Option<PortMatch>, right: &Value, negated: bool) -> bool {
    let one = |v: &Value| -> Option<(u16, u16)> {
        if let Some(p) = v.as_u64() {
            let p = u16::try_from(p).ok()?;
            return Some((p, p));
        }
        match v.get("range")?.as_array()?.as_slice() {
            [a, b] => Some((u16::try_from(a.as_u64()?).ok()?, u16::try_from(b.as_u64()?).ok()?)),
            _ => None,
        }
    };
    let ranges: Option<Vec<_>> = match right.get("set").and_then(Value::as_array) {
        Some(items) => items.iter().map(one).collect(),
        None => one(right).map(|r| vec![r]),
    };
    match ranges {
        Some(ranges) if !ranges.is_empty() => {
            *slot = Some(PortMatch { ranges, negated });
            true
        }
        _ => false,
    }
}

/// `fib daddr type local` → dst_type LOCAL; `fib saddr type local` → src_type LOCAL.
fn fib(l: &Value, right: &Value, negated: bool, m: &mut Matches) -> bool {
    if l.get("result").and_then(Value::as_str) != Some("type") {
        return false;
    }
    let flags: Vec<&str> = match l.get("flags") {
        Some(Value::Array(f)) => f.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(f)) => vec![f.as_str()],
        _ => return false,
    };
    let Some(kind) = right.as_str().map(str::to_ascii_uppercase) else { return false };
    let slot = match flags.as_slice() {
        ["daddr"] => &mut m.dst_type,
        ["saddr"] => &mut m.src_type,
        _ => return false,
    };
    *slot = Some(AddrTypeMatch { kind, negated });
    true
}
