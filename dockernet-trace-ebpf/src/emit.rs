//! Writing events to the ring buffer, and the per-CPU counters.
//!
//! Events are built in place in the reserved ring buffer slot: an `Event` on the 512-byte BPF
//! stack, plus a copy to submit it, would not fit next to the parsing state.
use aya_ebpf::bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use dockernet_trace_common::{Event, Hook, MODE_WATCH, counters};

use crate::{
    context::{Device, config, mode},
    maps::{COUNTERS, EVENTS, RING_BYTES},
    packet::Packet,
};

#[inline(always)]
pub fn count(index: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, so no other writer races with this one.
        unsafe { *c += 1 };
    }
}

/// How to submit: a trace waits for its few events, so the kernel wakes it as usual; a watch
/// polls the ring several times a second, so waking it for each event (an interrupt and two
/// context switches, tens of microseconds) is only done when the ring fills up.
#[inline(always)]
fn submit_flags() -> u64 {
    match config() {
        Some(cfg) if mode(cfg) == MODE_WATCH => {
            if EVENTS.query(BPF_RB_AVAIL_DATA as u64) > RING_BYTES as u64 / 4 {
                BPF_RB_FORCE_WAKEUP as u64
            } else {
                BPF_RB_NO_WAKEUP as u64
            }
        }
        _ => 0,
    }
}

/// Reserves a slot, zeroes it, lets `fill` write it, and submits it; a full ring buffer is
/// counted, never silent.
#[inline(always)]
pub fn emit_raw(hook: Hook, fill: impl FnOnce(&mut Event)) {
    let Some(mut slot) = EVENTS.reserve::<Event>(0) else {
        count(counters::LOST);
        return;
    };
    // SAFETY: the slot is ours until submit; it is fully initialised by the write of ZERO
    // before any field is touched.
    let e = unsafe {
        let ptr = slot.as_mut_ptr();
        ptr.write(Event::ZERO);
        &mut *ptr
    };
    // SAFETY: helper without preconditions.
    e.ts_ns = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
    e.hook = hook as u8;
    fill(e);
    slot.submit(submit_flags());
    count(counters::EMITTED);
}

/// An event about packet `p` seen on `dev`; `fill` adds the hook's own fields.
#[inline(always)]
pub fn emit(hook: Hook, skb: u64, p: &Packet, dev: &Device, fill: impl FnOnce(&mut Event)) {
    emit_raw(hook, |e| {
        e.skb = skb;
        e.proto = p.proto;
        e.tcp_flags = p.tcp_flags;
        e.icmp_type = p.icmp_type;
        e.icmp_code = p.icmp_code;
        e.inner_proto = p.inner_proto;
        e.family = p.family;
        e.saddr = p.src_bytes();
        e.daddr = p.dst_bytes();
        e.sport = p.sport;
        e.dport = p.dport;
        e.len = p.len as u32;
        e.ifindex = dev.ifindex;
        e.netns = dev.netns;
        e.ifname = dev.name;
        fill(e);
    });
}
