//! `-j TARGET options...` → [`Target`] and the [`Effect`]s it has.
use super::rule_args::requote;
use crate::netfilter::target::{Effect, RejectWith, Target};

/// Target names iptables itself provides (as opposed to user chains).
pub fn is_builtin_target(name: &str) -> bool {
    const TARGETS: &str = "ACCEPT DROP RETURN REJECT QUEUE NFQUEUE DNAT SNAT MASQUERADE REDIRECT \
        NETMAP LOG NFLOG ULOG MARK CONNMARK CT NOTRACK TCPMSS TOS DSCP TTL HL TEE TPROXY CHECKSUM \
        CLASSIFY AUDIT SET TRACE SECMARK CONNSECMARK LED IDLETIMER SYNPROXY CLUSTERIP";
    TARGETS.split_whitespace().any(|t| t == name)
}

pub fn parse_target(name: &str, opts: &[String], is_chain: &dyn Fn(&str) -> bool) -> (Target, Vec<Effect>) {
    let opt = |flag: &str| opts.iter().position(|o| o == flag).and_then(|p| opts.get(p + 1)).cloned();
    let target = match name {
        "" => Target::Continue,
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "RETURN" => Target::Return,
        "REJECT" => Target::Reject(RejectWith::parse_iptables(&opt("--reject-with").unwrap_or_default())),
        n if is_chain(n) => Target::Jump(n.to_string()),
        "DNAT" => Target::Dnat { to: opt("--to-destination").unwrap_or_default() },
        "SNAT" => Target::Snat { to: opt("--to-source").unwrap_or_default() },
        "MASQUERADE" => Target::Masquerade,
        "REDIRECT" => Target::Redirect,
        "LOG" => Target::Log,
        n => {
            let mut words = vec![n.to_string()];
            words.extend(opts.iter().map(|o| requote(o)));
            Target::Other(words.join(" "))
        }
    };
    let effects = match name {
        "MARK" => vec![mark_effect(opts)],
        "CONNMARK" if opts.iter().any(|o| o == "--restore-mark") => vec![Effect::UnknownMark],
        _ => vec![],
    };
    (target, effects)
}

/// `MARK --set-xmark 0x1/0xff` and its spellings, as (clear, xor) like the kernel applies it.
fn mark_effect(opts: &[String]) -> Effect {
    let (Some(flag), Some(arg)) = (opts.first(), opts.get(1)) else { return Effect::UnknownMark };
    let Some((value, mask)) = parse_mark(arg) else { return Effect::UnknownMark };
    match flag.as_str() {
        "--set-xmark" => Effect::SetMark { clear: mask, xor: value },
        // --set-mark v/m is (mark & ~m) | v, the same as xmark with mask m|v.
        "--set-mark" => Effect::SetMark { clear: mask | value, xor: value },
        "--or-mark" => Effect::SetMark { clear: value, xor: value },
        "--and-mark" => Effect::SetMark { clear: !value, xor: 0 },
        "--xor-mark" => Effect::SetMark { clear: 0, xor: value },
        _ => Effect::UnknownMark,
    }
}

/// `0x1`, `0x1/0xff`, `16` → (value, mask); the mask is all ones when not given.
pub fn parse_mark(s: &str) -> Option<(u32, u32)> {
    let num = |x: &str| match x.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => x.parse().ok(),
    };
    match s.split_once('/') {
        Some((v, m)) => Some((num(v)?, num(m)?)),
        None => Some((num(s)?, u32::MAX)),
    }
}
