//! Netfilter rules and counters, both iptables backends and nftables, in one model.
//!
//! - [`parse_iptables_save`] reads `iptables-save -c`, [`parse_nft_json`] reads
//!   `nft -j list ruleset`; both give [`Table`]s of [`Chain`]s of [`Rule`]s whose `text` is the
//!   rule as the user's own tool prints it.
//! - [`snapshot`] lists everything the current network namespace has, each rule once.
//! - [`diff`] says which counters moved between two snapshots (which rule dropped the probes).
//! - [`docker`] recognises Docker's own rules (20.10–28 iptables, 29 nftables) and checks what
//!   Docker should have written.
//! - [`eval`] walks the rules a packet meets at a hook and names the rule that decided (or the
//!   rules that may have); [`owner`] says who wrote it and [`fix`] how to let the packet
//!   through, in that owner's own words.
pub mod conds;
pub mod counters;
pub mod docker;
pub mod eval;
pub mod fix;
pub mod iptables;
pub mod matches;
pub mod model;
pub mod nft;
pub mod owner;
pub mod sets;
pub mod snapshot;
pub mod target;

pub use conds::{Cond, Elem, IpVersion, Key, Meaning, Other, SetRef};
pub use counters::{CounterDelta, diff, dropped_exactly};
pub use ipnet::IpNet;
pub use iptables::{parse_ip6tables_save, parse_iptables_save};
pub use matches::{
    AddrMatch, AddrTypeMatch, CtStateMatch, Field, IfaceMatch, Matches, NetExt, PortMatch, ProtoMatch,
    parse_net,
};
pub use model::{Chain, Counter, Family, Note, Rule, RuleRef, Ruleset, Source, Table, Verdict};
pub use nft::parse_nft_json;
pub use snapshot::{snapshot, snapshot_with};
pub use target::{Effect, MapRef, RejectWith, Target, VerdictMap};

/// Problems reading the host's rules. A missing binary is not one of them: a host may have
/// only iptables or only nft.
#[derive(Debug, thiserror::Error)]
pub enum NetfilterError {
    #[error("line {line}: {reason} (is this `iptables-save` output?)")]
    NotIptablesSave { line: usize, reason: String },
    #[error("the nft JSON cannot be read: {0}")]
    NftJson(String),
    #[error("`{command}` failed: {reason}")]
    Command { command: String, reason: String },
}

#[cfg(test)]
mod tests;
