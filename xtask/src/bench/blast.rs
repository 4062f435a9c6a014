//! A flood of small UDP packets from inside a container's network namespace, as fast as one
//! thread can send them (sendmmsg, 64 at a time). With the destination on a network the
//! source shares nothing with, Docker's isolation rules drop every one of them in the host's
//! FORWARD chain: the drop storm of issue 14.
use std::{
    net::{SocketAddrV4, UdpSocket},
    os::fd::AsRawFd,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

const BATCH: usize = 64;
/// UDP payload: 18 bytes make a 46-byte IP packet, a minimum-size Ethernet frame (64 bytes
/// with the FCS).
const PAYLOAD: usize = 18;

/// What one flood sent.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub packets: u64,
    pub seconds: f64,
}

impl Sent {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.packets as f64 / self.seconds } else { 0.0 }
    }
}

/// Sends to `dst` from the namespace at `netns` (a /proc/PID/ns/net path) for `duration`.
pub fn flood(netns: &str, dst: SocketAddrV4, duration: Duration) -> Result<Sent> {
    let netns = netns.to_string();
    // setns only ever on a thread of its own, which dies with the namespace it joined.
    std::thread::spawn(move || -> Result<Sent> {
        let f = std::fs::File::open(&netns).with_context(|| format!("opening {netns}"))?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
        let sock = UdpSocket::bind("0.0.0.0:0")?;
        sock.connect(dst)?;
        send_for(&sock, duration)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the flood thread panicked"))?
}

fn send_for(sock: &UdpSocket, duration: Duration) -> Result<Sent> {
    let payload = [0x5au8; PAYLOAD];
    let mut iov = libc::iovec { iov_base: payload.as_ptr() as *mut libc::c_void, iov_len: PAYLOAD };
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for m in msgs.iter_mut() {
        m.msg_hdr.msg_iov = &mut iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    let start = Instant::now();
    let mut packets = 0u64;
    while start.elapsed() < duration {
        // SAFETY: every header points at `iov`, which points at `payload`; both outlive the
        // call, and the socket is connected, so no address is needed.
        let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            packets += n as u64;
        } else {
            // ENOBUFS and the like: the kernel refused this batch; keep going.
            std::thread::yield_now();
        }
    }
    Ok(Sent { packets, seconds: start.elapsed().as_secs_f64() })
}
