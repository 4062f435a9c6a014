//! Reading a source's resolver files (/etc/resolv.conf, /etc/hosts) as the source sees them:
//! a process's through its root (/proc/PID/root), so a container's own files are read; a
//! named namespace's through `ip netns exec`'s convention (/etc/netns/NAME/FILE when it
//! exists); the host's as they are.
use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use nix::{
    errno::Errno,
    fcntl::{OFlag, OpenHow, ResolveFlag, openat2},
};

use super::DnsError;

pub const RESOLV_CONF: &str = "etc/resolv.conf";
pub const HOSTS: &str = "etc/hosts";

/// Whose files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileRoot {
    /// The tool's own root: the host.
    Host,
    /// A process's root, e.g. a container's init.
    Process(u32),
    /// A namespace under /run/netns: `ip netns exec NAME` bind-mounts /etc/netns/NAME/FILE.
    NamedNetns(String),
}

impl FileRoot {
    /// The path of `file` (relative, e.g. `etc/hosts`) for messages and for reading.
    pub fn path_of(&self, file: &str) -> PathBuf {
        match self {
            Self::Host => Path::new("/").join(file),
            Self::Process(pid) => PathBuf::from(format!("/proc/{pid}/root")).join(file),
            Self::NamedNetns(name) => {
                let base = file.rsplit('/').next().unwrap_or(file);
                let own = Path::new("/etc/netns").join(name).join(base);
                if own.exists() { own } else { Path::new("/").join(file) }
            }
        }
    }

    /// The text of `file`; `Ok(None)` when it does not exist.
    pub fn read(&self, file: &str) -> Result<Option<String>, DnsError> {
        let path = self.path_of(file);
        let err = |e: std::io::Error| DnsError::ResolverFile { path: path.clone(), reason: e.to_string() };
        let opened = match self {
            // A process that is gone is an error, not a missing file.
            Self::Process(pid) => {
                open_in_root(&File::open(format!("/proc/{pid}/root")).map_err(err)?, pid, file)
            }
            _ => File::open(&path),
        };
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let mut text = String::new();
        // Resolver files are small; a huge one is someone's mistake, not a configuration.
        f.by_ref().take(1 << 20).read_to_string(&mut text).map_err(err)?;
        Ok(Some(text))
    }
}

/// Opens `file` under /proc/PID/root with symbolic links resolved inside that root (a
/// container's /etc/resolv.conf may link to /run/...: the container's, not the host's).
/// Kernels before 5.6 lack openat2: then the plain path, whose absolute links would be
/// resolved against the host's root.
fn open_in_root(root: &File, pid: &u32, file: &str) -> std::io::Result<File> {
    let how = OpenHow::new().flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT);
    match openat2(root, file, how) {
        Ok(fd) => Ok(File::from(fd)),
        Err(Errno::ENOSYS) => File::open(Path::new(&format!("/proc/{pid}/root")).join(file)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_per_root() {
        assert_eq!(FileRoot::Host.path_of(RESOLV_CONF), PathBuf::from("/etc/resolv.conf"));
        assert_eq!(FileRoot::Process(42).path_of(HOSTS), PathBuf::from("/proc/42/root/etc/hosts"));
        let ns = FileRoot::NamedNetns("dnt-no-such-ns".into());
        assert_eq!(ns.path_of(RESOLV_CONF), PathBuf::from("/etc/resolv.conf"), "no own file: the host's");
    }

    #[test]
    fn reads_through_a_process_root() {
        let me = FileRoot::Process(std::process::id());
        let direct = std::fs::read_to_string("/etc/hosts").ok();
        assert_eq!(me.read(HOSTS).unwrap(), direct);
        assert_eq!(me.read("etc/dnt-no-such-file").unwrap(), None);
    }

    #[test]
    fn a_missing_process_is_one_line() {
        let e = FileRoot::Process(u32::MAX - 1).read(RESOLV_CONF).unwrap_err().to_string();
        assert!(e.contains("/proc/4294967294/root/etc/resolv.conf"), "{e}");
        assert!(!e.contains('\n'));
    }
}
