//! `cargo xtask build`: the eBPF object (built by dockernet-trace's build.rs with the nightly
//! and bpf-linker) embedded in one self-contained release binary.
use std::{path::PathBuf, process::Command};

use anyhow::Result;

pub fn run() -> Result<PathBuf> {
    super::run(
        Command::new("cargo")
            .args(["build", "--release", "-p", "dockernet-trace"])
            .current_dir(super::root())
            .env("PATH", super::path_with_cargo_bin()),
    )?;
    let bin = super::root().join("target/release/dockernet-trace");
    println!("build: {}", bin.display());
    Ok(bin)
}
