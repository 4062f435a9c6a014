//! Writing events to the ring buffer, and the per-CPU counters.
use dockernet_trace_common::{Event, Hook, counters};

use crate::{
    context::Device,
    maps::{COUNTERS, EVENTS},
    packet::Packet,
};

#[inline(always)]
pub fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, so no other writer races with this one.
        unsafe { *c += 1 };
    }
}

/// An event pre-filled from a packet and the device it was seen on.
#[inline(always)]
pub fn event(hook: Hook, skb: u64, p: &Packet, dev: &Device) -> Event {
    let mut e = Event::ZERO;
    // SAFETY: helper without preconditions.
    e.ts_ns = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    e.hook = hook as u8;
    e.skb = skb;
    e.proto = p.proto;
    e.tcp_flags = p.tcp_flags;
    e.icmp_type = p.icmp_type;
    e.icmp_code = p.icmp_code;
    e.inner_proto = p.inner_proto;
    e.saddr = p.saddr;
    e.daddr = p.daddr;
    e.sport = p.sport;
    e.dport = p.dport;
    e.len = p.len as u32;
    e.ifindex = dev.ifindex;
    e.netns = dev.netns;
    e.ifname = dev.name;
    e
}

/// Sends `e` to user space; a full ring buffer is counted, never silent.
#[inline(always)]
pub fn submit(e: &Event) {
    match EVENTS.reserve::<Event>(0) {
        Some(mut slot) => {
            slot.write(*e);
            slot.submit(0);
            count(counters::EMITTED);
        }
        None => count(counters::LOST),
    }
}
