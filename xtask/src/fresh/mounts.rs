//! Mounts for the fresh root, made in a mount namespace of this process's own: whatever happens
//! (an error, a panic, SIGKILL), they vanish with the process and never reach the machine's
//! namespace. Each is still unmounted explicitly, deepest first, when its scope ends.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// Moves this process into a new mount namespace whose mounts propagate nowhere. Call it
/// before starting threads that mount (mount namespaces belong to threads).
pub fn private_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).context("unshare(CLONE_NEWNS)")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("making / private in our mount namespace")?;
    Ok(())
}

/// Mounts made in one scope, undone in reverse order on drop.
#[derive(Default)]
pub struct Mounts {
    points: Vec<PathBuf>,
}

impl Mounts {
    /// `mount --rbind SRC TARGET`, then made a slave so nothing done below TARGET (the chroot
    /// unmounting, say) travels back to SRC.
    pub fn rbind(&mut self, src: &Path, target: &Path) -> Result<()> {
        std::fs::create_dir_all(target)?;
        mount(Some(src), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .with_context(|| format!("bind-mounting {} on {}", src.display(), target.display()))?;
        self.points.push(target.to_path_buf());
        mount(None::<&str>, target, None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>)
            .with_context(|| format!("making {} a slave mount", target.display()))?;
        Ok(())
    }

    /// An overlay of `lower` at `target`, writes going to `upper` (`work` is overlayfs's own).
    pub fn overlay(&mut self, lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<()> {
        for d in [upper, work, target] {
            std::fs::create_dir_all(d)?;
        }
        let opts =
            format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
        mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(opts.as_str()))
            .with_context(|| format!("mounting an overlay of {} on {}", lower.display(), target.display()))?;
        self.points.push(target.to_path_buf());
        Ok(())
    }

    /// Unmounts everything, newest first; a busy mount is detached (it goes when its last user
    /// does, and with our namespace at the latest).
    pub fn unmount_all(&mut self) {
        while let Some(p) = self.points.pop() {
            if umount2(&p, MntFlags::empty()).is_err() {
                let _ = umount2(&p, MntFlags::MNT_DETACH);
            }
        }
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        self.unmount_all();
    }
}

/// /proc, /sys and /dev of the machine inside `root`, for apt, dpkg and cargo in a chroot.
pub fn system_dirs(mounts: &mut Mounts, root: &Path) -> Result<()> {
    for d in ["proc", "sys", "dev"] {
        mounts.rbind(&Path::new("/").join(d), &root.join(d))?;
    }
    Ok(())
}
