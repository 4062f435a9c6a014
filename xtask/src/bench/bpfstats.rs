//! What the kernel programs of one process cost: `kernel.bpf_stats_enabled` makes the kernel
//! time every program run; /proc/PID/fdinfo of each program fd the process holds then shows
//! `run_time_ns` and `run_cnt`, exactly for that process's programs (other runs of the tool on
//! the machine load programs of the same names).
use std::{collections::BTreeMap, process::Command};

use serde_json::Value;

/// kernel.bpf_stats_enabled on while it lives, put back as it was afterwards.
pub struct BpfStats(Option<String>);

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    pub fn enable() -> Self {
        let before = std::fs::read_to_string(BPF_STATS).ok();
        let _ = std::fs::write(BPF_STATS, "1");
        Self(before)
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        if let Some(v) = &self.0 {
            let _ = std::fs::write(BPF_STATS, v.trim());
        }
    }
}

/// Run time and count of one program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    pub ns: u64,
    pub count: u64,
}

impl Runs {
    pub fn per_run(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.ns as f64 / self.count as f64 }
    }
}

/// The programs process `pid` holds, by program id.
pub fn of_process(pid: u32) -> BTreeMap<u32, Runs> {
    let mut out = BTreeMap::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return out };
    for fd in fds.flatten() {
        let is_prog = std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().contains("bpf-prog"));
        if !is_prog {
            continue;
        }
        let info =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy()))
                .unwrap_or_default();
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim_start_matches(':').trim().parse::<u64>().ok())
        };
        if let (Some(id), Some(ns), Some(count)) = (field("prog_id"), field("run_time_ns"), field("run_cnt"))
        {
            out.insert(id as u32, Runs { ns, count });
        }
    }
    out
}

/// Names of loaded programs by id (bpftool; the kernel keeps 15 characters of a name).
pub fn names() -> BTreeMap<u32, String> {
    let Ok(out) = Command::new("bpftool").args(["prog", "show", "--json"]).output() else {
        return BTreeMap::new();
    };
    let progs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    progs.iter().filter_map(|p| Some((p["id"].as_u64()? as u32, p["name"].as_str()?.to_string()))).collect()
}

/// Per program name (`names` from [`names`], taken while the programs were loaded): the
/// difference between two samples of one process's programs.
pub fn by_name(
    before: &BTreeMap<u32, Runs>,
    after: &BTreeMap<u32, Runs>,
    names: &BTreeMap<u32, String>,
) -> BTreeMap<String, Runs> {
    let mut out: BTreeMap<String, Runs> = BTreeMap::new();
    for (id, a) in after {
        let b = before.get(id).copied().unwrap_or_default();
        let name = names.get(id).cloned().unwrap_or_else(|| format!("prog {id}"));
        let e = out.entry(name).or_default();
        e.ns += a.ns.saturating_sub(b.ns);
        e.count += a.count.saturating_sub(b.count);
    }
    out
}
