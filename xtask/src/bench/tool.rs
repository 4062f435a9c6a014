//! The tool as the benchmark runs it: in the lab's namespace, under GNU time (peak RSS), in a
//! process group of its own (so SIGINT reaches it), and `watch` with its ready line.
use std::{
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    sync::mpsc::{Receiver, channel},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use dockernet_trace_tests::{Lab, lab::tool_path};
use serde_json::Value;

/// The tool in the lab's namespace, as `Lab::tool` runs it, under GNU time in a process group
/// of its own. `time` forks the tool from a process of about a megabyte, so the peak RSS it
/// reports is the tool's own: wait4 on a child the xtask spawned itself would include the
/// xtask's high-water mark, which the kernel carries over an exec.
pub struct ToolCommand {
    pub cmd: Command,
    rss_file: PathBuf,
}

pub fn tool(lab: &Lab, args: &[&str]) -> ToolCommand {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let rss_file = std::env::temp_dir().join(format!("dnt-bench-rss.{}.{n}", std::process::id()));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg("nsenter")
        .arg(format!("--net={}", lab.netns_path()))
        .arg(tool_path())
        .args(args)
        .env("DOCKER_HOST", lab.docker_host())
        .env("NO_COLOR", "1")
        .process_group(0);
    ToolCommand { cmd, rss_file }
}

/// A started tool: its `time` process (also its process group) and where the figure goes.
pub struct ToolChild {
    pub child: Child,
    rss_file: PathBuf,
}

impl ToolCommand {
    pub fn spawn(mut self, stdout: Stdio, stderr: Stdio) -> Result<ToolChild> {
        let child = self.cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr).spawn()?;
        Ok(ToolChild { child, rss_file: self.rss_file })
    }
}

impl ToolChild {
    /// SIGINT to the tool (`time` ignores it while it waits).
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on the process group of our own child, which is not reaped yet.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGINT) };
    }

    /// The tool's own pid: the child of `time` (nsenter execs the tool in place).
    pub fn tool_pid(&self) -> Option<u32> {
        children(self.child.id()).first().copied()
    }

    /// Waits for the tool; its exit code and peak RSS (kB).
    pub fn wait(mut self) -> Result<(i32, u64)> {
        let status = self.child.wait()?;
        Ok((status.code().unwrap_or(-1), peak_rss_kb(&self.rss_file)?))
    }
}

/// The peak RSS (kB) GNU time's `-f %M -o FILE` wrote; the file is removed.
pub fn peak_rss_kb(file: &std::path::Path) -> Result<u64> {
    let text = std::fs::read_to_string(file).context("GNU time wrote no figure")?;
    let _ = std::fs::remove_file(file);
    // "Command exited with non-zero status 1" may come first; the figure is the last line.
    let rss = text.lines().last().and_then(|l| l.trim().parse().ok());
    rss.with_context(|| format!("GNU time wrote {text:?}"))
}

/// Direct children of a process.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// User + system CPU time a process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime, stime, cutime and cstime are fields 14 to 17 of stat(5); here indices 11 to 14.
    // The children's (iptables-save, nft: the tool's cost too) count once they were waited for.
    (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / super::meter::ticks_per_second()
}

/// Lines of a child's pipe, as they come.
pub fn lines(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `watch --json` that has attached (its ready line came).
pub struct Watch {
    pub tool: ToolChild,
    pub stdout: Receiver<String>,
    /// Its lines after the ready line (kept until the watch is stopped).
    pub stderr: Receiver<String>,
    /// From spawning to the ready line.
    pub ready_after: Duration,
}

pub fn start_watch(lab: &Lab, extra: &[&str]) -> Result<Watch> {
    let mut args = vec!["watch", "--json"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let mut tool = tool(lab, &args).spawn(Stdio::piped(), Stdio::piped())?;
    let stdout = lines(tool.child.stdout.take().context("stdout")?);
    let stderr = lines(tool.child.stderr.take().context("stderr")?);
    loop {
        let l = stderr.recv_timeout(Duration::from_secs(60)).context("watch never said it was watching")?;
        if l.contains("dockernet-trace: watching") {
            break;
        }
    }
    let ready_after = started.elapsed();
    Ok(Watch { tool, stdout, stderr, ready_after })
}

/// What a stopped watch printed.
pub struct Stopped {
    pub summary: Value,
    pub lines: Vec<Value>,
    pub rss_kb: u64,
}

/// SIGINT, then the summary line and the peak RSS.
pub fn stop_watch(w: Watch) -> Result<Stopped> {
    w.tool.interrupt();
    let (code, rss_kb) = w.tool.wait()?;
    let lines: Vec<Value> = w.stdout.iter().filter_map(|l| serde_json::from_str(&l).ok()).collect();
    let summary =
        lines.last().filter(|s| s["kind"] == "summary").cloned().context("watch printed no summary")?;
    anyhow::ensure!(code == 0, "watch exited with {code}");
    Ok(Stopped { summary, lines, rss_kb })
}

/// One trace: seconds to the verdict on stdout, seconds to exit, exit code, peak RSS, and
/// what it printed on stderr (the phases, with `RUST_LOG=dockernet_trace=debug`).
pub struct TimedTrace {
    pub verdict_s: f64,
    pub exit_s: f64,
    pub code: i32,
    pub rss_kb: u64,
    pub stdout: String,
    pub stderr: String,
}

pub fn timed_trace(lab: &Lab, args: &[&str], debug: bool) -> Result<TimedTrace> {
    let start = Instant::now();
    let mut cmd = tool(lab, args);
    if debug {
        cmd.cmd.env("RUST_LOG", "dockernet_trace=debug");
    }
    let mut tool = cmd.spawn(Stdio::piped(), Stdio::piped())?;
    let mut out = tool.child.stdout.take().context("stdout")?;
    let mut err = tool.child.stderr.take().context("stderr")?;
    let (tx, rx) = channel();
    let outs = std::thread::spawn(move || {
        let mut first = [0u8; 1];
        let got = out.read(&mut first).unwrap_or(0);
        let _ = tx.send(Instant::now());
        let mut all = first[..got].to_vec();
        let _ = out.read_to_end(&mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (code, rss_kb) = tool.wait()?;
    let exit_s = start.elapsed().as_secs_f64();
    let verdict_s = rx.recv().map(|t| t.duration_since(start).as_secs_f64()).unwrap_or(exit_s);
    let stderr = errs.join().unwrap_or_default();
    let stdout = outs.join().unwrap_or_default();
    Ok(TimedTrace { verdict_s, exit_s, code, rss_kb, stdout, stderr })
}
