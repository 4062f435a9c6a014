//! TCP probe: a real connect, answered by SYN-ACK (reachable) or RST (nothing listens).
use std::net::SocketAddr;

use socket2::{Protocol, Socket, Type};

use super::{Answer, any, domain};
use crate::flow::IpFamily;

pub fn socket(family: IpFamily, sport: u16) -> std::io::Result<Socket> {
    let s = Socket::new(domain(family), Type::STREAM, Some(Protocol::TCP))?;
    if family == IpFamily::V6 {
        // IPv6 only: the probe's own family, never an IPv4-mapped detour.
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&any(family, sport))?;
    s.set_nonblocking(true)?;
    Ok(s)
}

pub async fn connect(socket: Socket, dst: SocketAddr) -> Answer {
    let std_stream: std::net::TcpStream = socket.into();
    let s = tokio::net::TcpSocket::from_std_stream(std_stream);
    match s.connect(dst).await {
        Ok(stream) => {
            // Close with a reset: no FIN exchange and no TIME_WAIT left behind by the probe.
            // (A zero linger never blocks the close.)
            let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
            Answer::Connected
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Answer::Refused,
        Err(e) => Answer::from_io(&e),
    }
}
