//! The maps shared with user space (names in `dockernet_trace_common::maps`).
use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, PerCpuHashMap, RingBuf},
};
use dockernet_trace_common::{
    Config, DROP_POLICY_LEN, DropCount, Ipv4Prefix, Ipv6Prefix, NoiseSite, WATCH_NET16_WORDS, counters,
};

/// Events to user space. 1 MiB: room for bursts of drops while user space is busy.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

pub const RING_BYTES: u32 = 1 << 20;

/// What to look for and where kernel structures keep their fields (one entry).
#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Per-CPU counters, indexed by `dockernet_trace_common::counters`.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::LEN, 0);

/// Watch mode: IPv4 prefixes (Docker subnets or container addresses) of interest.
#[map]
pub static WATCH_NETS: LpmTrie<Ipv4Prefix, u8> = LpmTrie::with_max_entries(1024, 0);

/// Watch mode: IPv6 prefixes (Docker subnets or container addresses) of interest. No bitmap
/// in front: IPv6 packets reach it only while an IPv6 prefix is watched (`Config::watch_v6`).
#[map]
pub static WATCH_NETS6: LpmTrie<Ipv6Prefix, u8> = LpmTrie::with_max_entries(1024, 0);

/// Watch mode: the /16s that `WATCH_NETS` touches, one bit each. An array lookup costs a few
/// instructions (the verifier inlines it), a trie lookup a walk: most packets that are not
/// ours are turned away here, and only the rest asks the trie.
#[map]
pub static WATCH_NET16: Array<u64> = Array::with_max_entries(WATCH_NET16_WORDS, 0);

/// Watch mode: network namespace inodes of interest (host and containers).
#[map]
pub static WATCH_NETNS: HashMap<u32, u8> = HashMap::with_max_entries(4096, 0);

/// Watch mode: `dockernet_trace_common::drop_policy` flags per drop reason.
#[map]
pub static DROP_POLICY: Array<u8> = Array::with_max_entries(DROP_POLICY_LEN, 0);

/// Watch mode: drops and resets counted per flow, reason and place (a `DropKey`, by its id);
/// only the first of a key becomes an event. Allocated on insert (BPF_F_NO_PREALLOC), so an
/// entry user space deletes is freed only after every program that may still hold it has
/// finished.
#[map]
pub static DROP_COUNTS: PerCpuHashMap<u64, DropCount> =
    PerCpuHashMap::with_max_entries(DROP_KEYS, BPF_F_NO_PREALLOC);

/// Where a new `DROP_COUNTS` entry's value is put together (96 bytes the 512-byte stack of
/// kfree_skb's program has no room for).
#[map]
pub static DROP_NEW: PerCpuArray<DropCount> = PerCpuArray::with_max_entries(1, 0);

/// Flows counted at once; when full, drops become one event each (as before aggregation).
pub const DROP_KEYS: u32 = 8192;

/// Watch mode: drop sites user space found to be no incident (see `NoiseSite`).
#[map]
pub static NOISE_SITES: HashMap<NoiseSite, u8> = HashMap::with_max_entries(1024, 0);
