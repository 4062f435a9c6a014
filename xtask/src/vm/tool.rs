//! dockernet-trace as one static binary (musl), so the guest needs no C library for it.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

const TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds the release binary for musl (the eBPF object is embedded by build.rs as usual).
pub fn build_static() -> Result<PathBuf> {
    ensure_target()?;
    super::super::run(
        Command::new("cargo")
            .args(["build", "--release", "--target", TARGET, "-p", "dockernet-trace"])
            .current_dir(super::super::root())
            .env("PATH", super::super::path_with_cargo_bin()),
    )?;
    let bin = target_dir().join(TARGET).join("release/dockernet-trace");
    check_static(&bin)?;
    Ok(bin)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::super::root().join("target"))
}

fn ensure_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is missing")?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    super::super::run(Command::new("rustup").args(["target", "add", TARGET]))
}

/// Fails unless `bin` is an ELF without an interpreter (PT_INTERP): static or static-pie.
pub fn check_static(bin: &Path) -> Result<()> {
    let data = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
    match elf_interpreter(&data) {
        Some(None) => Ok(()),
        Some(Some(interp)) => bail!(
            "{} is dynamically linked (interpreter {interp}); the VM needs a static binary",
            bin.display()
        ),
        None => bail!("{} is not a 64-bit little-endian ELF file", bin.display()),
    }
}

/// None: not an ELF64 LE file; Some(None): no interpreter; Some(Some(path)): dynamic.
fn elf_interpreter(d: &[u8]) -> Option<Option<String>> {
    if d.len() < 64 || &d[..4] != b"\x7fELF" || d[4] != 2 || d[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| d.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |o: usize| d.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    let (phoff, phentsize, phnum) = (u64_at(0x20)?, u16_at(0x36)?, u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        const PT_INTERP: u32 = 3;
        if u32::from_le_bytes(d.get(ph..ph + 4)?.try_into().ok()?) == PT_INTERP {
            let (off, size) = (u64_at(ph + 8)?, u64_at(ph + 32)?);
            let path = d.get(off..off + size)?;
            return Some(Some(String::from_utf8_lossy(path).trim_end_matches('\0').to_string()));
        }
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_tools_are_dynamic() {
        // /usr/sbin/ip is a dynamically linked Debian binary on every machine we run on.
        if let Ok(d) = std::fs::read("/usr/sbin/ip") {
            assert!(matches!(super::elf_interpreter(&d), Some(Some(_))));
        }
        if let Ok(d) = std::fs::read("/bin/busybox") {
            assert_eq!(super::elf_interpreter(&d), Some(None));
        }
    }
}
