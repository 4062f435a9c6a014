//! The probes the tool sends: a TCP connect, a UDP datagram or an ICMP (ICMPv6) echo, over
//! IPv4 or IPv6, from inside the source's network namespace, each with its own source port
//! (ICMP: identifier) so the kernel programs can follow exactly these packets. Only the socket
//! is created in the namespace, on a dedicated thread; the sending and waiting happen on tokio.
mod icmp;
mod ports;
mod tcp;
mod udp;

pub use ports::{Locate, ProbePorts};

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    time::Duration,
};

use serde::Serialize;
use socket2::Socket;

use crate::{
    flow::{IpFamily, Proto},
    model::{ModelError, netns::run_in_netns_async},
};

/// One probe to send.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub proto: Proto,
    /// The family of the socket is the family of this address.
    pub dst: IpAddr,
    /// Destination port (ignored for ICMP).
    pub dport: u16,
    /// Source port, or the echo identifier for ICMP.
    pub sport: u16,
    /// Sequence number (ICMP) / probe index.
    pub seq: u16,
    pub timeout: Duration,
}

/// How a probe ended, from the prober's side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    /// TCP: the handshake completed.
    Connected,
    /// TCP: the target answered with a reset.
    Refused,
    /// ICMP: echo reply.
    EchoReply,
    /// UDP: a datagram came back.
    UdpReply,
    /// UDP: ICMP port unreachable came back.
    PortUnreachable,
    /// The network stack reported an error (errno and its text), e.g. no route.
    Unreachable { errno: i32, error: String },
    /// Nothing came back before the timeout.
    NoAnswer,
    /// We stopped waiting: the kernel had already shown the probe's fate.
    Stopped,
}

impl Answer {
    /// The answer's name as JSON spells it (`no_answer`).
    pub fn name(&self) -> &'static str {
        match self {
            Answer::Connected => "connected",
            Answer::Refused => "refused",
            Answer::EchoReply => "echo_reply",
            Answer::UdpReply => "udp_reply",
            Answer::PortUnreachable => "port_unreachable",
            Answer::Unreachable { .. } => "unreachable",
            Answer::NoAnswer => "no_answer",
            Answer::Stopped => "stopped",
        }
    }

    /// The target itself answered: the path works.
    pub fn reached(&self) -> bool {
        matches!(self, Answer::Connected | Answer::EchoReply | Answer::UdpReply)
    }

    fn from_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::TimedOut => Answer::NoAnswer,
            _ => Answer::Unreachable { errno: e.raw_os_error().unwrap_or(0), error: e.to_string() },
        }
    }
}

/// The wildcard address of a family, bound with a port (`0.0.0.0:P`, `[::]:P`).
fn any(family: IpFamily, port: u16) -> socket2::SockAddr {
    SocketAddr::new(family.unspecified(), port).into()
}

/// The socket domain of a family.
fn domain(family: IpFamily) -> socket2::Domain {
    match family {
        IpFamily::V4 => socket2::Domain::IPV4,
        IpFamily::V6 => socket2::Domain::IPV6,
    }
}

/// Creates the probe's socket in the namespace `ns` (None: ours), bound to its source port.
pub async fn open(ns: Option<&Path>, probe: Probe) -> Result<Socket, ModelError> {
    let family = IpFamily::of(&probe.dst);
    let result = run_in_netns_async(ns, move || match probe.proto {
        Proto::Tcp => tcp::socket(family, probe.sport),
        Proto::Udp => udp::socket(family, probe.sport),
        Proto::Icmp | Proto::Icmpv6 => icmp::socket(family),
        Proto::Other(n) => Err(std::io::Error::other(format!("no probe for IP protocol {n}"))),
    })
    .await?;
    result.map_err(|e| ModelError::Netns {
        path: ns.map(Path::to_path_buf).unwrap_or_default(),
        reason: format!("cannot open the probe socket: {e}"),
    })
}

/// Sends the probe on its socket and waits for the answer (at most `probe.timeout`).
pub async fn send(socket: Socket, probe: Probe) -> Answer {
    let dst = SocketAddr::new(probe.dst, probe.dport);
    let work = async {
        match probe.proto {
            Proto::Tcp => tcp::connect(socket, dst).await,
            Proto::Udp => udp::exchange(socket, dst).await,
            Proto::Icmp | Proto::Icmpv6 => icmp::echo(socket, probe.dst, probe.sport, probe.seq).await,
            // `open` made no socket for it.
            Proto::Other(_) => Answer::NoAnswer,
        }
    };
    tokio::time::timeout(probe.timeout, work).await.unwrap_or(Answer::NoAnswer)
}

/// A source port (and ICMP identifier) range for this run's probes: random, high, and not in
/// the kernel's ephemeral range, so no other connection of ours shares it.
pub fn port_base(count: u16) -> u16 {
    let (lo, hi) = ephemeral_range();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ std::process::id())
        .unwrap_or(7);
    // Prefer ports above the ephemeral range, else below it.
    let (start, span) =
        if hi < 65000 { (hi + 1, 65000 - hi) } else { (20000, lo.saturating_sub(20000).max(1000)) };
    let span = u32::from(span.saturating_sub(count).max(1));
    start + (seed % span) as u16
}

fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text.split_whitespace().filter_map(|v| v.parse().ok());
    (it.next().unwrap_or(32768), it.next().unwrap_or(60999))
}

#[cfg(test)]
mod tests {
    use super::Answer;

    #[test]
    fn answer_names_are_the_json_tags() {
        for a in [Answer::Connected, Answer::NoAnswer, Answer::Unreachable { errno: 101, error: "x".into() }]
        {
            assert_eq!(serde_json::to_value(&a).unwrap()["answer"], a.name());
        }
    }

    #[test]
    fn port_base_leaves_room_for_all_probes() {
        for count in [1, 3, 100] {
            let b = super::port_base(count);
            assert!(u32::from(b) + u32::from(count) <= 65535, "{b}+{count}");
            assert!(b >= 1024);
        }
    }
}
