//! Unit tests of the netfilter model, on fixture listings.
//!
//! `docker20-*` were captured from Docker 20.10.24 (iptables 1.8.9, nft 1.0.6) in a network
//! namespace of its own: `--userland-proxy=false` on the iptables-nft backend (two user
//! networks heima-net 172.18.0.0/16 and other-net 172.19.0.0/16, `web` publishing 8080→80;
//! then a DOCKER-USER DROP, a FORWARD policy drop from an outside namespace, and
//! `iptables -t nat -F`), and the legacy backend with the userland proxy (plus an `--internal`
//! network). `nft-user.*` is a native nft rule set loaded next to it. `docker28-*` are written
//! by hand from Docker's documented 28.x layout.
mod counters;
mod docker;
mod docker29;
mod fix;
mod iptables;
mod model;
mod nft;
mod snapshot;

use super::{Ruleset, Table, parse_iptables_save, parse_nft_json};

pub const FRESH: &str = include_str!("../fixtures/docker20-fresh.iptables");
pub const TWO_NETWORKS: &str = include_str!("../fixtures/docker20-two-networks.iptables");
pub const TWO_NETWORKS_NFT: &str = include_str!("../fixtures/docker20-two-networks.nft.json");
pub const USER_DROP: &str = include_str!("../fixtures/docker20-docker-user-drop.iptables");
pub const POLICY_DROP: &str = include_str!("../fixtures/docker20-forward-policy-drop.iptables");
pub const NAT_FLUSHED: &str = include_str!("../fixtures/docker20-nat-flushed.iptables");
pub const LEGACY: &str = include_str!("../fixtures/docker20-legacy.iptables");
pub const NFT_USER: &str = include_str!("../fixtures/nft-user.json");
pub const NFT_USER_TEXT: &str = include_str!("../fixtures/nft-user.txt");
pub const DOCKER28: &str = include_str!("../fixtures/docker28-bridge1.iptables");
pub const DOCKER28_0: &str = include_str!("../fixtures/docker28.0-isolation.iptables");
pub const DOCKER28_5_GATEWAY_MODES: &str = include_str!("../fixtures/docker28.5-gateway-modes.iptables");

/// A rule set made of one iptables-save listing.
pub fn ruleset(save: &str) -> Ruleset {
    Ruleset { tables: parse_iptables_save(save).unwrap(), notes: vec![] }
}

/// A rule set made of one `nft -j` listing.
pub fn nft_ruleset(json: &str) -> Ruleset {
    Ruleset { tables: parse_nft_json(json).unwrap(), notes: vec![] }
}

pub fn table<'a>(rs: &'a Ruleset, name: &str) -> &'a Table {
    rs.table(name).unwrap_or_else(|| panic!("no table {name}"))
}
