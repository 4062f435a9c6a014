//! Named sets and maps of an nft table (`set blocked { ... }`, `map vm { ... }`), which rules
//! look up with `@name`.
use serde::Serialize;

use super::{conds::Elem, target::Target};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedSet {
    pub name: String,
    /// The elements (a map's keys).
    pub elems: Vec<Elem>,
    /// A verdict map's elements with their verdicts; empty for sets and data maps.
    pub verdicts: Vec<(Elem, Target)>,
    /// A map of data (`ipv4_addr : ipv4_addr`), not of verdicts: the elements are its keys.
    pub data_map: bool,
    /// The kernel adds and removes elements itself (`flags dynamic`, `timeout`): the listing
    /// is only a moment's view.
    pub changing: bool,
}

impl NamedSet {
    /// Whether every element (and verdict) was understood.
    pub fn fully_read(&self) -> bool {
        let unknown = |e: &Elem| matches!(e, Elem::Unknown(_));
        !self.elems.iter().any(unknown)
            && !self.verdicts.iter().any(|(e, t)| unknown(e) || matches!(t, Target::Other(_)))
    }
}
