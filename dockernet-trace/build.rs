//! Builds the eBPF crate with the nightly toolchain (aya-build) so that the object can be
//! embedded in the binary with `include_bytes_aligned!`. Missing prerequisites are reported by
//! name, with the command that installs them, instead of as a compiler error deep inside.
use std::process::Command;

fn main() -> anyhow::Result<()> {
    if std::env::var_os("AYA_BUILD_SKIP").is_none() {
        check_prerequisites();
    }
    let ebpf = aya_build::Package {
        name: "dockernet-trace-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../dockernet-trace-ebpf"),
        ..Default::default()
    };
    aya_build::build_ebpf([ebpf], aya_build::Toolchain::Nightly)?;
    if std::env::var_os("AYA_BUILD_SKIP").is_some() {
        // Metadata-only builds (clippy, docs): embed an empty object; loading it fails clearly.
        let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("dockernet-trace");
        if !out.exists() {
            std::fs::write(out, [])?;
        }
    }
    Ok(())
}

fn check_prerequisites() {
    let fix = "run `cargo xtask setup` to install it";
    if which::which("bpf-linker").is_err() {
        panic!("\n\nbpf-linker is not on PATH; {fix} (or add ~/.cargo/bin to PATH)\n");
    }
    let nightly = Command::new("rustup").args(["run", "nightly", "rustc", "--version"]).output();
    if !nightly.map(|o| o.status.success()).unwrap_or(false) {
        panic!("\n\nthe nightly Rust toolchain is missing; {fix}\n");
    }
    let sysroot = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let src = std::path::Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library/core");
    if !src.is_dir() {
        panic!("\n\nthe nightly toolchain lacks rust-src (needed for -Z build-std=core); {fix}\n");
    }
}
