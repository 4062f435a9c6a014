//! The Debian 12 root that stands for a fresh machine: `debootstrap --variant=minbase bookworm`,
//! Debian's sources as the machine image lists them, then the packages the image ships with
//! (those Debian's archive has; qemu-utils from bookworm-backports, as on the image, whose apt
//! then lists no backports). Built once, cached under /var/tmp, rebuilt when the list changes.
use std::{
    collections::BTreeSet,
    fs,
    hash::{DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::{chroot, mounts};

pub const CACHE: &str = "/var/tmp/dockernet-trace-fresh";
const MIRROR: &str = "http://deb.debian.org/debian";
/// The image's Debian sources (deb822, as on the machine).
const SOURCES: &str = "\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";
const BACKPORTS: &str = "deb http://deb.debian.org/debian bookworm-backports main\n";
/// Image packages that come from bookworm-backports there.
const FROM_BACKPORTS: &[&str] = &["qemu-utils"];
/// The image's apt settings: its clock runs ahead of the archive's Release files.
const APT_CONF: &str = "Acquire::Check-Valid-Until \"false\";\nAcquire::Check-Date \"false\";\n";
/// invoke-rc.d asks this before starting a service: never, in a chroot that shares the machine's
/// network (postgresql, docker.io and friends would start on the machine's addresses).
const POLICY_RC_D: &str = "#!/bin/sh\n# dockernet-trace fresh root: no service starts here\nexit 101\n";

/// A root in use: the machine's lock on the cache, held while the root is built or overlaid
/// (a second run waits, and no run removes a root another is using).
pub struct Root {
    pub dir: PathBuf,
    _lock: nix::fcntl::Flock<fs::File>,
}

/// The cached root for `packages` (the image's list), built unless present.
pub fn ensure(packages: &Path) -> Result<Root> {
    let list = fs::read_to_string(packages).with_context(|| format!("reading {}", packages.display()))?;
    let names: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let key = cache_key(&names);
    let cache = Path::new(CACHE);
    fs::create_dir_all(cache)?;
    // One builder at a time on a machine; a second run waits and then finds the root ready.
    let lock = fs::File::create(cache.join("lock"))?;
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", cache.join("lock").display()))?;
    let root = cache.join(format!("root-{key}"));
    if root.join(".ready").exists() {
        println!("fresh-setup: Debian 12 root cached in {}", root.display());
        image_config(&root)?;
        return Ok(Root { dir: root, _lock: lock });
    }
    remove_other_roots(cache, &root);
    let partial = cache.join(format!("root-{key}.partial"));
    if partial.exists() {
        println!("fresh-setup: removing an unfinished root {}", partial.display());
        fs::remove_dir_all(&partial)?;
    }
    build(&partial, &names)?;
    fs::rename(&partial, &root)?;
    fs::write(root.join(".ready"), "")?;
    println!("fresh-setup: Debian 12 root ready in {}", root.display());
    Ok(Root { dir: root, _lock: lock })
}

fn cache_key(names: &[String]) -> String {
    let mut h = DefaultHasher::new();
    ("bookworm", "minbase", SOURCES, FROM_BACKPORTS, names).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Roots built from another list: 1.5 GB each, never used again.
fn remove_other_roots(cache: &Path, keep: &Path) {
    for e in fs::read_dir(cache).into_iter().flatten().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("root-") && p != keep && !name.starts_with(&format!("{}.", file_name(keep))) {
            println!("fresh-setup: removing {}, built from another package list", p.display());
            let _ = fs::remove_dir_all(&p);
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

fn build(dir: &Path, names: &[String]) -> Result<()> {
    println!(
        "fresh-setup: building a Debian 12 root in {} (debootstrap, then the image's packages)",
        dir.display()
    );
    super::super::run(
        Command::new("debootstrap").args(["--variant=minbase", "bookworm"]).arg(dir).arg(MIRROR),
    )
    .context("debootstrap (installed by `cargo xtask setup`)")?;
    image_config(dir)?;
    fs::copy("/etc/resolv.conf", dir.join("etc/resolv.conf"))?;

    let mut mounts = mounts::Mounts::default();
    mounts::system_dirs(&mut mounts, dir)?;
    let result = install_image_packages(dir, names);
    chroot::stop_processes_in(dir);
    mounts.unmount_all();
    result
}

/// The machine image's configuration: Debian's sources as it lists them, its apt settings, and
/// no service starting in the chroot. Written on every use (cheap), so a cached root follows.
fn image_config(dir: &Path) -> Result<()> {
    let _ = fs::remove_file(dir.join("etc/apt/sources.list"));
    fs::write(dir.join("etc/apt/sources.list.d/debian.sources"), SOURCES)?;
    fs::write(dir.join("etc/apt/apt.conf.d/99artifact-registry"), APT_CONF)?;
    let policy = dir.join("usr/sbin/policy-rc.d");
    fs::write(&policy, POLICY_RC_D)?;
    fs::set_permissions(&policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(())
}

fn install_image_packages(dir: &Path, names: &[String]) -> Result<()> {
    chroot::run(dir, "apt-get -q update")?;
    // What the archive has, from the package lists just fetched (one local read, no lookups).
    let known: BTreeSet<String> =
        chroot::output(dir, "apt-cache pkgnames")?.lines().map(str::to_string).collect();
    let (wanted, missing): (Vec<&String>, Vec<&String>) = names
        .iter()
        .filter(|n| !FROM_BACKPORTS.contains(&n.as_str()))
        .partition(|n| known.contains(n.as_str()));
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        println!("fresh-setup: not in Debian's archive, skipped: {}", shown.join(" "));
    }
    if wanted.len() < names.len() / 2 {
        bail!(
            "only {} of the image's {} packages are in Debian's archive: wrong list?",
            wanted.len(),
            names.len()
        );
    }
    let list: Vec<&str> = wanted.iter().map(|s| s.as_str()).collect();
    // A throwaway root: dpkg need not fsync every file (minutes saved on ~700 packages).
    let install = "apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-unsafe-io";
    chroot::run(dir, &format!("{install} {}", list.join(" ")))?;
    // The image's backports packages, and then no backports source, as on the image.
    let backports = dir.join("etc/apt/sources.list.d/fresh-backports.list");
    fs::write(&backports, BACKPORTS)?;
    let installed = chroot::run(
        dir,
        &format!("apt-get -q update && {install} -t bookworm-backports {}", FROM_BACKPORTS.join(" ")),
    );
    fs::remove_file(&backports)?;
    installed?;
    chroot::run(dir, "apt-get -q update && apt-get clean")
}
