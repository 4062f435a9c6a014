//! The isolated Docker lab that dockernet-trace's integration tests, demo and benchmarks run in.
//!
//! A lab is a network namespace with its own dockerd (own data-root, exec-root, socket and
//! containerd namespace), an uplink into a "sink" namespace that plays the outside world (so a
//! default route exists and nothing can leave the machine), a busybox image, and builders to
//! create networks and containers and to break things the way the seed incidents did.
pub mod dns_server;
pub mod lab;

pub use lab::{Container, Lab, LabOptions, Network};
