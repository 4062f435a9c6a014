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
    /// A reason the kernel gives when it refuses a packet whose route is an error route: the
    /// program reads the route ([`super::RefusedRoute`]) of a new key's first packet.
    pub const ROUTE_ERROR: u8 = 8;
}

/// One flow, dropped (or reset) at one place for one reason: what a watch counts packets
/// under. Everything user space needs to describe it, so a key whose first event was lost can
/// still be reported from the map alone. `DROP_COUNTS` is keyed by its [`DropKey::id`] and
/// holds it in the value.
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
    /// Zero: every byte takes part in the key's identity.
    pub _pad: [u8; 3],
}

// `words` reads the key as eight words: no byte of it may be padding.
const _: () = assert!(core::mem::size_of::<DropKey>() == 64 && core::mem::align_of::<DropKey>() == 8);

impl DropKey {
    /// The key's bytes as eight words.
    #[inline(always)]
    pub fn words(&self) -> &[u64; 8] {
        // SAFETY: DropKey is repr(C), 64 bytes, 8-aligned, and every byte belongs to a field
        // (the assertion above; `_pad` makes the tail explicit), so it is eight valid u64s.
        unsafe { &*(self as *const DropKey).cast::<[u64; 8]>() }
    }

    /// The key of `DROP_COUNTS`: a fold of the key's words. The kernel hashes and compares a
    /// map's key bytes on every lookup, ~75 ns a packet more for 64 bytes than for 8 (issue 14's
    /// drop flood); the value holds the whole key, so two keys with one id are told apart (the
    /// second's packets become events of their own), never counted together.
    ///
    /// Each word is multiplied by an odd constant of its own (a bijection) and the products
    /// added, so keys that differ in one word differ. The products are independent of each
    /// other: a chained fold (multiply, rotate, next word) made every packet of a flood wait
    /// for eight multiplications one after the other.
    #[inline(always)]
    pub fn id(&self) -> u64 {
        const K: [u64; 8] = [
            0x9e37_79b9_7f4a_7c15,
            0xc2b2_ae3d_27d4_eb4f,
            0x1656_67b1_9e37_79f9,
            0xd6e8_feb8_6659_fd93,
            0xff51_afd7_ed55_8ccd,
            0xc4ce_b9fe_1a85_ec53,
            0x8cb9_2ba7_2f3d_8dd7,
            0xa076_1d64_78bd_642f,
        ];
        let w = self.words();
        let m = |i: usize| w[i].wrapping_mul(K[i]);
        let sum = (m(0).wrapping_add(m(1)))
            .wrapping_add(m(2).wrapping_add(m(3)))
            .wrapping_add((m(4).wrapping_add(m(5))).wrapping_add(m(6).wrapping_add(m(7))));
        // The high bits mix every word; fold them down so the low bits do too.
        sum ^ (sum >> 29)
    }

    /// Whether `other` is the same key (word by word: cheaper in the kernel than by field).
    #[inline(always)]
    pub fn same_as(&self, other: &DropKey) -> bool {
        let (a, b) = (self.words(), other.words());
        (a[0] ^ b[0])
            | (a[1] ^ b[1])
            | (a[2] ^ b[2])
            | (a[3] ^ b[3])
            | (a[4] ^ b[4])
            | (a[5] ^ b[5])
            | (a[6] ^ b[6])
            | (a[7] ^ b[7])
            == 0
    }
}

/// Per-CPU value of `DROP_COUNTS`. `packets` only grows while the entry lives (user space
/// takes differences, and deletes entries that stayed idle), so no count is taken twice. A
/// CPU's slot is all zero until that CPU counts a packet of the key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCount {
    /// The key this count belongs to (the map's key is only its [`DropKey::id`]).
    pub key: DropKey,
    pub packets: u64,
    /// When the CPU that created the entry counted its first packet (CLOCK_MONOTONIC ns; 0 on
    /// the other CPUs).
    pub first_ns: u64,
    /// The device's name, as the first event carried it (empty on the other CPUs).
    pub ifname: [u8; IFNAMSIZ],
    /// The error route the first packet was refused for (0 on the other CPUs), read once, when
    /// the key is created: see [`RefusedRoute`].
    pub route: RefusedRoute,
    pub _pad: [u8; 6],
}

/// Drops with a reason flagged [`drop_policy::ROUTE_ERROR`]: the packet's route when it is an
/// error route (an unreachable route, no route, forwarding off: what `ip_error` refuses). All
/// zero for other drops.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefusedRoute {
    /// The route's errno (`dst_entry.error`, as a magnitude); 0: no error route.
    pub error: u8,
    /// IPv4, with an `error`: 1 when the device the packet came in by did not forward (its
    /// net.ipv4.conf.DEV.forwarding was 0 at the drop: `ip_error` then refuses whatever the
    /// route), else 0.
    pub forwarding_off: u8,
}

impl RefusedRoute {
    /// As an event's `aux` carries it (see [`crate::Event::refused_route`]).
    pub fn to_aux(self) -> u32 {
        u32::from(self.error) | if self.forwarding_off != 0 { crate::ROUTE_FORWARDING_OFF } else { 0 }
    }
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
