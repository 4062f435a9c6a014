//! A rule's statements (`expr` array) → matches, target, effects and counter.
use serde_json::Value;

use super::{elems, exprs, render};
use crate::netfilter::{
    conds::{Cond, Meaning, Other},
    matches::Matches,
    model::Counter,
    target::{Effect, MapRef, RejectWith, Target, VerdictMap},
};

pub struct Read {
    pub matches: Matches,
    pub target: Target,
    pub effects: Vec<Effect>,
    pub counter: Option<Counter>,
}

/// Walks a rule's statements: matches fill [`Matches`], the verdict or NAT statement is the
/// target, and anything else is kept in `other` with its meaning.
pub fn read(stmts: &[Value]) -> Read {
    let mut r =
        Read { matches: Matches::default(), target: Target::Continue, effects: vec![], counter: None };
    let mut logs = vec![];
    for stmt in stmts {
        let text = render::statement(stmt);
        let Some((kind, body)) = stmt.as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next())
        else {
            r.matches.other.push(Other::unknown_action(text));
            continue;
        };
        match kind.as_str() {
            "match" => exprs::read_match(body, text, &mut r.matches),
            "counter" => {
                let n = |k: &str| body.get(k).and_then(Value::as_u64);
                if let (Some(packets), Some(bytes)) = (n("packets"), n("bytes")) {
                    r.counter = Some(Counter { packets, bytes });
                }
            }
            "log" => logs.push(text),
            "continue" => {}
            "mangle" => {
                r.effects.extend(mark_effect(body));
                r.matches.other.push(Other::inert(text));
            }
            // Updating a set, notrack, conntrack helpers and timeouts, flow offload: they do
            // not decide whether this rule matches or what becomes of the packet here.
            "set" | "map" | "notrack" | "ct helper" | "ct timeout" | "ct expectation" | "flow" => {
                r.matches.other.push(Other::inert(text))
            }
            "limit" | "quota" => r
                .matches
                .other
                .push(Other::new(text.clone(), Meaning::conds(vec![Cond::Sometimes { what: text }]))),
            "xt" if body.get("type").and_then(Value::as_str) == Some("match") => {
                r.matches.other.push(Other::unknown(text))
            }
            _ => match verdict(kind, body) {
                Some(t) => r.target = t,
                None => r.matches.other.push(Other::unknown_action(text)),
            },
        }
    }
    // A rule that logs and decides nothing has LOG as its target, like `-j LOG`.
    if r.target == Target::Continue && !logs.is_empty() {
        r.target = Target::Log;
    } else {
        r.matches.other.extend(logs.into_iter().map(Other::inert));
    }
    r
}

/// A verdict, NAT or verdict-map statement as a [`Target`]; None for anything else.
pub fn verdict(kind: &str, body: &Value) -> Option<Target> {
    let target = |b: &Value| b.get("target").and_then(Value::as_str).unwrap_or_default().to_string();
    Some(match kind {
        "accept" => Target::Accept,
        "drop" => Target::Drop,
        "return" => Target::Return,
        "continue" => Target::Continue,
        "jump" => Target::Jump(target(body)),
        "goto" => Target::Goto(target(body)),
        "reject" => Target::Reject(reject_with(body)),
        "masquerade" => Target::Masquerade,
        "redirect" => Target::Redirect,
        "dnat" => Target::Dnat { to: render::nat_to(body) },
        "snat" => Target::Snat { to: render::nat_to(body) },
        "vmap" => vmap(body)?,
        "queue" => Target::Other(render::statement(&serde_json::json!({ kind: body }))),
        _ => return None,
    })
}

/// `{"type": "icmpx", "expr": "admin-prohibited"}`, `{"type": "tcp reset"}`, or nothing.
fn reject_with(body: &Value) -> RejectWith {
    let code = body.get("expr").map(|e| render::expr(e, false)).unwrap_or_else(|| "port-unreachable".into());
    match body.get("type").and_then(Value::as_str) {
        None => RejectWith::Default,
        Some("tcp reset") => RejectWith::TcpReset,
        Some("icmpx") => RejectWith::Icmpx(code),
        Some("icmpv6") => RejectWith::Icmpv6(code),
        Some(_) => RejectWith::Icmp(code),
    }
}

fn vmap(body: &Value) -> Option<Target> {
    let (key, _) = elems::key(body.get("key")?);
    let data = body.get("data")?;
    let map = match data.as_str() {
        Some(name) => MapRef::Named(name.strip_prefix('@').unwrap_or(name).to_string()),
        None => MapRef::Anon(map_elems(data.get("set")?)),
    };
    Some(Target::Vmap(VerdictMap { key, map }))
}

/// `[[key, {"jump": {"target": "x"}}], ...]` → elements with their verdicts; a verdict not
/// understood is kept as `Target::Other`.
pub fn map_elems(items: &Value) -> Vec<(crate::netfilter::Elem, Target)> {
    let Some(items) = items.as_array() else { return vec![] };
    items
        .iter()
        .filter_map(|pair| match pair.as_array()?.as_slice() {
            [k, v] => {
                let t = v
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .and_then(|(kind, body)| verdict(kind, body))
                    .unwrap_or_else(|| Target::Other(render::expr(v, false)));
                Some((elems::elem(k), t))
            }
            _ => None,
        })
        .collect()
}

/// `meta mark set 0x20` → the mark becomes 0x20; set from anything else → unknown.
fn mark_effect(body: &Value) -> Option<Effect> {
    let key = body.get("key")?.get("meta")?.get("key")?.as_str()?;
    if key != "mark" {
        return None;
    }
    Some(match body.get("value").and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()) {
        Some(v) => Effect::SetMark { clear: u32::MAX, xor: v },
        None => Effect::UnknownMark,
    })
}
