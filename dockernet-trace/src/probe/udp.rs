//! UDP probe: one datagram; a reply, an ICMP port unreachable, or silence.
use std::net::SocketAddr;

use socket2::{Protocol, Socket, Type};

use super::{Answer, any, domain};
use crate::flow::IpFamily;

const PAYLOAD: &[u8] = b"dockernet-trace probe\n";

pub fn socket(family: IpFamily, sport: u16) -> std::io::Result<Socket> {
    let s = Socket::new(domain(family), Type::DGRAM, Some(Protocol::UDP))?;
    if family == IpFamily::V6 {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&any(family, sport))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

pub async fn exchange(socket: Socket, dst: SocketAddr) -> Answer {
    let s = match tokio::net::UdpSocket::from_std(socket.into()) {
        Ok(s) => s,
        Err(e) => return Answer::from_io(&e),
    };
    // Connected, so ICMP errors about our datagram come back as errors on recv.
    if let Err(e) = s.connect(dst).await {
        return Answer::from_io(&e);
    }
    if let Err(e) = s.send(PAYLOAD).await {
        return Answer::from_io(&e);
    }
    let mut buf = [0u8; 1500];
    match s.recv(&mut buf).await {
        Ok(_) => Answer::UdpReply,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Answer::PortUnreachable,
        Err(e) => Answer::from_io(&e),
    }
}
