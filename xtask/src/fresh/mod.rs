//! `cargo xtask fresh-setup`: proves `cargo xtask setup` on a machine that has nothing of ours.
//! A Debian 12 root holding what the machine image ships (cached, see `root`) is overlaid per
//! run; the project is cloned into it, the machine's Rust toolchains are overlaid at
//! /root/.cargo and /root/.rustup (what setup adds there stays in the overlay), and setup runs
//! in a chroot of it. Then every tool setup promises must be there, and a second setup must
//! find everything present. The overlay goes at the end, also after a failure.
mod chroot;
mod mounts;
mod root;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args)]
pub struct FreshArgs {
    /// The machine image's package list (one name a line).
    #[arg(long, value_name = "FILE")]
    packages: Option<PathBuf>,
    /// Keep this run's overlay (its upper directory) for a look afterwards.
    #[arg(long)]
    keep: bool,
}

/// Where the project is cloned inside the root.
const PROJECT: &str = "root/dockernet-trace";

pub fn run(args: &FreshArgs) -> Result<()> {
    let start = Instant::now();
    if !nix::unistd::geteuid().is_root() {
        bail!("fresh-setup builds a Debian root and chroots into it: run it as root");
    }
    // debootstrap comes from the project's own setup, as everything else does.
    super::setup::run()?;
    let packages = args.packages.clone().unwrap_or_else(|| super::root().join(".ci/image-packages.txt"));
    mounts::private_namespace()?;
    let root = root::ensure(&packages)?;
    println!("fresh-setup: root ready after {:.0} s", start.elapsed().as_secs_f64());
    remove_dead_runs();
    let mut run = Run::new();
    let result = run.prepare(&root.dir).and_then(|()| run.setup_twice());
    run.finish(args.keep);
    result?;
    println!(
        "fresh-setup: `cargo xtask setup` works from nothing ({:.0} s in all)",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One run's overlay: /var/tmp/dockernet-trace-fresh/run.PID/{upper,work,merged,...}.
struct Run {
    dir: PathBuf,
    merged: PathBuf,
    mounts: mounts::Mounts,
}

impl Run {
    fn new() -> Run {
        let dir = Path::new(root::CACHE).join(format!("run.{}", std::process::id()));
        let merged = dir.join("merged");
        Run { dir, merged, mounts: mounts::Mounts::default() }
    }

    /// The overlay of `root`, the machine's directories and toolchains in it, the project.
    fn prepare(&mut self, root: &Path) -> Result<()> {
        let _ = fs::remove_dir_all(&self.dir);
        let d = self.dir.clone();
        self.mounts.overlay(root, &d.join("upper"), &d.join("work"), &self.merged)?;
        mounts::system_dirs(&mut self.mounts, &self.merged)?;
        // The machine's toolchains as the image has them; what setup adds (bpf-linker) stays here.
        for name in [".cargo", ".rustup"] {
            let target = self.merged.join("root").join(name);
            let (upper, work) = (d.join(format!("{name}-upper")), d.join(format!("{name}-work")));
            self.mounts.overlay(&Path::new("/root").join(name), &upper, &work, &target)?;
        }
        // What setup itself installs into the toolchains' directories is not on a fresh machine:
        // hidden in this overlay (the machine's copy stays), so setup must build it here.
        let _ = fs::remove_file(self.merged.join("root/.cargo/bin/bpf-linker"));
        self.machine_network()?;
        let project = self.merged.join(PROJECT);
        super::run(Command::new("git").arg("clone").arg("--quiet").arg(super::root()).arg(&project))?;
        let head =
            Command::new("git").arg("-C").arg(&project).args(["log", "-1", "--format=%h %s"]).output()?;
        println!("fresh-setup: project cloned at {}", String::from_utf8_lossy(&head.stdout).trim());
        Ok(())
    }

    /// What this machine's network needs, as in the root's /etc: its resolver, and the CAs it
    /// adds to Debian's (egress goes through a TLS-inspecting proxy; crates.io is https).
    fn machine_network(&self) -> Result<()> {
        fs::copy("/etc/resolv.conf", self.merged.join("etc/resolv.conf"))?;
        let local_cas = Path::new("/usr/local/share/ca-certificates");
        let into = self.merged.join("usr/local/share/ca-certificates");
        fs::create_dir_all(&into)?;
        for e in fs::read_dir(local_cas).into_iter().flatten().flatten() {
            fs::copy(e.path(), into.join(e.file_name()))?;
        }
        chroot::run(&self.merged, "update-ca-certificates >/dev/null")
    }

    /// setup from nothing, the tools checked from outside, then setup again: nothing to do.
    fn setup_twice(&self) -> Result<()> {
        let t = Instant::now();
        let setup = format!("cd /{PROJECT} && cargo xtask setup");
        chroot::run(&self.merged, &setup).context("`cargo xtask setup` in the fresh root")?;
        println!("fresh-setup: setup in the fresh root took {:.0} s", t.elapsed().as_secs_f64());
        self.check_tools()?;
        let again = chroot::output(&self.merged, &setup)?;
        print!("{again}");
        if let Some(l) = again
            .lines()
            .find(|l| l.contains("installing") || l.contains("downloading") || l.contains("building"))
        {
            bail!("a second `cargo xtask setup` was not idempotent: {l}");
        }
        Ok(())
    }

    /// What setup promises, looked at in the root with the root's own tools.
    fn check_tools(&self) -> Result<()> {
        let mut missing = Vec::new();
        for pkg in super::setup::PACKAGES {
            let status =
                chroot::output(&self.merged, &format!("dpkg-query -W -f='${{Status}}' {pkg} || true"))?;
            if !status.contains("install ok installed") {
                missing.push(format!("package {pkg}"));
            }
        }
        let docker28 = Path::new(dockernet_trace_tests::lab::DOCKER28_DIR);
        let checks = [
            (
                format!("{}/root/usr/sbin/dockerd --version | grep -q 'version 28[.]'", docker28.display()),
                "Docker Engine 28",
            ),
            ("bpf-linker --version".to_string(), "bpf-linker"),
            ("rustup +nightly component list --installed | grep -q rust-src".to_string(), "nightly rust-src"),
            ("qemu-system-x86_64 --version && debootstrap --version".to_string(), "qemu and debootstrap"),
        ];
        for (script, what) in checks {
            if chroot::command(&self.merged, &script).output().map(|o| !o.status.success()).unwrap_or(true) {
                missing.push(what.to_string());
            }
        }
        if !missing.is_empty() {
            bail!("setup exited 0 but the fresh root lacks: {}", missing.join(", "));
        }
        println!("fresh-setup: every tool setup installs is in the fresh root");
        Ok(())
    }

    fn finish(&mut self, keep: bool) {
        chroot::stop_processes_in(&self.merged);
        self.mounts.unmount_all();
        if keep {
            println!("fresh-setup: kept {}", self.dir.display());
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("fresh-setup: warning: could not remove {}: {e}", self.dir.display());
        }
    }
}

/// Overlays of runs whose process is gone (their mounts went with its namespace).
fn remove_dead_runs() {
    for e in fs::read_dir(root::CACHE).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("run.").and_then(|p| p.parse::<i32>().ok()) else { continue };
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
