//! dockernet-trace: follow a packet through a Docker host's kernel and say where and why it
//! stops. The binary (`main.rs`) is a thin shell over this library.
pub mod ebpf;
pub mod kernel;
pub mod model;
pub mod netfilter;
