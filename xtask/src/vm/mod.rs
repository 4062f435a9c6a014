//! `cargo xtask vm-test`: the kernel matrix. Boots Debian's 6.1 and 6.12 cloud kernels under
//! qemu (TCG) with an initramfs holding the static dockernet-trace, busybox, iproute2, iptables
//! and the modules; the guest (tests/vm) builds Docker-shaped faults from namespaces, bridges,
//! veths and iptables rules, traces each, and reports on a serial port. Here we assert the
//! verdicts and the kprobe/fentry coverage, and write the matrix.
mod apt;
mod expect;
mod initramfs;
mod kernel;
mod matrix;
mod modules;
mod qemu;
mod report;
mod tool;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Result, anyhow, bail};
use clap::Args;

use expect::{Blame, Check, Status};
use matrix::KernelRun;

#[derive(Args)]
pub struct VmTestArgs {
    /// Kernels to boot: 6.1 (Debian 12), 6.12 (Debian 12's LTS update) or all.
    #[arg(long, default_value = "all", value_parser = ["6.1", "6.12", "all"])]
    kernel: String,
    /// Keep the initramfs and logs of kernels that passed too (failing ones always keep theirs).
    #[arg(long)]
    keep: bool,
    /// Hard time limit for one VM, in seconds; qemu is killed when it is reached.
    #[arg(long, default_value_t = 720, value_name = "SECS")]
    timeout: u64,
    /// Use this static dockernet-trace instead of building one (the README's table is then left
    /// alone).
    #[arg(long, value_name = "PATH")]
    tool: Option<PathBuf>,
}

/// What `cargo xtask vm-test` does without options (for `cargo xtask test` to call).
impl Default for VmTestArgs {
    fn default() -> Self {
        Self { kernel: "all".into(), keep: false, timeout: 720, tool: None }
    }
}

pub use apt::ensure_backports;
pub use initramfs::Extra;

/// One boot of `series` for another task (the benchmark): the matrix's guest with `extra` files
/// (a /dnt/bench.sh among them makes /init run it instead of the scenarios). Returns the
/// guest's `DNT-RESULT` objects and the last lines of its console.
pub fn boot_with(series: &str, extra: &Extra, timeout: Duration) -> Result<(Vec<serde_json::Value>, String)> {
    let tool = tool::build_static()?;
    apt::ensure_backports()?;
    let kernel = kernel::prepare(series)?;
    let dir = super::root().join("target/vm").join(format!("bench-{}", kernel.label()));
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initrd.cpio");
    initramfs::build_with(&kernel, &tool, &initrd, extra)?;
    let label = format!("bench {}", kernel.label());
    let boot = qemu::boot(&label, &kernel.vmlinuz(), &initrd, &dir, timeout)?;
    let text = fs::read_to_string(&boot.results).unwrap_or_default();
    let lines = text
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once("DNT-RESULT ").map(|(_, j)| j))
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    Ok((lines, console_tail(&boot.console)))
}

