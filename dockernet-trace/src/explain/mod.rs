//! The explanation core of `trace` and `watch`: what the kernel's sightings mean in the host's
//! terms. Each piece of knowledge is here once, in a file named after it; trace and watch only
//! decide which to ask, and in what order.
//!
//! - [`drop_cause`]: a drop reason and the cause it points to;
//! - [`dropping_rule`]: which netfilter rule dropped a packet, from the ruleset evaluator run
//!   on the packet at the hooks it met ([`netfilter_path`]), cross-checked by counters;
//! - [`flow_rule`]: the same for a watch's flow;
//! - [`rule_attribution`]: which netfilter rule dropped packets, from counter deltas alone
//!   (the cross-check and the fallback of [`dropping_rule`]);
//! - [`route_failure`]: a route lookup's result (errno by name) and the host fault behind a
//!   failed route;
//! - [`neighbour`]: ARP states;
//! - [`names`] and [`netns_label`]: namespaces, interfaces, addresses and subnets by name.
pub mod drop_cause;
pub mod dropping_rule;
pub mod flow_rule;
pub mod names;
pub mod neighbour;
pub mod netfilter_path;
pub mod netns_label;
pub mod route_failure;
pub mod rule_attribution;

pub use drop_cause::DropKind;
pub use names::Names;
pub use netns_label::NetnsLabel;
