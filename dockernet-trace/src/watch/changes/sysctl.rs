//! The forwarding sysctls, read once a second (two small procfs reads: cheaper than anything
//! that would notify us). A value that differs from the last reading is a change.
use std::{path::PathBuf, time::Duration};

use tokio::{task::JoinHandle, time::MissedTickBehavior};

use super::{Change, Sink, What};

/// The sysctls that decide whether the host routes container traffic.
pub const FORWARDING: &[&str] = &["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

const PERIOD: Duration = Duration::from_secs(1);

/// Watches the values of `names`.
#[derive(Debug)]
pub struct Sysctls {
    root: PathBuf,
    last: Vec<(&'static str, Option<String>)>,
}

impl Sysctls {
    /// `root` is /proc/sys (another directory in tests); the first reading is the baseline.
    pub fn new(root: impl Into<PathBuf>, names: &[&'static str]) -> Self {
        let mut s = Sysctls { root: root.into(), last: names.iter().map(|n| (*n, None)).collect() };
        s.last = s.last.iter().map(|(n, _)| (*n, s.read(n))).collect();
        s
    }

    fn read(&self, name: &str) -> Option<String> {
        let path = self.root.join(name.replace('.', "/"));
        std::fs::read_to_string(path).ok().map(|v| v.trim().to_string())
    }

    /// The sysctls whose value differs from the last reading (a sysctl that disappears, as
    /// IPv6's when it is turned off, is no change).
    pub fn poll(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        for k in 0..self.last.len() {
            let name = self.last[k].0;
            let now = self.read(name);
            if let (Some(v), Some(old)) = (&now, &self.last[k].1)
                && v != old
            {
                out.push(Change::new(What::Sysctl { name, value: v.clone() }));
            }
            if now.is_some() {
                self.last[k].1 = now;
            }
        }
        out
    }
}

/// Polls the forwarding sysctls of the tool's namespace until the sink closes.
pub fn start(sink: Sink) -> JoinHandle<()> {
    let mut s = Sysctls::new("/proc/sys", FORWARDING);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while !sink.is_closed() {
            tick.tick().await;
            for c in s.poll() {
                sink.emit(c);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_value_is_a_change_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        let f = dir.path().join("net/ipv4/ip_forward");
        std::fs::write(&f, "1\n").unwrap();
        let mut s = Sysctls::new(dir.path(), FORWARDING);
        assert!(s.poll().is_empty(), "the first reading is the baseline; the IPv6 one is missing");
        std::fs::write(&f, "0\n").unwrap();
        let c = s.poll();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].line().detail.as_deref(), Some("net.ipv4.ip_forward=0"));
        assert!(s.poll().is_empty());
        std::fs::remove_file(&f).unwrap();
        assert!(s.poll().is_empty(), "gone is not a value");
        std::fs::write(&f, "0\n").unwrap();
        assert!(s.poll().is_empty(), "back with the value it had");
    }
}
