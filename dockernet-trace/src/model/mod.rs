//! The host model: what the packet path *should* be, from what Docker says (networks,
//! containers, endpoints, published ports) and what the kernel says (links, addresses, routes,
//! sysctls), in the tool's namespace and inside containers' namespaces.
//!
//! Entry point: [`Topology::load`]. Endpoint arguments: [`EndpointArg::parse`] then
//! [`resolve_pair`]. Anything that must run in another namespace goes through [`netns`].
pub mod addresses;
pub mod container;
mod container_end;
pub mod docker;
pub mod endpoint;
pub mod error;
pub mod family;
pub mod host;
pub mod links;
pub mod listeners;
pub mod netlink;
pub mod netns;
pub mod network;
pub mod plain;
pub mod prefix;
pub mod resolve;
pub mod resolved;
pub mod route_lookup;
pub mod routes;
pub mod sysctl;
pub mod topology;
pub mod veth;

#[cfg(test)]
mod live_test;

pub use addresses::{Address, dump_addresses};
pub use container::{Container, Endpoint, EndpointLink, NetworkMode, PublishedPort};
pub use docker::{DockerEngine, DockerState};
pub use endpoint::{EndpointArg, EndpointSpec};
pub use error::ModelError;
pub use host::HostNet;
pub use links::{Link, PortState, dump_links};
pub use netns::{current_netns_inode, netns_inode, run_in_netns, run_in_netns_async};
pub use network::{DockerNetwork, GatewaySource, Subnet};
pub use resolve::{
    ContainerRef, EndpointIssue, EndpointKind, NameAnswer, NetnsRef, ResolvedEndpoint, address_endpoint,
    dns_name, host_endpoint, resolve_pair, resolve_pair_answered,
};
pub use route_lookup::{FoundRoute, RouteLookup, route_get, route_get_in};
pub use routes::{Route, RouteKind, dump_routes};
pub use sysctl::{Ipv6Sysctls, Sysctls};
pub use topology::Topology;
