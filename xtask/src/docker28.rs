//! Docker Engine 28 for the lab, beside Debian 12's 20.10: sid's `docker.io` and `containerd`
//! downloaded through an apt configuration of our own (the machine's sources, lists and cache
//! stay untouched) and unpacked with `dpkg -x`. Bookworm's runc runs their containers (sid's
//! needs glibc 2.38). Skipped when the unpacked tree is already there.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use dockernet_trace_tests::lab::{DOCKER28_DIR, DOCKER28_READY};

const PACKAGES: &[&str] = &["docker.io/sid", "containerd/sid"];
const SOURCES: &str = "# dockernet-trace: Debian sid, for Docker Engine 28 in the lab (apt-get download only)\n\
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n";

pub fn ensure() -> Result<()> {
    let dir = Path::new(DOCKER28_DIR);
    let root = dir.join("root");
    if dir.join(DOCKER28_READY).exists() {
        println!("setup: Docker Engine 28 present in {}", dir.display());
        return Ok(());
    }
    println!(
        "setup: downloading Docker Engine 28 (Debian sid's docker.io and containerd) into {}",
        dir.display()
    );
    let apt_dir = dir.join("apt");
    let debs = dir.join("debs");
    let _ = fs::remove_dir_all(&root);
    let _ = fs::remove_dir_all(&debs);
    for d in [apt_dir.join("lists/partial"), apt_dir.join("archives/partial"), debs.clone()] {
        fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    let sources = apt_dir.join("sources.list");
    fs::write(&sources, SOURCES)?;
    super::run(apt_get(&apt_dir, &sources).arg("update"))?;
    super::run(apt_get(&apt_dir, &sources).arg("download").args(PACKAGES).current_dir(&debs))?;
    let mut unpacked = 0;
    for deb in fs::read_dir(&debs)?.flatten().map(|e| e.path()) {
        if deb.extension().is_some_and(|e| e == "deb") {
            super::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
            unpacked += 1;
        }
    }
    if unpacked != PACKAGES.len() {
        bail!(
            "apt-get download left {unpacked} .deb files in {}, expected {}",
            debs.display(),
            PACKAGES.len()
        );
    }
    check_runs(&root)?;
    // The unpacked trees are all the lab reads; the archives and lists are 100 MB we never need.
    fs::remove_dir_all(&debs)?;
    fs::remove_dir_all(&apt_dir)?;
    fs::write(dir.join(DOCKER28_READY), "")?;
    Ok(())
}

/// apt with our own sources, lists and archives; `-o APT::Sandbox::User=root` because the _apt
/// user cannot write our directory.
fn apt_get(apt_dir: &Path, sources: &Path) -> Command {
    let opt = |k: &str, v: &Path| format!("{k}={}", v.display());
    let mut c = Command::new("apt-get");
    c.args(["-q", "-o", "APT::Sandbox::User=root", "-o", "Dir::Etc::sourceparts=-"])
        .args(["-o", &opt("Dir::Etc::sourcelist", sources)])
        .args(["-o", &opt("Dir::State::Lists", &apt_dir.join("lists"))])
        .args(["-o", &opt("Dir::Cache::archives", &apt_dir.join("archives"))])
        .args(["-o", &opt("Dir::Cache::pkgcache", &apt_dir.join("pkgcache.bin"))])
        .args(["-o", &opt("Dir::Cache::srcpkgcache", &apt_dir.join("srcpkgcache.bin"))])
        .env("DEBIAN_FRONTEND", "noninteractive");
    c
}

/// dockerd and containerd start here (glibc, linked libraries) and say they are 28 and 2.x.
fn check_runs(root: &Path) -> Result<()> {
    let version = |prog: PathBuf| -> Result<String> {
        let out = Command::new(&prog)
            .arg("--version")
            .output()
            .with_context(|| format!("running {}", prog.display()))?;
        if !out.status.success() {
            bail!("{} --version failed: {}", prog.display(), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let dockerd = version(root.join("usr/sbin/dockerd"))?;
    let containerd = version(root.join("usr/bin/containerd"))?;
    println!("setup: {dockerd}; {containerd}");
    if !dockerd.contains("version 28.") {
        bail!("sid's docker.io is no longer Docker 28 ({dockerd}); the lab's engine 28 needs updating");
    }
    Ok(())
}
