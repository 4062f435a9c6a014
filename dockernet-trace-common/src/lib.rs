//! Types shared by the eBPF programs (kernel side) and the loader (user space).
//!
//! Everything here is `repr(C)` and plain data: the kernel writes these bytes into maps and the
//! ring buffer, user space reads them back. Enumerations travel as integers and are converted
//! with `TryFrom` on the user side, so a value from a newer kernel object is an error, not UB.
#![no_std]

mod config;
mod event;
mod watch_maps;

pub use config::*;
pub use event::*;
pub use watch_maps::*;

/// Length of `net_device.name` in the kernel.
pub const IFNAMSIZ: usize = 16;

/// Names of the maps, so loader and programs cannot drift apart (the eBPF crate checks its
/// statics against these at compile time).
pub mod maps {
    pub const EVENTS: &str = "EVENTS";
    pub const CONFIG: &str = "CONFIG";
    pub const COUNTERS: &str = "COUNTERS";
    pub const WATCH_NETS: &str = "WATCH_NETS";
    /// Watch mode: the IPv6 prefixes of interest (see [`super::Ipv6Prefix`]).
    pub const WATCH_NETS6: &str = "WATCH_NETS6";
    pub const WATCH_NETNS: &str = "WATCH_NETNS";
    /// Watch mode: one bit per /16 that a watched prefix touches (see [`super::net16_slot`]).
    pub const WATCH_NET16: &str = "WATCH_NET16";
    /// Watch mode: what to do with a drop reason (see [`super::drop_policy`]).
    pub const DROP_POLICY: &str = "DROP_POLICY";
    /// Watch mode: drops and resets counted per [`super::DropKey`], keyed by its id (see
    /// [`super::DropCount`]).
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
    /// The mode the programs are loaded for (`MODE_PROBE`, `MODE_WATCH` or `MODE_ANY`): the
    /// verifier then skips the other mode's code.
    pub const LOADED_FOR: &str = "LOADED_FOR";
    /// 1 when the programs may meet IPv6 packets of interest, 0 when not (a trace to an IPv4
    /// target): the verifier then skips every IPv6 parse and comparison.
    pub const LOADED_V6: &str = "LOADED_V6";
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
        assert_eq!(core::mem::size_of::<RouteOffsets>(), 32);
        assert_eq!(core::mem::size_of::<Route6Offsets>(), 20);
        assert_eq!(core::mem::size_of::<EnrichLayout>(), 38);
        // 16 up to dns_port, probe_addrs + probe_addrs6 + dns_addrs, then offsets, argument
        // layout, enrichment, and padding up to the 4-byte alignment of the whole.
        assert_eq!(core::mem::size_of::<Config>(), 16 + 32 + 128 + 4 * DNS_ADDRS + 24 + 32 + 20 + 4 + 38 + 2);
        assert_eq!(core::mem::align_of::<Config>(), 4);
        // Where the addresses sit in an event: the same for every hook and both families.
        assert_eq!(core::mem::offset_of!(Event, saddr), 32);
        assert_eq!(core::mem::offset_of!(Event, addr), 96);
        assert_eq!(core::mem::size_of::<DropKey>(), 64);
        assert_eq!(core::mem::size_of::<DropCount>(), 104);
    }

    #[test]
    fn drop_keys_that_differ_anywhere_have_different_ids() {
        let base = DropKey {
            location: 0xffff_ffff_8123_4567,
            sport: 40000,
            dport: 3306,
            reason: 6,
            ..DropKey::default()
        };
        let variants = [
            DropKey { location: base.location + 1, ..base },
            DropKey { saddr: [1; 16], ..base },
            DropKey {
                daddr: {
                    let mut d = [0; 16];
                    d[15] = 1;
                    d
                },
                ..base
            },
            DropKey { sport: 40001, ..base },
            DropKey { dport: 3307, ..base },
            DropKey { reason: 7, ..base },
            DropKey { ifindex: 9, ..base },
            DropKey { netns: 4026531840, ..base },
            DropKey { hook: 1, ..base },
            DropKey { proto: 17, ..base },
            DropKey { inner_proto: 6, ..base },
            DropKey { icmp_type: 3, ..base },
            DropKey { family: FAMILY_V6, ..base },
        ];
        assert!(base.same_as(&{ base }));
        for v in variants {
            assert_ne!(v.id(), base.id(), "{v:?}");
            assert!(!v.same_as(&base), "{v:?}");
        }
        // Swapped ports are another flow.
        assert_ne!(DropKey { sport: 3306, dport: 40000, ..base }.id(), base.id());
        assert_eq!(core::mem::size_of::<NoiseSite>(), 16);
    }
}
