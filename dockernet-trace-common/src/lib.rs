//! Types shared by the eBPF programs (kernel side) and the loader (user space).
//!
//! Everything here is `repr(C)` and plain data: the kernel writes these bytes into maps and the
//! ring buffer, user space reads them back. Enumerations travel as integers and are converted
//! with `TryFrom` on the user side, so a value from a newer kernel object is an error, not UB.
#![no_std]

/// Length of `net_device.name` in the kernel.
pub const IFNAMSIZ: usize = 16;

/// Names of the maps, so loader and programs cannot drift apart (the eBPF crate checks its
/// statics against these at compile time).
pub mod maps {
    pub const EVENTS: &str = "EVENTS";
    pub const CONFIG: &str = "CONFIG";
    pub const COUNTERS: &str = "COUNTERS";
    pub const TC_PACKETS: &str = "TC_PACKETS";
    pub const WATCH_NETS: &str = "WATCH_NETS";
    /// Watch mode: the IPv6 prefixes of interest (see [`super::Ipv6Prefix`]).
    pub const WATCH_NETS6: &str = "WATCH_NETS6";
    pub const WATCH_NETNS: &str = "WATCH_NETNS";
    /// Watch mode: one bit per /16 that a watched prefix touches (see [`super::net16_slot`]).
    pub const WATCH_NET16: &str = "WATCH_NET16";
    /// Watch mode: what to do with a drop reason (see [`super::drop_policy`]).
    pub const DROP_POLICY: &str = "DROP_POLICY";
    /// Watch mode: drops and resets counted per [`super::DropKey`] (see [`super::DropCount`]).
    pub const DROP_COUNTS: &str = "DROP_COUNTS";
    /// Watch mode: places where drops are no incident, learnt by user space (see [`super::NoiseSite`]).
    pub const NOISE_SITES: &str = "NOISE_SITES";
}

/// Read-only globals of the eBPF object, set by user space when it loads the object (the
/// verifier then knows their values as constants).
pub mod globals {
    /// [`super::SkbOffsets`]: the programs read `sk_buff` and `net_device` fields at these
    /// offsets with plain loads (`Config::skb` is the same, for user space's own use).
    pub const SKB_LAYOUT: &str = "SKB_LAYOUT";
}

/// Names of the programs in the eBPF object (a program's name is its function's name there;
/// the eBPF crate checks each against these at compile time).
pub mod programs {
    /// tc classifiers (their unique names also find what a crashed run left attached).
    pub const TC_INGRESS: &str = "dnt_tc_ingress";
    pub const TC_EGRESS: &str = "dnt_tc_egress";
    /// BTF tracepoints, named after their tracepoint.
    pub const KFREE_SKB: &str = "kfree_skb";
    pub const NETIF_RECEIVE_SKB: &str = "netif_receive_skb";
    pub const NET_DEV_XMIT: &str = "net_dev_xmit";
    pub const ICMP_SEND: &str = "icmp_send";
    pub const TCP_SEND_RESET: &str = "tcp_send_reset";
    /// tcp_send_reset with the reset's reason (6.10+).
    pub const TCP_RESET_RSN: &str = "tcp_reset_rsn";
    pub const FIB_TABLE_LOOKUP: &str = "fib_table_lookup";
    /// fib6:fib6_table_lookup (IPv6 route decisions).
    pub const FIB6_TABLE_LOOKUP: &str = "fib6_table_lookup";
    pub const NEIGH_UPDATE: &str = "neigh_update";
    pub const NEIGH_CREATE: &str = "neigh_create";
    /// Enrichment: fexit/fentry (`dnt_fx_`/`dnt_fe_`) and kprobe (`dnt_kp_`) variants.
    pub const FX_NF_HOOK: &str = "dnt_fx_nf_hook";
    pub const KP_NF_HOOK: &str = "dnt_kp_nf_hook";
    pub const FE_NFT_CHAIN: &str = "dnt_fe_nft_chain";
    pub const KP_NFT_CHAIN: &str = "dnt_kp_nft_chain";
    pub const KP_IPT_TABLE: &str = "dnt_kp_ipt_table";
    pub const FE_BR_FORWARD: &str = "dnt_fe_br_forward";
    pub const KP_BR_FORWARD: &str = "dnt_kp_br_forward";
    pub const FE_BR_PASS_UP: &str = "dnt_fe_br_pass_up";
    pub const KP_BR_PASS_UP: &str = "dnt_kp_br_pass_up";
    pub const KP_NAT: &str = "dnt_kp_nat";
}

