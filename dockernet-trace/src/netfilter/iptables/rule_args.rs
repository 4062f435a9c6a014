//! The arguments of one iptables rule (`-o br-x -m conntrack --ctstate RELATED -j ACCEPT`)
//! → [`Matches`], [`Target`] and effects. Options outside the summary fields are kept in
//! `Matches::other`, grouped with the `-m` module they belong to so the text still reads as
//! iptables, each group with its typed meaning ([`modules`]).
use super::{modules, targets::parse_target};
use crate::netfilter::{
    conds::{Cond, Meaning, Other},
    matches::{
        AddrMatch, AddrTypeMatch, CtStateMatch, IfaceMatch, Matches, PortMatch, ProtoMatch, parse_net,
    },
    target::{Effect, Target},
};

/// Splits a rule like the shell would for iptables-save output: blanks separate words,
/// double quotes group them, and a backslash inside quotes escapes the next character.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let (mut in_quotes, mut started) = (false, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            '\\' if in_quotes => cur.extend(chars.next()),
            c if c.is_whitespace() && !in_quotes => {
                if started || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                started = false;
            }
            c => cur.push(c),
        }
    }
    if started || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Writes a word back as iptables-save would, quoting it when it has blanks.
pub(super) fn requote(word: &str) -> String {
    if word.is_empty() || word.contains(char::is_whitespace) || word.contains('"') {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        word.to_string()
    }
}

/// One rule's arguments, read.
pub struct Parsed {
    pub matches: Matches,
    pub target: Target,
    pub effects: Vec<Effect>,
    pub comment: Option<String>,
}

/// One `-m module` and what of it is kept in `Matches::other`: the options' words, the typed
/// conditions read from them, and whether any option was not understood.
#[derive(Default)]
struct Group {
    module: Option<String>,
    words: Vec<String>,
    conds: Vec<Cond>,
    unknown: bool,
}

impl Group {
    fn into_other(self) -> Option<Other> {
        if self.words.is_empty() {
            // A module without options matches on its own: `-m rpfilter` on a route back.
            return (self.module.as_deref() == Some("rpfilter"))
                .then(|| Other::new("-m rpfilter", Meaning::conds(vec![Cond::RouteBack { exists: true }])));
        }
        let text = self.words.join(" ");
        let text = match &self.module {
            Some(module) => format!("-m {module} {text}"),
            None => text,
        };
        let meaning = if self.module.as_deref() == Some("comment") {
            Meaning::Inert
        } else if self.unknown {
            Meaning::Unknown { needs: self.conds }
        } else {
            Meaning::conds(self.conds)
        };
        Some(Other::new(text, meaning))
    }
}

/// Parses the words after `-A CHAIN`. `is_chain` says whether a `-j NAME` names a chain.
pub fn parse(args: &[String], is_chain: &dyn Fn(&str) -> bool) -> Parsed {
    let mut m = Matches::default();
    let (mut target, mut effects) = (Target::Continue, vec![]);
    let mut groups = vec![Group::default()];
    let mut comment = None;
    let mut negated = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "!" {
            negated = true;
            i += 1;
            continue;
        }
        let neg = std::mem::take(&mut negated);
        let value = args.get(i + 1).cloned().unwrap_or_default();
        let module = groups.last().and_then(|g| g.module.clone()).unwrap_or_default();
        if a == "-j" || a == "--jump" {
            (target, effects) = parse_target(&value, &args[(i + 2).min(args.len())..], is_chain);
            break;
        }
        if a == "-m" || a == "--match" {
            groups.push(Group { module: Some(value), ..Group::default() });
            i += 2;
            continue;
        }
        if a == "-g" || a == "--goto" {
            target = Target::Goto(value);
            i += 2;
            continue;
        }
        if summary(&mut m, a, &value, neg, &module) {
            i += 2;
            continue;
        }
        // Kept in `other`: the option and every value up to the next option, as written.
        let mut words = vec![];
        if neg {
            words.push("!".to_string());
        }
        words.push(requote(a));
        let mut consumed = 1;
        if a.starts_with('-') {
            while let Some(v) = args.get(i + consumed) {
                if v == "!" || (v.starts_with('-') && v.len() > 1) {
                    break;
                }
                words.push(requote(v));
                consumed += 1;
            }
        }
        if module == "comment" && a == "--comment" {
            comment = args.get(i + 1).cloned();
        }
        let group = groups.last_mut().expect("the first group is never removed");
        match modules::cond(&module, a, &args[i + 1..i + consumed], neg) {
            modules::Read::Cond(c) => group.conds.push(c),
            modules::Read::Inert => {}
            modules::Read::Unknown => group.unknown = true,
        }
        group.words.extend(words);
        i += consumed;
    }
    m.other.extend(groups.into_iter().filter_map(Group::into_other));
    Parsed { matches: m, target, effects, comment }
}

