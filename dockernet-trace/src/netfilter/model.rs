//! The rule set of one network namespace: tables of chains of rules, from iptables (either
//! backend) and from native nftables, with their counters.
use std::{
    collections::{BTreeSet, VecDeque},
    fmt,
};

use serde::Serialize;

use super::{
    matches::Matches,
    sets::NamedSet,
    target::{Effect, Target},
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

/// The address family of a table (`ip` is what iptables writes, `ip6` ip6tables).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Ip,
    Ip6,
    Inet,
    Arp,
    Bridge,
    Netdev,
    Other(String),
}

impl Family {
    pub fn parse(s: &str) -> Self {
        match s {
            "ip" => Self::Ip,
            "ip6" => Self::Ip6,
            "inet" => Self::Inet,
            "arp" => Self::Arp,
            "bridge" => Self::Bridge,
            "netdev" => Self::Netdev,
            o => Self::Other(o.to_string()),
        }
    }

    /// Does a table of this family see packets of `ip`'s family (an `inet` table sees both)?
    pub fn carries(&self, ip: crate::flow::IpFamily) -> bool {
        use crate::flow::IpFamily;
        matches!((self, ip), (Self::Ip, IpFamily::V4) | (Self::Ip6, IpFamily::V6) | (Self::Inet, _))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Ip => "ip",
            Self::Ip6 => "ip6",
            Self::Inet => "inet",
            Self::Arp => "arp",
            Self::Bridge => "bridge",
            Self::Netdev => "netdev",
            Self::Other(o) => o,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which tool wrote (and lists) a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// `iptables-save`; `legacy` is the x_tables backend, otherwise iptables-nft.
    Iptables { legacy: bool },
    /// Native nftables (`nft list ruleset`), tables iptables-nft did not make.
    Nft,
}

/// A chain policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Drop,
    Other(String),
}

impl Verdict {
    /// `ACCEPT`/`accept`, `DROP`/`drop`; `-` (a user chain) is no policy at all.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "-" | "" => None,
            "accept" => Some(Self::Accept),
            "drop" => Some(Self::Drop),
            o => Some(Self::Other(o.to_string())),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accept => f.write_str("ACCEPT"),
            Self::Drop => f.write_str("DROP"),
            Self::Other(o) => f.write_str(o),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// The rule as `iptables -S` prints it (`-A FORWARD -o docker0 -j DOCKER`) or as
    /// `nft list ruleset` prints it (`oifname "docker0" counter packets 0 bytes 0 jump DOCKER`).
    pub text: String,
    /// None for a rule that keeps no counter (an nft rule without `counter`).
    pub counter: Option<Counter>,
    pub matches: Matches,
    pub target: Target,
    /// What the rule changes besides deciding (a mark set), in order.
    pub effects: Vec<Effect>,
    /// `-m comment --comment "x"`, nft `comment "x"`.
    pub comment: Option<String>,
    /// The nft rule handle; iptables rules have none.
    pub handle: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub name: String,
    /// Base chains only.
    pub policy: Option<Verdict>,
    /// iptables counts packets that fall off a built-in chain; nft does not.
    pub policy_counter: Option<Counter>,
    /// The netfilter hook of a base chain, lower case (`forward`, `prerouting`).
    pub hook: Option<String>,
    /// nft base chain priority; None for iptables chains (their order is fixed per table).
    pub priority: Option<i64>,
    /// nft base chain type: `filter`, `nat` or `route` (iptables: from the table's name).
    pub kind: Option<String>,
    /// The devices a `netdev` (or `inet` ingress) base chain is bound to.
    pub devices: Vec<String>,
    pub rules: Vec<Rule>,
}

impl Chain {
    /// A chain the kernel calls from a hook (as opposed to one only reached by jumps).
    pub fn is_base(&self) -> bool {
        self.hook.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub source: Source,
    pub chains: Vec<Chain>,
    /// nft named sets and maps.
    pub sets: Vec<NamedSet>,
    /// Lines or objects the parser did not understand and skipped.
    pub notes: Vec<String>,
}

impl Table {
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    pub(crate) fn chain_mut(&mut self, name: &str) -> Option<&mut Chain> {
        self.chains.iter_mut().find(|c| c.name == name)
    }

    pub fn set(&self, name: &str) -> Option<&NamedSet> {
        self.sets.iter().find(|s| s.name == name)
    }

    /// Rules of this table that jump or go to `chain`.
    pub fn callers<'a>(&'a self, chain: &'a str) -> impl Iterator<Item = (&'a Chain, &'a Rule)> {
        self.chains
            .iter()
            .flat_map(|c| c.rules.iter().map(move |r| (c, r)))
            .filter(move |(_, r)| r.target.chain() == Some(chain))
    }

