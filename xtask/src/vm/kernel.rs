//! One kernel of the matrix: Debian's cloud kernel package of a series, downloaded and unpacked
//! once into the cache, with modules.dep made by depmod (the package leaves that to its
//! postinst).
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use super::apt;

/// Downloaded and unpacked kernels, one directory per package; survives `cargo clean`.
pub const CACHE: &str = "/var/cache/dockernet-trace/vm";

/// The kernel series of the matrix: Debian 12's own, and the 6.12 LTS it offers on top.
pub const SERIES: &[&str] = &["6.1", "6.12"];

#[derive(Clone, Debug)]
pub struct Kernel {
    /// "6.1" or "6.12".
    pub series: String,
    /// The Debian package, e.g. linux-image-6.1.0-56-cloud-amd64.
    pub package: String,
    /// What `uname -r` will say, and the name of the modules directory.
    pub release: String,
    /// The unpacked package.
    pub root: PathBuf,
}

impl Kernel {
    pub fn vmlinuz(&self) -> PathBuf {
        self.root.join("boot").join(format!("vmlinuz-{}", self.release))
    }

    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }

    /// Short label for tables and file names: the release without "-cloud-amd64".
    pub fn label(&self) -> String {
        self.release.trim_end_matches("-cloud-amd64").to_string()
    }
}

/// The newest cloud kernel of `series`, downloaded and unpacked unless the cache has it.
pub fn prepare(series: &str) -> Result<Kernel> {
    let package = apt::newest_cloud_kernel(series)?.with_context(|| {
        format!("apt knows no linux-image-{series}.*-cloud-amd64 package (try `apt-get update`)")
    })?;
    let dir = Path::new(CACHE).join(&package);
    let root = dir.join("root");
    let ready = dir.join(".ready");
    if ready.exists() {
        println!("vm-test: {package}: cached in {}", dir.display());
    } else {
        unpack(&package, &dir, &root)?;
        fs::write(&ready, "")?;
    }
    let release = release_of(&root)?;
    let kernel = Kernel { series: series.to_string(), package, release, root };
    if !kernel.vmlinuz().exists() {
        bail!("{} has no {}; remove {} and retry", kernel.package, kernel.vmlinuz().display(), dir.display());
    }
    Ok(kernel)
}

fn unpack(package: &str, dir: &Path, root: &Path) -> Result<()> {
    println!("vm-test: {package}: downloading and unpacking into {}", dir.display());
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    apt::download(package, dir)?;
    let deb = fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    super::super::run(Command::new("dpkg").arg("-x").arg(&deb).arg(root))?;
    let release = release_of(root)?;
    super::super::run(Command::new("depmod").arg("-b").arg(root).arg(&release))
        .context("depmod (package kmod) could not index the modules")?;
    // The unpacked tree is all we use; the .deb is 30 MB we would never read again.
    fs::remove_file(&deb)?;
    Ok(())
}

/// The single directory under lib/modules of an unpacked kernel package.
fn release_of(root: &Path) -> Result<String> {
    let modules = root.join("lib/modules");
    let mut names: Vec<String> = fs::read_dir(&modules)
        .with_context(|| format!("{} is missing", modules.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.len() != 1 {
        bail!("expected one kernel release in {}, found {names:?}", modules.display());
    }
    Ok(names.remove(0))
}
