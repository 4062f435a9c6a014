//! A running `watch` in a lab, for the tests: its output lines as they come, waits for a
//! stderr line or for JSON lines that satisfy a condition, and a stop by signal.
use std::{
    io::{BufRead, BufReader},
    process::Child,
    sync::mpsc::{Receiver, RecvTimeoutError, channel},
    time::{Duration, Instant},
};

use dockernet_trace_tests::Lab;
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use serde_json::Value;

/// A running `watch`: its output lines as they come, and a way to stop it.
pub struct Watch {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub out: Vec<String>,
    pub err: Vec<String>,
}

fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watch {
    /// Starts `watch ARGS` in the lab and waits for its ready line.
    pub fn start(lab: &Lab, args: &[&str]) -> Watch {
        let mut a = vec!["watch"];
        a.extend_from_slice(args);
        let mut child = lab.spawn_tool(&a).unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let mut w = Watch { child, stdout, stderr, out: vec![], err: vec![] };
        w.wait_stderr("dockernet-trace: watching", Duration::from_secs(30));
        w
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stderr line containing `text`; panics with everything seen so far if none.
    pub fn wait_stderr(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    self.err.push(l.clone());
                    if l.contains(text) {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "no stderr line with {text:?} (status {status:?}); stderr:\n{}",
                        self.err.join("\n")
                    )
                }
            }
        }
    }

    /// Waits until the JSON lines on stdout satisfy `done`.
    pub fn wait_json(&mut self, timeout: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&json_lines(&self.out)) {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => self.out.push(l),
                Err(_) => panic!(
                    "stdout never got there:\n{}\nstderr:\n{}",
                    self.out.join("\n"),
                    self.err.join("\n")
                ),
            }
        }
    }

    /// Sends `sig` and waits for the exit; returns (exit code, stdout lines, stderr lines).
    pub fn stop(mut self, sig: Signal) -> (i32, Vec<String>, Vec<String>) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("watch did not exit within 20 s of {sig:?}; stderr:\n{}", self.err.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader threads end at EOF; collect what they still hold.
        let (out, err) = (self.stdout.iter().collect::<Vec<_>>(), self.stderr.iter().collect::<Vec<_>>());
        self.out.extend(out);
        self.err.extend(err);
        (status.code().unwrap_or(-1), std::mem::take(&mut self.out), std::mem::take(&mut self.err))
    }
}

/// A test that panics mid-way must not leave its watch running (and its programs loaded).
impl Drop for Watch {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn json_lines(lines: &[String]) -> Vec<Value> {
    lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Event lines (not the summary) between two addresses, and their total count.
pub fn between<'a>(v: &'a [Value], src: &str, dst: &str) -> (Vec<&'a Value>, u64) {
    let hits: Vec<&Value> = v
        .iter()
        .filter(|l| l["kind"] != "summary" && l["src"]["ip"] == src && l["dst"]["ip"] == dst)
        .collect();
    let n = hits.iter().map(|l| l["count"].as_u64().unwrap_or(0)).sum();
    (hits, n)
}

pub fn summary(v: &[Value]) -> &Value {
    let s = v.last().expect("no output at all");
    assert_eq!(s["kind"], "summary", "the last line is the summary: {s}");
    s
}
