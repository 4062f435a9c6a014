//! `cargo xtask test`: unit tests, then the lab integration tests (root: they start dockerd in
//! network namespaces and load eBPF), a check that nothing was left behind, then the kernel
//! matrix in VMs (`cargo xtask vm-test`).
use std::process::Command;

use anyhow::{Result, bail};
use clap::Args;

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
    /// Only lab tests whose name contains this (the kernel matrix is then skipped).
    filter: Option<String>,
}

pub fn run(args: &TestArgs) -> Result<()> {
    super::setup::run()?;
    let bin = super::build::run()?;
    let cargo = || {
        let mut c = Command::new("cargo");
        c.current_dir(super::root()).env("PATH", super::path_with_cargo_bin());
        c
    };
    if !args.lab_only {
        super::run(cargo().args([
            "test",
            "--workspace",
            "--exclude",
            "dockernet-trace-ebpf",
            "--exclude",
            "dockernet-trace-tests",
        ]))?;
    }
    if args.unit_only {
        return Ok(());
    }
    let mut lab = cargo();
    lab.args(["test", "-p", "dockernet-trace-tests", "--"])
        .arg(format!("--test-threads={}", args.lab_threads))
        .env("DNT_BIN", &bin);
    if let Some(f) = &args.filter {
        lab.arg(f);
    }
    let result = super::run(&mut lab);
    let left = leftovers();
    result?;
    if !left.is_empty() {
        bail!("the tests left things behind: {}", left.join("; "));
    }
    println!("test: unit and lab tests passed, nothing left behind");
    if args.no_vm || args.filter.is_some() {
        println!("test: kernel matrix skipped (--no-vm or a filter)");
        return Ok(());
    }
    super::vm::run(&super::vm::VmTestArgs::default())?;
    println!("test: all passed");
    Ok(())
}

/// Lab namespaces and our tc programs still present after the tests.
fn leftovers() -> Vec<String> {
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
