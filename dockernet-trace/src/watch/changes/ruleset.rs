//! Ruleset changes from `nft monitor` (iptables-nft and native nftables alike: both are
//! nf_tables underneath; legacy iptables is not seen). Its output is read by a thread of our
//! own that started it tied to itself ([`tied_process`](crate::tied_process)), so the monitor
//! dies with the tool. Docker changes many chains with many commands in a row (one nf_tables
//! generation each); updates are gathered until [`QUIET`] passes without one (at most
//! [`LONGEST`]), and each table or chain touched is one change.
use std::{
    collections::{BTreeMap, HashSet},
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    thread::JoinHandle,
    time::Duration,
};

use tokio::{sync::mpsc, time::Instant};

use super::{Change, ObjectOp, Ruleset, Sink, What};

pub const QUIET: Duration = Duration::from_millis(200);
pub const LONGEST: Duration = Duration::from_secs(1);
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(3);
/// NETLINK_NETFILTER, in /proc/net/netlink's `Eth` column.
const NETLINK_NETFILTER: u32 = 12;

/// Whether /proc/net/netlink (`sk Eth Pid Groups ...`) shows a netfilter socket of `pid`
/// subscribed to a multicast group.
pub fn listening(table: &str, pid: u32) -> bool {
    table.lines().skip(1).any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() > 3
            && w[1].parse() == Ok(NETLINK_NETFILTER)
            && w[2].parse() == Ok(pid)
            && u32::from_str_radix(w[3], 16).is_ok_and(|g| g != 0)
    })
}

/// One line of `nft monitor`, as far as it matters here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    Table {
        family: String,
        table: String,
        op: ObjectOp,
    },
    Chain {
        family: String,
        table: String,
        chain: String,
        op: ObjectOp,
        policy: Option<String>,
    },
    Rule {
        family: String,
        table: String,
        chain: String,
        op: ObjectOp,
        rule: Option<String>,
    },
    Flush {
        family: String,
        table: String,
        chain: Option<String>,
    },
    /// `# new generation N by process ...`: the end of one transaction.
    Generation,
}

pub fn parse_line(line: &str) -> Option<Update> {
    if line.starts_with("# new generation") {
        return Some(Update::Generation);
    }
    let mut w = line.split_whitespace();
    let (verb, object) = (w.next()?, w.next()?);
    let op = match verb {
        // `insert` is iptables -I; `replace` (iptables -R) counts as a rule added.
        "add" | "create" | "insert" | "replace" => ObjectOp::Added,
        "delete" | "destroy" => ObjectOp::Deleted,
        "flush" => ObjectOp::Deleted,
        _ => return None,
    };
    let family = w.next()?.to_string();
    let table = w.next()?.to_string();
    if verb == "flush" {
        let chain = (object == "chain").then(|| w.next().map(str::to_string)).flatten();
        return matches!(object, "chain" | "table").then_some(Update::Flush { family, table, chain });
    }
    match object {
        "table" => Some(Update::Table { family, table, op }),
        "chain" => {
            let chain = w.next()?.to_string();
            let rest: Vec<&str> = w.collect();
            let policy = rest
                .windows(2)
                .find(|p| p[0] == "policy")
                .map(|p| p[1].trim_end_matches([';', '}']).to_string())
                .filter(|_| op == ObjectOp::Added);
            Some(Update::Chain { family, table, chain, op, policy })
        }
        "rule" => {
            let chain = w.next()?.to_string();
            let rest: Vec<&str> = w.collect();
            let text = rest.join(" ");
            let text = text.split(" # handle").next().unwrap_or_default().to_string();
            let rule = (op == ObjectOp::Added && !text.is_empty()).then_some(text);
            Some(Update::Rule { family, table, chain, op, rule })
        }
        _ => None,
    }
}

type ChainId = (String, String, String);

/// Updates gathered since the last changes went out, per (family, table, chain), and the
/// chains that exist: `iptables -P` re-adds an existing chain with its new policy, which is
/// a policy change, not a new chain.
#[derive(Debug, Default)]
pub struct Batch {
    touched: BTreeMap<(String, String, Option<String>), Ruleset>,
    known: HashSet<ChainId>,
}

/// The chains of `nft list chains` output.
pub fn parse_chains(listing: &str) -> HashSet<ChainId> {
    let mut table = None;
    let mut out = HashSet::new();
    for line in listing.lines().map(str::trim) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["table", family, name, "{"] => table = Some((family.to_string(), name.to_string())),
            ["chain", name, "{", ..] => {
                if let Some((f, t)) = &table {
                    out.insert((f.clone(), t.clone(), name.to_string()));
                }
            }
            _ => {}
        }
    }
    out
}

impl Batch {
    pub fn new(known: HashSet<ChainId>) -> Self {
        Batch { touched: BTreeMap::new(), known }
    }

    pub fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    fn entry(&mut self, family: &str, table: &str, chain: Option<&str>) -> &mut Ruleset {
        let key = (family.to_string(), table.to_string(), chain.map(str::to_string));
        self.touched.entry(key).or_insert_with(|| Ruleset {
            family: family.into(),
            table: table.into(),
            chain: chain.map(str::to_string),
            ..Default::default()
        })
    }

