//! UDP probe: one datagram; a reply, an ICMP port unreachable, or silence.
use std::net::SocketAddrV4;

use socket2::{Domain, Protocol, Socket, Type};

use super::Answer;

const PAYLOAD: &[u8] = b"dockernet-trace probe\n";

pub fn socket(sport: u16) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.bind(&std::net::SocketAddr::from(([0, 0, 0, 0], sport)).into())?;
    s.set_nonblocking(true)?;
    Ok(s)
}

pub async fn exchange(socket: Socket, dst: SocketAddrV4) -> Answer {
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
