//! `cargo xtask test`: unit tests, then the lab integration tests (root: they start dockerd in
//! network namespaces and load eBPF) once per Docker Engine (20.10 and 28, `DNT_ENGINE`), a
//! check that nothing was left behind, then the kernel matrix in VMs (`cargo xtask vm-test`).
//! Each stage's time is printed.
use std::process::Command;

use anyhow::{Result, bail};
use clap::Args;
use dockernet_trace_tests::lab::{ENGINE_VAR, Engine};

use super::stages::Stages;

/// Lab tests named so are about Docker 28 alone and start engine 28 whatever `DNT_ENGINE` says:
/// they run once, in engine 28's pass.
const ENGINE28_ONLY: &str = "engine28_";

#[derive(Args)]
pub struct TestArgs {
    /// Only the unprivileged unit tests.
    #[arg(long)]
    unit_only: bool,
    /// Skip the unit tests.
    #[arg(long)]
    lab_only: bool,
    /// Parallel lab tests (each runs its own dockerd).
    #[arg(long, default_value_t = 2)]
    lab_threads: usize,
    /// Skip the kernel matrix (`cargo xtask vm-test`), which otherwise runs last.
    #[arg(long)]
    no_vm: bool,
    /// Run the lab suite on this Docker Engine only (20 or 28); both by default.
    #[arg(long, value_parser = ["20", "28"])]
    engine: Option<String>,
    /// Only lab tests whose name contains this (the kernel matrix is then skipped).
    filter: Option<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
    let mut stages = Stages::default();
    let result = run_stages(args, &mut stages);
    stages.print("test");
    result
}

fn cargo() -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(super::root()).env("PATH", super::path_with_cargo_bin());
    c
}

fn run_stages(args: &TestArgs, stages: &mut Stages) -> Result<()> {
    stages.run("setup", super::setup::run)?;
    let bin = stages.run("build", super::build::run)?;
    if !args.lab_only {
        stages.run("unit tests", || {
            super::run(cargo().args([
                "test",
                "--workspace",
                "--exclude",
                "dockernet-trace-ebpf",
                "--exclude",
                "dockernet-trace-tests",
            ]))
        })?;
    }
    if args.unit_only {
        return Ok(());
    }
    stages.run("build lab tests", || {
        super::run(cargo().args(["test", "-p", "dockernet-trace-tests", "--no-run"]))
    })?;
    let engines = match args.engine.as_deref() {
        Some("20") => vec![Engine::Docker20],
        Some(_) => vec![Engine::Docker28],
        None => vec![Engine::Docker20, Engine::Docker28],
    };
    for engine in engines {
        stages.run(&format!("lab tests on {engine}"), || lab_pass(args, &bin, engine))?;
    }
    println!("test: unit and lab tests passed, nothing left behind");
    if args.no_vm || args.filter.is_some() {
        println!("test: kernel matrix skipped (--no-vm or a filter)");
        return Ok(());
    }
    stages.run("kernel VMs", || super::vm::run(&super::vm::VmTestArgs::default()))?;
    println!("test: all passed");
    Ok(())
}

/// The whole lab suite with every lab on `engine`; then nothing of ours may be left.
fn lab_pass(args: &TestArgs, bin: &std::path::Path, engine: Engine) -> Result<()> {
    println!("test: lab integration tests on {engine} ({ENGINE_VAR}={})", engine.major());
    let mut lab = cargo();
    lab.args(["test", "--no-fail-fast", "-p", "dockernet-trace-tests", "--"])
        .arg(format!("--test-threads={}", args.lab_threads))
        .env("DNT_BIN", bin)
        .env(ENGINE_VAR, engine.major().to_string());
    if engine != Engine::Docker28 {
        lab.args(["--skip", ENGINE28_ONLY]);
    }
    if let Some(f) = &args.filter {
        lab.arg(f);
    }
    // Only what appeared during this pass counts: other labs may run on a shared machine.
    let before = ours();
    let result = super::run(&mut lab).map_err(|e| e.context(format!("lab tests on {engine}")));
    let left: Vec<String> = ours().into_iter().filter(|l| !before.contains(l)).collect();
    result?;
    if !left.is_empty() {
        bail!("the lab tests on {engine} left things behind: {}", left.join("; "));
    }
    Ok(())
}

/// Lab namespaces and eBPF programs of ours present now.
fn ours() -> Vec<String> {
    let mut left = Vec::new();
    let ns = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
    for line in String::from_utf8_lossy(&ns).lines() {
        // Labs (`dntlab…`) and the DNS tests' own namespaces (`dntdns…`).
        if line.starts_with("dnt") {
            left.push(format!("namespace {line}"));
        }
    }
    let progs = Command::new("bpftool").args(["prog", "show"]).output().map(|o| o.stdout).unwrap_or_default();
    for line in String::from_utf8_lossy(&progs).lines() {
        if line.contains(" name dnt_") {
            left.push(format!("eBPF program: {}", line.trim()));
        }
    }
    left
}
