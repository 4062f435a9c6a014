//! What a user runs on a Docker host to see drops, `dockernet-trace watch`, `tcpdump -i any` (to
//! /dev/null) and a bpftrace counter of skb:kfree_skb, and the floor, a program doing nothing
//! on kfree_skb: each started, and ready (attached), before its window of a running workload
//! opens, and stopped after it closes.
use std::{
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    sync::mpsc::Receiver,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use dockernet_trace_tests::Lab;

use super::{
    empty_program::EmptyProgram,
    tool::{self, Stopped, Watch},
};

/// tracefs at /sys/kernel/tracing while it lives (bpftrace finds tracepoints there), unmounted
/// afterwards if it was not mounted before.
pub struct TraceFs(bool);

const TRACEFS: &str = "/sys/kernel/tracing";

impl TraceFs {
    pub fn ensure() -> Self {
        if std::path::Path::new(TRACEFS).join("events").exists() {
            return Self(false);
        }
        let ok = Command::new("mount")
            .args(["-t", "tracefs", "tracefs", TRACEFS])
            .status()
            .is_ok_and(|s| s.success());
        Self(ok)
    }
}

impl Drop for TraceFs {
    fn drop(&mut self) {
        if self.0 {
            let _ = Command::new("umount").arg(TRACEFS).status();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observer {
    Watch,
    Tcpdump,
    Bpftrace,
    /// A program that does nothing on kfree_skb (see `empty_program`): the floor.
    EmptyProgram,
}

/// What a user would run.
pub const ALL: [Observer; 3] = [Observer::Watch, Observer::Tcpdump, Observer::Bpftrace];

/// The bpftrace program: what a user would type to count drops by reason. BEGIN runs once
/// every probe is attached: its line is the ready signal ("Attaching N probes" comes before
/// the attaching, and a SIGINT then is lost).
pub const BPFTRACE_PROGRAM: &str =
    "BEGIN { printf(\"ready\\n\"); } tracepoint:skb:kfree_skb { @[args->reason] = count(); }";

impl Observer {
    pub fn title(self) -> &'static str {
        match self {
            Self::Watch => "`watch`",
            Self::Tcpdump => "tcpdump -i any -w /dev/null",
            Self::Bpftrace => "bpftrace counting skb:kfree_skb",
            Self::EmptyProgram => "a program doing nothing on kfree_skb",
        }
    }

    pub fn start(self, lab: &Lab) -> Result<Running> {
        let handle = match self {
            Self::Watch => Handle::Watch(tool::start_watch(lab, &[])?),
            Self::Tcpdump => {
                let mut c = lab.command("tcpdump");
                c.args(["-i", "any", "-n", "-s", "0", "-w", "/dev/null"]);
                // tcpdump says "listening on any, ..." on stderr once its socket is bound.
                spawn_ready(c, Stream::Stderr, "listening on")?
            }
            Self::Bpftrace => {
                let mut c = Command::new("bpftrace");
                c.args(["-e", BPFTRACE_PROGRAM]);
                spawn_ready(c, Stream::Stdout, "ready")?
            }
            Self::EmptyProgram => Handle::Program(EmptyProgram::attach("kfree_skb")?),
        };
        let pid = match &handle {
            Handle::Watch(w) => Some(w.tool.tool_pid().unwrap_or(w.tool.child.id())),
            Handle::Child(c, _) => Some(c.id()),
            // No process: its CPU is the kernel's, in the workload's own.
            Handle::Program(_) => None,
        };
        Ok(Running { handle: Some(handle), pid })
    }
}

enum Handle {
    Watch(Watch),
    /// The process and the rest of the stream its ready line came on.
    Child(Child, Receiver<String>),
    Program(EmptyProgram),
}

/// A started observer; stopped when dropped, if `stop` was not called (a bench that fails
/// half-way leaves no watch attached).
pub struct Running {
    handle: Option<Handle>,
    /// Its process, if it has one.
    pid: Option<u32>,
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Starts `cmd` in a process group of its own and waits for `ready` on `stream`.
fn spawn_ready(mut cmd: Command, stream: Stream, ready: &str) -> Result<Handle> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {cmd:?} (run `cargo xtask setup`)"))?;
    let (out, err) = (
        tool::lines(child.stdout.take().context("stdout")?),
        tool::lines(child.stderr.take().context("stderr")?),
    );
    let (watched, other) = match stream {
        Stream::Stdout => (out, err),
        Stream::Stderr => (err, out),
    };
    std::thread::spawn(move || other.iter().for_each(drop));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        match watched.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains(ready) => break,
            Ok(l) => seen.push(l),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{cmd:?} never said {ready:?}: {}", seen.join(" | "));
            }
        }
    }
    Ok(Handle::Child(child, watched))
}

impl Running {
    /// CPU seconds the observer's process (and the children it waited for) has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        self.pid.map(tool::cpu_seconds).unwrap_or(0.0)
    }

    /// Stops it; what `watch` printed.
    pub fn stop(mut self) -> Result<Option<Stopped>> {
        let Some(handle) = self.handle.take() else { return Ok(None) };
        let watch = match handle {
            Handle::Watch(w) => Some(tool::stop_watch(w)?),
            Handle::Child(mut c, rest) => {
                stop_child(&mut c)?;
                rest.iter().for_each(drop);
                None
            }
            Handle::Program(p) => {
                drop(p);
                None
            }
        };
        Ok(watch)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        match self.handle.take() {
            Some(Handle::Watch(w)) => {
                w.tool.interrupt();
                let _ = w.tool.wait();
            }
            Some(Handle::Child(mut c, _)) => {
                let _ = stop_child(&mut c);
            }
            Some(Handle::Program(_)) | None => {}
        }
    }
}

/// SIGINT (again every few seconds: a signal that lands while a tool is still setting up can
/// be lost), SIGKILL if it never ends.
pub(super) fn stop_child(c: &mut Child) -> Result<()> {
    let started = Instant::now();
    let mut signalled = None::<Instant>;
    loop {
        if c.try_wait()?.is_some() {
            return Ok(());
        }
        let sig = if started.elapsed() > Duration::from_secs(30) { libc::SIGKILL } else { libc::SIGINT };
        if signalled.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            // SAFETY: kill(2) on our own child's process group; the child is not reaped.
            unsafe { libc::kill(-(c.id() as libc::pid_t), sig) };
            signalled = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
