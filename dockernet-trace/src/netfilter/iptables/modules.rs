//! Options of iptables match modules beyond the summary fields: what each means for the
//! evaluator (a typed condition, nothing at all, or not understood).
use super::{rule_args::port_match, targets::parse_mark};
use crate::netfilter::conds::Cond;

pub enum Read {
    Cond(Cond),
    /// Decides nothing (a comment).
    Inert,
    /// Not understood: the rule may match.
    Unknown,
}

/// Modules that match some packets and not others by design (rates, randomness, time).
const SOMETIMES: &[&str] =
    &["limit", "hashlimit", "statistic", "recent", "connlimit", "quota", "time", "random", "nth"];

/// What option `opt` (with its `values`) of module `module` means.
pub fn cond(module: &str, opt: &str, values: &[String], negated: bool) -> Read {
    let value = values.first().map(String::as_str).unwrap_or_default();
    if SOMETIMES.contains(&module) {
        return Read::Cond(Cond::Sometimes { what: format!("-m {module}") });
    }
    match (module, opt) {
        ("comment", _) => Read::Inert,
        // (A bare `-m rpfilter` is read in `rule_args`: it has no option to come here with.)
        ("rpfilter", "--invert") => Read::Cond(Cond::RouteBack { exists: false }),
        ("tcp" | "udp" | "sctp" | "dccp" | "udplite", "--sport" | "--source-port")
        | ("multiport", "--sports" | "--source-ports") => match port_match(value, negated) {
            Some(ports) => Read::Cond(Cond::Sport { ports }),
            None => Read::Unknown,
        },
        ("mark", "--mark") => match parse_mark(value) {
            Some((value, mask)) => Read::Cond(Cond::Mark { value, mask, negated }),
            None => Read::Unknown,
        },
        ("conntrack", "--ctstatus") => Read::Cond(Cond::CtStatus {
            any: value.split(',').map(|s| s.trim().to_ascii_uppercase()).collect(),
            negated,
        }),
        _ => Read::Unknown,
    }
}