pub fn run(args: &VmTestArgs) -> Result<()> {
    let start = Instant::now();
    if !nix::unistd::geteuid().is_root() {
        bail!("vm-test installs packages and writes /var/cache: run it as root");
    }
    super::setup::run()?;
    let exps = expect::expectations()?;
    let tool = match &args.tool {
        Some(p) => {
            tool::check_static(p)?;
            p.clone()
        }
        None => tool::build_static()?,
    };
    println!("vm-test: tool {} (ready after {:.0} s)", tool.display(), start.elapsed().as_secs_f64());
    let vm_start = Instant::now();
    apt::ensure_backports()?;
    let series: Vec<&str> = match args.kernel.as_str() {
        "all" => kernel::SERIES.to_vec(),
        one => vec![one],
    };
    let out_dir = super::root().join("target/vm");
    // Downloads one after the other (apt's lock), then the VMs side by side: a guest spends much
    // of its time waiting (RCU grace periods when programs attach), not computing.
    let kernels = series.into_iter().map(kernel::prepare).collect::<Result<Vec<_>>>()?;
    let runs = std::thread::scope(|scope| {
        let (tool, out_dir, exps) = (&tool, &out_dir, &exps);
        let handles: Vec<_> = kernels
            .into_iter()
            .map(|k| scope.spawn(move || one_kernel(k, tool, out_dir, args, exps)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a VM thread panicked"))))
            .collect::<Result<Vec<_>>>()
    })?;
    let table = matrix::render(&runs, &exps);
    fs::create_dir_all(&out_dir)?;
    fs::write(out_dir.join("matrix.md"), &table)?;
    println!("\n{table}");
    println!("vm-test: matrix written to {}", out_dir.join("matrix.md").display());
    // The README shows the tree's own tool on the whole matrix, never a partial or foreign run.
    if args.tool.is_none() && args.kernel == "all" {
        if matrix::update_readme(&super::root().join("README.md"), &table)? {
            println!("vm-test: README.md's vm-matrix block updated");
        }
    } else {
        println!("vm-test: README.md left alone (--tool or a single --kernel)");
    }
    let checks: Vec<&Check> = runs.iter().flat_map(|r| &r.checks).collect();
    summarize(&checks);
    println!(
        "vm-test: VM stage {:.0} s, total {:.0} s",
        vm_start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    let failed: Vec<&&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    if !failed.is_empty() {
        let tool = failed.iter().filter(|c| c.blame == Blame::Tool).count();
        bail!(
            "vm-test: {} of {} assertions failed ({} in dockernet-trace, {} in the VM harness); logs in {}",
            failed.len(),
            checks.len(),
            tool,
            failed.len() - tool,
            out_dir.display()
        );
    }
    println!("vm-test: all {} assertions passed", checks.len());
    Ok(())
}

fn one_kernel(
    kernel: kernel::Kernel,
    tool: &Path,
    out_dir: &Path,
    args: &VmTestArgs,
    exps: &[expect::Expectation],
) -> Result<KernelRun> {
    let t = Instant::now();
    let label = kernel.label();
    let dir = out_dir.join(&label);
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initrd.cpio");
    initramfs::build(&kernel, tool, &initrd)?;
    let size = fs::metadata(&initrd).map(|m| m.len()).unwrap_or(0);
    println!(
        "vm-test: [{label}] initramfs ({} MiB) built in {:.1} s; booting",
        size >> 20,
        t.elapsed().as_secs_f64()
    );
    let boot = qemu::boot(&label, &kernel.vmlinuz(), &initrd, &dir, Duration::from_secs(args.timeout))?;
    let report = report::read(&boot.results, &boot.console);
    let checks = expect::check(&label, boot.timed_out, &console_tail(&boot.console), &report, exps);
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    println!(
        "vm-test: [{label}] VM ran {:.1} s{}; {} in all",
        boot.elapsed.as_secs_f64(),
        if boot.timed_out { " (killed at the time limit)" } else { "" },
        format_args!("{:.1} s", t.elapsed().as_secs_f64())
    );
    if failed || args.keep {
        println!("vm-test: [{label}] logs: {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(KernelRun { kernel, report, checks, boot_secs: boot.elapsed.as_secs_f64() })
}

/// The last few lines the guest printed, for a message about a guest that did not finish.
fn console_tail(console: &Path) -> String {
    let text = String::from_utf8_lossy(&fs::read(console).unwrap_or_default()).into_owned();
    let lines: Vec<&str> =
        text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

fn summarize(checks: &[&Check]) {
    for c in checks {
        let (mark, show_detail) = match c.status {
            Status::Pass => ("ok  ", false),
            Status::Fail => ("FAIL", true),
            Status::Tolerated => ("note", true),
        };
        let who = match c.blame {
            Blame::Harness => "harness",
            Blame::Tool => "tool",
        };
        let detail = if show_detail { format!(": {}", c.detail) } else { String::new() };
        println!("vm-test: {mark} [{}] {} / {} ({who}){detail}", c.kernel, c.subject, c.what);
    }
}
