//! `nft -j list ruleset` → tables. Each rule's `text` is rendered back into nft syntax by
//! [`render`], and the common expressions are read into [`Matches`] and [`Target`].
use serde_json::Value;

use super::{
    NetfilterError,
    matches::{Matches, Target},
    model::{Chain, Counter, Family, Rule, Source, Table, Verdict},
};

mod exprs;
mod render;

/// Parses the JSON of `nft -j list ruleset` (schema 1, nft 0.9.3 and later).
pub fn parse_nft_json(json: &str) -> Result<Vec<Table>, NetfilterError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| NetfilterError::NftJson(e.to_string()))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| NetfilterError::NftJson("no top-level \"nftables\" array".into()))?;
    let mut tables: Vec<Table> = vec![];
    for item in items {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match kind.as_str() {
            "table" => {
                let (family, name) = (str_field(body, "family"), str_field(body, "name"));
                table_entry(&mut tables, family, name);
            }
            "chain" => {
                let t = table_entry(&mut tables, str_field(body, "family"), str_field(body, "table"));
                let name = str_field(body, "name");
                if t.chain(name).is_none() {
                    t.chains.push(parse_chain(body));
                }
            }
            "rule" => {
                let t = table_entry(&mut tables, str_field(body, "family"), str_field(body, "table"));
                let chain = str_field(body, "chain");
                let rule = parse_rule(body);
                if t.chain(chain).is_none() {
                    t.notes.push(format!("rule {:?} for unlisted chain {chain}", rule.handle));
                    t.chains.push(parse_chain(&serde_json::json!({ "name": chain })));
                }
                if let Some(c) = t.chain_mut(chain) {
                    c.rules.push(rule);
                }
            }
            // Sets, maps, flowtables, named counters and metainfo carry no rules.
            _ => {}
        }
    }
    Ok(tables)
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn table_entry<'a>(tables: &'a mut Vec<Table>, family: &str, name: &str) -> &'a mut Table {
    let family = Family::parse(family);
    let pos = tables.iter().position(|t| t.family == family && t.name == name);
    let pos = pos.unwrap_or_else(|| {
        tables.push(Table {
            family,
            name: name.to_string(),
            source: Source::Nft,
            chains: vec![],
            notes: vec![],
        });
        tables.len() - 1
    });
    &mut tables[pos]
}

fn parse_chain(body: &Value) -> Chain {
    Chain {
        name: str_field(body, "name").to_string(),
        policy: body.get("policy").and_then(Value::as_str).and_then(Verdict::parse),
        policy_counter: None,
        hook: body.get("hook").and_then(Value::as_str).map(str::to_string),
        priority: body.get("prio").and_then(priority),
        rules: vec![],
    }
}

/// Chain priorities are numbers in JSON; some nft versions print the standard names.
fn priority(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    match v.as_str()? {
        "raw" => Some(-300),
        "mangle" => Some(-150),
        "dstnat" => Some(-100),
        "filter" => Some(0),
        "security" => Some(50),
        "srcnat" => Some(100),
        _ => None,
    }
}

fn parse_rule(body: &Value) -> Rule {
    let empty = vec![];
    let stmts = body.get("expr").and_then(Value::as_array).unwrap_or(&empty);
    let mut text: Vec<String> = stmts.iter().map(render::statement).collect();
    if let Some(c) = body.get("comment").and_then(Value::as_str) {
        text.push(format!("comment {}", render::quoted(c)));
    }
    let (matches, target, counter) = read_statements(stmts);
    Rule {
        text: text.join(" "),
        counter: counter.unwrap_or_default(),
        matches,
        target,
        handle: body.get("handle").and_then(Value::as_u64),
    }
}

/// Walks a rule's statements: matches fill [`Matches`], the verdict or NAT statement is the
/// target, and anything else is kept in `other`.
fn read_statements(stmts: &[Value]) -> (Matches, Target, Option<Counter>) {
    let mut m = Matches::default();
    let mut target = Target::Continue;
    let mut counter = None;
    let mut logs = vec![];
    for stmt in stmts {
        let Some((kind, body)) = stmt.as_object().and_then(|o| o.iter().next()) else {
            m.other.push(render::statement(stmt));
            continue;
        };
        match kind.as_str() {
            "match" => {
                if !exprs::read_match(body, &mut m) {
                    m.other.push(render::statement(stmt));
                }
            }
            "counter" => {
                let n = |k: &str| body.get(k).and_then(Value::as_u64);
                if let (Some(packets), Some(bytes)) = (n("packets"), n("bytes")) {
                    counter = Some(Counter { packets, bytes });
                }
            }
            "accept" => target = Target::Accept,
            "drop" => target = Target::Drop,
            "reject" => target = Target::Reject,
            "return" => target = Target::Return,
            "jump" => target = Target::Jump(str_field(body, "target").to_string()),
            "goto" => target = Target::Goto(str_field(body, "target").to_string()),
            "masquerade" => target = Target::Masquerade,
            "dnat" => target = Target::Dnat { to: render::nat_to(body) },
            "snat" => target = Target::Snat { to: render::nat_to(body) },
            "log" => logs.push(render::statement(stmt)),
            "continue" => {}
            "vmap" | "queue" | "redirect" => target = Target::Other(render::statement(stmt)),
            _ => m.other.push(render::statement(stmt)),
        }
    }
    // A rule that logs and decides nothing has LOG as its target, like `-j LOG`.
    if target == Target::Continue && !logs.is_empty() {
        target = Target::Log;
    } else {
        m.other.extend(logs);
    }
    (m, target, counter)
}
