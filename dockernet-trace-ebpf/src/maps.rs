//! The maps shared with user space (names in `dockernet_trace_common::maps`).
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, PerCpuHashMap, RingBuf},
};
use dockernet_trace_common::{Config, Ipv4Prefix, Ipv6Prefix, counters};

/// Events to user space. 1 MiB: room for bursts of drops while user space is busy.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// What to look for and where kernel structures keep their fields (one entry).
#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Per-CPU counters, indexed by `dockernet_trace_common::counters`.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::LEN, 0);

/// Packets seen by the tc programs, per ifindex (all packets, not only matching ones).
#[map]
pub static TC_PACKETS: PerCpuHashMap<u32, u64> = PerCpuHashMap::with_max_entries(1024, 0);

/// Watch mode: IPv4 prefixes (Docker subnets or container addresses) of interest.
#[map]
pub static WATCH_NETS: LpmTrie<Ipv4Prefix, u8> = LpmTrie::with_max_entries(1024, 0);

/// Watch mode: IPv6 prefixes (Docker subnets or container addresses) of interest.
#[map]
pub static WATCH_NETS6: LpmTrie<Ipv6Prefix, u8> = LpmTrie::with_max_entries(1024, 0);

/// Watch mode: network namespace inodes of interest (host and containers).
#[map]
pub static WATCH_NETNS: HashMap<u32, u8> = HashMap::with_max_entries(4096, 0);
