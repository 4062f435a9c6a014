//! Reading kernel memory through offsets that user space resolved from BTF.
//!
//! The `sk_buff` and `net_device` offsets the hot paths need are load-time constants: user
//! space writes them into the read-only global `SKB_LAYOUT` before the programs are loaded, so
//! the verifier knows each as a number. Programs then read fields of the kernel's own,
//! BTF-typed pointers (tracepoint arguments, and pointers loaded from them) with plain loads
//! ([`Typed`]), which the JIT guards against faults, instead of a helper call per field
//! ([`Probed`], for addresses the verifier sees as plain numbers: kprobe arguments).
use aya_ebpf::helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_buf};
use dockernet_trace_common::{Config, IFNAMSIZ, MODE_ANY, MODE_OFF, SkbOffsets};

use crate::maps::CONFIG;

/// Written by user space when the object is loaded (see the module's comment).
#[unsafe(no_mangle)]
pub(crate) static SKB_LAYOUT: SkbOffsets = SkbOffsets {
    head: 0,
    data: 0,
    len: 0,
    network_header: 0,
    transport_header: 0,
    protocol: 0,
    dev: 0,
    dev_ifindex: 0,
    dev_name: 0,
    dev_nd_net: 0,
    net_ns_inum: 0,
    refdst: 0,
};

/// The mode the object was loaded for, written by user space like `SKB_LAYOUT`. A trace's
/// programs never run in watch mode, nor watch's in probe mode: knowing that, the verifier
/// checks only one mode's code (a trace's start waits for the verifier).
#[unsafe(no_mangle)]
pub(crate) static LOADED_FOR: u32 = MODE_ANY;

/// Whether IPv6 packets may be of interest (see `dockernet_trace_common::globals::LOADED_V6`),
/// written by user space like `LOADED_FOR`.
#[unsafe(no_mangle)]
pub(crate) static LOADED_V6: u32 = 1;

/// False when the object was loaded for IPv4 only: checked before any IPv6 work, so that the
/// verifier drops it (a trace's start waits for the verifier).
#[inline(always)]
pub fn v6_loaded() -> bool {
    // SAFETY: as in `layout!`.
    unsafe { core::ptr::read_volatile(&raw const LOADED_V6) != 0 }
}

/// The configured mode, as far as the object was loaded for it (another is off). Every check
/// of the mode goes through here, the filters' too: the verifier then drops the other mode's
/// branches everywhere (a tracepoint program's verification 45–55 → 13–16 ms), for one read
/// of the global per check at run time.
#[inline(always)]
pub fn mode(cfg: &Config) -> u32 {
    // SAFETY: as in `layout!`.
    let loaded_for = unsafe { core::ptr::read_volatile(&raw const LOADED_FOR) };
    match loaded_for {
        MODE_ANY => cfg.mode,
        // The constant, not the configuration's copy: that is what the verifier knows.
        m if cfg.mode == m => m,
        _ => MODE_OFF,
    }
}

/// One offset of `SKB_LAYOUT`, read so that the compiler cannot assume its initial value (the
/// verifier, which sees the frozen map's content, knows it as a constant).
macro_rules! layout {
    ($field:ident) => {
        // SAFETY: a read of an immutable global; volatile only keeps the compiler from
        // folding it to the initial 0.
        unsafe { core::ptr::read_volatile(&raw const crate::context::SKB_LAYOUT.$field) }
    };
}
pub(crate) use layout;

/// The configuration, or None before user space has written it.
#[inline(always)]
pub fn config() -> Option<&'static Config> {
    CONFIG.get(0)
}

/// Reads a `T` at `base + off` in kernel memory (helper call).
#[inline(always)]
pub fn read<T>(base: u64, off: u16) -> Result<T, i32> {
    // SAFETY: bpf_probe_read_kernel copies through the kernel's fault-safe accessor; a bad
    // address yields an error, never a fault.
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }
}

#[inline(always)]
pub fn read_buf(addr: u64, dst: &mut [u8]) -> Result<(), i32> {
    // SAFETY: as in `read`.
    unsafe { bpf_probe_read_kernel_buf(addr as *const u8, dst) }
}

/// How a program reads a field of a kernel object.
pub trait Kmem {
    fn get<T: Copy + Default>(base: u64, off: u16) -> T;
}

/// Through bpf_probe_read_kernel: for addresses the verifier knows only as numbers.
pub struct Probed;

impl Kmem for Probed {
    #[inline(always)]
    fn get<T: Copy + Default>(base: u64, off: u16) -> T {
        read(base, off).unwrap_or_default()
    }
}

/// Plain loads from a BTF-typed pointer, at a `layout!` offset (a constant to the verifier).
pub struct Typed;

impl Kmem for Typed {
    #[inline(always)]
    fn get<T: Copy + Default>(base: u64, off: u16) -> T {
        if base == 0 {
            return T::default();
        }
        // SAFETY: `base` is a BTF-typed kernel pointer and `off` a member's offset from BTF;
        // the verifier checks the access against the type and the JIT turns a fault into 0.
        unsafe { core::ptr::read_volatile((base as *const u8).wrapping_add(off as usize) as *const T) }
    }
}

/// Identity of a `struct net_device`: ifindex, name and network namespace inode.
pub struct Device {
    pub ifindex: u32,
    pub netns: u32,
    pub name: [u8; IFNAMSIZ],
}

/// ifindex, namespace and name of the device at `dev` (0: none).
#[inline(always)]
pub fn device<M: Kmem>(dev: u64) -> Device {
    let mut d = device_id::<M>(dev);
    if dev != 0 {
        d.name = name_of::<M>(dev);
    }
    d
}

/// The name of the `struct net_device` at `dev`, read as two 8-byte words: a plain load of a
/// 16-byte array is split into one load (and, under pressure, one stack slot) per byte.
#[inline(always)]
pub fn name_of<M: Kmem>(dev: u64) -> [u8; IFNAMSIZ] {
    let off = layout!(dev_name);
    let lo = M::get::<u64>(dev, off);
    let hi = M::get::<u64>(dev, off + 8);
    // The target is little-endian (bpfel): the first word's bytes come first.
    ((lo as u128) | ((hi as u128) << 64)).to_le_bytes()
}

/// ifindex and namespace only: what filters and counting keys need (the name is read once,
/// for the event that reports it).
#[inline(always)]
pub fn device_id<M: Kmem>(dev: u64) -> Device {
    let mut d = Device { ifindex: 0, netns: 0, name: [0; IFNAMSIZ] };
    if dev == 0 {
        return d;
    }
    d.ifindex = M::get::<u32>(dev, layout!(dev_ifindex));
    let net = M::get::<u64>(dev, layout!(dev_nd_net));
    if net != 0 {
        d.netns = M::get::<u32>(net, layout!(net_ns_inum));
    }
    d
}

/// The device an skb is on (`skb->dev`).
#[inline(always)]
pub fn skb_dev<M: Kmem>(skb: u64) -> u64 {
    M::get::<u64>(skb, layout!(dev))
}
