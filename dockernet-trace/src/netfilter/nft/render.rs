//! nft JSON expressions and statements → the text `nft list ruleset` prints for them.
//! Covers what Docker hosts commonly have; anything else is shown as its JSON so nothing is
//! silently lost.
use serde_json::Value;

/// Meta keys nft prints without the `meta` keyword.
const UNQUALIFIED_META: &[&str] = &["iif", "oif", "iifname", "oifname", "iifgroup", "oifgroup"];

/// Keys whose string values nft prints in quotes (interface names).
fn quotes_values(left: &Value) -> bool {
    left.get("meta")
        .and_then(|m| m.get("key"))
        .and_then(Value::as_str)
        .is_some_and(|k| matches!(k, "iif" | "oif" | "iifname" | "oifname"))
}

/// `tcp flags & (syn | ack)`: the flags field and the mask, when the mask is several flags.
fn flag_mask(left: &Value) -> Option<(String, String)> {
    let [field, Value::Array(mask)] = left.get("&")?.as_array()?.as_slice() else { return None };
    (mask.len() > 1).then(|| (expr(field, false), expr(&Value::Array(mask.clone()), false)))
}

/// `meta mark`, `ct mark`, or a bitwise expression on one: nft prints their values in hex.
fn is_mark(v: &Value) -> bool {
    let key = |e: &Value| {
        ["meta", "ct"]
            .iter()
            .any(|k| e.get(k).and_then(|m| m.get("key")).and_then(Value::as_str) == Some("mark"))
    };
    key(v) || one_key(v).and_then(|(_, b)| b.as_array()?.first().cloned()).is_some_and(|a| key(&a))
}

/// A mark value as nft prints it: `0x00000010`.
fn mark_value(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => format!("0x{n:08x}"),
        None => expr(v, false),
    }
}

pub fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn one_key(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(k, v)| (k.as_str(), v))
}

/// One statement of a rule's `expr` array.
pub fn statement(stmt: &Value) -> String {
    let Some((kind, body)) = one_key(stmt) else { return compact(stmt) };
    let field = |k: &str| body.get(k);
    match kind {
        "match" => {
            let (Some(left), Some(right)) = (field("left"), field("right")) else {
                return compact(stmt);
            };
            let op = field("op").and_then(Value::as_str).unwrap_or("==");
            let l = expr(left, false);
            let r = match (left.get("fib"), right.as_bool()) {
                (Some(_), Some(found)) => (if found { "exists" } else { "missing" }).to_string(),
                _ if is_mark(left) => mark_value(right),
                _ => expr(right, quotes_values(left)),
            };
            // `tcp flags & (syn|ack) == syn` is printed `tcp flags syn / syn,ack`.
            if let Some((flags, mask)) = flag_mask(left).filter(|_| op == "==") {
                return format!("{flags} {r} / {mask}");
            }
            // nft leaves out `==` except after a bitwise expression (`tcp flags & syn == syn`).
            let bitwise = one_key(left).is_some_and(|(k, _)| matches!(k, "&" | "|" | "^"));
            match op {
                "==" | "in" if !bitwise => format!("{l} {r}"),
                op => format!("{l} {op} {r}"),
            }
        }
        "counter" => match (field("packets"), field("bytes")) {
            (Some(p), Some(b)) => format!("counter packets {p} bytes {b}"),
            _ => match body.as_str() {
                Some(name) => format!("counter name {}", quoted(name)),
                None => "counter".into(),
            },
        },
        "accept" | "drop" | "continue" | "return" | "masquerade" | "redirect" | "notrack"
            if body.is_null() =>
        {
            kind.into()
        }
        "jump" | "goto" => {
            format!("{kind} {}", field("target").and_then(Value::as_str).unwrap_or("?"))
        }
        "reject" => reject(body),
        "log" => log(body),
        "dnat" | "snat" => {
            let fam = field("family").and_then(Value::as_str).map(|f| format!(" {f}")).unwrap_or_default();
            format!("{kind}{fam} to {}", nat_to(body))
        }
        "masquerade" | "redirect" => match field("port") {
            Some(p) => format!("{kind} to :{}", expr(p, false)),
            None => kind.into(),
        },
        "mangle" => match (field("key"), field("value")) {
            (Some(k), Some(v)) if is_mark(k) => format!("{} set {}", expr(k, false), mark_value(v)),
            (Some(k), Some(v)) => format!("{} set {}", expr(k, false), expr(v, false)),
            _ => compact(stmt),
        },
        "vmap" => match (field("key"), field("data")) {
            (Some(k), Some(d)) => format!("{} vmap {}", expr(k, false), expr(d, quotes_values(k))),
            _ => compact(stmt),
        },
        "xt" => {
            let name = field("name").and_then(Value::as_str).unwrap_or("?");
            format!("xt {} {}", field("type").and_then(Value::as_str).unwrap_or("match"), quoted(name))
        }
        "limit" => limit(body),
        "set" => match (field("op"), field("set"), field("elem")) {
            (Some(op), Some(set), Some(elem)) => {
                format!("{} {} {{ {} }}", expr(op, false), expr(set, false), expr(elem, false))
            }
            _ => compact(stmt),
        },
        _ => format!("{kind} {}", compact(body)),
    }
}

