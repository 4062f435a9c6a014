//! dockernet-trace: follow a packet through a Docker host's kernel and say where and why it
//! stops. The binary (`main.rs`) is a thin shell over this library.
pub mod cause;
pub mod cli;
pub mod dns;
pub mod docs;
pub mod doctor;
pub mod ebpf;
pub mod error;
pub mod explain;
pub mod flow;
pub mod kernel;
pub mod kernel_check;
pub mod model;
pub mod netfilter;
pub mod pcap;
pub mod probe;
pub mod style;
pub mod tied_process;
pub mod trace;
pub mod watch;
pub mod words;
