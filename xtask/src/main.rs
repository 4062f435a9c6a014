//! Developer tasks: `cargo xtask <task>`. Everything a fresh machine needs goes through here.
mod bench;
mod build;
mod demo;
mod docker28;
mod fresh;
mod setup;
mod stages;
mod test;
mod vm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, lab, tests and benchmarks for dockernet-trace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install every prerequisite (Debian packages, nightly rust-src, bpf-linker); idempotent.
    Setup,
    /// Build the eBPF programs and the release binary with them embedded.
    Build,
    /// Prove `setup` from nothing: run it in a chroot of a fresh Debian 12 root (cached under
    /// /var/tmp) that holds what the machine image ships, and check what it installed.
    FreshSetup(fresh::FreshArgs),
    /// Run all tests: unit tests, the root-only lab integration tests on Docker Engine 20.10
    /// and 28, then the kernel matrix; prints each stage's time.
    Test(test::TestArgs),
    /// The main job: an isolated lab reproduces "the bridge lost its gateway IP" and the tool
    /// traces it.
    Demo,
    /// Start an isolated lab and keep it until Ctrl-C (for trying the tool by hand).
    Lab,
    /// Measure the cost of watching beside tcpdump and bpftrace, the kernel programs' cost,
    /// time to verdict, the control plane at scale and pwru in a VM; print them and write
    /// BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// The kernel matrix: boot Debian's 6.1 and 6.12 kernels under qemu and run the trace
    /// scenarios there (kprobe/fentry paths included).
    VmTest(vm::VmTestArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::run(),
        Task::Build => build::run().map(drop),
        Task::FreshSetup(args) => fresh::run(&args),
        Task::Test(args) => test::run(&args),
        Task::Demo => demo::run(),
        Task::Lab => demo::lab(),
        Task::Bench(args) => bench::run(&args),
        Task::VmTest(args) => vm::run(&args),
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(2);
    }
}

/// The workspace root (xtask lives one level below it).
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// PATH with cargo's bin directory first, where bpf-linker is installed.
pub fn path_with_cargo_bin() -> std::ffi::OsString {
    let home = std::env::var_os("CARGO_HOME").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
    });
    let mut paths = vec![home.join("bin")];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_default()
}

/// Runs a command, inheriting stdio, failing with its name if it fails.
pub fn run(cmd: &mut std::process::Command) -> anyhow::Result<()> {
    let status = cmd.status().map_err(|e| anyhow::anyhow!("cannot run {cmd:?}: {e}"))?;
    anyhow::ensure!(status.success(), "{cmd:?} failed ({status})");
    Ok(())
}