/// The options read into the summary fields of [`Matches`]; false for any other.
fn summary(m: &mut Matches, opt: &str, value: &str, neg: bool, module: &str) -> bool {
    match opt {
        "-i" | "--in-interface" => {
            m.in_iface = Some(IfaceMatch { name: value.to_string(), negated: neg });
            true
        }
        "-o" | "--out-interface" => {
            m.out_iface = Some(IfaceMatch { name: value.to_string(), negated: neg });
            true
        }
        "-s" | "--source" => set_addr(&mut m.src, value, neg),
        "-d" | "--destination" => set_addr(&mut m.dst, value, neg),
        "-p" | "--protocol" => {
            m.proto = Some(ProtoMatch { name: value.to_ascii_lowercase(), negated: neg });
            true
        }
        "--dport" | "--destination-port" if matches!(module, "tcp" | "udp" | "sctp" | "dccp" | "udplite") => {
            set_ports(&mut m.dports, value, neg)
        }
        "--dports" | "--destination-ports" if module == "multiport" => set_ports(&mut m.dports, value, neg),
        "--ctstate" if module == "conntrack" => set_states(&mut m.ct_state, value, neg),
        "--state" if module == "state" => set_states(&mut m.ct_state, value, neg),
        "--src-type" if module == "addrtype" => {
            m.src_type = Some(AddrTypeMatch { kind: value.to_ascii_uppercase(), negated: neg });
            true
        }
        "--dst-type" if module == "addrtype" => {
            m.dst_type = Some(AddrTypeMatch { kind: value.to_ascii_uppercase(), negated: neg });
            true
        }
        _ => false,
    }
}

fn set_addr(slot: &mut Option<AddrMatch>, v: &str, negated: bool) -> bool {
    match parse_net(v) {
        Some(net) => {
            *slot = Some(AddrMatch { net, negated });
            true
        }
        None => false, // a host name or a non-contiguous mask: kept in `other`
    }
}

/// `80`, `1000:2000`, `:1024`, and multiport lists `80,443,8000:8080`.
pub(super) fn port_match(v: &str, negated: bool) -> Option<PortMatch> {
    let mut ranges = vec![];
    for part in v.split(',') {
        let range = match part.split_once(':') {
            Some((lo, hi)) => {
                let lo = if lo.is_empty() { Some(0) } else { lo.parse().ok() };
                let hi = if hi.is_empty() { Some(u16::MAX) } else { hi.parse().ok() };
                lo.zip(hi)
            }
            None => part.parse().ok().map(|p| (p, p)),
        };
        ranges.push(range?);
    }
    Some(PortMatch { ranges, negated })
}

fn set_ports(slot: &mut Option<PortMatch>, v: &str, negated: bool) -> bool {
    match port_match(v, negated) {
        Some(p) => {
            *slot = Some(p);
            true
        }
        None => false,
    }
}

fn set_states(slot: &mut Option<CtStateMatch>, v: &str, negated: bool) -> bool {
    let states = v.split(',').map(|s| s.trim().to_ascii_uppercase()).collect();
    *slot = Some(CtStateMatch { states, negated });
    true
}
