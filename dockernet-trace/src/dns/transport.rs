//! Sending one query to one nameserver from the source's namespace and reading the reply: UDP
//! from the caller's source port, then TCP (same port number) when the reply is truncated.
//! The socket is opened in the namespace as the probes' are (`run_in_netns_async`: a dedicated
//! thread that enters the namespace, creates the socket and exits); sending and waiting happen
//! on tokio, and never past `until`.
use std::{
    io::ErrorKind,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::Path,
    time::Duration,
};

use socket2::{Domain, Protocol, Socket, Type};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::{Instant, timeout_at},
};

use super::{
    DnsError, DnsName, QueryResult, QueryType, Transport,
    message::{Reply, decode_reply},
};
use crate::model::netns::run_in_netns_async;

/// One query: to `server`, for `name`/`qtype`, as message `id`, from source port `sport`.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub server: SocketAddr,
    pub name: &'a DnsName,
    pub qtype: QueryType,
    pub id: u16,
    pub sport: u16,
    pub wire: &'a [u8],
}

/// What one exchange over one transport got.
#[derive(Debug)]
pub struct Exchanged {
    pub transport: Transport,
    pub reply: Reply,
    pub elapsed: Duration,
}

/// Opens a UDP or TCP socket in `ns` for `q.server`'s family, bound to `q.sport`.
async fn open(ns: Option<&Path>, ty: Type, q: &Query<'_>) -> Result<Socket, DnsError> {
    let (domain, any) = match q.server.ip() {
        IpAddr::V4(_) => (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        IpAddr::V6(_) => (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    };
    let protocol = if ty == Type::STREAM { Protocol::TCP } else { Protocol::UDP };
    let local = SocketAddr::new(any, q.sport);
    let opened = run_in_netns_async(ns, move || -> std::io::Result<Socket> {
        let s = Socket::new(domain, ty, Some(protocol))?;
        // Queries run one after another from the same port; a TCP one may follow a UDP one.
        s.set_reuse_address(true)?;
        s.bind(&local.into())?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .await;
    let netns = || ns.map_or_else(|| "the host".to_string(), |p| p.display().to_string());
    match opened {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(DnsError::Socket { netns: netns(), reason: format!("port {}: {e}", q.sport) }),
        Err(e) => Err(DnsError::Socket { netns: netns(), reason: e.to_string() }),
    }
}

/// The query over UDP; a reply that is not ours (another id or question) is skipped.
pub async fn udp(ns: Option<&Path>, q: &Query<'_>, until: Instant) -> Result<Exchanged, DnsError> {
    let started = Instant::now();
    let socket = open(ns, Type::DGRAM, q).await?;
    let work = async {
        let s = tokio::net::UdpSocket::from_std(socket.into())?;
        // Connected, so ICMP errors about our datagram come back as errors on recv.
        s.connect(q.server).await?;
        s.send(q.wire).await?;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = s.recv(&mut buf).await?;
            if let Ok(reply) = decode_reply(&buf[..n], q.id, q.name, q.qtype) {
                return Ok(reply);
            }
        }
    };
    let reply = finish(timeout_at(until, work).await);
    Ok(Exchanged { transport: Transport::Udp, reply, elapsed: started.elapsed() })
}

/// The query over TCP (RFC 1035 4.2.2: a two-byte length before each message). The
/// connection is closed with a reset, so no TIME_WAIT keeps the port for the next run.
pub async fn tcp(ns: Option<&Path>, q: &Query<'_>, until: Instant) -> Result<Exchanged, DnsError> {
    let started = Instant::now();
    let socket = open(ns, Type::STREAM, q).await?;
    let work = async {
        let std_stream: std::net::TcpStream = socket.into();
        let mut stream = tokio::net::TcpSocket::from_std_stream(std_stream).connect(q.server).await?;
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        let len = u16::try_from(q.wire.len()).map_err(|_| std::io::Error::from(ErrorKind::InvalidInput))?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(q.wire);
        stream.write_all(&framed).await?;
        loop {
            let n = usize::from(stream.read_u16().await?);
            let mut buf = vec![0u8; n];
            stream.read_exact(&mut buf).await?;
            if let Ok(reply) = decode_reply(&buf, q.id, q.name, q.qtype) {
                return Ok(reply);
            }
        }
    };
    let reply = finish(timeout_at(until, work).await);
    Ok(Exchanged { transport: Transport::Tcp, reply, elapsed: started.elapsed() })
}

fn finish(r: Result<std::io::Result<Reply>, tokio::time::error::Elapsed>) -> Reply {
    let result = match r {
        Ok(Ok(reply)) => return reply,
        Err(_) => QueryResult::Timeout,
        Ok(Err(e)) => match e.kind() {
            ErrorKind::ConnectionRefused => QueryResult::PortUnreachable,
            ErrorKind::TimedOut => QueryResult::Timeout,
            ErrorKind::UnexpectedEof => QueryResult::Malformed("the connection closed before a reply".into()),
            _ => QueryResult::NetworkError { errno: e.raw_os_error().unwrap_or(0), error: e.to_string() },
        },
    };
    Reply { result, truncated: false }
}
