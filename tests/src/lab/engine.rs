//! Which Docker Engine a lab runs: Debian 12's own 20.10 (dockerd starts its containerd), or
//! Debian sid's 28.5 unpacked beside it by `cargo xtask setup` (its containerd 2.1 started by
//! us, with a config of its own, and bookworm's runc).
use std::{
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{Result, bail};

/// Where `cargo xtask setup` unpacks sid's docker.io and containerd (`dpkg -x`), one root for
/// both; `READY` is written last, so a half-done unpack is never taken for a finished one.
pub const DOCKER28_DIR: &str = "/var/cache/dockernet-trace/docker-28";
pub const DOCKER28_READY: &str = ".ready";
/// The environment variable that picks the engine of every lab a process starts.
pub const ENGINE_VAR: &str = "DNT_ENGINE";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// Docker Engine 20.10 from Debian 12 (`apt-get install docker.io`).
    #[default]
    Docker20,
    /// Docker Engine 28.5 from Debian sid, unpacked under DOCKER28_DIR.
    Docker28,
}

impl Engine {
    /// The engine `DNT_ENGINE` names (`20` or `28`); 20 when it is unset.
    pub fn from_env() -> Result<Engine> {
        match std::env::var(ENGINE_VAR).as_deref() {
            Err(_) | Ok("") | Ok("20") => Ok(Engine::Docker20),
            Ok("28") => Ok(Engine::Docker28),
            Ok(other) => bail!("{ENGINE_VAR}={other}: the lab knows engines 20 and 28"),
        }
    }

    /// Major version, as `DNT_ENGINE` spells it.
    pub fn major(self) -> u32 {
        match self {
            Engine::Docker20 => 20,
            Engine::Docker28 => 28,
        }
    }

    /// The unpacked root of sid's packages, if this engine runs from one.
    pub fn root(self) -> Option<PathBuf> {
        match self {
            Engine::Docker20 => None,
            Engine::Docker28 => Some(PathBuf::from(DOCKER28_DIR).join("root")),
        }
    }

    /// Fails with the way out when the engine's programs are not on this machine.
    pub fn check_installed(self) -> Result<()> {
        if let Some(root) = self.root()
            && (!Path::new(DOCKER28_DIR).join(DOCKER28_READY).exists()
                || !root.join("usr/sbin/dockerd").exists())
        {
            bail!("Docker Engine 28 is not unpacked in {DOCKER28_DIR}: run `cargo xtask setup`");
        }
        Ok(())
    }

    /// PATH for the engine's dockerd: its own bin directories first (dockerd finds
    /// docker-proxy, docker-init and containerd's shim there), then the machine's (runc).
    pub fn path(self) -> std::ffi::OsString {
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(root) = self.root() {
            dirs.extend(["usr/sbin", "usr/bin", "usr/libexec/docker/cli-plugins"].map(|d| root.join(d)));
        }
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        for d in ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            if !dirs.iter().any(|x| x == Path::new(d)) {
                dirs.push(PathBuf::from(d));
            }
        }
        std::env::join_paths(dirs).unwrap_or_default()
    }

    /// The engine's own `name` (dockerd, containerd), else the machine's: sid's docker.io has
    /// no CLI, and the machine's 20.10 client talks to engine 28 by API version negotiation.
    pub fn program(self, name: &str) -> PathBuf {
        self.root()
            .and_then(|root| {
                ["usr/sbin", "usr/bin"].iter().map(|d| root.join(d).join(name)).find(|p| p.exists())
            })
            .unwrap_or_else(|| PathBuf::from(name))
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Docker Engine {}", self.major())
    }
}
