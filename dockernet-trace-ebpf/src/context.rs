//! Reading kernel memory through offsets that user space resolved from BTF.
use aya_ebpf::helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_buf};
use dockernet_trace_common::{Config, IFNAMSIZ};

use crate::maps::CONFIG;

/// The configuration, or None before user space has written it.
#[inline(always)]
pub fn config() -> Option<&'static Config> {
    CONFIG.get(0)
}

/// Reads a `T` at `base + off` in kernel memory.
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

/// Identity of a `struct net_device`: ifindex, name and network namespace inode.
pub struct Device {
    pub ifindex: u32,
    pub netns: u32,
    pub name: [u8; IFNAMSIZ],
}

/// ifindex, namespace and name of the device at `dev` (0: none).
#[inline(always)]
pub fn device(cfg: &Config, dev: u64) -> Device {
    let mut d = device_id(cfg, dev);
    if dev != 0 {
        let _ = read_buf(dev + cfg.skb.dev_name as u64, &mut d.name);
    }
    d
}

/// ifindex and namespace only: what filters and counting keys need (the name is read once,
/// for the event that reports it).
#[inline(always)]
pub fn device_id(cfg: &Config, dev: u64) -> Device {
    let mut d = Device { ifindex: 0, netns: 0, name: [0; IFNAMSIZ] };
    if dev == 0 {
        return d;
    }
    let o = &cfg.skb;
    d.ifindex = read::<u32>(dev, o.dev_ifindex).unwrap_or(0);
    if let Ok(net) = read::<u64>(dev, o.dev_nd_net) {
        if net != 0 {
            d.netns = read::<u32>(net, o.net_ns_inum).unwrap_or(0);
        }
    }
    d
}
