//! Running the dockernet-trace binary inside a lab, as a user would on that Docker host.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result};

use super::{Lab, cmd};

/// The binary under test: `$DNT_BIN`, else the workspace's release build.
pub fn tool_path() -> PathBuf {
    std::env::var_os("DNT_BIN").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/dockernet-trace")
    })
}

/// What one run of the tool produced.
#[derive(Debug)]
pub struct ToolOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout).with_context(|| {
            format!("stdout is not one JSON value: {}\nstderr: {}", self.stdout, self.stderr)
        })
    }
}

impl Lab {
    /// The tool with `args`, to run in the lab's namespace (as `tool` and `spawn_tool` do).
    pub fn tool_command(&self, args: &[&str]) -> Command {
        let mut c = self.command(&tool_path().to_string_lossy());
        c.args(args).env("DOCKER_HOST", self.docker_host()).env("NO_COLOR", "1");
        c
    }

    /// Runs the tool in the lab's namespace and waits for it.
    pub fn tool(&self, args: &[&str]) -> Result<ToolOutput> {
        let out = cmd::output(&mut self.tool_command(args))?;
        Ok(ToolOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Starts the tool in the background (for `watch`), output piped.
    pub fn spawn_tool(&self, args: &[&str]) -> Result<Child> {
        self.tool_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start dockernet-trace")
    }
}
