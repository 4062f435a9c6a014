//! Running code inside another network namespace.
//!
//! setns(CLONE_NEWNET) changes the namespace of the calling *thread* only, and a thread that
//! changed namespace must never run anything else (a tokio worker would carry the foreign
//! namespace into unrelated tasks). So each call gets a fresh OS thread that enters the
//! namespace, runs one closure and exits.
use std::{
    fs::File,
    future::Future,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use nix::sched::{CloneFlags, setns};

use super::ModelError;

/// The namespace of the calling thread (not of the process: a worker may have moved).
pub const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Directory where `ip netns add NAME` keeps its namespaces.
pub const NAMED_NETNS_DIR: &str = "/run/netns";

/// /proc/PID/ns/net.
pub fn pid_netns_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/net"))
}

/// /run/netns/NAME.
pub fn named_netns_path(name: &str) -> PathBuf {
    Path::new(NAMED_NETNS_DIR).join(name)
}

/// The inode number that identifies the namespace behind `path` (what `ls -iL` shows, and what
/// `/proc/PID/ns/net -> net:[INODE]` names).
pub fn netns_inode(path: &Path) -> Result<u64, ModelError> {
    std::fs::metadata(path)
        .map(|m| m.ino())
        .map_err(|e| ModelError::Netns { path: path.into(), reason: e.to_string() })
}

/// The inode of the calling thread's network namespace.
pub fn current_netns_inode() -> Result<u64, ModelError> {
    netns_inode(Path::new(THREAD_NETNS))
}

/// Runs `f` on a new thread inside the namespace at `ns` and returns its result. Blocks the
/// caller until `f` returns: from async code use [`run_in_netns_async`].
pub fn run_in_netns<T: Send + 'static>(
    ns: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ModelError> {
    let path = ns.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("netns-worker".into())
        .spawn(move || enter(&path).map(|()| f()))
        .map_err(|e| worker_error(Some(ns), e))?;
    handle.join().map_err(|_| worker_error(Some(ns), "it panicked"))?
}

/// Like [`run_in_netns`] without blocking the async caller. `ns` None runs `f` on a fresh thread
/// in the process's own namespace, so callers can treat "here" and "there" alike.
pub async fn run_in_netns_async<T: Send + 'static>(
    ns: Option<&Path>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ModelError> {
    let path = ns.map(Path::to_path_buf);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns-worker".into())
        .spawn(move || {
            let result = match &path {
                Some(p) => enter(p).map(|()| f()),
                None => Ok(f()),
            };
            // The receiver is gone only if the caller was cancelled; nothing to report then.
            let _ = tx.send(result);
        })
        .map_err(|e| worker_error(ns, e))?;
    rx.await.map_err(|_| worker_error(ns, "it panicked"))?
}

/// Runs an async closure inside `ns` (None: the process's namespace) on a current-thread tokio
/// runtime of its own, for work such as netlink that needs a reactor in that namespace.
pub async fn block_on_in_netns<T, F, Fut>(ns: Option<&Path>, f: F) -> Result<T, ModelError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, ModelError>>,
{
    let label = ns.map_or_else(|| "(own)".to_string(), |p| p.display().to_string());
    run_in_netns_async(ns, move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ModelError::Worker { path: label, reason: e.to_string() })?;
        runtime.block_on(f())
    })
    .await?
}

/// Moves the calling thread into the namespace at `path`.
fn enter(path: &Path) -> Result<(), ModelError> {
    let err = |reason: String| ModelError::Netns { path: path.into(), reason };
    let file = File::open(path).map_err(|e| err(e.to_string()))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| err(format!("setns: {e}")))
}

fn worker_error(ns: Option<&Path>, reason: impl std::fmt::Display) -> ModelError {
    ModelError::Worker {
        path: ns.map_or_else(|| "(own)".to_string(), |p| p.display().to_string()),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(pid_netns_path(42), PathBuf::from("/proc/42/ns/net"));
        assert_eq!(named_netns_path("lab"), PathBuf::from("/run/netns/lab"));
    }

    #[test]
    fn runs_in_own_namespace_and_returns() {
        // Entering our own namespace needs CAP_SYS_ADMIN; skip quietly when not root.
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let here = current_netns_inode().unwrap();
        let path = pid_netns_path(std::process::id());
        let there = run_in_netns(&path, current_netns_inode).unwrap().unwrap();
        assert_eq!(here, there);
    }

    #[test]
    fn missing_namespace_is_an_error() {
        let e = run_in_netns(Path::new("/run/netns/does-not-exist-dnt"), || ()).unwrap_err();
        assert!(e.to_string().contains("/run/netns/does-not-exist-dnt"), "{e}");
    }

    #[tokio::test]
    async fn async_variant_runs_closure() {
        assert_eq!(run_in_netns_async(None, || 7).await.unwrap(), 7);
        let v = block_on_in_netns(None, || async { Ok(8) }).await.unwrap();
        assert_eq!(v, 8);
    }
}
