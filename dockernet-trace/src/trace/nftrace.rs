//! `--allow-system-changes`: netfilter's own tracing (nftrace) for the probe's packets. A
//! table of ours marks the probe's flow early in prerouting and output; `nft monitor trace`
//! then reports every chain and rule the packets went through, and the verdict. The table is
//! deleted when the trace ends, and a table left by a killed run is deleted at the next start.
use std::{
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    thread::JoinHandle,
    time::Duration,
};

use crate::probe::ProbePorts;

const PREFIX: &str = "dnt_trace_";

/// One line of `nft monitor trace` about a rule or policy the probe met.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub family: String,
    pub table: String,
    pub chain: String,
    /// The rule in nft syntax, or None for the chain's policy.
    pub rule: Option<String>,
    pub verdict: String,
}

impl Step {
    /// The packet ended here, dropped.
    pub fn is_drop(&self) -> bool {
        self.verdict == "drop"
    }

    /// The packet ended here, dropped or rejected.
    pub fn ends_packet(&self) -> bool {
        self.is_drop() || self.verdict == "reject"
    }
}

pub struct NfTrace {
    table: String,
    monitor: Monitor,
    lines: Arc<Mutex<Vec<String>>>,
}

/// `nft monitor trace`, started and read by a thread of its own that lives exactly as long as
/// the monitor: the monitor asks the kernel to kill it when that thread dies (PDEATHSIG), so
/// even a SIGKILLed trace leaves no monitor behind.
struct Monitor {
    pid: nix::unistd::Pid,
    reader: Option<JoinHandle<()>>,
}

impl Monitor {
    fn start(lines: Arc<Mutex<Vec<String>>>) -> Option<Self> {
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut cmd = Command::new("nft");
            cmd.args(["monitor", "trace"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
            // SAFETY: runs in the child between fork and exec; prctl is async-signal-safe and
            // the closure touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let Ok(mut child) = cmd.spawn() else {
                let _ = tx.send(None);
                return;
            };
            let _ = tx.send(Some(child.id()));
            if let Some(out) = child.stdout.take() {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(mut l) = lines.lock() {
                        l.push(line);
                    }
                }
            }
            let _ = child.wait();
        });
        let pid = rx.recv().ok().flatten()?;
        Some(Self { pid: nix::unistd::Pid::from_raw(pid as i32), reader: Some(reader) })
    }

    /// Stops the monitor; false when it was stopped already.
    fn stop(&mut self) -> bool {
        let Some(reader) = self.reader.take() else { return false };
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGTERM);
        let _ = reader.join();
        true
    }
}

fn nft(script: &str) -> std::io::Result<bool> {
    Ok(Command::new("nft").arg(script).stdout(Stdio::null()).stderr(Stdio::null()).status()?.success())
}

/// Deletes tables of runs whose process is gone.
pub fn remove_stale() {
    // `list chains`, not `list tables`: nft 1.0 fetches every rule for the latter (0.2 s with
    // 10k iptables rules), and our tables always have chains (made in one transaction).
    let Ok(out) = Command::new("nft").args(["list", "chains", "inet"]).output() else { return };
    let text = String::from_utf8_lossy(&out.stdout);
    // One `table inet NAME {` line per table, its chains inside.
    let names = text.lines().filter_map(|l| l.strip_prefix("table inet ")).map(|n| n.trim_end_matches(" {"));
    for name in names {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|p| p.parse::<i32>().ok()) else { continue };
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            let _ = nft(&format!("delete table inet {name}"));
        }
    }
}

