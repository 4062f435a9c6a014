//! A workload's progress read from the kernel's own counters in a container's network
//! namespace (/proc/PID/net/dev, /proc/PID/net/snmp), or from the flood's count of what it
//! sent: read at any moment, so one continuous run can be cut into windows.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use anyhow::{Context, Result};

#[derive(Clone, Debug)]
pub enum Meter {
    /// Bytes received on eth0 of the namespace of `pid`.
    RxBytes { pid: u32 },
    /// UDP datagrams delivered to a socket in the namespace of `pid` (Udp: InDatagrams).
    UdpDelivered { pid: u32 },
    /// TCP connections opened from the namespace of `pid` (Tcp: ActiveOpens).
    TcpConnects { pid: u32 },
    /// Packets the flood has sent so far.
    Sent(Arc<AtomicU64>),
}

impl Meter {
    pub fn read(&self) -> Result<u64> {
        let proc = |pid: u32, file: &str| {
            let path = format!("/proc/{pid}/net/{file}");
            std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))
        };
        match self {
            Self::RxBytes { pid } => rx_bytes(&proc(*pid, "dev")?, "eth0"),
            Self::UdpDelivered { pid } => snmp(&proc(*pid, "snmp")?, "Udp", "InDatagrams"),
            Self::TcpConnects { pid } => snmp(&proc(*pid, "snmp")?, "Tcp", "ActiveOpens"),
            Self::Sent(n) => Ok(n.load(Ordering::Acquire)),
        }
    }
}

/// CPU seconds the host has spent working so far, all cores together: user, system and
/// interrupts; not idle, and not stolen by the hypervisor for other machines. A window's work
/// per such second is the workload's rate with the machine's varying share of the host's
/// CPUs taken out; what an observer adds to the host's work (its programs, its process) stays
/// in.
pub fn host_busy_seconds() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    Ok(busy_ticks(&text)? as f64 / ticks_per_second())
}

/// The unit of /proc's CPU times (USER_HZ).
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64
}

/// user + nice + system + irq + softirq of the first line of /proc/stat (guest time is
/// counted in user already).
fn busy_ticks(text: &str) -> Result<u64> {
    let all = text.lines().find(|l| l.starts_with("cpu ")).context("no cpu line in /proc/stat")?;
    let f: Vec<u64> = all.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
    anyhow::ensure!(f.len() >= 7, "short cpu line in /proc/stat: {all}");
    Ok(f[0] + f[1] + f[2] + f[5] + f[6])
}

/// The received bytes of `dev` in the text of /proc/net/dev.
fn rx_bytes(text: &str, dev: &str) -> Result<u64> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim() == dev)
        .and_then(|(_, fields)| fields.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {dev} in /proc/net/dev"))
}

/// A counter of /proc/net/snmp: each protocol has a line of names, then a line of values.
fn snmp(text: &str, proto: &str, field: &str) -> Result<u64> {
    let prefix = format!("{proto}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let (names, values) = (lines.next(), lines.next());
    let found = names.zip(values).and_then(|(n, v)| {
        let i = n.split_whitespace().position(|f| f == field)?;
        v.split_whitespace().nth(i)?.parse().ok()
    });
    found.with_context(|| format!("no {proto} {field} in /proc/net/snmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_eth0_received_bytes() {
        let dev = "Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n    lo:       0       0    0    0    0     0          0         0        0       0\n  eth0: 8123456   5021    0    0    0     0          0         0     9876      77\n";
        assert_eq!(rx_bytes(dev, "eth0").unwrap(), 8123456);
        assert!(rx_bytes(dev, "eth1").is_err());
    }

    #[test]
    fn busy_time_leaves_out_idle_iowait_and_steal() {
        let stat = "cpu  100 2 30 5000 40 5 6 700 0 0\ncpu0 50 1 15 2500 20 2 3 350 0 0\n";
        assert_eq!(busy_ticks(stat).unwrap(), 100 + 2 + 30 + 5 + 6);
        assert!(busy_ticks("cpu0 1 2 3 4 5 6 7\n").is_err());
    }

    #[test]
    fn reads_snmp_counters_by_name() {
        let snmp_text = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\nTcp: 1 200 120000 -1 4242 17\nUdp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 991 3 0 12\n";
        assert_eq!(snmp(snmp_text, "Tcp", "ActiveOpens").unwrap(), 4242);
        assert_eq!(snmp(snmp_text, "Udp", "InDatagrams").unwrap(), 991);
        assert!(snmp(snmp_text, "Udp", "RcvbufErrors").is_err());
        assert!(snmp(snmp_text, "UdpLite", "InDatagrams").is_err());
    }
}
