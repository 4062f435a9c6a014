//! A tiny DNS server for tests: answers from a fixed zone over UDP and TCP on port 53 of an
//! address in a network namespace of the test's own, and logs every query it received (who
//! sent it, for which name, over which transport). Its sockets are made inside the namespace
//! by a short-lived thread (setns only there); serving happens on ordinary threads. It is
//! ready when `start` returns: the sockets are bound by then.
use std::{
    collections::HashMap,
    fs::File,
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result, anyhow};
use hickory_proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        RData, Record,
        rdata::{A, AAAA},
    },
};
use nix::sched::{CloneFlags, setns};

/// How the server treats one name. Names not in the zone get NXDOMAIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// NOERROR with these A records.
    Answer(Vec<Ipv4Addr>),
    /// NOERROR with these AAAA records (an A query: NOERROR, no data).
    Answer6(Vec<Ipv6Addr>),
    Servfail,
    Refused,
    /// Never answers.
    Silent,
    /// Over UDP an empty reply with TC set; over TCP the answer.
    Truncated(Vec<Ipv4Addr>),
}

/// One query the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub from: SocketAddr,
    /// Lower case, without the trailing dot.
    pub name: String,
    pub tcp: bool,
}

type Zone = HashMap<String, Behaviour>;

pub struct DnsServer {
    pub addr: Ipv4Addr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `zone` (name without trailing dot → behaviour) on `addr`:53 inside the namespace
    /// at `netns` (e.g. /run/netns/NAME).
    pub fn start(netns: &str, addr: Ipv4Addr, zone: &[(&str, Behaviour)]) -> Result<DnsServer> {
        let zone: Arc<Zone> =
            Arc::new(zone.iter().map(|(n, b)| (n.to_ascii_lowercase(), b.clone())).collect());
        let (udp, tcp) = sockets_in(netns, SocketAddr::from((addr, 53)))?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let (z, s, st) = (zone.clone(), seen.clone(), stop.clone());
        threads.push(std::thread::spawn(move || serve_udp(&udp, &z, &s, &st)));
        let (z, s, st) = (zone, seen.clone(), stop.clone());
        threads.push(std::thread::spawn(move || serve_tcp(&tcp, &z, &s, &st)));
        Ok(DnsServer { addr, seen, stop, threads })
    }

    /// The queries received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Binds the UDP and TCP sockets inside `netns`, on a thread that exits right after.
fn sockets_in(netns: &str, at: SocketAddr) -> Result<(UdpSocket, TcpListener)> {
    let path = netns.to_string();
    std::thread::spawn(move || -> Result<(UdpSocket, TcpListener)> {
        let ns = File::open(&path).with_context(|| format!("opening {path}"))?;
        setns(&ns, CloneFlags::CLONE_NEWNET).with_context(|| format!("entering {path}"))?;
        let udp = UdpSocket::bind(at).with_context(|| format!("binding udp {at}"))?;
        udp.set_read_timeout(Some(Duration::from_millis(50)))?;
        let tcp = TcpListener::bind(at).with_context(|| format!("binding tcp {at}"))?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })
    .join()
    .map_err(|_| anyhow!("the DNS server's setup thread panicked"))?
}

fn serve_udp(s: &UdpSocket, zone: &Zone, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = s.recv_from(&mut buf) else { continue };
        if let Some(reply) = answer(&buf[..n], from, false, zone, seen) {
            let _ = s.send_to(&reply, from);
        }
    }
}

fn serve_tcp(l: &TcpListener, zone: &Zone, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((conn, from)) => serve_conn(conn, from, zone, seen),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return,
        }
    }
}

/// One TCP connection: one length-prefixed query, one reply.
fn serve_conn(mut conn: TcpStream, from: SocketAddr, zone: &Zone, seen: &Mutex<Vec<Seen>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut len = [0u8; 2];
    if conn.read_exact(&mut len).is_err() {
        return;
    }
    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if conn.read_exact(&mut q).is_err() {
        return;
    }
    if let Some(reply) = answer(&q, from, true, zone, seen) {
        let mut framed = u16::try_from(reply.len()).unwrap_or(0).to_be_bytes().to_vec();
        framed.extend(reply);
        let _ = conn.write_all(&framed);
    }
}

/// The reply to `query`, or None to stay silent.
fn answer(
    query: &[u8],
    from: SocketAddr,
    tcp: bool,
    zone: &Zone,
    seen: &Mutex<Vec<Seen>>,
) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    if q.metadata.message_type != MessageType::Query {
        return None;
    }
    let question = q.queries.first()?.clone();
    let name = question.name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    if let Ok(mut s) = seen.lock() {
        s.push(Seen { from, name: name.clone(), tcp });
    }
    let mut r = Message::response(q.metadata.id, OpCode::Query);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.add_query(question.clone());
    let records = |ips: &[Ipv4Addr]| -> Vec<Record> {
        ips.iter().map(|ip| Record::from_rdata(question.name.clone(), 60, RData::A(A(*ip)))).collect()
    };
    let is_a = question.query_type == hickory_proto::rr::RecordType::A;
    let is_aaaa = question.query_type == hickory_proto::rr::RecordType::AAAA;
    match zone.get(&name) {
        None => r.metadata.response_code = ResponseCode::NXDomain,
        Some(Behaviour::Silent) => return None,
        Some(Behaviour::Servfail) => r.metadata.response_code = ResponseCode::ServFail,
        Some(Behaviour::Refused) => r.metadata.response_code = ResponseCode::Refused,
        Some(Behaviour::Answer(ips)) if is_a => {
            r.add_answers(records(ips));
        }
        Some(Behaviour::Answer6(ips)) if is_aaaa => {
            let name = question.name.clone();
            r.add_answers(ips.iter().map(|ip| Record::from_rdata(name.clone(), 60, RData::AAAA(AAAA(*ip)))));
        }
        Some(Behaviour::Truncated(_)) if !tcp => r.metadata.truncation = true,
        Some(Behaviour::Truncated(ips)) if is_a => {
            r.add_answers(records(ips));
        }
        // Another type of a known name: NOERROR, no data.
        Some(_) => {}
    }
    r.to_vec().ok()
}
