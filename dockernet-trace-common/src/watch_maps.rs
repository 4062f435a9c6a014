//! The keys and values of the maps a watch counts drops in, and the watched-prefix bitmap.

use crate::IFNAMSIZ;

/// Words (64 bits each) of the `WATCH_NET16` array: one bit for each of the 65536 /16s.
pub const WATCH_NET16_WORDS: u32 = 1024;

/// The bit of `WATCH_NET16` for an IPv4 address in network byte order (as packets carry it):
/// its first two octets.
#[inline(always)]
pub fn net16_slot(addr_be: u32) -> u32 {
    let b = addr_be.to_ne_bytes();
    (u32::from(b[0]) << 8) | u32::from(b[1])
}

/// Entries of `DROP_POLICY`, indexed by `enum skb_drop_reason` value; reasons beyond it are
/// always reported. User space fills it by reason *name*, resolved from the kernel's BTF.
pub const DROP_POLICY_LEN: u32 = 1024;

/// Flags of a `DROP_POLICY` entry: drops that are no incident, decided in the kernel before
/// anything else is read (watch mode only; a trace sees every drop of its probe).
pub mod drop_policy {
    /// Never an incident (the packet was used, or a copy was discarded).
    pub const IGNORE: u8 = 1;
    /// No incident for ICMP and ICMPv6 packets (an echo reply no ping socket claimed).
    pub const IGNORE_ICMP: u8 = 2;
    /// No incident for TCP packets (reported as the reset the kernel answers with).
    pub const IGNORE_TCP: u8 = 4;
}

/// Key of `DROP_COUNTS`: one flow, dropped (or reset) at one place for one reason.
/// Everything user space needs to describe it, so a key whose first event was lost can still
/// be reported from the map alone.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DropKey {
    /// kfree_skb's caller (0 for resets).
    pub location: u64,
    /// Addresses as [`Event`] carries them (IPv4 in the first four bytes; `family` says which).
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    /// `enum skb_drop_reason` (drops) or `enum sk_rst_reason` (resets).
    pub reason: u32,
    pub ifindex: u32,
    pub netns: u32,
    /// [`Hook::KfreeSkb`] or [`Hook::TcpSendReset`].
    pub hook: u8,
    pub proto: u8,
    pub inner_proto: u8,
    pub icmp_type: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// Zero: a hash key's bytes must all be defined.
    pub _pad: [u8; 3],
}

/// Per-CPU value of `DROP_COUNTS`. `packets` only grows while the entry lives (user space
/// takes differences, and deletes entries that stayed idle), so no count is taken twice.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCount {
    pub packets: u64,
    /// When this CPU first counted the key (CLOCK_MONOTONIC ns).
    pub first_ns: u64,
    /// The device's name, as the first event carried it.
    pub ifname: [u8; IFNAMSIZ],
}

/// Key of `NOISE_SITES`: a drop reason at a kernel function (kfree_skb's caller) for one
/// protocol, that user space found to be no incident (TCP's NOT_SPECIFIED at the end of a
/// connection, say: a rule that needs the function's name, which only user space has). Drops
/// there are not counted, so new flows of it neither fill `DROP_COUNTS` nor make events.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoiseSite {
    pub location: u64,
    pub reason: u32,
    /// The flow's protocol (the quoted one for ICMP errors).
    pub proto: u8,
    pub _pad: [u8; 3],
}

/// `Event::value` of a drop or reset in watch mode: the event is the first of its
/// [`DropKey`], whose packets are counted in `DROP_COUNTS` (this one included). Otherwise
/// (the map was full) the event stands for itself: one packet.
pub const COUNTED_IN_MAP: i32 = 1;

/// Indices of the per-CPU `COUNTERS` array.
pub mod counters {
    /// Events written to the ring buffer.
    pub const EMITTED: u32 = 0;
    /// Events that matched but found the ring buffer full.
    pub const LOST: u32 = 1;
    /// Packets the filter looked at (hot-path cost indicator).
    pub const INSPECTED: u32 = 2;
    pub const LEN: u32 = 4;
}

/// Key of the `WATCH_NETS` LPM trie: an IPv4 prefix (address in network byte order).
pub type Ipv4Prefix = u32;

/// Key of the `WATCH_NETS6` LPM trie: an IPv6 prefix (the address's bytes as on the wire).
pub type Ipv6Prefix = [u8; 16];