/// Byte-wise string equality usable in constants (the eBPF crate's name checks).
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Where in the kernel an [`Event`] was observed.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    TcIngress = 1,
    TcEgress = 2,
    NetifReceive = 3,
    NetDevXmit = 4,
    KfreeSkb = 5,
    FibLookup = 6,
    IcmpSend = 7,
    TcpSendReset = 8,
    NeighUpdate = 9,
    NeighCreate = 10,
    /// Enrichment (kprobe/fentry): the bridge forwards a frame to a port.
    BrForward = 11,
    /// Enrichment: the bridge passes a frame up to the host stack.
    BrPassUp = 12,
    /// Enrichment: a netfilter hook returned a verdict (or, with kprobes, was entered).
    NfVerdict = 13,
    /// Enrichment: a netfilter table and base chain evaluated the packet (nft_do_chain for
    /// nftables and iptables-nft, ipt_do_table for legacy iptables).
    NfTable = 14,
    /// Enrichment: NAT rewrote the packet (the tuple is the translation target).
    NatRewrite = 15,
}

impl Hook {
    /// The name a hook has in output (`tc_ingress`, `kfree_skb`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Hook::TcIngress => "tc_ingress",
            Hook::TcEgress => "tc_egress",
            Hook::NetifReceive => "netif_receive_skb",
            Hook::NetDevXmit => "net_dev_xmit",
            Hook::KfreeSkb => "kfree_skb",
            Hook::FibLookup => "fib_table_lookup",
            Hook::IcmpSend => "icmp_send",
            Hook::TcpSendReset => "tcp_send_reset",
            Hook::NeighUpdate => "neigh_update",
            Hook::NeighCreate => "neigh_create",
            Hook::BrForward => "br_forward",
            Hook::BrPassUp => "br_pass_frame_up",
            Hook::NfVerdict => "nf_hook_slow",
            Hook::NfTable => "nf_table",
            Hook::NatRewrite => "nf_nat",
        }
    }
}

impl TryFrom<u8> for Hook {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        Ok(match v {
            1 => Self::TcIngress,
            2 => Self::TcEgress,
            3 => Self::NetifReceive,
            4 => Self::NetDevXmit,
            5 => Self::KfreeSkb,
            6 => Self::FibLookup,
            7 => Self::IcmpSend,
            8 => Self::TcpSendReset,
            9 => Self::NeighUpdate,
            10 => Self::NeighCreate,
            11 => Self::BrForward,
            12 => Self::BrPassUp,
            13 => Self::NfVerdict,
            14 => Self::NfTable,
            15 => Self::NatRewrite,
            other => return Err(other),
        })
    }
}

