//! TCP probe: a real connect, answered by SYN-ACK (reachable) or RST (nothing listens).
use std::net::SocketAddrV4;

use socket2::{Domain, Protocol, Socket, Type};

use super::Answer;

pub fn socket(sport: u16) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&std::net::SocketAddr::from(([0, 0, 0, 0], sport)).into())?;
    s.set_nonblocking(true)?;
    Ok(s)
}

pub async fn connect(socket: Socket, dst: SocketAddrV4) -> Answer {
    let std_stream: std::net::TcpStream = socket.into();
    let s = tokio::net::TcpSocket::from_std_stream(std_stream);
    match s.connect(dst.into()).await {
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
