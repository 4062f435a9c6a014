//! The lab's only image: busybox from Debian's busybox-static, imported with `docker import`
//! (there is no registry to pull from).
use std::{fs, os::unix::fs::symlink, path::Path};

use anyhow::{Context, Result};

use super::cmd;

pub const IMAGE: &str = "dnt-busybox:lab";
const APPLETS: &[&str] = &[
    "sh", "sleep", "httpd", "nc", "ping", "ip", "cat", "echo", "ls", "wget", "ifconfig", "route", "true",
    "false", "kill", "ps", "nslookup", "hostname",
];

/// Builds (once, cached under `cache_dir`) a tarball of a busybox root filesystem. Labs start
/// in parallel (test threads, test binaries): each builder works in a directory of its own and
/// renames its finished tarball into place, which is atomic, so none sees another's half-work.
pub fn rootfs_tar(cache_dir: &Path) -> Result<std::path::PathBuf> {
    let tar = cache_dir.join("busybox-rootfs.tar");
    if tar.exists() {
        return Ok(tar);
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("busybox is not installed: run `cargo xtask setup` (package busybox-static)")?;
    let unique = format!("{}-{:?}", std::process::id(), std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "");
    let root = cache_dir.join(format!("busybox-rootfs.{unique}"));
    let _ = fs::remove_dir_all(&root);
    for d in ["bin", "tmp", "etc", "proc", "sys", "dev", "www"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::copy(busybox, root.join("bin/busybox"))?;
    for a in APPLETS {
        symlink("busybox", root.join("bin").join(a))?;
    }
    fs::write(root.join("www/index.html"), "dockernet-trace lab\n")?;
    let partial = cache_dir.join(format!("busybox-rootfs.tar.{unique}"));
    let built =
        cmd::run(std::process::Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&partial).arg("."));
    let _ = fs::remove_dir_all(&root);
    built?;
    fs::rename(&partial, &tar)?;
    Ok(tar)
}
