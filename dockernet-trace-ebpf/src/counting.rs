//! Watch mode: drops and resets counted in the kernel, per flow, reason and place
//! (`DropKey`). Only the first packet of a key becomes an event; the others add one to the
//! key's per-CPU count, which user space reads. So the ring buffer carries one event per flow,
//! however many packets a flood drops, and every packet is still counted.
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns};
use dockernet_trace_common::{COUNTED_IN_MAP, Config, DropCount, DropKey, Hook, IFNAMSIZ, NoiseSite};

use crate::{
    context::{Device, Typed, name_of},
    emit::emit,
    filter::is_watched,
    maps::{DROP_COUNTS, NOISE_SITES},
    packet::Packet,
};

/// One drop (hook KfreeSkb) or reset (TcpSendReset) of packet `p`, which passed the cheap
/// filters, on the device at `dev_ptr` (`dev`: its ifindex and namespace).
#[inline(always)]
pub fn count_incident(
    cfg: &Config,
    hook: Hook,
    skb: u64,
    p: &Packet,
    dev_ptr: u64,
    dev: &Device,
    reason: u32,
    location: u64,
) {
    let key = DropKey {
        location,
        saddr: p.src_bytes(),
        daddr: p.dst_bytes(),
        sport: p.sport,
        dport: p.dport,
        reason,
        ifindex: dev.ifindex,
        netns: dev.netns,
        hook: hook as u8,
        proto: p.proto,
        inner_proto: p.inner_proto,
        icmp_type: p.icmp_type,
        family: p.family,
        _pad: [0; 3],
    };
    // The flood's path: a key that is counted already passed every filter below.
    if bump(&key) {
        return;
    }
    if !is_watched(cfg, p, dev.netns) || is_noise(&key, p) {
        return;
    }
    let mut first = DropCount { packets: 1, first_ns: 0, ifname: [0; IFNAMSIZ] };
    // SAFETY: helper without preconditions.
    first.first_ns = unsafe { bpf_ktime_get_ns() };
    first.ifname = name_of::<Typed>(dev_ptr);
    let counted = match DROP_COUNTS.insert(&key, &first, BPF_NOEXIST as u64) {
        Ok(()) => true,
        // Another CPU created the key just now (and reports it): count on ours.
        Err(_) if bump(&key) => return,
        // The map is full: this packet is an event of its own.
        Err(_) => false,
    };
    let named = Device { ifindex: dev.ifindex, netns: dev.netns, name: first.ifname };
    emit(hook, skb, p, &named, |e| {
        e.reason = reason;
        e.location = location;
        e.value = if counted { COUNTED_IN_MAP } else { 0 };
    });
}

/// Adds one to the key's count on this CPU, if the key is counted.
#[inline(always)]
fn bump(key: &DropKey) -> bool {
    match DROP_COUNTS.get_ptr_mut(key) {
        Some(v) => {
            // SAFETY: this CPU's slot of the value; programs do not nest on one CPU, and the
            // entry is freed only after an RCU grace period (BPF_F_NO_PREALLOC).
            unsafe { (*v).packets += 1 };
            true
        }
        None => false,
    }
}

#[inline(always)]
fn is_noise(key: &DropKey, p: &Packet) -> bool {
    if key.hook != Hook::KfreeSkb as u8 {
        return false;
    }
    let site = NoiseSite { location: key.location, reason: key.reason, proto: p.flow_proto(), _pad: [0; 3] };
    NOISE_SITES.get_ptr(&site).is_some()
}
