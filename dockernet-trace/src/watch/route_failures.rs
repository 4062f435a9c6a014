//! Failed route lookups, held until the packet they were about is freed.
//!
//! `fib:fib_table_lookup` says which addresses failed to route and with which error, but not
//! in which network namespace: the lookup has no device and no packet. Reported as is, a watch
//! would show the failures of every namespace on the machine. The packet itself is freed in
//! `ip_error` right after, by `skb:kfree_skb`, whose device names the namespace the watch
//! filters on. So a failure is kept here for a moment, and the drop in `ip_error` becomes the
//! route failure, with the lookup's error when one matches.
use std::{collections::VecDeque, net::IpAddr};

use crate::explain::route_failure::RouteError;

/// How long a failed lookup waits for its packet's drop (the two are microseconds apart).
const WINDOW_NS: u64 = 20_000_000;
/// Failed lookups kept at most (a flood of them must not grow memory).
const MAX: usize = 256;

#[derive(Default)]
pub struct RouteFailures {
    recent: VecDeque<(u64, IpAddr, IpAddr, RouteError)>,
}

impl RouteFailures {
    /// A failed lookup from `src` to `dst` at `t_ns` with error `err`.
    pub fn note(&mut self, t_ns: u64, src: IpAddr, dst: IpAddr, err: RouteError) {
        self.recent.retain(|(t, ..)| t_ns.saturating_sub(*t) < WINDOW_NS);
        if self.recent.len() == MAX {
            self.recent.pop_front();
        }
        self.recent.push_back((t_ns, src, dst, err));
    }

    /// The error of the latest failed lookup for this packet, if one came just before it.
    pub fn error_for(&self, t_ns: u64, src: IpAddr, dst: IpAddr) -> Option<RouteError> {
        self.recent
            .iter()
            .rev()
            .find(|(t, s, d, _)| {
                *d == dst && (*s == src || s.is_unspecified()) && t_ns.abs_diff(*t) < WINDOW_NS
            })
            .map(|(.., err)| *err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::route_failure::FibOutcome;

    fn err(e: i32) -> RouteError {
        FibOutcome::of(e).failure().unwrap()
    }

    #[test]
    fn a_drop_finds_the_lookup_that_failed_just_before() {
        let (a, b, c) =
            ("10.0.0.2".parse().unwrap(), "10.77.0.9".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let mut r = RouteFailures::default();
        r.note(1_000, a, b, err(-113));
        assert_eq!(r.error_for(5_000, a, b), Some(err(-113)));
        assert_eq!(r.error_for(5_000, c, b), None, "another source");
        assert_eq!(r.error_for(100_000_000, a, b), None, "too late to be about this packet");
        for t in 0..1000 {
            r.note(200_000_000 + t, c, b, err(-101));
        }
        assert!(r.recent.len() <= MAX);
        assert_eq!(r.error_for(200_001_000, c, b), Some(err(-101)));
    }
}
