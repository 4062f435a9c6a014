//! The guest's whole world as one uncompressed cpio (newc) archive: busybox and its applets, the
//! static dockernet-trace, iproute2 and iptables/nft from the host with the shared libraries ldd
//! names, the modules, and tests/vm (the /init script and the scenarios).
use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::{kernel::Kernel, modules};

/// Host programs the scenarios and the tool run, copied with their libraries.
const HOST_PROGRAMS: &[&str] = &[
    "/usr/sbin/ip",
    "/usr/sbin/tc",
    "/usr/sbin/xtables-nft-multi",
    "/usr/sbin/xtables-legacy-multi",
    "/usr/sbin/nft",
];
/// iptables' matches and targets, loaded with dlopen (so ldd of iptables does not list them).
const XTABLES_DIR: &str = "/usr/lib/x86_64-linux-gnu/xtables";
/// Names xtables-*-multi answer to (by argv[0]); plain `iptables` is the nft backend, as on
/// Debian 12 and on this host.
const IPTABLES_NAMES: &[(&str, &str)] = &[
    ("iptables", "xtables-nft-multi"),
    ("iptables-save", "xtables-nft-multi"),
    ("iptables-restore", "xtables-nft-multi"),
    ("ip6tables", "xtables-nft-multi"),
    ("ip6tables-save", "xtables-nft-multi"),
    ("iptables-nft", "xtables-nft-multi"),
    ("iptables-nft-save", "xtables-nft-multi"),
    ("iptables-nft-restore", "xtables-nft-multi"),
    ("ip6tables-nft-save", "xtables-nft-multi"),
    ("iptables-legacy", "xtables-legacy-multi"),
    ("iptables-legacy-save", "xtables-legacy-multi"),
    ("iptables-legacy-restore", "xtables-legacy-multi"),
    ("ip6tables-legacy-save", "xtables-legacy-multi"),
];
const ETC_FILES: &[&str] = &["/etc/protocols", "/etc/services"];

/// Files another task (the benchmark) adds to the guest: (host path, path in the guest), and
/// programs whose shared libraries come along.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub files: Vec<(PathBuf, String)>,
    pub programs: Vec<(PathBuf, String)>,
}

/// Builds the initramfs for `kernel` at `out`.
pub fn build(kernel: &Kernel, tool: &Path, out: &Path) -> Result<()> {
    build_with(kernel, tool, out, &Extra::default())
}

/// The same, with `extra` files in it.
pub fn build_with(kernel: &Kernel, tool: &Path, out: &Path, extra: &Extra) -> Result<()> {
    let stage = std::env::temp_dir().join(format!("dnt-vm-{}-{}", std::process::id(), kernel.series));
    let _ = fs::remove_dir_all(&stage);
    let result =
        fill(kernel, tool, &stage).and_then(|()| add(extra, &stage)).and_then(|()| pack(&stage, out));
    let _ = fs::remove_dir_all(&stage);
    result
}

fn add(extra: &Extra, stage: &Path) -> Result<()> {
    for (src, dst) in extra.files.iter().chain(&extra.programs) {
        copy(src, &stage.join(dst.trim_start_matches('/')))?;
    }
    let programs: Vec<PathBuf> = extra.programs.iter().map(|(p, _)| p.clone()).collect();
    for lib in shared_libraries(&programs)? {
        let dst = stage.join(lib.strip_prefix("/")?);
        if !dst.exists() {
            copy(&lib, &dst)?;
        }
    }
    Ok(())
}

fn fill(kernel: &Kernel, tool: &Path, stage: &Path) -> Result<()> {
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "lib64",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "root",
        "www",
        "dnt/scenarios",
    ] {
        fs::create_dir_all(stage.join(d))?;
    }
    // The kernel opens /dev/console before /init can mount devtmpfs.
    nix::sys::stat::mknod(
        &stage.join("dev/console"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(5, 1),
    )?;
    busybox(stage)?;
    copy(tool, &stage.join("usr/bin/dockernet-trace"))?;
    let mut elves: Vec<PathBuf> = HOST_PROGRAMS.iter().map(PathBuf::from).collect();
    for p in &elves {
        copy(p, &stage.join(p.strip_prefix("/")?))?;
    }
    for (name, target) in IPTABLES_NAMES {
        symlink(target, stage.join("usr/sbin").join(name))?;
    }
    for entry in
        fs::read_dir(XTABLES_DIR).with_context(|| format!("{XTABLES_DIR} is missing (package iptables)"))?
    {
        let p = entry?.path();
        copy(&p, &stage.join(p.strip_prefix("/")?))?;
        elves.push(p);
    }
    for lib in shared_libraries(&elves)? {
        copy(&lib, &stage.join(lib.strip_prefix("/")?))?;
    }
    for f in ETC_FILES {
        if Path::new(f).exists() {
            copy(Path::new(f), &stage.join(&f[1..]))?;
        }
    }
    fs::write(stage.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(stage.join("etc/group"), "root:x:0:\n")?;
    fs::write(stage.join("www/index.html"), "dockernet-trace vm\n")?;
    guest_scripts(stage)?;
    let order = modules::load_order(kernel)?;
    modules::stage(kernel, &order, stage)?;
    Ok(())
}

fn busybox(stage: &Path) -> Result<()> {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .context("busybox is missing (package busybox-static)")?;
    super::tool::check_static(bb).context("the guest needs busybox-static, not the dynamic busybox")?;
    copy(bb, &stage.join("bin/busybox"))?;
    let list = Command::new(bb).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
        if !applet.is_empty() && applet != "busybox" {
            symlink("busybox", stage.join("bin").join(applet))?;
        }
    }
    // The kernel's request_module runs this path.
    symlink("../bin/busybox", stage.join("sbin/modprobe"))?;
    Ok(())
}

/// tests/vm: /init, the helpers and the scenarios.
fn guest_scripts(stage: &Path) -> Result<()> {
    let src = super::super::root().join("tests/vm");
    copy(&src.join("init"), &stage.join("init"))?;
    fs::set_permissions(stage.join("init"), std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    for f in ["lib.sh", "world.sh", "docker-rules.txt"] {
        copy(&src.join(f), &stage.join("dnt").join(f))?;
    }
    for s in super::expect::scenario_files()? {
        copy(&s, &stage.join("dnt/scenarios").join(s.file_name().unwrap()))?;
    }
    Ok(())
}

/// Copies a file's content (following symlinks), keeping its permissions.
fn copy(src: &Path, dst: &Path) -> Result<()> {
    if let Some(dir) = dst.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::copy(src, dst).with_context(|| format!("copying {} into the initramfs", src.display()))?;
    Ok(())
}

/// Every library (and the dynamic loader) that ldd resolves for `elves`, by the path ldd prints.
fn shared_libraries(elves: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for elf in elves {
        let out = Command::new("ldd").arg(elf).output().context("ldd is missing")?;
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            if line.contains("not found") {
                bail!("{}: a library is missing: {}", elf.display(), line.trim());
            }
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = line.split("=>").last().unwrap_or("").split_whitespace().next().unwrap_or("");
            if path.starts_with('/') && !libs.iter().any(|l: &PathBuf| l == Path::new(path)) {
                libs.push(PathBuf::from(path));
            }
        }
    }
    Ok(libs)
}

fn pack(stage: &Path, out: &Path) -> Result<()> {
    let _ = fs::remove_file(out);
    let script = "find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet";
    let file = fs::File::create(out)?;
    let status = Command::new("sh").args(["-c", script]).current_dir(stage).stdout(file).status()?;
    if !status.success() {
        bail!("cpio failed building {} (package cpio)", out.display());
    }
    Ok(())
}