impl NfTrace {
    /// Starts tracing the probe's ports in the tool's namespace. None when nft is missing or
    /// refuses (the trace goes on without it).
    pub fn start(ports: ProbePorts) -> Option<Self> {
        remove_stale();
        let table = format!("{PREFIX}{}", std::process::id());
        let last = ports.base + ports.count.saturating_sub(1);
        let proto = ports.proto.name();
        // `icmp id` or `icmpv6 id`: the echo identifier of the probe's family.
        let (sport, dport) = if ports.proto.is_icmp() {
            (format!("{proto} id {}-{last}", ports.base), String::new())
        } else {
            (format!("{proto} sport {}-{last}", ports.base), format!("{proto} dport {}-{last}", ports.base))
        };
        let mut script = format!(
            "add table inet {table}\n\
             add chain inet {table} pre {{ type filter hook prerouting priority -400; }}\n\
             add chain inet {table} out {{ type filter hook output priority -400; }}\n\
             add rule inet {table} pre {sport} meta nftrace set 1\n\
             add rule inet {table} out {sport} meta nftrace set 1\n"
        );
        if !dport.is_empty() {
            script.push_str(&format!(
                "add rule inet {table} pre {dport} meta nftrace set 1\nadd rule inet {table} out {dport} meta nftrace set 1\n"
            ));
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut monitor = Monitor::start(Arc::clone(&lines))?;
        if !nft(&script).unwrap_or(false) {
            monitor.stop();
            let _ = nft(&format!("delete table inet {table}"));
            return None;
        }
        // The monitor subscribes asynchronously; give it a moment before the first probe.
        std::thread::sleep(Duration::from_millis(50));
        Some(Self { table, monitor, lines })
    }

    /// Stops tracing, removes our table, and returns what netfilter reported.
    pub fn finish(mut self) -> Vec<Step> {
        std::thread::sleep(Duration::from_millis(30));
        self.stop();
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        lines.iter().filter_map(|l| parse_line(l)).filter(|s| s.table != self.table).collect()
    }

    /// Stops tracing and deletes our table, once (`finish` and then `drop` both call it).
    fn stop(&mut self) {
        if self.monitor.stop() {
            let _ = nft(&format!("delete table inet {}", self.table));
        }
    }
}

impl Drop for NfTrace {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `trace id 8bd4 ip filter DOCKER-ISOLATION-STAGE-2 rule oifname "br-x" counter packets 3
/// bytes 180 drop (verdict drop)` → a step; `... policy drop` lines too. Packet lines are
/// not steps.
pub fn parse_line(line: &str) -> Option<Step> {
    let rest = line.strip_prefix("trace id ")?;
    let mut words = rest.splitn(5, ' ');
    let _id = words.next()?;
    let family = words.next()?.to_string();
    let table = words.next()?.to_string();
    let chain = words.next()?.to_string();
    let what = words.next()?;
    if let Some(rule) = what.strip_prefix("rule ") {
        let (text, verdict) = rule.rsplit_once(" (verdict ")?;
        return Some(Step {
            family,
            table,
            chain,
            rule: Some(text.to_string()),
            verdict: verdict.trim_end_matches(')').to_string(),
        });
    }
    let verdict = what.strip_prefix("policy ")?;
    Some(Step { family, table, chain, rule: None, verdict: verdict.trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rule_policy_and_packet_lines() {
        let s = parse_line(r#"trace id 8bd4c5a1 ip filter DOCKER-ISOLATION-STAGE-2 rule oifname "br-e0e1" counter packets 3 bytes 180 drop (verdict drop)"#).unwrap();
        assert_eq!(
            (s.family.as_str(), s.table.as_str(), s.chain.as_str()),
            ("ip", "filter", "DOCKER-ISOLATION-STAGE-2")
        );
        assert_eq!(s.rule.as_deref(), Some(r#"oifname "br-e0e1" counter packets 3 bytes 180 drop"#));
        assert_eq!(s.verdict, "drop");
        let p = parse_line("trace id 8bd4c5a1 ip filter FORWARD policy drop").unwrap();
        assert_eq!((p.rule, p.verdict.as_str()), (None, "drop"));
        assert!(
            parse_line(r#"trace id 8bd4c5a1 ip filter FORWARD packet: iif "docker0" ip saddr 1.2.3.4"#)
                .is_none()
        );
        let j = parse_line("trace id 1 ip filter FORWARD rule counter packets 3 bytes 180 jump DOCKER-USER (verdict jump DOCKER-USER)").unwrap();
        assert_eq!(j.verdict, "jump DOCKER-USER");
    }
}
