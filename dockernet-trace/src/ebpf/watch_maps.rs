//! The maps only a watch uses, seen from user space: which drop reasons the kernel turns away
//! (by name, resolved from the kernel's BTF), the /16 bitmap in front of the watched prefixes,
//! the per-key counts of drops and resets, and the drop sites found to be no incident.
use std::collections::{BTreeMap, BTreeSet};

use aya::maps::{Array, HashMap, MapData, PerCpuHashMap};
use dockernet_trace_common::{
    COUNTED_IN_MAP, DROP_POLICY_LEN, DropCount, DropKey, Event, IFNAMSIZ, NoiseSite, RefusedRoute,
    WATCH_NET16_WORDS, maps,
};

use super::{EbpfError, Session};
use crate::kernel::DropReasons;

/// Everything `DROP_COUNTS` holds for one key, all CPUs together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountedKey {
    pub key: DropKey,
    /// Packets counted since the kernel created the key.
    pub packets: u64,
    /// The earliest first packet of any CPU (CLOCK_MONOTONIC ns).
    pub first_ns: u64,
    pub ifname: [u8; IFNAMSIZ],
    /// The error route the first packet was refused for (drops of route refusals).
    pub route: RefusedRoute,
}

impl CountedKey {
    /// The event the kernel sent (or would have sent) for the key's first packet: what user
    /// space reports a key by when that event never arrived.
    pub fn first_event(&self) -> Event {
        let k = &self.key;
        Event {
            ts_ns: self.first_ns,
            location: k.location,
            hook: k.hook,
            proto: k.proto,
            icmp_type: k.icmp_type,
            inner_proto: k.inner_proto,
            family: k.family,
            saddr: k.saddr,
            daddr: k.daddr,
            sport: k.sport,
            dport: k.dport,
            ifindex: k.ifindex,
            netns: k.netns,
            reason: k.reason,
            value: COUNTED_IN_MAP,
            ifname: self.ifname,
            aux: self.route.to_aux(),
            ..Event::ZERO
        }
    }
}

/// One entry of `DROP_COUNTS` (`id`, each CPU's slot), all CPUs together; None while no CPU
/// has counted a packet of it. A CPU's slot counts only if it holds a key of this id: the
/// kernel writes a slot's key before its count, and a slot read while that happens is
/// left for the next reading.
fn counted_key_of<'a>(id: u64, slots: impl Iterator<Item = &'a DropCount>) -> Option<CountedKey> {
    let mut out: Option<CountedKey> = None;
    for v in slots.filter(|v| v.packets != 0 && v.key.id() == id) {
        let c = out.get_or_insert(CountedKey {
            key: v.key,
            packets: 0,
            first_ns: u64::MAX,
            ifname: [0; IFNAMSIZ],
            route: RefusedRoute::default(),
        });
        c.packets += v.packets;
        // Only the CPU that created the entry has a first packet's time, device name and route.
        if v.first_ns != 0 && v.first_ns < c.first_ns {
            (c.first_ns, c.ifname, c.route) = (v.first_ns, v.ifname, v.route);
        }
    }
    if let Some(c) = out.as_mut().filter(|c| c.first_ns == u64::MAX) {
        c.first_ns = 0;
    }
    out
}

/// The key a drop or reset event of watch mode is counted under, if the kernel counts it
/// (else the event stands for one packet).
pub fn counted_key(e: &Event) -> Option<DropKey> {
    // (A drop's reason and location and a reset's reason share the event's fields.)
    e.counted_in_map().then_some(DropKey {
        location: e.drop_location(),
        saddr: e.saddr,
        daddr: e.daddr,
        sport: e.sport,
        dport: e.dport,
        reason: e.drop_reason(),
        ifindex: e.ifindex,
        netns: e.netns,
        hook: e.hook,
        proto: e.proto,
        inner_proto: e.inner_proto,
        icmp_type: e.icmp_type,
        family: e.family,
        _pad: [0; 3],
    })
}

