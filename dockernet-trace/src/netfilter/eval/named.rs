//! How to name a rule (or a chain's policy) so a person finds it with their own tools: table,
//! chain, the rule as `iptables -S` or `nft -a list` prints it, its nft handle, and what it
//! does with the packet.
use std::fmt;

use serde::Serialize;

use crate::netfilter::{
    model::{Chain, Family, Rule, Source, Table, Verdict},
    target::{RejectWith, Target},
};

/// What the named rule does with a packet it decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "with", rename_all = "snake_case")]
pub enum Action {
    Accept,
    Drop,
    Reject(RejectWith),
    /// DNAT, SNAT, MASQUERADE, REDIRECT: the packet goes on, translated.
    Nat,
    /// Jumps, returns, verdict maps, counters: it passes the packet on.
    Pass,
    /// Its verdict is decided elsewhere or not understood (`queue`, an unknown statement).
    Unknown(String),
}

impl Action {
    pub fn of(target: &Target) -> Action {
        match target {
            Target::Accept => Action::Accept,
            Target::Drop => Action::Drop,
            Target::Reject(w) => Action::Reject(w.clone()),
            Target::Dnat { .. } | Target::Snat { .. } | Target::Masquerade | Target::Redirect => Action::Nat,
            Target::Other(text) if target.continues().is_none() => Action::Unknown(text.clone()),
            _ => Action::Pass,
        }
    }

    /// Drop or reject: the packet goes no further.
    pub fn stops(&self) -> bool {
        matches!(self, Action::Drop | Action::Reject(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedRule {
    pub family: Family,
    pub table: String,
    pub source: Source,
    pub chain: String,
    /// Position in its chain, from 0; None for the chain's policy.
    pub position: Option<usize>,
    /// The nft handle (`nft delete rule ... handle N`); iptables rules have none.
    pub handle: Option<u64>,
    /// `-A FORWARD -o br-x -j DROP`, `tcp dport 3306 reject with icmpx admin-prohibited`; for
    /// a policy `-P FORWARD DROP` (iptables) or `policy drop` (nft).
    pub text: String,
    pub comment: Option<String>,
    pub action: Action,
}

impl NamedRule {
    pub fn rule(table: &Table, chain: &Chain, position: usize, rule: &Rule) -> Self {
        NamedRule {
            position: Some(position),
            handle: rule.handle,
            text: rule.text.clone(),
            comment: rule.comment.clone(),
            action: Action::of(&rule.target),
            ..NamedRule::base(table, chain)
        }
    }

    /// The chain's policy (accept when a base chain has none).
    pub fn policy(table: &Table, chain: &Chain) -> Self {
        let verdict = chain.policy.clone().unwrap_or(Verdict::Accept);
        let text = match table.source {
            Source::Iptables { .. } => format!("-P {} {verdict}", chain.name),
            Source::Nft => format!("policy {}", verdict.to_string().to_ascii_lowercase()),
        };
        let action = match verdict {
            Verdict::Drop => Action::Drop,
            Verdict::Accept => Action::Accept,
            Verdict::Other(o) => Action::Unknown(o),
        };
        NamedRule { text, action, ..NamedRule::base(table, chain) }
    }

    fn base(table: &Table, chain: &Chain) -> Self {
        NamedRule {
            family: table.family.clone(),
            table: table.name.clone(),
            source: table.source,
            chain: chain.name.clone(),
            position: None,
            handle: None,
            text: String::new(),
            comment: None,
            action: Action::Pass,
        }
    }

    /// The rule as its own tool lists it: `iptables -S` (`-A CHAIN …`, `-P CHAIN DROP`), or
    /// `nft -a list` (`tcp dport 3306 drop # handle 7`, `policy drop`).
    pub fn listed(&self) -> String {
        match (self.source, self.handle) {
            (Source::Nft, Some(h)) => format!("{} # handle {h}", self.text),
            _ => self.text.clone(),
        }
    }

    /// `table inet fw, chain forward, handle 7` / `table filter, chain INPUT` / `table ip6
    /// filter, …`.
    pub fn place(&self) -> String {
        let handle = self.handle.map(|h| format!(", handle {h}")).unwrap_or_default();
        format!("table {}, chain {}{handle}", self.table_words(), self.chain)
    }

    /// The table as its tool names it: `filter`, `ip6 filter`, `inet fw`.
    pub fn table_words(&self) -> String {
        match (self.source, &self.family) {
            (Source::Nft, f) => format!("{f} {}", self.table),
            (Source::Iptables { .. }, Family::Ip6) => format!("ip6 {}", self.table),
            (Source::Iptables { .. }, _) => self.table.clone(),
        }
    }

    pub fn is_policy(&self) -> bool {
        self.position.is_none()
    }

    /// Whether `d` is this rule's (or policy's) counter moving: the cross-check of an
    /// evaluation with the counters, where the rule keeps them.
    pub fn counted_by(&self, d: &crate::netfilter::CounterDelta) -> bool {
        self.family == d.family
            && self.table == d.table
            && self.source == d.source
            && self.chain == d.chain
            && match &d.rule {
                Some(text) => !self.is_policy() && *text == self.text,
                None => self.is_policy(),
            }
    }

    /// Same rule (or policy) as `other`, by where it sits.
    pub fn same(&self, other: &NamedRule) -> bool {
        self.family == other.family
            && self.table == other.table
            && self.source == other.source
            && self.chain == other.chain
            && self.position == other.position
            && self.handle == other.handle
    }
}

/// Where it is: `filter FORWARD`, `ip6 filter FORWARD`, `table inet fw chain forward handle 8`.
impl fmt::Display for NamedRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            Source::Iptables { .. } => {
                let fam = if self.family == Family::Ip6 { "ip6 " } else { "" };
                write!(f, "{fam}{} {}", self.table, self.chain)
            }
            Source::Nft => {
                write!(f, "table {} {} chain {}", self.family, self.table, self.chain)?;
                match self.handle {
                    Some(h) => write!(f, " handle {h}"),
                    None => Ok(()),
                }
            }
        }
    }
}
