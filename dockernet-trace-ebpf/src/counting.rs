//! Watch mode: drops and resets counted in the kernel, per flow, reason and place
//! (`DropKey`). Only the first packet of a key becomes an event; the others add one to the
//! key's per-CPU count, which user space reads. So the ring buffer carries one event per flow,
//! however many packets a flood drops, and every packet is still counted.
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns};
use dockernet_trace_common::{COUNTED_IN_MAP, Config, DropKey, Hook, IFNAMSIZ, NoiseSite, RefusedRoute};

use crate::{
    context::{Device, Typed, name_of},
    emit::emit,
    filter::is_watched,
    maps::{DROP_COUNTS, DROP_NEW, NOISE_SITES},
    packet::Packet,
};

/// One drop (hook KfreeSkb) or reset (TcpSendReset) of packet `p`, which passed the cheap
/// filters, on the device at `dev_ptr` (`dev`: its ifindex and namespace); `route` reads the
/// error route it was refused for, once, for a key's first packet (a reason that may be a
/// refusal of its route costs the counted packets nothing more).
///
/// Only the count of a known key, every packet of a flood, is inlined here; what a key's
/// first packet needs besides (the exact filters, the device's name, the route, the event) is
/// `first_of_key`, an eBPF function of its own, out of the flood's way.
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
    route: impl FnOnce() -> RefusedRoute,
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
    let id = key.id();
    let taken = match bump(id, &key) {
        Bump::Counted => return,
        Bump::Taken => true,
        Bump::Missing => false,
    };
    let first = FirstPacket { key, id, skb, dev_ptr, taken };
    first_of_key(cfg, &first, p, route);
}

/// What `first_of_key` needs besides the packet (one argument: an eBPF function takes five).
/// Plain fields: the kernel refuses the BTF of a Rust enum's layout in a function's types.
struct FirstPacket {
    key: DropKey,
    id: u64,
    skb: u64,
    dev_ptr: u64,
    /// Another key holds the id (two 64-bit folds collided).
    taken: bool,
}

/// The first packet of a key (or one whose id another key holds): unless it is out of scope
/// or noise, an event, and the key's count starts. An eBPF function of its own, not inlined
/// (see `count_incident`).
#[inline(never)]
fn first_of_key(cfg: &Config, f: &FirstPacket, p: &Packet, route: impl FnOnce() -> RefusedRoute) {
    let key = &f.key;
    if !is_watched(cfg, p, key.netns) || is_noise(key, p) {
        return;
    }
    let name = name_of::<Typed>(f.dev_ptr);
    let route = route();
    let counted = if f.taken {
        // An event of its own.
        false
    } else {
        match start_count(f.id, key, name, route) {
            Ok(()) => true,
            // Another CPU created the key just now (and reports it): count on ours.
            Err(()) if matches!(bump(f.id, key), Bump::Counted) => return,
            // The map is full: this packet is an event of its own.
            Err(()) => false,
        }
    };
    let hook = Hook::try_from(key.hook).unwrap_or(Hook::KfreeSkb);
    let named = Device { ifindex: key.ifindex, netns: key.netns, name };
    emit(hook, f.skb, p, &named, |e| {
        e.reason = key.reason;
        e.location = key.location;
        e.aux = route.to_aux();
        e.value = if counted { COUNTED_IN_MAP } else { 0 };
    });
}

/// Creates the key's entry, counting this packet, unless it exists (or the map is full).
#[inline(always)]
fn start_count(id: u64, key: &DropKey, ifname: [u8; IFNAMSIZ], route: RefusedRoute) -> Result<(), ()> {
    let new = DROP_NEW.get_ptr_mut(0).ok_or(())?;
    // SAFETY: this CPU's scratch value, which nothing else uses while this program runs.
    let new = unsafe { &mut *new };
    new.key = *key;
    new.packets = 1;
    // SAFETY: helper without preconditions.
    new.first_ns = unsafe { bpf_ktime_get_ns() };
    new.ifname = ifname;
    new.route = route;
    DROP_COUNTS.insert(&id, new, BPF_NOEXIST as u64).map_err(|_| ())
}

/// What `bump` found.
enum Bump {
    /// The key is counted, this packet included.
    Counted,
    /// Its id belongs to another key.
    Taken,
    /// Not counted (yet).
    Missing,
}

/// Adds one to the key's count on this CPU, if the key is counted.
#[inline(always)]
fn bump(id: u64, key: &DropKey) -> Bump {
    let Some(v) = DROP_COUNTS.get_ptr_mut(&id) else { return Bump::Missing };
    // SAFETY: this CPU's slot of the value; programs do not nest on one CPU, and the entry is
    // freed only after an RCU grace period (BPF_F_NO_PREALLOC).
    let v = unsafe { &mut *v };
    if v.packets == 0 {
        // Another CPU created the entry: the kernel zeroed this CPU's slot.
        v.key = *key;
    } else if !v.key.same_as(key) {
        return Bump::Taken;
    }
    v.packets += 1;
    Bump::Counted
}

#[inline(always)]
fn is_noise(key: &DropKey, p: &Packet) -> bool {
    if key.hook != Hook::KfreeSkb as u8 {
        return false;
    }
    let site = NoiseSite { location: key.location, reason: key.reason, proto: p.flow_proto(), _pad: [0; 3] };
    NOISE_SITES.get_ptr(&site).is_some()
}
