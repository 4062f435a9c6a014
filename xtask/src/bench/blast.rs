//! A flood of small UDP packets from inside a container's network namespace, as fast as one
//! thread can send them (sendmmsg, 64 at a time). With the destination on a network the
//! source shares nothing with, Docker's isolation rules drop every one of them in the host's
//! FORWARD chain: the drop storm of issue 14. It runs until stopped and can be paused, so
//! that an observer attaches and detaches while nothing is sent: the packets sent in between
//! are exactly those the observer should have seen.
use std::{
    net::{SocketAddrV4, UdpSocket},
    os::fd::AsRawFd,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
};

use anyhow::{Context, Result, anyhow};

const BATCH: usize = 64;
/// UDP payload: 18 bytes make a 46-byte IP packet, a minimum-size Ethernet frame (64 bytes
/// with the FCS).
const PAYLOAD: usize = 18;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Run,
    PauseWanted,
    Paused,
    Stop,
}

/// What the sending thread and its owner share.
struct Shared {
    sent: Arc<AtomicU64>,
    /// Set whenever `phase` asks the thread for something: one load per batch while it runs.
    asked: AtomicBool,
    phase: Mutex<Phase>,
    changed: Condvar,
}

/// A running flood.
pub struct Flood {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Flood {
    /// Starts sending to `dst` from the namespace at `netns` (a /proc/PID/ns/net path).
    pub fn start(netns: &str, dst: SocketAddrV4) -> Result<Self> {
        let shared = Arc::new(Shared {
            sent: Arc::new(AtomicU64::new(0)),
            asked: AtomicBool::new(false),
            phase: Mutex::new(Phase::Run),
            changed: Condvar::new(),
        });
        let (netns, s) = (netns.to_string(), Arc::clone(&shared));
        // setns only ever on a thread of its own, which dies with the namespace it joined.
        let thread = std::thread::spawn(move || -> Result<()> {
            let f = std::fs::File::open(&netns).with_context(|| format!("opening {netns}"))?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            sock.connect(dst)?;
            send(&sock, &s);
            Ok(())
        });
        Ok(Self { shared, thread: Some(thread) })
    }

    /// The count of packets sent so far.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.shared.sent)
    }

    /// Returns once the thread has stopped sending (its last batch counted).
    pub fn pause(&self) {
        let mut p = self.shared.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *p != Phase::Run {
            return;
        }
        *p = Phase::PauseWanted;
        self.shared.asked.store(true, Ordering::Release);
        // A thread that died (setns failed, say) never answers: `stop` then says why.
        while *p == Phase::PauseWanted && !self.finished() {
            let tick = std::time::Duration::from_millis(100);
            p = self.shared.changed.wait_timeout(p, tick).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    pub fn resume(&self) {
        self.set(Phase::Run);
    }

    /// Stops the thread and says why it ended early, if it did.
    pub fn stop(mut self) -> Result<()> {
        self.set(Phase::Stop);
        let thread = self.thread.take().context("stopped twice")?;
        thread.join().map_err(|_| anyhow!("the flood thread panicked"))?
    }

    /// The sending thread has ended (an error, or a stop).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn set(&self, phase: Phase) {
        let mut p = self.shared.phase.lock().unwrap_or_else(|e| e.into_inner());
        *p = phase;
        self.shared.asked.store(phase != Phase::Run, Ordering::Release);
        self.shared.changed.notify_all();
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.set(Phase::Stop);
            let _ = t.join();
        }
    }
}

/// Sends until asked to stop; pauses when asked.
fn send(sock: &UdpSocket, s: &Shared) {
    let payload = [0x5au8; PAYLOAD];
    let mut iov = libc::iovec { iov_base: payload.as_ptr() as *mut libc::c_void, iov_len: PAYLOAD };
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for m in msgs.iter_mut() {
        m.msg_hdr.msg_iov = &mut iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    loop {
        if s.asked.load(Ordering::Acquire) && !wait_while_paused(s) {
            return;
        }
        // SAFETY: every header points at `iov`, which points at `payload`; both outlive the
        // call, and the socket is connected, so no address is needed.
        let n = unsafe { libc::sendmmsg(sock.as_raw_fd(), msgs.as_mut_ptr(), BATCH as u32, 0) };
        if n > 0 {
            s.sent.fetch_add(n as u64, Ordering::Release);
        } else {
            // ENOBUFS and the like: the kernel refused this batch; keep going.
            std::thread::yield_now();
        }
    }
}

/// Acknowledges a pause and waits for the next word; false when the word is stop.
fn wait_while_paused(s: &Shared) -> bool {
    let mut p = s.phase.lock().unwrap_or_else(|e| e.into_inner());
    if *p == Phase::PauseWanted {
        *p = Phase::Paused;
        s.changed.notify_all();
    }
    while *p == Phase::Paused {
        p = s.changed.wait(p).unwrap_or_else(|e| e.into_inner());
    }
    *p != Phase::Stop
}
