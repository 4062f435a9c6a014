//! One boot: qemu with TCG (a KVM guest hangs on this machine), no network device at all, the
//! console on the first serial port and the result lines on the second, a hard time limit.
use std::{
    fs,
    io::{Read, Seek, SeekFrom},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

pub struct Boot {
    pub console: PathBuf,
    pub results: PathBuf,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// Boots `vmlinuz` with `initrd`, writing console.log, results.log and qemu.log into `dir`,
/// echoing the guest's progress lines; kills qemu after `timeout`, or when we die.
pub fn boot(label: &str, vmlinuz: &Path, initrd: &Path, dir: &Path, timeout: Duration) -> Result<Boot> {
    let console = dir.join("console.log");
    let results = dir.join("results.log");
    for f in [&console, &results] {
        let _ = fs::remove_file(f);
    }
    let qemu_log = fs::File::create(dir.join("qemu.log"))?;
    // The guest powers itself off a little after our deadline, should we die without killing it.
    let append = format!(
        "console=ttyS0 panic=-1 no_timer_check rdinit=/init quiet loglevel=3 mitigations=off dnt.deadline={}",
        timeout.as_secs() + 30
    );
    let mut cmd = Command::new("qemu-system-x86_64");
    // SAFETY: prctl in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2"])
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", "-nic", "none"])
        .args(["-no-reboot", "-kernel"])
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(&append)
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .stdin(Stdio::null())
        .stdout(qemu_log.try_clone()?)
        .stderr(qemu_log)
        .spawn()
        .context("cannot start qemu-system-x86_64 (package qemu-system-x86)")?;
    let start = Instant::now();
    let mut progress = Progress { offset: 0, label };
    let timed_out = loop {
        if child.try_wait()?.is_some() {
            break false;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break true;
        }
        progress.show(&console);
        std::thread::sleep(Duration::from_millis(250));
    };
    progress.show(&console);
    Ok(Boot { console, results, elapsed: start.elapsed(), timed_out })
}

/// Echoes the guest's own `dnt-vm:` lines as they appear in the console log.
struct Progress<'a> {
    offset: u64,
    label: &'a str,
}

impl Progress<'_> {
    fn show(&mut self, console: &Path) {
        let Ok(mut f) = fs::File::open(console) else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        // Only whole lines; the rest is read again next time.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else { return };
        self.offset += end as u64 + 1;
        for line in String::from_utf8_lossy(&buf[..end]).lines() {
            if let Some(msg) = line.trim_end_matches('\r').strip_prefix("dnt-vm: ") {
                println!("vm-test: [{}] {msg}", self.label);
            }
        }
    }
}
