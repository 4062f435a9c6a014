//! The arguments of one iptables rule (`-o br-x -m conntrack --ctstate RELATED -j ACCEPT`)
//! → [`Matches`] and [`Target`]. Options not understood are kept in `Matches::other`, grouped
//! with the `-m` module they belong to so the text still reads as iptables.
use crate::netfilter::matches::{
    AddrMatch, AddrTypeMatch, CtStateMatch, IfaceMatch, Matches, PortMatch, ProtoMatch, Target,
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
fn requote(word: &str) -> String {
    if word.is_empty() || word.contains(char::is_whitespace) || word.contains('"') {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        word.to_string()
    }
}

/// Target names iptables itself provides (as opposed to user chains).
pub fn is_builtin_target(name: &str) -> bool {
    const TARGETS: &str = "ACCEPT DROP RETURN REJECT QUEUE NFQUEUE DNAT SNAT MASQUERADE REDIRECT \
        NETMAP LOG NFLOG ULOG MARK CONNMARK CT NOTRACK TCPMSS TOS DSCP TTL HL TEE TPROXY CHECKSUM \
        CLASSIFY AUDIT SET TRACE SECMARK CONNSECMARK LED IDLETIMER SYNPROXY CLUSTERIP";
    TARGETS.split_whitespace().any(|t| t == name)
}

/// One `-m module` and the options of it that were not understood.
struct Group {
    module: Option<String>,
    unparsed: Vec<String>,
}

/// Parses the words after `-A CHAIN`. `is_chain` says whether a `-j NAME` names a chain.
pub fn parse(args: &[String], is_chain: &dyn Fn(&str) -> bool) -> (Matches, Target) {
    let mut m = Matches::default();
    let mut target = Target::Continue;
    let mut groups = vec![Group { module: None, unparsed: vec![] }];
    let mut negated = false;
    let mut i = 0;
    // The value after option `i`, if any.
    let value = |i: usize| args.get(i + 1).cloned().unwrap_or_default();
    while i < args.len() {
        let a = args[i].as_str();
        if a == "!" {
            negated = true;
            i += 1;
            continue;
        }
        let neg = std::mem::take(&mut negated);
        let mut consumed = 2; // option and its value
        let module = groups.last().and_then(|g| g.module.clone()).unwrap_or_default();
        let understood = match a {
            "-i" | "--in-interface" => {
                m.in_iface = Some(IfaceMatch { name: value(i), negated: neg });
                true
            }
            "-o" | "--out-interface" => {
                m.out_iface = Some(IfaceMatch { name: value(i), negated: neg });
                true
            }
            "-s" | "--source" => set_addr(&mut m.src, &value(i), neg),
            "-d" | "--destination" => set_addr(&mut m.dst, &value(i), neg),
            "-p" | "--protocol" => {
                m.proto = Some(ProtoMatch { name: value(i).to_ascii_lowercase(), negated: neg });
                true
            }
            "-m" | "--match" => {
                groups.push(Group { module: Some(value(i)), unparsed: vec![] });
                true
            }
            "-j" | "--jump" => {
                target = parse_target(&value(i), &args[(i + 2).min(args.len())..], is_chain);
                break;
            }
            "-g" | "--goto" => {
                target = Target::Goto(value(i));
                true
            }
            "--dport" | "--destination-port"
                if matches!(module.as_str(), "tcp" | "udp" | "sctp" | "dccp" | "udplite") =>
            {
                set_ports(&mut m.dports, &value(i), neg)
            }
            "--dports" | "--destination-ports" if module == "multiport" => {
                set_ports(&mut m.dports, &value(i), neg)
            }
            "--ctstate" if module == "conntrack" => set_states(&mut m.ct_state, &value(i), neg),
            "--state" if module == "state" => set_states(&mut m.ct_state, &value(i), neg),
            "--src-type" if module == "addrtype" => {
                m.src_type = Some(AddrTypeMatch { kind: value(i).to_ascii_uppercase(), negated: neg });
                true
            }
            "--dst-type" if module == "addrtype" => {
                m.dst_type = Some(AddrTypeMatch { kind: value(i).to_ascii_uppercase(), negated: neg });
                true
            }
            _ => false,
        };
        if !understood {
            // Keep the option and every value up to the next option, as written.
            let mut words = vec![];
            if neg {
                words.push("!".to_string());
            }
            words.push(requote(a));
            consumed = 1;
            if a.starts_with('-') {
                while let Some(v) = args.get(i + consumed) {
                    if v == "!" || (v.starts_with('-') && v.len() > 1) {
                        break;
                    }
                    words.push(requote(v));
                    consumed += 1;
                }
            }
            if let Some(group) = groups.last_mut() {
                group.unparsed.extend(words);
            }
        }
        i += consumed;
    }
    for g in groups {
        if g.unparsed.is_empty() {
            continue;
        }
        let text = g.unparsed.join(" ");
        m.other.push(match g.module {
            Some(module) => format!("-m {module} {text}"),
            None => text,
        });
    }
    (m, target)
}

fn set_addr(slot: &mut Option<AddrMatch>, v: &str, negated: bool) -> bool {
    match v.parse() {
        Ok(net) => {
            *slot = Some(AddrMatch { net, negated });
            true
        }
        Err(_) => false, // a host name or something odd: kept in `other`
    }
}

/// `80`, `1000:2000`, `:1024`, and multiport lists `80,443,8000:8080`.
fn set_ports(slot: &mut Option<PortMatch>, v: &str, negated: bool) -> bool {
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
        match range {
            Some(r) => ranges.push(r),
            None => return false,
        }
    }
    *slot = Some(PortMatch { ranges, negated });
    true
}

fn set_states(slot: &mut Option<CtStateMatch>, v: &str, negated: bool) -> bool {
    let states = v.split(',').map(|s| s.trim().to_ascii_uppercase()).collect();
    *slot = Some(CtStateMatch { states, negated });
    true
}

fn parse_target(name: &str, opts: &[String], is_chain: &dyn Fn(&str) -> bool) -> Target {
    let opt = |flag: &str| opts.iter().position(|o| o == flag).and_then(|p| opts.get(p + 1)).cloned();
    match name {
        "" => Target::Continue,
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "RETURN" => Target::Return,
        "REJECT" => Target::Reject,
        n if is_chain(n) => Target::Jump(n.to_string()),
        "DNAT" => Target::Dnat { to: opt("--to-destination").unwrap_or_default() },
        "SNAT" => Target::Snat { to: opt("--to-source").unwrap_or_default() },
        "MASQUERADE" => Target::Masquerade,
        "LOG" => Target::Log,
        n => {
            let mut words = vec![n.to_string()];
            words.extend(opts.iter().map(|o| requote(o)));
            Target::Other(words.join(" "))
        }
    }
}
