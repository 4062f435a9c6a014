//! ICMP probe: an echo request with our identifier (ICMPv6 for an IPv6 target); echo reply, or
//! an ICMP error quoting it.
use std::{mem::MaybeUninit, net::IpAddr};

use socket2::{Protocol, Socket, Type};
use tokio::io::{Interest, unix::AsyncFd};

use super::{Answer, domain};
use crate::flow::IpFamily;

pub fn socket(family: IpFamily) -> std::io::Result<Socket> {
    let proto = match family {
        IpFamily::V4 => Protocol::ICMPV4,
        IpFamily::V6 => Protocol::ICMPV6,
    };
    let s = Socket::new(domain(family), Type::RAW, Some(proto))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

pub async fn echo(socket: Socket, dst: IpAddr, id: u16, seq: u16) -> Answer {
    let family = IpFamily::of(&dst);
    let addr = std::net::SocketAddr::new(dst, 0).into();
    if let Err(e) = socket.send_to(&echo_request(family, id, seq), &addr) {
        return Answer::from_io(&e);
    }
    // SAFETY: the socket owns its fd and outlives the AsyncFd registration (both dropped here).
    let fd = match unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) } {
        Ok(fd) => fd,
        Err(e) => return Answer::from_io(&std::io::Error::from(e)),
    };
    loop {
        let mut guard = match fd.readable().await {
            Ok(g) => g,
            Err(e) => return Answer::from_io(&e),
        };
        let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
        match guard.try_io(|s| s.get_ref().recv(&mut buf)) {
            Ok(Ok(n)) => {
                // SAFETY: recv initialised the first n bytes.
                let bytes: Vec<u8> = buf[..n].iter().map(|b| unsafe { b.assume_init() }).collect();
                let answer = match family {
                    IpFamily::V4 => classify(&bytes, id),
                    IpFamily::V6 => classify_v6(&bytes, id),
                };
                if let Some(answer) = answer {
                    return answer;
                }
            }
            Ok(Err(e)) => return Answer::from_io(&e),
            Err(_would_block) => continue,
        }
    }
}

/// Is this received IPv4 packet an answer to our echo? Replies carry our id; errors quote our
/// request (IP header + first 8 bytes, which hold the id).
fn classify(pkt: &[u8], id: u16) -> Option<Answer> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    let icmp = pkt.get(ihl..)?;
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    match kind {
        0 if icmp.get(4..6)? == id.to_be_bytes() => Some(Answer::EchoReply),
        3 | 11 => {
            let quoted = icmp.get(8..)?;
            let qihl = usize::from(*quoted.first()? & 0x0f) * 4;
            let q = quoted.get(qihl..)?;
            (*q.first()? == 8 && q.get(4..6)? == id.to_be_bytes())
                .then(|| Answer::Unreachable { errno: 0, error: format!("ICMP type {kind} code {code}") })
        }
        _ => None,
    }
}

/// Is this received ICMPv6 message (raw ICMPv6 sockets get no IPv6 header) an answer to our
/// echo? Replies (129) carry our id; errors (1-4) quote our request's IPv6 header (40 bytes,
/// next header 58) and its first bytes.
fn classify_v6(icmp: &[u8], id: u16) -> Option<Answer> {
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    match kind {
        129 if icmp.get(4..6)? == id.to_be_bytes() => Some(Answer::EchoReply),
        1..=4 => {
            let quoted = icmp.get(8..)?;
            let q = quoted.get(40..)?;
            (*quoted.get(6)? == 58 && *q.first()? == 128 && q.get(4..6)? == id.to_be_bytes())
                .then(|| Answer::Unreachable { errno: 0, error: format!("ICMPv6 type {kind} code {code}") })
        }
        _ => None,
    }
}

fn echo_request(family: IpFamily, id: u16, seq: u16) -> Vec<u8> {
    let kind = if family == IpFamily::V4 { 8u8 } else { 128 };
    let mut p = vec![kind, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"dockernet-trace probe");
    // The kernel fills in an ICMPv6 checksum itself (it covers a pseudo-header it knows).
    if family == IpFamily::V4 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 =
        data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_request_verifies() {
        let p = echo_request(IpFamily::V4, 0x1234, 7);
        assert_eq!(checksum(&p), 0, "a packet including its checksum sums to zero");
        assert_eq!(echo_request(IpFamily::V6, 0x1234, 7)[0], 128);
    }

    #[test]
    fn recognises_reply_and_quoted_error() {
        let mut reply = vec![0x45u8; 20];
        reply.extend_from_slice(&[0, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert_eq!(classify(&reply, 0x1234), Some(Answer::EchoReply));
        assert_eq!(classify(&reply, 0x9999), None);
        let mut err = vec![0x45u8; 20];
        err.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]);
        err.extend_from_slice(&[0x45u8; 20]);
        err.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
        assert!(matches!(classify(&err, 0x1234), Some(Answer::Unreachable { .. })));
    }

    #[test]
    fn recognises_icmpv6_reply_and_quoted_error() {
        assert_eq!(classify_v6(&[129, 0, 0, 0, 0x12, 0x34, 0, 1], 0x1234), Some(Answer::EchoReply));
        assert_eq!(classify_v6(&[129, 0, 0, 0, 0x99, 0x34, 0, 1], 0x1234), None);
        assert_eq!(classify_v6(&[135, 0, 0, 0, 0x12, 0x34, 0, 1], 0x1234), None, "neighbour solicitation");
        let mut err = vec![1u8, 4, 0, 0, 0, 0, 0, 0];
        let mut ip6 = vec![0x60u8; 40];
        ip6[6] = 58;
        err.extend_from_slice(&ip6);
        err.extend_from_slice(&[128, 0, 0, 0, 0x12, 0x34, 0, 1]);
        let a = classify_v6(&err, 0x1234).unwrap();
        assert_eq!(a, Answer::Unreachable { errno: 0, error: "ICMPv6 type 1 code 4".into() });
    }
}
