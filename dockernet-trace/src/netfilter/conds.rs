//! The parts of a rule beyond the summary fields of [`Matches`](super::Matches): set lookups,
//! marks, source ports, conntrack status, rate limits... each typed for the evaluator, and a
//! plain statement of what could not be read. Nothing a parser meets is dropped: it becomes an
//! [`Other`] whose [`Meaning`] is at worst `Unknown`, which makes the rule "may match".
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use super::matches::PortMatch;

/// One part of a rule that is not a summary field: its text as the user's tool prints it, and
/// what it means for matching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Other {
    pub text: String,
    pub meaning: Meaning,
}

impl Other {
    pub fn new(text: impl Into<String>, meaning: Meaning) -> Self {
        Other { text: text.into(), meaning }
    }

    /// Text not understood at all.
    pub fn unknown(text: impl Into<String>) -> Self {
        Other::new(text, Meaning::Unknown { needs: vec![] })
    }

    /// A comment, log or counter: no bearing on matching.
    pub fn inert(text: impl Into<String>) -> Self {
        Other::new(text, Meaning::Inert)
    }

    /// A statement not understood: it may decide the packet's fate.
    pub fn unknown_action(text: impl Into<String>) -> Self {
        Other::new(text, Meaning::UnknownAction)
    }

    /// Whether the parser could not read this part.
    pub fn is_unknown(&self) -> bool {
        matches!(self.meaning, Meaning::Unknown { .. } | Meaning::UnknownAction)
    }
}

/// Compared by text, so tests and lookups can say `other == ["-f"]`.
impl PartialEq<&str> for Other {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<str> for Other {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Meaning {
    /// Decides nothing about matching: a comment, a log or counter statement, a mark set (the
    /// rule's effects say what it changes).
    Inert,
    /// Typed conditions, all of which must hold.
    Conds { all: Vec<Cond> },
    /// Not understood: the rule may or may not match. `needs` are the conditions that are
    /// certain anyway (`tcp flags ...` only ever matches TCP), so a packet that fails one of
    /// them certainly does not match.
    Unknown { needs: Vec<Cond> },
    /// A statement not understood (`xt target "DNAT"`, a statement newer than this parser):
    /// whatever the rule's verdict says, it may also decide the packet's fate itself.
    UnknownAction,
}

impl Meaning {
    pub fn conds(all: Vec<Cond>) -> Self {
        Meaning::Conds { all }
    }
}

/// IP version, for `meta nfproto` and for what `ip saddr` implies in an `inet` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { IpVersion::V4 } else { IpVersion::V6 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cond", rename_all = "snake_case")]
pub enum Cond {
    /// `key` is (or, negated, is not) an element of the set.
    Lookup { key: Key, set: SetRef, negated: bool },
    /// `meta mark & mask == value`, `-m mark --mark value/mask`.
    Mark { value: u32, mask: u32, negated: bool },
    /// Source ports (`--sport`, `tcp sport`).
    Sport { ports: PortMatch },
    /// `meta nfproto ipv4`, also implied by `ip saddr` in an `inet` table.
    Nfproto { version: IpVersion },
    /// The transport protocol a payload match implies (`tcp flags` only matches TCP).
    L4 { proto: String },
    /// `ct status dnat`, `-m conntrack --ctstate DNAT`: any of the statuses (upper case).
    CtStatus { any: Vec<String>, negated: bool },
    /// The reverse-path check: whether the host's routes lead back to the packet's source out
    /// of the interface it came in by (`fib saddr . iif oif missing`, `-m rpfilter [--invert]`)
    /// is `exists`.
    RouteBack { exists: bool },
    /// Holds for some packets and not others by design: `limit`, `statistic`, `numgen`,
    /// `quota`, `recent`... always "may match".
    Sometimes { what: String },
}

/// What a set lookup or verdict map looks up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    Iif,
    Oif,
    Saddr,
    Daddr,
    Sport,
    Dport,
    L4proto,
    CtState,
    Mark,
    /// `ip saddr . tcp dport`.
    Concat(Vec<Key>),
    /// Anything else (`ip dscp`, `ct mark`): the lookup may match.
    Other(String),
}

/// One element of a set, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Elem {
    /// A string: an interface name (`*` at the end is a wildcard), a conntrack state, a
    /// protocol name.
    Word(String),
    Net(IpNet),
    AddrRange(IpAddr, IpAddr),
    /// A number, or a range of them (ports, marks, protocol numbers).
    Range(u64, u64),
    Concat(Vec<Elem>),
    /// Not understood: a lookup that would compare with it may match.
    Unknown(String),
}

/// The set a lookup uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetRef {
    /// `@name`: a set of the rule's table.
    Named(String),
    /// `{ a, b }` written in the rule.
    Anon(Vec<Elem>),
}