/// One observation made by a kernel program. Fields that do not apply to a hook are zero.
///
/// Addresses are the bytes the packet (or kernel structure) holds, IPv4 in the first four of
/// the sixteen (`family` says which); ports are in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Address of the `sk_buff`: ties together the hops of one packet.
    pub skb: u64,
    /// kfree_skb: the caller that dropped the packet, a kernel text address.
    pub location: u64,
    pub hook: u8,
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6), after IPv6 extension headers.
    pub proto: u8,
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// For ICMP errors: the protocol of the packet quoted inside.
    pub inner_proto: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`]: how to read `saddr`, `daddr` and `addr`.
    pub family: u8,
    pub _pad: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub ifindex: u32,
    /// Inode number of the network namespace of the device (0 when unknown).
    pub netns: u32,
    /// kfree_skb: `enum skb_drop_reason`; tcp_send_reset: `enum sk_rst_reason`;
    /// nf verdict: the verdict.
    pub reason: u32,
    /// fib lookup: error (negative errno, 0 on success); net_dev_xmit: rc;
    /// neigh: new NUD state.
    pub value: i32,
    /// fib lookup: routing table id; nf hook: hook number.
    pub table: u32,
    /// fib lookup: output ifindex chosen.
    pub aux: u32,
    pub len: u32,
    /// fib lookup: the gateway; neigh: the neighbour's address (its table's key).
    pub addr: [u8; 16],
    pub ifname: [u8; IFNAMSIZ],
    /// Enrichment: `table chain` names (netfilter), NUL-padded.
    pub label: [u8; LABEL_LEN],
}

/// `Event::family` of IPv4 addresses (the IP version, not the kernel's AF_* number).
pub const FAMILY_V4: u8 = 4;
/// `Event::family` of IPv6 addresses.
pub const FAMILY_V6: u8 = 6;

/// `reason` of an NfVerdict event when only the hook entry was seen (kprobe: no verdict).
/// i32::MIN: nf_hook_slow returns 1, 0 or a small negative errno (a drop is -EPERM, i.e.
/// 0xffff_ffff as u32), never this.
pub const VERDICT_UNKNOWN: u32 = 0x8000_0000;

/// `value` of a NatRewrite event when NAT rewrites the destination (`NF_NAT_MANIP_DST`).
pub const NAT_MANIP_DST: i32 = 1;

/// What the fields an [`Event`] reuses mean for the hook that wrote it. User space reads them
/// through these, never through the raw field names.
impl Event {
    /// kfree_skb: `enum skb_drop_reason` (name it from BTF, its numbering changes).
    pub fn drop_reason(&self) -> u32 {
        self.reason
    }
    /// kfree_skb: the caller that freed the packet, a kernel text address.
    pub fn drop_location(&self) -> u64 {
        self.location
    }
    /// tcp_send_reset: `enum sk_rst_reason` (6.10+; 0 before).
    pub fn reset_reason(&self) -> u32 {
        self.reason
    }
    /// fib_table_lookup: 0 on success, else a negative errno (-EAGAIN: try the next table).
    pub fn fib_error(&self) -> i32 {
        self.value
    }
    /// fib_table_lookup: the routing table's id.
    pub fn fib_table(&self) -> u32 {
        self.table
    }
    /// fib_table_lookup: the output ifindex chosen.
    pub fn fib_oif(&self) -> u32 {
        self.aux
    }
    /// fib_table_lookup / fib6_table_lookup: the gateway, bytes of `family` (zero: none).
    pub fn fib_gateway(&self) -> &[u8; 16] {
        &self.addr
    }
    /// neigh_update / neigh_create: the new NUD state.
    pub fn neigh_state(&self) -> u8 {
        self.value as u8
    }
    /// neigh_update / neigh_create: the neighbour's address (ARP or neighbour discovery),
    /// bytes of `family`.
    pub fn neigh_addr(&self) -> &[u8; 16] {
        &self.addr
    }
    /// net_dev_xmit: the driver's return code (hops: 0 elsewhere).
    pub fn xmit_rc(&self) -> i32 {
        self.value
    }
    /// NfVerdict: the netfilter hook number (NF_INET_*).
    pub fn nf_hook(&self) -> u32 {
        self.table
    }
    /// NfVerdict: the hook's verdict (1 accept, negative errno when dropped), None when the
    /// program saw only the hook's entry.
    pub fn nf_verdict(&self) -> Option<i32> {
        (self.reason != VERDICT_UNKNOWN).then_some(self.reason as i32)
    }
    /// NfTable: `table chain`, NUL-padded.
    pub fn nf_table_chain(&self) -> &[u8] {
        &self.label
    }
    /// kfree_skb / tcp_send_reset in watch mode: the first event of a [`DropKey`] whose
    /// packets are counted in `DROP_COUNTS` (else the event stands for one packet).
    pub fn counted_in_map(&self) -> bool {
        let counted_hook = self.hook == Hook::KfreeSkb as u8 || self.hook == Hook::TcpSendReset as u8;
        counted_hook && self.value == COUNTED_IN_MAP
    }
    /// NatRewrite: NAT rewrites the destination (else the source).
    pub fn nat_rewrites_destination(&self) -> bool {
        self.value == NAT_MANIP_DST
    }
}

/// Length of `Event::label`.
pub const LABEL_LEN: usize = 32;

/// An address of `family` from the sixteen bytes an [`Event`] carries it in.
pub fn event_ip(family: u8, bytes: &[u8; 16]) -> Option<core::net::IpAddr> {
    match family {
        FAMILY_V4 => {
            Some(core::net::IpAddr::V4(core::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])))
        }
        FAMILY_V6 => Some(core::net::IpAddr::V6(core::net::Ipv6Addr::from(*bytes))),
        _ => None,
    }
}

/// ICMP types that quote the packet they are about (destination unreachable, time exceeded,
/// parameter problem).
#[inline(always)]
pub fn is_icmp_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 3 | 11 | 12)
}

/// ICMPv6 types that quote the packet they are about (destination unreachable, packet too
/// big, time exceeded, parameter problem).
#[inline(always)]
pub fn is_icmpv6_error(icmp_type: u8) -> bool {
    matches!(icmp_type, 1..=4)
}

impl Event {
    pub const ZERO: Event = Event {
        ts_ns: 0,
        skb: 0,
        location: 0,
        hook: 0,
        proto: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        inner_proto: 0,
        family: 0,
        _pad: 0,
        saddr: [0; 16],
        daddr: [0; 16],
        sport: 0,
        dport: 0,
        ifindex: 0,
        netns: 0,
        reason: 0,
        value: 0,
        table: 0,
        aux: 0,
        len: 0,
        addr: [0; 16],
        ifname: [0; IFNAMSIZ],
        label: [0; LABEL_LEN],
    };
}

/// What the programs look for.
pub const MODE_OFF: u32 = 0;
/// Only the probe's flow: `probe_proto` with a port in `probe_port..probe_port+probe_port_count`
/// as source or destination port (ICMP: echo identifier), in any of its NAT-translated forms.
pub const MODE_PROBE: u32 = 1;
/// Drops, route failures and resets whose addresses fall in `WATCH_NETS`, seen in a namespace of
/// `WATCH_NETNS` (if that map is non-empty).
pub const MODE_WATCH: u32 = 2;

/// Byte offsets of kernel structure members, resolved from the running kernel's BTF by user
/// space (this crate's programs are not CO-RE-relocated, so they read through these).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SkbOffsets {
    pub head: u16,
    pub data: u16,
    pub len: u16,
    pub network_header: u16,
    pub transport_header: u16,
    pub protocol: u16,
    pub dev: u16,
    pub dev_ifindex: u16,
    pub dev_name: u16,
    pub dev_nd_net: u16,
    pub net_ns_inum: u16,
    pub _pad: u16,
}

/// Where the structures that the route and neighbour tracepoints receive keep what the
/// programs read (`struct flowi4`, `fib_nh_common`, `neighbour`, `neigh_table`), from BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteOffsets {
    pub fl4_oif: u16,
    pub fl4_proto: u16,
    pub fl4_saddr: u16,
    pub fl4_daddr: u16,
    pub fl4_sport: u16,
    pub fl4_dport: u16,
    pub nhc_dev: u16,
    pub nhc_gw_family: u16,
    pub nhc_gw: u16,
    pub neigh_tbl: u16,
    pub neigh_dev: u16,
    pub neigh_key: u16,
    pub tbl_family: u16,
    pub _pad: u16,
}

/// Where the structures `fib6:fib6_table_lookup` receives keep what its program reads
/// (`struct flowi6`, `fib6_result`, `fib6_table`; the next hop is a `fib6_nh`, whose first
/// member is the `fib_nh_common` of [`RouteOffsets`]), from BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Route6Offsets {
    pub fl6_oif: u16,
    pub fl6_proto: u16,
    pub fl6_saddr: u16,
    pub fl6_daddr: u16,
    pub fl6_sport: u16,
    pub fl6_dport: u16,
    /// fib6_result.nh (a `struct fib6_nh *`)
    pub res_nh: u16,
    /// fib6_result.fib6_type (RTN_*)
    pub res_type: u16,
    /// fib6_table.tb6_id
    pub tb6_id: u16,
    pub _pad: u16,
}

/// Argument positions of BTF tracepoints whose prototype changed across kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ArgLayout {
    /// kfree_skb: index of `reason`, or `NO_ARG` on kernels before 5.17.
    pub kfree_reason: u8,
    /// tcp_send_reset: index of `skb` (1 on 5.x-6.x: (sk, skb)).
    pub reset_skb: u8,
    /// (tcp_send_reset's `reason`, 6.10+, is read by a program of its own: tcp_reset_rsn.)
    pub _pad: [u8; 2],
}

pub const NO_ARG: u8 = 0xff;

/// Slots in `Config::probe_addrs` (and `probe_addrs6`).
pub const PROBE_ADDRS: usize = 8;

/// Slots in `Config::dns_addrs`: a resolver's three nameservers, the embedded DNS's three
/// upstreams, and room for their translated forms.
pub const DNS_ADDRS: usize = 8;

/// Offsets and argument positions for the enrichment programs (kprobe/fentry), resolved from
/// vmlinux and module BTF. A zero `present` flag means the structure was not found and the
/// program that needs it is not attached.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EnrichLayout {
    /// struct nf_hook_state
    pub nf_state_hook: u16,
    pub nf_state_pf: u16,
    pub nf_state_in: u16,
    pub nf_state_out: u16,
    /// struct nft_chain / nft_table (nf_tables)
    pub nft_chain_name: u16,
    pub nft_chain_table: u16,
    pub nft_table_name: u16,
    /// struct xt_table (x_tables): `name` is an inline array.
    pub xt_table_name: u16,
    /// struct net_bridge_port (bridge)
    pub br_port_dev: u16,
    /// struct nf_conntrack_tuple
    pub ct_src_ip: u16,
    pub ct_src_port: u16,
    pub ct_dst_ip: u16,
    pub ct_dst_port: u16,
    /// Argument positions.
    pub nft_pkt_arg: u8,
    pub nft_priv_arg: u8,
    pub ipt_priv_arg: u8,
    pub ipt_skb_arg: u8,
    pub ipt_state_arg: u8,
    pub nat_skb_arg: u8,
    pub nat_target_arg: u8,
    pub nat_mtype_arg: u8,
    pub br_fwd_port_arg: u8,
    pub br_fwd_skb_arg: u8,
    pub _pad: [u8; 2],
}

/// The single entry of the `CONFIG` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    pub mode: u32,
    pub probe_proto: u8,
    /// Watch mode: only namespaces listed in `WATCH_NETNS`.
    pub watch_netns_only: u8,
    /// Probe mode: first port of the probes (ICMP: echo identifier) ...
    pub probe_port: u16,
    /// ... and how many consecutive ports the probes use (one per probe).
    pub probe_port_count: u16,
    /// Probe mode: [`FAMILY_V4`] or [`FAMILY_V6`], the family of the probe's packets.
    pub probe_family: u8,
    /// Watch mode: 1 when an IPv6 prefix is watched (IPv6 packets are parsed only then).
    pub watch_v6: u8,
    /// Probe mode, name resolution: the nameservers' port (53), 0 = off. UDP and TCP packets to
    /// this port of an address in `dns_addrs`, or from it, are followed too: the queries that
    /// Docker's embedded DNS forwards leave from a port of dockerd's choosing. (IPv4
    /// nameservers: their packets are followed whatever the probe's family.)
    pub dns_port: u16,
    /// Probe mode: IPv4 addresses on the probe's path (ends, NAT forms, gateways), for hooks
    /// that see addresses but no ports (route lookups, neighbour resolution). 0 = unused slot.
    pub probe_addrs: [u32; PROBE_ADDRS],
    /// Probe mode: the same for an IPv6 probe, each address as four words of its bytes (as
    /// `u32::from_ne_bytes` reads them). All zero = unused slot.
    pub probe_addrs6: [[u32; 4]; PROBE_ADDRS],
    /// Probe mode: the nameservers (and the embedded DNS's upstreams) `dns_port` applies to.
    /// 0 = unused slot.
    pub dns_addrs: [u32; DNS_ADDRS],
    pub skb: SkbOffsets,
    pub route: RouteOffsets,
    pub route6: Route6Offsets,
    pub args: ArgLayout,
    pub enrich: EnrichLayout,
}

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

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are repr(C), Copy, contain only integers and arrays of integers,
    // and every bit pattern is a valid value.
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::Config {}
    unsafe impl aya::Pod for super::DropKey {}
    unsafe impl aya::Pod for super::DropCount {}
    unsafe impl aya::Pod for super::NoiseSite {}
    unsafe impl aya::Pod for super::SkbOffsets {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_round_trips() {
        for v in 1u8..=15 {
            let h = Hook::try_from(v).unwrap();
            assert_eq!(h as u8, v);
        }
        assert_eq!(Hook::try_from(0), Err(0));
        assert_eq!(Hook::try_from(16), Err(16));
        assert_eq!(Hook::KfreeSkb.name(), "kfree_skb");
    }

    #[test]
    fn names_compare_in_constants() {
        const { assert!(same_name(programs::KFREE_SKB, "kfree_skb")) };
        assert!(!same_name(programs::TC_INGRESS, programs::TC_EGRESS));
        assert!(!same_name("kfree_skb", "kfree_sk"));
    }

    #[test]
    fn per_hook_fields_are_named() {
        let mut e = Event::ZERO;
        e.reason = VERDICT_UNKNOWN;
        assert_eq!(e.nf_verdict(), None);
        e.reason = 1;
        assert_eq!(e.nf_verdict(), Some(1));
        // A drop (-EPERM) is a verdict, not "unknown".
        e.reason = -1i32 as u32;
        assert_eq!(e.nf_verdict(), Some(-1));
        e.value = -101;
        assert_eq!(e.fib_error(), -101);
        e.value = 0x20;
        assert_eq!(e.neigh_state(), 0x20);
    }

    #[test]
    fn event_addresses_read_per_family() {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[172, 18, 0, 2]);
        assert_eq!(event_ip(FAMILY_V4, &b), Some("172.18.0.2".parse().unwrap()));
        let v6: core::net::Ipv6Addr = "fd00:18::2".parse().unwrap();
        assert_eq!(event_ip(FAMILY_V6, &v6.octets()), Some(v6.into()));
        assert_eq!(event_ip(0, &b), None);
    }

    #[test]
    fn net16_slot_is_the_first_two_octets() {
        let be = |a: [u8; 4]| u32::from_ne_bytes(a);
        assert_eq!(net16_slot(be([172, 18, 0, 2])), (172 << 8) | 18);
        assert_eq!(net16_slot(be([10, 0, 0, 1])), 10 << 8);
    }

    #[test]
    fn layout_is_stable() {
        // The kernel and user space must agree on these sizes; a change here is a change of
        // the binary interface between the two halves.
        assert_eq!(core::mem::size_of::<Event>(), 160);
        assert_eq!(core::mem::size_of::<SkbOffsets>(), 24);
        assert_eq!(core::mem::size_of::<RouteOffsets>(), 28);
        assert_eq!(core::mem::size_of::<Route6Offsets>(), 20);
        assert_eq!(core::mem::size_of::<EnrichLayout>(), 38);
        // 16 up to dns_port, probe_addrs + probe_addrs6 + dns_addrs, then offsets, argument
        // layout, enrichment, and padding up to the 4-byte alignment of the whole.
        assert_eq!(core::mem::size_of::<Config>(), 16 + 32 + 128 + 4 * DNS_ADDRS + 24 + 28 + 20 + 4 + 38 + 2);
        assert_eq!(core::mem::align_of::<Config>(), 4);
        // Where the addresses sit in an event: the same for every hook and both families.
        assert_eq!(core::mem::offset_of!(Event, saddr), 32);
        assert_eq!(core::mem::offset_of!(Event, addr), 96);
        assert_eq!(core::mem::size_of::<DropKey>(), 64);
        assert_eq!(core::mem::size_of::<DropCount>(), 32);
        assert_eq!(core::mem::size_of::<NoiseSite>(), 16);
    }
}
