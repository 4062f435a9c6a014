//! What a rule does with a packet it matches: its verdict or NAT ([`Target`], one per rule,
//! with how a reject answers), and what else it changes on the way ([`Effect`]).
use std::{fmt, net::IpAddr};

use serde::Serialize;

use super::conds::{Elem, Key};

/// What a rule does with a packet it matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "arg", rename_all = "snake_case")]
pub enum Target {
    Accept,
    Drop,
    Reject(RejectWith),
    Return,
    Jump(String),
    Goto(String),
    /// `to` is `addr[:port]` as written (`172.19.0.2:80`, `[fd00::2]:80`).
    Dnat {
        to: String,
    },
    Snat {
        to: String,
    },
    Masquerade,
    /// `REDIRECT`, nft `redirect`: to the host itself, like a DNAT.
    Redirect,
    /// nft `iifname vmap { "docker0" : jump x, ... }`: the verdict the key's element maps to,
    /// else on to the next rule.
    Vmap(VerdictMap),
    Log,
    /// A rule with no verdict: it only counts (or logs) and the packet goes on.
    Continue,
    /// Any other target, as written (`MARK --set-xmark 0x1/0xff`, `queue`).
    Other(String),
}

/// How a REJECT answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "with", content = "code", rename_all = "snake_case")]
pub enum RejectWith {
    /// No type given: ICMP port unreachable (ICMPv6 for IPv6).
    Default,
    TcpReset,
    /// iptables `--reject-with icmp-host-prohibited`, nft `icmp host-prohibited`.
    Icmp(String),
    Icmpv6(String),
    /// nft `icmpx`: the matching ICMP or ICMPv6 code (`admin-prohibited`).
    Icmpx(String),
}

impl RejectWith {
    /// iptables' `--reject-with` word (`icmp-host-prohibited`, `icmp6-adm-prohibited`,
    /// `tcp-reset`; empty: the default).
    pub fn parse_iptables(word: &str) -> Self {
        match word {
            "" => RejectWith::Default,
            "tcp-reset" => RejectWith::TcpReset,
            w => match w.strip_prefix("icmp6-") {
                Some(code) => RejectWith::Icmpv6(code.to_string()),
                None => RejectWith::Icmp(w.strip_prefix("icmp-").unwrap_or(w).to_string()),
            },
        }
    }

    pub fn is_tcp_reset(&self) -> bool {
        *self == RejectWith::TcpReset
    }
}

/// How a person would say it: "TCP reset", "ICMP admin-prohibited".
impl fmt::Display for RejectWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectWith::Default => f.write_str("ICMP port-unreachable"),
            RejectWith::TcpReset => f.write_str("TCP reset"),
            RejectWith::Icmp(c) | RejectWith::Icmpx(c) => write!(f, "ICMP {c}"),
            RejectWith::Icmpv6(c) => write!(f, "ICMPv6 {c}"),
        }
    }
}

/// A verdict map: the element `key` maps to decides.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerdictMap {
    pub key: Key,
    pub map: MapRef,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapRef {
    /// `@name`, a map of the rule's table.
    Named(String),
    /// `{ "docker0" : jump x }` written in the rule.
    Anon(Vec<(Elem, Target)>),
}

/// What a rule changes besides its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// The packet's mark becomes `(mark & !clear) ^ xor` (iptables' `--set-xmark` form; nft
    /// `meta mark set 0x20` clears all and sets 0x20).
    SetMark { clear: u32, xor: u32 },
    /// The mark is set from something not modelled (`meta mark set ct mark`).
    UnknownMark,
}

/// iptables targets that change something and let the packet go on.
const NON_TERMINAL: &[&str] = &[
    "MARK",
    "CONNMARK",
    "CT",
    "NOTRACK",
    "TCPMSS",
    "TOS",
    "DSCP",
    "TTL",
    "HL",
    "LOG",
    "NFLOG",
    "ULOG",
    "CHECKSUM",
    "CLASSIFY",
    "AUDIT",
    "SET",
    "TRACE",
    "SECMARK",
    "CONNSECMARK",
    "LED",
    "IDLETIMER",
    "counter",
    "log",
    "notrack",
];

impl Target {
    /// True when the packet stops here for good.
    pub fn drops(&self) -> bool {
        matches!(self, Target::Drop | Target::Reject(_))
    }

    /// Whether the packet goes on to the next rule after this target: Some(true) for targets
    /// that only count, log or mark; Some(false) for verdicts, jumps and NAT; None when not
    /// known (`NFQUEUE`, an unknown target or statement).
    pub fn continues(&self) -> Option<bool> {
        match self {
            Target::Continue | Target::Log => Some(true),
            Target::Other(text) => {
                let name = text.split_whitespace().next().unwrap_or_default();
                NON_TERMINAL.contains(&name).then_some(true)
            }
            // A verdict map may find no element: then the packet goes on.
            Target::Vmap(_) => None,
            _ => Some(false),
        }
    }

    /// The chain this rule passes the packet to.
    pub fn chain(&self) -> Option<&str> {
        match self {
            Target::Jump(c) | Target::Goto(c) => Some(c),
            _ => None,
        }
    }

    /// The address and port of a DNAT/SNAT target (`172.19.0.2:80` → (172.19.0.2, Some(80))).
    /// A port range keeps only its first port.
    pub fn nat_to(&self) -> Option<(IpAddr, Option<u16>)> {
        let to = match self {
            Target::Dnat { to } | Target::Snat { to } => to.as_str(),
            _ => return None,
        };
        parse_addr_port(to)
    }
}

/// `1.2.3.4`, `1.2.3.4:80`, `1.2.3.4:80-90`, `[fd00::1]:80`, `fd00::1`.
fn parse_addr_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    // A range of addresses (`1.2.3.4-1.2.3.9`) keeps its first address.
    let first_port = |p: &str| p.split(['-', ':']).next().and_then(|p| p.parse().ok());
    if let Some(rest) = s.strip_prefix('[') {
        let (a, tail) = rest.split_once(']')?;
        let ip = a.parse().ok()?;
        return Some((ip, tail.strip_prefix(':').and_then(first_port)));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let (a, p) = s.rsplit_once(':')?;
    let a = a.split('-').next()?;
    Some((a.parse().ok()?, first_port(p)))
}
