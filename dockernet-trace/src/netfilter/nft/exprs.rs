//! nft `match` statements → [`Matches`] fields, for the expressions Docker paths depend on:
//! interface names, addresses, protocol, destination ports, conntrack state, `fib daddr type`.
use serde_json::Value;

use crate::netfilter::matches::{
    AddrMatch, AddrTypeMatch, CtStateMatch, IfaceMatch, Matches, PortMatch, ProtoMatch,
};

/// Stores the match in `m` and returns true when it is one of the understood kinds.
pub fn read_match(body: &Value, m: &mut Matches) -> bool {
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else { return false };
    let negated = match body.get("op").and_then(Value::as_str).unwrap_or("==") {
        "==" | "in" => false,
        "!=" => true,
        _ => return false,
    };
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
            let states = match right {
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

fn iface(slot: &mut Option<IfaceMatch>, right: &Value, negated: bool) -> bool {
    match right.as_str() {
        // `@set` names a set of interfaces: not one interface, keep it as text.
        Some(name) if !name.starts_with('@') => {
            *slot = Some(IfaceMatch { name: name.to_string(), negated });
            true
        }
        _ => false,
    }
}

fn proto(m: &mut Matches, right: &Value, negated: bool) -> bool {
    let name = match right {
        Value::String(s) => s.to_ascii_lowercase(),
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
    match text.parse() {
        Ok(net) => {
            *slot = Some(AddrMatch { net, negated });
            true
        }
        Err(_) => false,
    }
}

fn ports(slot: &mut Option<PortMatch>, right: &Value, negated: bool) -> bool {
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