/// The words of the /16 bitmap for a set of prefixes (address in host order, length).
pub fn net16_words(prefixes: &BTreeSet<(u32, u8)>) -> Vec<u64> {
    let mut words = vec![0u64; WATCH_NET16_WORDS as usize];
    for &(addr, len) in prefixes {
        let first = addr >> 16;
        // A prefix shorter than /16 covers 2^(16-len) of them.
        let span = if len >= 16 { 1 } else { 1u32 << (16 - u32::from(len)) };
        let first = first & !(span - 1);
        for slot in first..first + span {
            words[(slot >> 6) as usize] |= 1 << (slot & 63);
        }
    }
    words
}

impl Session {
    /// Writes the drop policy: `(reason name, flags)`, the flags of a name listed twice
    /// together; names this kernel does not have are returned (older kernels lack newer
    /// reasons), not an error.
    pub fn set_drop_policy<'a>(
        &mut self,
        reasons: &DropReasons,
        policy: &[(&'a str, u8)],
    ) -> Result<Vec<&'a str>, EbpfError> {
        let mut flags_of: BTreeMap<u32, u8> = BTreeMap::new();
        let mut unknown = Vec::new();
        for &(name, flags) in policy {
            match reasons.value(name).filter(|v| *v < DROP_POLICY_LEN) {
                Some(v) => *flags_of.entry(v).or_default() |= flags,
                None => unknown.push(name),
            }
        }
        let mut arr: Array<&mut MapData, u8> = self.map_mut(maps::DROP_POLICY)?;
        for (v, flags) in flags_of {
            arr.set(v, flags, 0)
                .map_err(|source| EbpfError::Map { map: maps::DROP_POLICY.into(), source })?;
        }
        Ok(unknown)
    }

    /// Drops like this one (same function, reason and protocol) are no incident: the kernel
    /// stops counting them.
    pub fn mark_noise(&mut self, e: &Event) -> Result<(), EbpfError> {
        let proto = if e.inner_proto != 0 { e.inner_proto } else { e.proto };
        let site = NoiseSite { location: e.drop_location(), reason: e.drop_reason(), proto, _pad: [0; 3] };
        let mut m: HashMap<&mut MapData, NoiseSite, u8> = self.map_mut(maps::NOISE_SITES)?;
        m.insert(site, 1, 0).map_err(|source| EbpfError::Map { map: maps::NOISE_SITES.into(), source })
    }

    /// Every key the kernel counts now.
    pub fn drop_counts(&self) -> Result<Vec<CountedKey>, EbpfError> {
        let m: PerCpuHashMap<&MapData, u64, DropCount> = self.map(maps::DROP_COUNTS)?;
        let mut out = Vec::new();
        for entry in m.iter() {
            // A key deleted between listing and reading is simply gone.
            let Ok((id, per_cpu)) = entry else { continue };
            out.extend(counted_key_of(id, per_cpu.iter()));
        }
        Ok(out)
    }

    /// Deletes keys (their counts were taken); a packet of one of them afterwards starts it
    /// afresh, with an event.
    pub fn forget_drop_keys(&mut self, keys: &[DropKey]) -> Result<(), EbpfError> {
        let mut m: PerCpuHashMap<&mut MapData, u64, DropCount> = self.map_mut(maps::DROP_COUNTS)?;
        for k in keys {
            // Already gone is fine.
            let _ = m.remove(&k.id());
        }
        Ok(())
    }

