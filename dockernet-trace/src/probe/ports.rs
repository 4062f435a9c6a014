//! The identity of a run's probes: the ports (ICMP: echo identifiers) they use, one per probe,
//! which is how a packet the kernel reports is told to be one of ours, which one, and in which
//! direction it travels.
use crate::flow::{IcmpMessage, Proto, Tuple};

#[derive(Clone, Copy, Debug)]
pub struct ProbePorts {
    pub proto: Proto,
    pub base: u16,
    pub count: u16,
}

/// Which probe a packet the kernel reported belongs to, and whether it travels towards the
/// target: the probes' ports answer it, and so does the DNS leg (`trace::dns_leg`).
pub trait Locate {
    /// `icmp`: the packet's own ICMP (ICMPv6) message when it is one (see [`ProbePorts::locate`]).
    fn locate(&self, t: &Tuple, icmp: Option<IcmpMessage>) -> Option<(u16, bool)>;
}

impl Locate for ProbePorts {
    fn locate(&self, t: &Tuple, icmp: Option<IcmpMessage>) -> Option<(u16, bool)> {
        ProbePorts::locate(self, t, icmp)
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
    /// `icmp` is the packet's own ICMP message when it is ICMP: an echo reply, or an error
    /// quoting the probe (whose tuple is the quoted one), travels back.
    pub fn locate(&self, t: &Tuple, icmp: Option<IcmpMessage>) -> Option<(u16, bool)> {
        let idx = |p: u16| p.checked_sub(self.base).filter(|i| *i < self.count);
        let error = icmp.is_some_and(IcmpMessage::is_error);
        let answer = error || icmp.is_some_and(IcmpMessage::is_echo_reply);
        if self.proto.is_icmp() {
            // The echo identifier is the probe's "port".
            return idx(t.sport).map(|i| (i, !answer));
        }
        if error {
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
        assert_eq!(ports.locate(&quoted, icmp(3)), Some((0, false)));
        assert_eq!(ports.locate(&quoted, None), Some((0, true)));
        // So is an ICMPv6 port unreachable (1/4); an ICMPv6 type 3 is time exceeded, an error too.
        assert_eq!(ports.locate(&quoted, icmp6(1)), Some((0, false)));
        assert_eq!(ports.locate(&quoted, icmp6(3)), Some((0, false)));
    }

    fn icmp(kind: u8) -> Option<IcmpMessage> {
        IcmpMessage::of(Proto::Icmp, kind, 0)
    }

    fn icmp6(kind: u8) -> Option<IcmpMessage> {
        IcmpMessage::of(Proto::Icmpv6, kind, 0)
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
        assert_eq!(ports.locate(&echo(62002), icmp(8)), Some((2, true)));
        assert_eq!(ports.locate(&echo(62001), icmp(0)), Some((1, false)));
        assert_eq!(ports.locate(&echo(62001), icmp(3)), Some((1, false)));
        assert_eq!(ports.locate(&echo(62003), icmp(8)), None);
        let v6 = ProbePorts { proto: Proto::Icmpv6, ..ports };
        let echo6 = |id| Tuple {
            proto: Proto::Icmpv6,
            src: "fd00::2".parse().unwrap(),
            dst: "fd00::3".parse().unwrap(),
            ..echo(id)
        };
        assert_eq!(v6.locate(&echo6(62002), icmp6(128)), Some((2, true)));
        assert_eq!(v6.locate(&echo6(62002), icmp6(129)), Some((2, false)));
        assert_eq!(v6.locate(&echo6(62002), icmp6(1)), Some((2, false)));
        assert_eq!(v6.locate(&echo6(62002), icmp6(0)), Some((2, true)), "type 0 is no ICMPv6 reply");
    }
}
