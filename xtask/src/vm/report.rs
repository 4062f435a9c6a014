//! What one guest reported: the `DNT-RESULT {json}` lines of tests/vm/lib.sh, decoded.
use std::{collections::BTreeMap, path::Path};

use serde_json::{Map, Value};

/// One run of the tool inside the guest.
#[derive(Clone, Debug, Default)]
pub struct ToolRun {
    pub exit: i64,
    /// How long it ran, in the guest's clock.
    pub ms: u64,
    pub stdout: String,
    pub stderr: String,
}

impl ToolRun {
    /// stdout as the one JSON object the contract promises, if it is one.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(self.stdout.trim()).ok().filter(Value::is_object)
    }

    /// The last line of stderr, the one-line error of exit code 2.
    pub fn error_line(&self) -> String {
        self.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
    }
}

#[derive(Clone, Debug, Default)]
pub struct ScenarioRun {
    pub name: String,
    /// What building the world and the fault printed; empty when all went well.
    pub setup: String,
    /// The harness's own connection attempt (busybox wget): 0 when it got through.
    pub check_exit: i64,
    pub check_msg: String,
    pub tool: ToolRun,
    /// tc qdiscs the trace left behind (empty when it cleaned up).
    pub left: String,
}

#[derive(Clone, Debug, Default)]
pub struct GuestReport {
    /// The `kernel` line: uname and what the harness saw of kprobes, BTF and ftrace.
    pub kernel: Map<String, Value>,
    /// " name:error" for each module that failed to load.
    pub modules_failed: String,
    /// `version`, `kernel-check`.
    pub tools: BTreeMap<String, ToolRun>,
    pub scenarios: Vec<ScenarioRun>,
    /// The guest reached the end of /init.
    pub done: bool,
    pub uptime_ms: Option<u64>,
    /// Result lines that did not parse (a corrupted channel).
    pub bad_lines: usize,
}

impl GuestReport {
    pub fn uname(&self) -> Option<&str> {
        self.kernel.get("uname").and_then(Value::as_str)
    }

    pub fn fact(&self, name: &str) -> Option<bool> {
        self.kernel.get(name).and_then(Value::as_bool)
    }

    pub fn scenario(&self, name: &str) -> Option<&ScenarioRun> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// Reads the results channel, falling back to the console when the guest had no second port.
pub fn read(results: &Path, console: &Path) -> GuestReport {
    let mut report = parse(&std::fs::read_to_string(results).unwrap_or_default());
    if !report.done && report.scenarios.is_empty() {
        let from_console = parse(&String::from_utf8_lossy(&std::fs::read(console).unwrap_or_default()));
        if from_console.done || !from_console.scenarios.is_empty() {
            report = from_console;
        }
    }
    report
}

pub fn parse(text: &str) -> GuestReport {
    let mut r = GuestReport::default();
    for line in text.lines() {
        let Some(pos) = line.find("DNT-RESULT ") else { continue };
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line[pos + 11..].trim_end_matches('\r'))
        else {
            r.bad_lines += 1;
            continue;
        };
        let int = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(-1);
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(unhex).unwrap_or_default();
        let tool = || ToolRun {
            exit: int("exit"),
            ms: int("ms").max(0) as u64,
            stdout: text("stdout_hex"),
            stderr: text("stderr_hex"),
        };
        match m.get("type").and_then(Value::as_str).unwrap_or("") {
            "kernel" => r.kernel = m.clone(),
            "modules" => r.modules_failed = text("failed_hex").trim().to_string(),
            "tool" => {
                let name = m.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
                r.tools.insert(name, tool());
            }
            "scenario" => r.scenarios.push(ScenarioRun {
                name: m.get("name").and_then(Value::as_str).unwrap_or("?").to_string(),
                setup: text("setup_hex"),
                check_exit: int("check_exit"),
                check_msg: text("check_hex"),
                tool: tool(),
                left: text("left_hex").trim().to_string(),
            }),
            "done" => {
                r.done = true;
                r.uptime_ms = m.get("uptime_ms").and_then(Value::as_u64);
            }
            _ => r.bad_lines += 1,
        }
    }
    r
}

/// Lowercase hex (busybox `od -tx1`) back to text; invalid UTF-8 is replaced.
fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = s
        .as_bytes()
        .chunks(2)
        .filter_map(|p| std::str::from_utf8(p).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_protocol() {
        let log = "noise\r\nDNT-RESULT {\"type\":\"kernel\",\"uname\":\"6.1.0-56-cloud-amd64\",\"kprobe_pmu\":true}\r\n\
            DNT-RESULT {\"type\":\"tool\",\"name\":\"version\",\"exit\":0,\"stdout_hex\":\"6f6b0a\",\"stderr_hex\":\"\"}\n\
            DNT-RESULT {\"type\":\"scenario\",\"name\":\"healthy\",\"check_exit\":0,\"check_hex\":\"\",\"exit\":0,\"ms\":12,\
            \"stdout_hex\":\"7b2261223a317d\",\"stderr_hex\":\"\"}\n\
            DNT-RESULT {\"type\":\"done\",\"uptime_ms\":900}\nDNT-RESULT {broken\n";
        let r = parse(log);
        assert_eq!(r.uname(), Some("6.1.0-56-cloud-amd64"));
        assert_eq!(r.fact("kprobe_pmu"), Some(true));
        assert_eq!(r.tools["version"].stdout, "ok\n");
        assert_eq!(r.scenario("healthy").unwrap().tool.json().unwrap()["a"], 1);
        assert!(r.done);
        assert_eq!(r.bad_lines, 1);
    }
}
