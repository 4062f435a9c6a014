//! Commands inside a chroot, with the environment a root login on a fresh machine has (not
//! ours: no CARGO_* or RUSTUP_* of the cargo that runs xtask), and the processes they leave.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Result;
use nix::{sys::signal, unistd::Pid};

pub const PATH: &str = "/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `chroot ROOT sh -c SCRIPT` as root with a login's environment.
pub fn command(root: &Path, script: &str) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root)
        .args(["/bin/sh", "-c", script])
        .env_clear()
        .env("HOME", "/root")
        .env("PATH", PATH)
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    c
}

/// Runs SCRIPT in the chroot, output shown, failing on a non-zero exit.
pub fn run(root: &Path, script: &str) -> Result<()> {
    super::super::run(&mut command(root, script))
}

/// Runs SCRIPT in the chroot and returns its stdout (stderr shown), failing on a non-zero exit.
pub fn output(root: &Path, script: &str) -> Result<String> {
    let out = command(root, script).stderr(Stdio::inherit()).output()?;
    anyhow::ensure!(out.status.success(), "`{script}` in {} failed ({})", root.display(), out.status);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stops the processes whose root directory is `root` (a daemon a package script left, a
/// gpg-agent): they would keep the overlay busy. Only ours can be there: the chroot is ours.
pub fn stop_processes_in(root: &Path) {
    let pids = processes_in(root);
    for &pid in &pids {
        let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !processes_in(root).is_empty() {
        std::thread::sleep(Duration::from_millis(100));
    }
    for pid in processes_in(root) {
        eprintln!("fresh-setup: killing process {pid}, still running in {}", root.display());
        let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL);
    }
}

fn processes_in(root: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|r: PathBuf| r.starts_with(root))
        })
        .collect()
}
