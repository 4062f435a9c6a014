//! Prerequisites, installed idempotently: each step checks first and is quick when done.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

/// Debian packages the build, the lab, the VM tests and the benchmark need.
pub const PACKAGES: &[&str] = &[
    "docker.io",       // dockerd + containerd + runc for the lab
    "iproute2",        // ip, tc
    "iptables",        // Docker's rules, and the faults the tests inject
    "nftables",        // nft, for hosts on native nftables
    "busybox-static",  // the lab's container image
    "iperf3",          // throughput benchmark
    "time",            // GNU time: the benchmark's peak RSS of the tool alone
    "qemu-system-x86", // kernel matrix VMs
    "cpio",            // initramfs for the VMs
    "kmod",            // modprobe/insmod
    "bpftool",         // inspecting programs and links by hand
    "prometheus",      // the lab scrapes watch --metrics with a real server; promtool lints it
    "tshark",          // the lab reads --pcap files back as Wireshark would
    "debootstrap",     // the fresh Debian root of `cargo xtask fresh-setup`
    "bpftrace",        // benchmark: a kfree_skb counter, what users would run instead of watch
    "tcpdump",         // benchmark: tcpdump -i any beside watch
    "apache2-utils",   // benchmark: ab, HTTP connections per second
];
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn run() -> Result<()> {
    require_root()?;
    apt_packages()?;
    super::docker28::ensure()?;
    nightly_rust_src()?;
    bpf_linker()?;
    kernel_checks();
    println!("setup: everything is in place");
    Ok(())
}

fn require_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("setup installs packages: run it as root");
    }
    Ok(())
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// The installed version of `pkg`, if it is installed.
fn installed_version(pkg: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", pkg])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("install ok installed ").map(str::to_string)
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        println!("setup: Debian packages present");
        return Ok(());
    }
    println!("setup: installing {}", missing.join(" "));
    let apt = |args: &[&str]| {
        super::run(Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-q"])?;
    // Never remove what the machine has: fail instead, saying so.
    let install = ["install", "-y", "-q", "--no-install-recommends", "--no-remove"];
    // This machine kind carries QEMU's tools (qemu-utils) from bookworm-backports; bookworm's
    // emulator conflicts with them. Take the emulator and all its dependencies from backports
    // (apt's target release for that one install: a pinned `pkg/bookworm-backports` alone would
    // pull its dependencies from bookworm, which apt refuses as held broken packages).
    let (backports, rest): (Vec<&str>, Vec<&str>) = missing.iter().partition(|p| {
        **p == "qemu-system-x86" && installed_version("qemu-utils").is_some_and(|v| v.contains("bpo"))
    });
    if !rest.is_empty() {
        let mut args = install.to_vec();
        args.extend(rest);
        apt(&args)?;
    }
    if !backports.is_empty() {
        super::vm::ensure_backports()?;
        let mut args = install.to_vec();
        args.extend(["-t", "bookworm-backports"]);
        args.extend(backports);
        apt(&args)?;
    }
    Ok(())
}

fn nightly_rust_src() -> Result<()> {
    let list = Command::new("rustup").args(["toolchain", "list"]).output().context("rustup is missing")?;
    if !String::from_utf8_lossy(&list.stdout).lines().any(|l| l.starts_with("nightly")) {
        bail!(
            "the nightly Rust toolchain is not installed (the eBPF crate needs it): rustup toolchain install nightly"
        );
    }
    let comps = Command::new("rustup").args(["+nightly", "component", "list", "--installed"]).output()?;
    if String::from_utf8_lossy(&comps.stdout).lines().any(|l| l.starts_with("rust-src")) {
        println!("setup: nightly rust-src present");
        return Ok(());
    }
    super::run(Command::new("rustup").args(["+nightly", "component", "add", "rust-src"]))
}

/// The nightly's LLVM major version, from `rustc -vV`.
fn nightly_llvm_major() -> Result<u32> {
    let out = Command::new("rustup").args(["run", "nightly", "rustc", "-vV"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse().ok())
        .context("cannot read the nightly's LLVM version")
}

fn nightly_lib_dir() -> Result<PathBuf> {
    let out = Command::new("rustup").args(["run", "nightly", "rustc", "--print", "sysroot"]).output()?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("lib"))
}

fn bpf_linker_ok() -> bool {
    Command::new("bpf-linker")
        .arg("--version")
        .env("PATH", super::path_with_cargo_bin())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION))
        .unwrap_or(false)
}

/// bpf-linker must link bitcode from the nightly's own LLVM, so we build it against that very
/// library (shipped with rustc as libLLVM.so.<ver>-rust-<ver>): no distribution LLVM needed,
/// and the versions cannot disagree.
fn bpf_linker() -> Result<()> {
    // The library bpf-linker was linked against, where its RUNPATH looks (kept up even when it
    // is already installed: a cleared ~/.cache must not cost a rebuild).
    let (prefix, major) = nightly_llvm_prefix()?;
    if bpf_linker_ok() {
        println!("setup: bpf-linker {BPF_LINKER_VERSION} present");
        return Ok(());
    }
    if !(21..=23).contains(&major) {
        bail!("bpf-linker {BPF_LINKER_VERSION} supports LLVM 21-23; the nightly has LLVM {major}");
    }
    println!("setup: building bpf-linker {BPF_LINKER_VERSION} against the nightly's LLVM {major}");
    super::run(
        Command::new("cargo")
            .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION, "--locked", "--force"])
            .args(["--no-default-features", "--features", &format!("llvm-{major}")])
            .env("LLVM_PREFIX", &prefix),
    )?;
    if !bpf_linker_ok() {
        bail!("bpf-linker was installed but does not run; check {}", prefix.join("lib").display());
    }
    Ok(())
}

/// A prefix holding only the nightly's libLLVM.so (as `libLLVM.so` and under its own name), for
/// bpf-linker's build to link and its binary to load; and that LLVM's major version.
fn nightly_llvm_prefix() -> Result<(PathBuf, u32)> {
    let major = nightly_llvm_major()?;
    let lib = nightly_lib_dir()?;
    let libllvm = std::fs::read_dir(&lib)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libLLVM.so.")))
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let prefix = home.join(".cache/dockernet-trace/llvm-rust-nightly");
    let prefix_lib = prefix.join("lib");
    std::fs::create_dir_all(&prefix_lib)?;
    for name in [PathBuf::from("libLLVM.so"), PathBuf::from(libllvm.file_name().unwrap())] {
        let link = prefix_lib.join(name);
        if std::fs::read_link(&link).is_ok_and(|to| to == libllvm) {
            continue;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&libllvm, &link)?;
    }
    Ok((prefix, major))
}

fn kernel_checks() {
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("setup: warning: /sys/kernel/btf/vmlinux is missing; the tool needs a kernel with BTF");
    }
}