    /// Chains a packet can reach from base chains with one of `hooks` (all hooks when empty).
    ///
    /// Native nft tables also reach chains through verdict maps, which are not modelled, so
    /// for them every chain counts as reachable: "unreachable" is only ever said when it is
    /// certain.
    pub fn reachable(&self, hooks: &[&str]) -> BTreeSet<&str> {
        if self.source == Source::Nft {
            return self.chains.iter().map(|c| c.name.as_str()).collect();
        }
        let mut seen = BTreeSet::new();
        let mut todo: VecDeque<&str> = self
            .chains
            .iter()
            .filter(|c| c.hook.as_deref().is_some_and(|h| hooks.is_empty() || hooks.contains(&h)))
            .map(|c| c.name.as_str())
            .collect();
        while let Some(name) = todo.pop_front() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(c) = self.chain(name) {
                todo.extend(c.rules.iter().filter_map(|r| r.target.chain()));
            }
        }
        seen
    }
}

/// One rule together with where it sits.
#[derive(Clone, Copy, Debug)]
pub struct RuleRef<'a> {
    pub table: &'a Table,
    pub chain: &'a Chain,
    pub rule: &'a Rule,
    /// Position in the chain, from 0.
    pub index: usize,
}

/// Everything a network namespace filters with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    /// The backend `iptables` points to comes first, then the other iptables backend, then
    /// native nft tables; lookups by name return the first match, i.e. the active backend.
    pub tables: Vec<Table>,
    /// What the snapshot skipped or could not run, for `--verbose` and bug reports; some are
    /// gaps (see [`Note::gap`]).
    pub notes: Vec<Note>,
}

/// A remark of the snapshot. A gap says rules the host has are not (or not all) in the
/// tables: a listing that could not be read or was cut short; the evaluator then never
/// calls a rule exact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    pub text: String,
    pub gap: bool,
}

impl Note {
    pub fn gap(text: impl Into<String>) -> Self {
        Note { text: text.into(), gap: true }
    }
}

impl From<String> for Note {
    fn from(text: String) -> Self {
        Note { text, gap: false }
    }
}

impl From<&str> for Note {
    fn from(text: &str) -> Self {
        Note::from(text.to_string())
    }
}

/// A note reads as its text (`note.contains("nft")`).
impl std::ops::Deref for Note {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<&str> for Note {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Ruleset {
    /// Why rules the host has may be missing from `tables` (see [`Note::gap`]).
    pub fn gaps(&self) -> impl Iterator<Item = &str> {
        self.notes.iter().filter(|n| n.gap).map(|n| n.text.as_str())
    }

    /// Whether `iptables` here is the legacy backend: the backend of the first iptables table
    /// (the snapshot lists the active backend first). None without iptables tables.
    pub fn active_legacy(&self) -> Option<bool> {
        self.tables.iter().find_map(|t| match t.source {
            Source::Iptables { legacy } => Some(legacy),
            Source::Nft => None,
        })
    }

    /// Every rule, table by table, chain by chain, in order.
    pub fn rules(&self) -> impl Iterator<Item = RuleRef<'_>> {
        self.tables.iter().flat_map(|t| {
            t.chains.iter().flat_map(move |c| {
                c.rules.iter().enumerate().map(move |(index, rule)| RuleRef {
                    table: t,
                    chain: c,
                    rule,
                    index,
                })
            })
        })
    }

    /// Every chain with its table.
    pub fn chains(&self) -> impl Iterator<Item = (&Table, &Chain)> {
        self.tables.iter().flat_map(|t| t.chains.iter().map(move |c| (t, c)))
    }

    /// The table, chain and rule (None for the chain's policy) a named rule stands for.
    pub fn locate(
        &self,
        named: &crate::netfilter::eval::NamedRule,
    ) -> Option<(&Table, &Chain, Option<&Rule>)> {
        let t = self
            .tables
            .iter()
            .find(|t| t.family == named.family && t.name == named.table && t.source == named.source)?;
        let c = t.chain(&named.chain)?;
        match named.position {
            None => Some((t, c, None)),
            Some(i) => c.rules.get(i).map(|r| (t, c, Some(r))),
        }
    }

    /// The first table called `name` (`filter`, `nat`, or an nft table name).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Chain `name` of the first table called `table` that has it.
    pub fn chain(&self, table: &str, name: &str) -> Option<&Chain> {
        self.tables.iter().filter(|t| t.name == table).find_map(|t| t.chain(name))
    }

    /// The rule whose text is `text` (compared with runs of blanks folded, so a rule copied
    /// from a terminal still matches).
    pub fn find_rule(&self, text: &str) -> Option<RuleRef<'_>> {
        let want = fold_blanks(text);
        self.rules().find(|r| fold_blanks(&r.rule.text) == want)
    }

    /// The nft rule with this handle in table `family table` (handles are unique per table).
    pub fn find_handle(&self, family: &Family, table: &str, handle: u64) -> Option<RuleRef<'_>> {
        self.rules()
            .find(|r| r.table.family == *family && r.table.name == table && r.rule.handle == Some(handle))
    }
}

fn fold_blanks(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