    pub fn add(&mut self, u: Update) {
        match u {
            Update::Table { family, table, op } => {
                if op == ObjectOp::Deleted {
                    self.known.retain(|(f, t, _)| (f, t) != (&family, &table));
                }
                self.entry(&family, &table, None).table_op = Some(op);
            }
            Update::Chain { family, table, chain, op, policy } => {
                let id = (family.clone(), table.clone(), chain.clone());
                let existed = match op {
                    ObjectOp::Added => !self.known.insert(id),
                    ObjectOp::Deleted => !self.known.remove(&id),
                };
                let e = self.entry(&family, &table, Some(&chain));
                if !(existed && op == ObjectOp::Added) {
                    e.chain_op = Some(op);
                }
                e.policy = policy.or(e.policy.take());
            }
            Update::Rule { family, table, chain, op, rule } => {
                let e = self.entry(&family, &table, Some(&chain));
                match op {
                    ObjectOp::Added => e.rules_added += 1,
                    ObjectOp::Deleted => e.rules_deleted += 1,
                }
                e.rule =
                    if e.rules_added == 1 && e.rules_deleted == 0 { rule.or(e.rule.take()) } else { None };
            }
            Update::Flush { family, table, chain } => {
                self.entry(&family, &table, chain.as_deref()).flushed = true
            }
            Update::Generation => {}
        }
    }

    /// One change per table or chain touched.
    pub fn take(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.touched).into_values().map(|r| Change::new(What::RulesChanged(r))).collect()
    }
}

/// The running monitor: its reading thread, and the task that batches.
pub struct Monitor {
    pid: nix::unistd::Pid,
    reader: Option<JoinHandle<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Monitor {
    /// Starts `nft monitor` in the tool's namespace and waits until it listens; an error when
    /// nft cannot run.
    pub async fn start(sink: Sink) -> std::io::Result<Monitor> {
        let listing = Command::new("nft").args(["list", "chains"]).stderr(Stdio::null()).output()?;
        let known = parse_chains(&String::from_utf8_lossy(&listing.stdout));
        let (tx, rx) = mpsc::channel::<Update>(1024);
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        let reader = std::thread::Builder::new().name("nft-monitor".into()).spawn(move || {
            let mut cmd = Command::new("nft");
            cmd.arg("monitor").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
            let mut child = match crate::tied_process::spawn(&mut cmd) {
                Ok(c) => c,
                Err(e) => {
                    let _ = pid_tx.send(Err(e));
                    return;
                }
            };
            let _ = pid_tx.send(Ok(child.id()));
            if let Some(out) = child.stdout.take() {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(u) = parse_line(&line)
                        && tx.blocking_send(u).is_err()
                    {
                        break;
                    }
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        })?;
        let pid = pid_rx.recv().map_err(|_| std::io::Error::other("nft monitor thread ended"))??;
        let task = tokio::spawn(batch_loop(rx, sink, Batch::new(known)));
        let m = Monitor { pid: nix::unistd::Pid::from_raw(pid as i32), reader: Some(reader), task };
        m.subscribed().await;
        Ok(m)
    }

    /// Waits (a little, at most [`SUBSCRIBE_WAIT`]) until the monitor's netlink socket has
    /// joined nf_tables' multicast group, as /proc/PID/net/netlink shows: changes from then on
    /// are seen. nft gives no sign of its own.
    async fn subscribed(&self) {
        let path = format!("/proc/{}/net/netlink", self.pid);
        let deadline = Instant::now() + SUBSCRIBE_WAIT;
        while Instant::now() < deadline {
            let table = std::fs::read_to_string(&path).unwrap_or_default();
            if listening(&table, self.pid.as_raw() as u32) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        log::info!("nft monitor did not subscribe within {SUBSCRIBE_WAIT:?}; going on");
    }
}

/// Gathers updates and hands out changes once the ruleset has been quiet for [`QUIET`].
async fn batch_loop(mut rx: mpsc::Receiver<Update>, sink: Sink, mut batch: Batch) {
    let mut first = Instant::now();
    let mut last = Instant::now();
    loop {
        let due = (last + QUIET).min(first + LONGEST);
        let next = if batch.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                u = rx.recv() => u,
                _ = tokio::time::sleep_until(due) => {
                    batch.take().into_iter().for_each(|c| sink.emit(c));
                    continue;
                }
            }
        };
        let Some(u) = next else { break };
        if batch.is_empty() {
            first = Instant::now();
        }
        last = Instant::now();
        batch.add(u);
        if sink.is_closed() {
            break;
        }
    }
    batch.take().into_iter().for_each(|c| sink.emit(c));
}

impl Monitor {
    /// The monitor's process id (for tests that check it is gone).
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }
}

/// Kills the monitor; its thread then sees the end of the output and ends by itself (it is not
/// joined here: it may be waiting for the batching task, which ends only after this returns).
impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        drop(self.reader.take());
    }
}

#[cfg(test)]
#[path = "ruleset_tests.rs"]
mod tests;
