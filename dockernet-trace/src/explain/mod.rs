//! The explanation core of `trace` and `watch`: what the kernel's sightings mean in the host's
//! terms. Each piece of knowledge is here once, in a file named after it; trace and watch only
//! decide which to ask, and in what order.
//!
//! - [`drop_cause`]: a drop reason and the cause it points to;
//! - [`rule_attribution`]: which netfilter rule dropped packets, from counter deltas, and
//!   whether it is Docker's isolation or another firewall;
//! - [`route_failure`]: a route lookup's result (errno by name) and the host fault behind a
//!   failed route;
//! - [`neighbour`]: ARP states;
//! - [`names`] and [`netns_label`]: namespaces, interfaces, addresses and subnets by name.
pub mod drop_cause;
pub mod names;
pub mod neighbour;
pub mod netns_label;
pub mod route_failure;
pub mod rule_attribution;

pub use drop_cause::DropKind;
pub use names::Names;
pub use netns_label::NetnsLabel;