    /// Rewrites the words of the /16 bitmap that differ from what the map holds.
    pub(super) fn sync_net16(&mut self) -> Result<(), EbpfError> {
        let words = net16_words(&self.watched_prefixes);
        let mut written = std::mem::take(&mut self.net16);
        let mut arr: Array<&mut MapData, u64> = self.map_mut(maps::WATCH_NET16)?;
        let mut result = Ok(());
        for (i, (new, old)) in words.iter().zip(written.iter_mut()).enumerate() {
            if new != old {
                if let Err(source) = arr.set(i as u32, new, 0) {
                    result = Err(EbpfError::Map { map: maps::WATCH_NET16.into(), source });
                    break;
                }
                *old = *new;
            }
        }
        self.net16 = written;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_set(words: &[u64], slot: u32) -> bool {
        words[(slot >> 6) as usize] & (1 << (slot & 63)) != 0
    }

    #[test]
    fn net16_bits_cover_every_watched_address_and_little_else() {
        let p = |a: [u8; 4], len| (u32::from_be_bytes(a), len);
        let set: BTreeSet<_> = [p([172, 18, 0, 0], 16), p([10, 0, 5, 0], 24), p([192, 168, 0, 0], 15)].into();
        let w = net16_words(&set);
        let slot = |a: u8, b: u8| (u32::from(a) << 8) | u32::from(b);
        for s in [slot(172, 18), slot(10, 0), slot(192, 168), slot(192, 169)] {
            assert!(slot_set(&w, s), "{s:#x}");
        }
        for s in [slot(172, 17), slot(172, 19), slot(10, 1), slot(192, 170), slot(192, 167)] {
            assert!(!slot_set(&w, s), "{s:#x}");
        }
        let all: u32 = w.iter().map(|x| x.count_ones()).sum();
        assert_eq!(all, 4);
        // A /8 sets 256 bits.
        let w = net16_words(&[p([10, 0, 0, 0], 8)].into());
        assert_eq!(w.iter().map(|x| x.count_ones()).sum::<u32>(), 256);
    }

    #[test]
    fn a_key_sums_the_cpus_that_hold_it_and_skips_a_slot_being_written() {
        let key = DropKey {
            location: 0xffff_ffff_8100_0000,
            sport: 5,
            dport: 53,
            reason: 12,
            ..DropKey::default()
        };
        let route = RefusedRoute { error: 113, forwarding_off: 1 };
        let creator = DropCount {
            key,
            packets: 7,
            first_ns: 900,
            ifname: *b"br-x\0\0\0\0\0\0\0\0\0\0\0\0",
            route,
            ..DropCount::default()
        };
        let other = DropCount { key, packets: 3, ..DropCount::default() };
        // A slot whose key is half written: its count waits for the next reading.
        let torn =
            DropCount { key: DropKey { sport: 5, ..DropKey::default() }, packets: 1, ..DropCount::default() };
        let empty = DropCount::default();
        let c = counted_key_of(key.id(), [empty, other, creator, torn].iter()).unwrap();
        assert_eq!((c.key, c.packets, c.first_ns, c.ifname, c.route), (key, 10, 900, creator.ifname, route));
        assert_eq!(counted_key_of(key.id(), [empty, empty].iter()), None, "nothing counted yet");
        assert_eq!(counted_key_of(key.id(), [torn].iter()), None);
        let c = counted_key_of(key.id(), [other].iter()).unwrap();
        assert_eq!((c.packets, c.first_ns), (3, 0), "a creator's slot not seen: no time");
    }

    #[test]
    fn a_counted_key_round_trips_through_its_first_event() {
        let c = CountedKey {
            key: DropKey {
                location: 0xffff_ffff_8100_0000,
                saddr: [1; 16],
                daddr: [2; 16],
                sport: 3,
                dport: 4,
                reason: 12,
                ifindex: 5,
                netns: 6,
                hook: dockernet_trace_common::Hook::KfreeSkb as u8,
                proto: 1,
                inner_proto: 6,
                icmp_type: 3,
                family: dockernet_trace_common::FAMILY_V6,
                _pad: [0; 3],
            },
            packets: 9,
            first_ns: 77,
            ifname: *b"br-123\0\0\0\0\0\0\0\0\0\0",
            route: RefusedRoute { error: 113, forwarding_off: 1 },
        };
        let e = c.first_event();
        assert_eq!(counted_key(&e), Some(c.key));
        assert_eq!((e.ts_ns, e.ifname, e.refused_route()), (77, c.ifname, c.route));
        let mut alone = e;
        alone.value = 0;
        assert_eq!(counted_key(&alone), None, "an event that stands for itself");
        let mut neigh = e;
        neigh.hook = dockernet_trace_common::Hook::NeighUpdate as u8;
        assert_eq!(counted_key(&neigh), None, "other hooks use `value` for themselves");
    }
}
