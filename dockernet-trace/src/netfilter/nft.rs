//! `nft -j list ruleset` → tables. Each rule's `text` is rendered back into nft syntax by
//! [`render`], its statements are read by [`statements`], and named sets and maps are kept
//! with their table for the evaluator.
//!
//! The JSON carries every object's handle (`nft -j` needs no `-a`). Input that is cut short
//! (a pipe that broke) is read up to the last whole object and said so; objects and
//! expressions of a newer nft than this parser are kept as "not understood", never dropped.
use serde_json::Value;

use super::{
    NetfilterError,
    model::{Chain, Family, Rule, Source, Table, Verdict},
    sets::NamedSet,
};

mod elems;
mod exprs;
mod render;
mod statements;

/// The JSON schema version this parser was written for.
const SCHEMA_VERSION: u64 = 1;

/// What one listing gave: the tables, and what is missing from them.
#[derive(Debug, Default)]
pub struct Listing {
    pub tables: Vec<Table>,
    /// Why rules the kernel has may be missing or misread (cut short, newer schema).
    pub gaps: Vec<String>,
}

/// Parses the JSON of `nft -j list ruleset` (schema 1, nft 0.9.3 and later); JSON that is
/// not whole is an error (see [`parse_nft_listing`] to read what there is).
pub fn parse_nft_json(json: &str) -> Result<Vec<Table>, NetfilterError> {
    let listing = parse_nft_listing(json)?;
    match listing.gaps.iter().find(|g| g.contains("cut short")) {
        Some(gap) => Err(NetfilterError::NftJson(gap.clone())),
        None => Ok(listing.tables),
    }
}

/// Parses what there is of a listing: a listing cut short gives its whole objects and a gap.
pub fn parse_nft_listing(json: &str) -> Result<Listing, NetfilterError> {
    let (items, cut) = items(json)?;
    let mut listing = Listing::default();
    if let Some(reason) = cut {
        listing.gaps.push(format!("the nft listing was cut short after {} objects ({reason})", items.len()));
    }
    let schema = items.iter().find_map(|i| i.get("metainfo")?.get("json_schema_version")?.as_u64());
    if let Some(v) = schema.filter(|v| *v > SCHEMA_VERSION) {
        listing.gaps.push(format!(
            "nft writes JSON schema {v}, newer than the {SCHEMA_VERSION} this tool reads: rules may be misread"
        ));
    }
    let mut tables: Vec<Table> = vec![];
    // Sets and chains first, so every rule finds its chain and every lookup its set.
    for pass in [Pass::Containers, Pass::Rules] {
        for item in &items {
            let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else { continue };
            add(&mut tables, pass, kind, body);
        }
    }
    listing.tables = tables;
    Ok(listing)
}

#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Containers,
    Rules,
}

fn add(tables: &mut Vec<Table>, pass: Pass, kind: &str, body: &Value) {
    let family = str_field(body, "family");
    match (pass, kind) {
        (Pass::Containers, "table") => {
            table_entry(tables, family, str_field(body, "name"));
        }
        (Pass::Containers, "chain") => {
            let t = table_entry(tables, family, str_field(body, "table"));
            if t.chain(str_field(body, "name")).is_none() {
                t.chains.push(parse_chain(body));
            }
        }
        (Pass::Containers, "set" | "map") => {
            let set = parse_set(body);
            table_entry(tables, family, str_field(body, "table")).sets.push(set);
        }
        (Pass::Rules, "rule") => {
            let t = table_entry(tables, family, str_field(body, "table"));
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
        // Flowtables, named counters, quotas, ct helpers and metainfo carry no rules.
        _ => {}
    }
}

/// The objects of the top-level `nftables` array, and why the array ended early if it did.
fn items(json: &str) -> Result<(Vec<Value>, Option<String>), NetfilterError> {
    match serde_json::from_str::<Value>(json) {
        Ok(doc) => {
            let items = doc
                .get("nftables")
                .and_then(Value::as_array)
                .ok_or_else(|| NetfilterError::NftJson("no top-level \"nftables\" array".into()))?;
            Ok((items.clone(), None))
        }
        Err(e) if e.is_eof() => salvage(json, &e.to_string()),
        Err(e) => Err(NetfilterError::NftJson(e.to_string())),
    }
}

/// Reads the whole objects of a listing that ends early.
fn salvage(json: &str, reason: &str) -> Result<(Vec<Value>, Option<String>), NetfilterError> {
    let start = json
        .find("\"nftables\"")
        .and_then(|k| json[k..].find('[').map(|b| k + b + 1))
        .ok_or_else(|| NetfilterError::NftJson(reason.to_string()))?;
    let mut rest = &json[start..];
    let mut items = vec![];
    loop {
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match stream.next() {
            Some(Ok(v)) => {
                items.push(v);
                rest = &rest[stream.byte_offset()..];
            }
            _ => return Ok((items, Some(reason.to_string()))),
        }
    }
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
            sets: vec![],
            notes: vec![],
        });
        tables.len() - 1
    });
    &mut tables[pos]
}

fn parse_chain(body: &Value) -> Chain {
    let devices = match body.get("dev") {
        Some(Value::String(d)) => vec![d.clone()],
        Some(Value::Array(ds)) => ds.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec![],
    };
    Chain {
        name: str_field(body, "name").to_string(),
        policy: body.get("policy").and_then(Value::as_str).and_then(Verdict::parse),
        policy_counter: None,
        hook: body.get("hook").and_then(Value::as_str).map(str::to_string),
        priority: body.get("prio").and_then(priority),
        kind: body.get("type").and_then(Value::as_str).map(str::to_string),
        devices,
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

fn parse_set(body: &Value) -> NamedSet {
    let flags: Vec<&str> = match body.get("flags") {
        Some(Value::Array(f)) => f.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(f)) => vec![f.as_str()],
        _ => vec![],
    };
    let changing = flags.iter().any(|f| matches!(*f, "dynamic" | "timeout")) || body.get("timeout").is_some();
    let is_verdict_map = body.get("map").and_then(Value::as_str) == Some("verdict");
    let data_map = body.get("map").is_some() && !is_verdict_map;
    let elem = body.get("elem").cloned().unwrap_or(Value::Array(vec![]));
    let (elems, verdicts) = if is_verdict_map {
        let verdicts = statements::map_elems(&elem);
        (verdicts.iter().map(|(e, _)| e.clone()).collect(), verdicts)
    } else if data_map {
        let keys = elem.as_array().map(|a| a.iter().filter_map(|p| p.get(0)).map(elems::elem).collect());
        (keys.unwrap_or_default(), vec![])
    } else {
        (elems::elems(&elem), vec![])
    };
    NamedSet { name: str_field(body, "name").to_string(), elems, verdicts, data_map, changing }
}

fn parse_rule(body: &Value) -> Rule {
    let empty = vec![];
    let stmts = body.get("expr").and_then(Value::as_array).unwrap_or(&empty);
    let mut text: Vec<String> = stmts.iter().map(render::statement).collect();
    if let Some(c) = body.get("comment").and_then(Value::as_str) {
        text.push(format!("comment {}", render::quoted(c)));
    }
    let read = statements::read(stmts);
    Rule {
        text: text.join(" "),
        counter: read.counter,
        matches: read.matches,
        target: read.target,
        effects: read.effects,
        comment: body.get("comment").and_then(Value::as_str).map(str::to_string),
        handle: body.get("handle").and_then(Value::as_u64),
    }
}
