//! What user space tells the programs before and while they run: the mode, the probe's or
//! the watch's filter, and the kernel layouts resolved from BTF.

/// What the programs look for.
pub const MODE_OFF: u32 = 0;
/// Only the probe's flow: `probe_proto` with a port in `probe_port..probe_port+probe_port_count`
/// as source or destination port (ICMP: echo identifier), in any of its NAT-translated forms.
pub const MODE_PROBE: u32 = 1;
/// Drops, route failures and resets whose addresses fall in `WATCH_NETS`, seen in a namespace of
/// `WATCH_NETNS` (if that map is non-empty).
pub const MODE_WATCH: u32 = 2;
/// What an object is loaded for (the global `LOADED_FOR`), when it may run in any mode
/// (`kernel-check`, which proves that every program loads).
pub const MODE_ANY: u32 = u32::MAX;

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
    /// sk_buff._skb_refdst: the packet's route (`struct dst_entry *`, low bit a flag).
    pub refdst: u16,
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
    /// dst_entry.error: why a route is an error route (an errno; IPv6 stores it negated).
    pub dst_error: u16,
    /// net_device.ip_ptr (`struct in_device *`).
    pub dev_ip_ptr: u16,
    /// in_device.cnf.data: its first int is IPV4_DEVCONF_FORWARDING, the device's
    /// net.ipv4.conf.DEV.forwarding.
    pub in_dev_forwarding: u16,
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
    /// Where the tracepoints' arguments are. Beside `mode` in the first cache line: every
    /// dropped packet reads both.
    pub args: ArgLayout,
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
    pub enrich: EnrichLayout,
}
