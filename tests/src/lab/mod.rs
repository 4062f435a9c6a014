//! One isolated Docker host: a network namespace with its own dockerd, an uplink into a sink
//! namespace, and the busybox image. Dropping a `Lab` tears everything down; a lab whose owner
//! died (SIGKILL, crash) is removed by the next `Lab::start`.
mod builders;
pub mod cmd;
mod daemons;
mod engine;
mod faults;
mod image;
mod ipv6;
mod net;
mod stale;
mod tool;
pub mod wait;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

pub use builders::{Container, Network};
pub use engine::{DOCKER28_DIR, DOCKER28_READY, ENGINE_VAR, Engine};
pub use image::IMAGE;
pub use ipv6::{Net6, ipv6_options, send_udp6_with_dest_options};
pub use net::{
    LAB_IP, LAB_IP6, OUTSIDE_IP, OUTSIDE_IP6, SINK_IP, SINK_IP6, UPLINK_IF, UPLINK_NET, UPLINK_NET6,
};
pub use tool::{ToolOutput, tool_path};

/// Where labs keep their runtime state (sockets, pids) and their Docker data.
pub const RUN_DIR: &str = "/run/dnt-lab";
pub const DATA_DIR: &str = "/var/lib/dnt-lab";
/// Lab ids (and namespace names) start with this; nothing else on the machine may.
pub const ID_PREFIX: &str = "dntlab";

#[derive(Clone, Debug, Default)]
pub struct LabOptions {
    /// Docker's userland proxy. Off by default: published ports then depend on NAT alone, as on
    /// many production hosts, so a flushed nat table really breaks them.
    pub userland_proxy: bool,
    /// More dockerd flags, e.g. `--bridge=none` for a host without the default bridge.
    pub extra_dockerd_args: Vec<String>,
    /// The Docker Engine to run; `None`: the one `DNT_ENGINE` names (20 when it is unset).
    pub engine: Option<Engine>,
}

pub struct Lab {
    /// Short unique id; also the name of the lab's network namespace.
    pub id: String,
    /// The sink namespace ("the outside world").
    pub sink: String,
    /// The Docker Engine this lab runs.
    pub engine: Engine,
    run_dir: PathBuf,
    data_dir: PathBuf,
    torn_down: bool,
}

impl Lab {
    /// Starts a fresh lab, first removing labs left behind by dead processes.
    pub fn start(opts: LabOptions) -> Result<Lab> {
        require_root()?;
        let engine = match opts.engine {
            Some(e) => e,
            None => Engine::from_env()?,
        };
        engine.check_installed()?;
        stale::remove_dead_labs();
        let id = format!("{ID_PREFIX}{:x}{:02x}", std::process::id() & 0xffff, next_seq());
        let lab = Lab {
            sink: format!("{id}-s"),
            engine,
            run_dir: Path::new(RUN_DIR).join(&id),
            data_dir: Path::new(DATA_DIR).join(&id),
            id,
            torn_down: false,
        };
        // The state directory appears with its owner already in it (a rename): a lab starting
        // in parallel must never see it ownerless and take it for a dead lab's.
        let staging = Path::new(RUN_DIR).join(format!(".{}.new", lab.id));
        fs::create_dir_all(&staging)?;
        fs::write(staging.join("owner.pid"), std::process::id().to_string())?;
        fs::rename(&staging, &lab.run_dir)?;
        // From here on, Drop cleans up whatever part was built.
        fs::create_dir_all(&lab.data_dir)?;
        net::create(&lab.id, &lab.sink)?;
        lab.start_engine(&opts)?;
        // Captured by the test harness, shown with a failure: which engine the test ran on.
        let version = lab.docker(&["version", "--format", "{{.Server.Version}}"])?;
        eprintln!("lab {}: {} (dockerd {version})", lab.id, lab.engine);
        let tar = image::rootfs_tar(Path::new(DATA_DIR))?;
        lab.docker(&["import", &tar.to_string_lossy(), IMAGE])
            .context("importing the busybox image into the lab")?;
        Ok(lab)
    }

    /// `unix://` address of the lab's Docker Engine.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.run_dir.join("docker.sock")
    }

    /// Path of the lab's network namespace.
    pub fn netns_path(&self) -> String {
        format!("/run/netns/{}", self.id)
    }

    /// Runs the docker CLI against the lab's engine.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        cmd::run(Command::new(self.engine.program("docker")).arg("-H").arg(self.docker_host()).args(args))
            .map(|s| s.trim().to_string())
    }

    /// A command that runs inside the lab's network namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.netns_path())).arg(program);
        c
    }

    /// Runs a program inside the lab's network namespace.
    pub fn host(&self, argv: &[&str]) -> Result<String> {
        cmd::run(self.command(argv[0]).args(&argv[1..]))
    }

    /// Runs a program inside the sink namespace.
    pub fn sink_exec(&self, argv: &[&str]) -> Result<String> {
        cmd::run(Command::new("nsenter").arg(format!("--net=/run/netns/{}", self.sink)).args(argv))
    }

    /// Starts a long-running helper process (a listener) in a namespace; it is killed at
    /// teardown, or by the next run's stale cleanup if we die first.
    pub fn spawn_in(&self, netns: &str, argv: &[&str]) -> Result<u32> {
        let child = Command::new("nsenter")
            .arg(format!("--net={netns}"))
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {argv:?}"))?;
        let pid = child.id();
        let pids = self.run_dir.join("helpers.pid");
        let mut all = fs::read_to_string(&pids).unwrap_or_default();
        all.push_str(&format!("{pid}\n"));
        fs::write(pids, all)?;
        Ok(pid)
    }

    /// Tears the lab down now (Drop does the same, ignoring errors).
    pub fn down(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        stale::teardown(&self.id);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn require_root() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the lab needs root (network namespaces, dockerd, eBPF): run as root, e.g. `sudo cargo xtask test`"
        );
    }
    Ok(())
}

fn next_seq() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}
