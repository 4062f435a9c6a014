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
    fn reads_snmp_counters_by_name() {
        let snmp_text = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\nTcp: 1 200 120000 -1 4242 17\nUdp: InDatagrams NoPorts InErrors OutDatagrams\nUdp: 991 3 0 12\n";
        assert_eq!(snmp(snmp_text, "Tcp", "ActiveOpens").unwrap(), 4242);
        assert_eq!(snmp(snmp_text, "Udp", "InDatagrams").unwrap(), 991);
        assert!(snmp(snmp_text, "Udp", "RcvbufErrors").is_err());
        assert!(snmp(snmp_text, "UdpLite", "InDatagrams").is_err());
    }
}