fn reject(body: &Value) -> String {
    let Some(kind) = body.get("type").and_then(Value::as_str) else { return "reject".into() };
    match body.get("expr") {
        // The default answer; nft prints a bare `reject` for it.
        Some(Value::String(code)) if code == "port-unreachable" && kind != "tcp reset" => "reject".into(),
        Some(e) => format!("reject with {kind} {}", expr(e, false)),
        None => format!("reject with {kind}"),
    }
}

fn log(body: &Value) -> String {
    let mut s = String::from("log");
    if let Some(p) = body.get("prefix").and_then(Value::as_str) {
        s += &format!(" prefix {}", quoted(p));
    }
    for key in ["level", "group", "snaplen", "queue-threshold"] {
        if let Some(v) = body.get(key) {
            s += &format!(" {key} {}", expr(v, false));
        }
    }
    s
}

fn limit(body: &Value) -> String {
    let rate = body.get("rate").map(|r| expr(r, false)).unwrap_or_default();
    let per = body.get("per").and_then(Value::as_str).unwrap_or("second");
    let over = if body.get("inv").and_then(Value::as_bool) == Some(true) { "over " } else { "" };
    let mut s = format!("limit rate {over}{rate}/{per}");
    // nft leaves out the default burst of 5 packets.
    if let Some(b) = body.get("burst").and_then(Value::as_u64).filter(|b| *b > 0 && *b != 5) {
        s += &format!(" burst {b} packets");
    }
    s
}

/// The `to` part of dnat/snat: `172.19.0.2:80`, `[fd00::2]:80`, `172.19.0.2`.
pub fn nat_to(body: &Value) -> String {
    let addr = body.get("addr").map(|a| expr(a, false)).unwrap_or_default();
    match body.get("port") {
        Some(p) if addr.contains(':') => format!("[{addr}]:{}", expr(p, false)),
        Some(p) => format!("{addr}:{}", expr(p, false)),
        None => addr,
    }
}

/// An expression (left or right side of a match, a set element, ...).
pub fn expr(v: &Value, quote: bool) -> String {
    match v {
        // `@name` is a set reference, never a quoted string.
        Value::String(s) if quote && !s.starts_with('@') => quoted(s),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        // A bare list is a set of flags (`ct state established,related`).
        Value::Array(items) => items.iter().map(|i| expr(i, quote)).collect::<Vec<_>>().join(","),
        Value::Object(_) => object_expr(v, quote),
    }
}

fn object_expr(v: &Value, quote: bool) -> String {
    let Some((kind, body)) = one_key(v) else { return compact(v) };
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    match kind {
        "meta" if UNQUALIFIED_META.contains(&s("key")) => s("key").into(),
        "meta" => format!("meta {}", s("key")),
        "payload" if body.get("protocol").is_some() => format!("{} {}", s("protocol"), s("field")),
        "payload" => format!(
            "@{},{},{}",
            s("base"),
            body.get("offset").map(|o| expr(o, false)).unwrap_or_default(),
            body.get("len").map(|o| expr(o, false)).unwrap_or_default()
        ),
        "ct" => match body.get("dir").and_then(Value::as_str) {
            Some(dir) => format!("ct {dir} {}", s("key")),
            None => format!("ct {}", s("key")),
        },
        "fib" => {
            let flags = match body.get("flags") {
                Some(Value::Array(f)) => f.iter().map(|x| expr(x, false)).collect::<Vec<_>>().join(" . "),
                Some(f) => expr(f, false),
                None => String::new(),
            };
            format!("fib {flags} {}", s("result"))
        }
        "prefix" => {
            format!("{}/{}", s("addr"), body.get("len").map(|l| expr(l, false)).unwrap_or_default())
        }
        "range" => match body.as_array().map(Vec::as_slice) {
            Some([a, b]) => format!("{}-{}", expr(a, quote), expr(b, quote)),
            _ => compact(v),
        },
        "set" => set(body, quote),
        "concat" => match body.as_array() {
            Some(items) => items.iter().map(|i| expr(i, quote)).collect::<Vec<_>>().join(" . "),
            None => compact(v),
        },
        "elem" => body.get("val").map(|x| expr(x, quote)).unwrap_or_default(),
        "&" | "|" | "^" | "<<" | ">>" => match body.as_array().map(Vec::as_slice) {
            Some([a, b]) if is_mark(a) => format!("{} {kind} {}", expr(a, false), mark_value(b)),
            Some([a, b]) => format!("{} {kind} {}", expr(a, false), expr(b, false)),
            _ => compact(v),
        },
        "accept" | "drop" | "continue" | "return" => kind.into(),
        "jump" | "goto" => format!("{kind} {}", s("target")),
        "numgen" => {
            let n = |k: &str| body.get(k).and_then(Value::as_u64).unwrap_or_default();
            let offset = if n("offset") > 0 { format!(" offset {}", n("offset")) } else { String::new() };
            format!("numgen {} mod {}{offset}", s("mode"), n("mod"))
        }
        _ => compact(v),
    }
}

/// An anonymous set `{ 3306, 5432 }` or verdict map `{ "docker0" : jump x }`.
fn set(body: &Value, quote: bool) -> String {
    let Some(items) = body.as_array() else { return expr(body, quote) };
    let items: Vec<String> = items
        .iter()
        .map(|i| match i.as_array().map(Vec::as_slice) {
            Some([k, v]) => format!("{} : {}", expr(k, quote), expr(v, false)),
            _ => expr(i, quote),
        })
        .collect();
    format!("{{ {} }}", items.join(", "))
}
