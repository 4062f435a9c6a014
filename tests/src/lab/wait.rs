//! Waiting for a condition the lab can see (a socket listening, a bridge port's STP state),
//! never for a fixed time: a busy machine is slow, not different.
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::Value;

use super::{Container, Lab, cmd};

/// How long a condition may take to come true; generous, for a machine busy compiling.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls `ready` every 50 ms until it returns true; fails naming `what` after READY_TIMEOUT.
pub fn until(what: &str, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !ready() {
        if Instant::now() > deadline {
            bail!("{what}: not after {} s", READY_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl Lab {
    /// Waits until a TCP socket listens on `port` in the network namespace at `netns`, as `ss`
    /// run in that namespace shows it (IPv4 and IPv6 sockets alike).
    pub fn wait_listening_in(&self, netns: &str, port: u16) -> Result<()> {
        let filter = format!("sport = :{port}");
        until(&format!("a TCP listener on port {port} in {netns}"), || {
            cmd::sh(&["nsenter", &format!("--net={netns}"), "ss", "-Hltn", &filter])
                .is_ok_and(|out| !out.trim().is_empty())
        })
    }

    /// Waits until something listens on `port` inside the container.
    pub fn wait_listening(&self, c: &Container, port: u16) -> Result<()> {
        self.wait_listening_in(&c.netns_path(), port)
    }

    /// The STP state of a bridge port (`listening`, `learning`, `forwarding`, ...).
    pub fn port_state(&self, port: &str) -> Result<String> {
        let v: Value = serde_json::from_str(&self.host(&["bridge", "-j", "link", "show", "dev", port])?)?;
        Ok(v[0]["state"].as_str().unwrap_or_default().to_string())
    }

    /// Waits until the bridge port is in one of `states`.
    pub fn wait_port_state(&self, port: &str, states: &[&str]) -> Result<()> {
        until(&format!("bridge port {port} in state {states:?}"), || {
            self.port_state(port).is_ok_and(|s| states.contains(&s.as_str()))
        })
    }
}
