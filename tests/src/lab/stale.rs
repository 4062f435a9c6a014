//! Tearing a lab down, completely, from its id alone: used by `Drop` and to remove labs whose
//! owner process died (a crashed or SIGKILLed test run).
use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use nix::{sys::signal, unistd::Pid};

use super::{DATA_DIR, ID_PREFIX, RUN_DIR, cmd};

/// Removes every lab whose owner process is gone, and namespaces of labs that lost their
/// state directory.
pub fn remove_dead_labs() {
    if let Ok(dir) = fs::read_dir(RUN_DIR) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owner = fs::read_to_string(e.path().join("owner.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if name.starts_with('.') {
                // A state directory being made (see Lab::start): only its dead owner's is ours
                // to remove; without an owner yet, it is being written right now.
                if owner.is_some_and(|pid| !alive(pid)) {
                    let _ = fs::remove_dir_all(e.path());
                }
            } else if owner.is_none_or(|pid| !alive(pid)) {
                teardown(&name);
            }
        }
    }
    // Namespaces named like ours with no state directory left.
    if let Ok(out) = cmd::sh(&["ip", "netns", "list"]) {
        for line in out.lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            let id = name.strip_suffix("-s").unwrap_or(name);
            if id.starts_with(ID_PREFIX) && !Path::new(RUN_DIR).join(id).exists() {
                cmd::quiet(&["ip", "netns", "del", name]);
            }
        }
    }
}

fn alive(pid: i32) -> bool {
    signal::kill(Pid::from_raw(pid), None).is_ok()
}

/// Stops everything a lab started and removes its namespaces, mounts and files.
pub fn teardown(id: &str) {
    let run_dir = Path::new(RUN_DIR).join(id);
    let data_dir = Path::new(DATA_DIR).join(id);
    let sock = format!("unix://{}", run_dir.join("docker.sock").display());
    // Containers first, so dockerd unmounts their filesystems itself.
    if let Ok(ids) = cmd::sh(&["docker", "-H", &sock, "ps", "-aq"]) {
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut argv = vec!["docker", "-H", &sock, "rm", "-f"];
            argv.extend(ids);
            cmd::quiet(&argv);
        }
    }
    // containerd after dockerd, which still talks to it while it stops.
    for pidfile in ["helpers.pid", "dockerd.pid", "containerd.pid"] {
        for pid in read_pids(&run_dir.join(pidfile)) {
            stop(pid);
        }
    }
    // Whatever else still runs from this lab's directories (containerd, shims, a dockerd
    // whose pidfile was never written).
    for pid in processes_mentioning(&[&run_dir, &data_dir]) {
        stop(pid);
    }
    unmount_under(&[&run_dir, &data_dir]);
    cmd::quiet(&["ip", "netns", "del", id]);
    cmd::quiet(&["ip", "netns", "del", &format!("{id}-s")]);
    let _ = fs::remove_dir_all(&run_dir);
    let _ = fs::remove_dir_all(&data_dir);
}

fn read_pids(path: &Path) -> Vec<i32> {
    fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// SIGTERM, up to 20 s of grace, then SIGKILL.
fn stop(pid: i32) {
    let p = Pid::from_raw(pid);
    if signal::kill(p, signal::Signal::SIGTERM).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) && Instant::now() < deadline {
        // Reap it if it is our child; harmless otherwise.
        let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = signal::kill(p, signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(p, None);
    }
}

fn processes_mentioning(dirs: &[&Path]) -> Vec<i32> {
    let needles: Vec<String> = dirs.iter().map(|d| d.to_string_lossy().into_owned()).collect();
    let mut pids = Vec::new();
    let Ok(proc_dir) = fs::read_dir("/proc") else { return pids };
    for e in proc_dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if pid == std::process::id() as i32 {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if needles.iter().any(|n| cmdline.contains(n.as_str())) {
            pids.push(pid);
        }
    }
    pids
}

/// Lazily unmounts every mount below the given directories, deepest first.
fn unmount_under(dirs: &[&Path]) {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| dirs.iter().any(|d| Path::new(m).starts_with(d)))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}
