//! The identity of a run's probes: the ports (ICMP: echo identifiers) they use, one per probe,
//! which is how a packet the kernel reports is told to be one of ours, which one, and in which
//! direction it travels.
use dockernet_trace_common::is_icmp_error;

use crate::flow::{Proto, Tuple};

#[derive(Clone, Copy, Debug)]
pub struct ProbePorts {
    pub proto: Proto,
    pub base: u16,
    pub count: u16,
}

/// Which probe a packet the kernel reported belongs to, and whether it travels towards the
/// target: the probes' ports answer it, and so does the DNS leg (`trace::dns_leg`).
pub trait Locate {
    /// `icmp_type`: the packet's own ICMP type when it is ICMP (see [`ProbePorts::locate`]).
    fn locate(&self, t: &Tuple, icmp_type: Option<u8>) -> Option<(u16, bool)>;
}

impl Locate for ProbePorts {
    fn locate(&self, t: &Tuple, icmp_type: Option<u8>) -> Option<(u16, bool)> {
        ProbePorts::locate(self, t, icmp_type)
    }
}

impl ProbePorts {
    /// `count` probes of `proto` from a fresh port range (see `port_base`), with one more
    /// port after it kept for the name resolution's queries ([`Self::dns_port`]).
    pub fn new(proto: Proto, count: u16) -> Self {
        Self { proto, base: super::port_base(count + 1), count }
    }

    /// The port the name resolution's queries leave from: the one after the probes'.
    pub fn dns_port(&self) -> u16 {
        self.base + self.count
    }

    /// Index of the probe a packet belongs to, and whether it travels towards the target.
    /// `icmp_type` is the packet's own ICMP type when it is ICMP: an echo reply, or an error
    /// quoting the probe (whose tuple is the quoted one), travels back.
    pub fn locate(&self, t: &Tuple, icmp_type: Option<u8>) -> Option<(u16, bool)> {
        let idx = |p: u16| p.checked_sub(self.base).filter(|i| *i < self.count);
        let answer = icmp_type.is_some_and(|k| k == 0 || is_icmp_error(k));
        if self.proto == Proto::Icmp {
            // The echo identifier is the probe's "port".
            return idx(t.sport).map(|i| (i, !answer));
        }
        if icmp_type.is_some_and(is_icmp_error) {
            return idx(t.sport).or_else(|| idx(t.dport)).map(|i| (i, false));
        }
        // A packet carrying the probe port as source goes forward; as destination, back.
        idx(t.sport).map(|i| (i, true)).or_else(|| idx(t.dport).map(|i| (i, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_travel_backwards() {
        let ports = ProbePorts { proto: Proto::Tcp, base: 40000, count: 1 };
        let t = Tuple {
            proto: Proto::Tcp,
            src: "172.18.0.2".parse().unwrap(),
            sport: 3306,
            dst: "172.17.0.2".parse().unwrap(),
            dport: 40000,
        };
        assert_eq!(ports.locate(&t, None), Some((0, false)));
        // An ICMP error quoting the SYN (its tuple is the quoted one) is an answer too.
        let quoted = Tuple { proto: Proto::Tcp, src: t.dst, sport: 40000, dst: t.src, dport: 3306 };
        assert_eq!(ports.locate(&quoted, Some(3)), Some((0, false)));
        assert_eq!(ports.locate(&quoted, None), Some((0, true)));
    }

    #[test]
    fn icmp_probes_are_told_apart_by_their_identifier() {
        let ports = ProbePorts { proto: Proto::Icmp, base: 62000, count: 3 };
        let echo = |id| Tuple {
            proto: Proto::Icmp,
            src: "172.17.0.2".parse().unwrap(),
            sport: id,
            dst: "172.18.0.2".parse().unwrap(),
            dport: id,
        };
        assert_eq!(ports.locate(&echo(62002), Some(8)), Some((2, true)));
        assert_eq!(ports.locate(&echo(62001), Some(0)), Some((1, false)));
        assert_eq!(ports.locate(&echo(62001), Some(3)), Some((1, false)));
        assert_eq!(ports.locate(&echo(62003), Some(8)), None);
    }
}
