//! Starting the lab's Docker Engine inside its network namespace. `ip netns exec` would remount
//! /sys (the cgroup mounts vanish), so the daemons enter the namespace with `nsenter --net`.
//! Engine 20 starts its own containerd; engine 28 gets one from us, with a config of its own
//! (own root, state and sockets), as a real host's systemd would start it.
use std::{
    fs,
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{Engine, Lab, LabOptions};

/// How long a daemon may take to answer; generous, for a machine busy compiling.
const START_TIMEOUT: Duration = Duration::from_secs(40);

impl Lab {
    pub(super) fn start_engine(&self, opts: &LabOptions) -> Result<()> {
        let containerd = match self.engine {
            Engine::Docker20 => None,
            Engine::Docker28 => Some(self.start_containerd()?),
        };
        self.start_dockerd(opts, containerd.as_deref())
    }

    fn containerd_dir(&self) -> PathBuf {
        self.run_dir.join("containerd")
    }

    /// containerd 2.x with `version = 3` config; returns its socket once it accepts connections.
    fn start_containerd(&self) -> Result<PathBuf> {
        let dir = self.containerd_dir();
        fs::create_dir_all(&dir)?;
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        fs::write(&config, containerd_config(&self.data_dir.join("containerd"), &dir, &socket))?;
        let log = self.run_dir.join("containerd.log");
        let mut cmd = self.daemon_command(&self.engine.program("containerd"), &log)?;
        cmd.arg("--config").arg(&config);
        let mut child = cmd.spawn().context("cannot start containerd (run `cargo xtask setup`)")?;
        fs::write(self.run_dir.join("containerd.pid"), child.id().to_string())?;
        wait_until("containerd", &mut child, &log, || UnixStream::connect(&socket).is_ok())?;
        Ok(socket)
    }

    fn start_dockerd(&self, opts: &LabOptions, containerd: Option<&Path>) -> Result<()> {
        let log = self.run_dir.join("dockerd.log");
        let mut cmd = self.daemon_command(&self.engine.program("dockerd"), &log)?;
        cmd.arg("--data-root")
            .arg(self.data_dir.join("docker"))
            .arg("--exec-root")
            .arg(self.run_dir.join("exec"))
            .arg("-p")
            .arg(self.run_dir.join("dockerd.pid"))
            .arg("-H")
            .arg(self.docker_host())
            .arg("--containerd-namespace")
            .arg(&self.id)
            .arg("--containerd-plugins-namespace")
            .arg(format!("{}-p", self.id))
            .arg(format!("--userland-proxy={}", opts.userland_proxy))
            .args(["--log-level", "warn"])
            .args(&opts.extra_dockerd_args);
        if let Some(socket) = containerd {
            cmd.arg("--containerd").arg(socket);
        }
        let mut child = cmd.spawn().context("cannot start dockerd (run `cargo xtask setup`)")?;
        wait_until("dockerd", &mut child, &log, || {
            self.docker(&["version", "--format", "{{.Server.Version}}"]).is_ok()
        })
    }

    /// `nsenter --net=LAB PROGRAM`, output to `log`, with the engine's PATH.
    fn daemon_command(&self, program: &Path, log: &Path) -> Result<Command> {
        let log = fs::File::create(log)?;
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.netns_path()))
            .arg(program)
            .env("PATH", self.engine.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Ok(cmd)
    }
}

/// Polls `ready` until it holds; fails at once if the daemon exits, with its log's last lines.
fn wait_until(name: &str, child: &mut Child, log: &Path, ready: impl Fn() -> bool) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the lab's {name} exited ({status}): {}", log_tail(log));
        }
        if Instant::now() > deadline {
            bail!("the lab's {name} did not answer within {} s: {}", START_TIMEOUT.as_secs(), log_tail(log));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// containerd 2.x's config: everything under the lab's directories, no CRI (Docker needs none).
fn containerd_config(root: &Path, state: &Path, socket: &Path) -> String {
    let d = |p: &Path| p.display().to_string();
    format!(
        r#"version = 3
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = "{state}/debug.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"#,
        root = d(root),
        state = d(state),
        socket = d(socket),
    )
}
