//! The results table (kernels x hooks x scenarios) as markdown: target/vm/matrix.md, and the
//! README's block between the vm-matrix markers when the README has them.
use std::{fmt::Write, path::Path};

use anyhow::Result;
use serde_json::Value;

use super::{
    expect::{self, Check, Expectation, Status},
    kernel::Kernel,
    report::GuestReport,
};

const START: &str = "<!-- vm-matrix:start -->";
const END: &str = "<!-- vm-matrix:end -->";
/// The hooks of the matrix, as (column title, key in the tool's `coverage` object).
const HOOKS: &[(&str, &str)] =
    &[("tc", "tc"), ("tracepoints", "tracepoints"), ("kprobe", "kprobes"), ("fentry", "fentry")];

/// Everything one kernel's run produced.
pub struct KernelRun {
    pub kernel: Kernel,
    pub report: GuestReport,
    pub checks: Vec<Check>,
    pub boot_secs: f64,
}

pub fn render(runs: &[KernelRun], exps: &[Expectation]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Produced by `cargo xtask vm-test` (Debian cloud kernels under qemu/TCG; scenarios in tests/vm/scenarios)."
    );
    let _ = writeln!(
        s,
        "Hooks: attached per `dockernet-trace kernel-check`, else per the traces' `coverage`; `?` = not reported.\n"
    );
    let mut head = String::from("| kernel |");
    let mut rule = String::from("|---|");
    for (title, _) in HOOKS {
        head.push_str(&format!(" {title} |"));
        rule.push_str("---|");
    }
    for e in exps {
        head.push_str(&format!(" {} |", e.name));
        rule.push_str("---|");
    }
    head.push_str(" VM time |");
    rule.push_str("---|");
    let _ = writeln!(s, "{head}\n{rule}");
    for run in runs {
        let mut row = format!("| {} |", run.report.uname().unwrap_or(&run.kernel.release));
        for (_, key) in HOOKS {
            row.push_str(&format!(" {} |", hook_cell(&run.report, key)));
        }
        for e in exps {
            row.push_str(&format!(" {} |", scenario_cell(run, e)));
        }
        row.push_str(&format!(" {:.0} s |", run.boot_secs));
        let _ = writeln!(s, "{row}");
    }
    hooks_table(&mut s, runs);
    let version = runs
        .iter()
        .filter_map(|r| r.report.tools.get("version"))
        .find(|v| v.exit == 0)
        .map(|v| v.stdout.trim().to_string())
        .unwrap_or_else(|| "dockernet-trace (version unknown)".into());
    let packages: Vec<&str> = runs.iter().map(|r| r.kernel.package.as_str()).collect();
    let _ = writeln!(s, "\n{version}; packages: {}.", packages.join(", "));
    s
}

/// Every hook kernel-check reports (kernel x hook: attached, and how), when it reports any.
fn hooks_table(s: &mut String, runs: &[KernelRun]) {
    let per_kernel: Vec<Vec<Value>> = runs.iter().map(|r| kernel_check_hooks(&r.report)).collect();
    let mut names: Vec<String> = Vec::new();
    for hooks in &per_kernel {
        for h in hooks {
            let name = h.get("hook").and_then(Value::as_str).unwrap_or("?").to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return;
    }
    let _ = write!(s, "\n| hook (kernel-check) |");
    for r in runs {
        let _ = write!(s, " {} |", r.kernel.label());
    }
    let _ = writeln!(s, "\n|---|{}", "---|".repeat(runs.len()));
    for name in &names {
        let _ = write!(s, "| {name} |");
        for hooks in &per_kernel {
            let h = hooks.iter().find(|h| h.get("hook").and_then(Value::as_str) == Some(name));
            let cell = match h {
                None => "—".to_string(),
                Some(h) => {
                    let on = h.get("attached").and_then(Value::as_bool) == Some(true);
                    let kind =
                        h.get("kind").and_then(Value::as_str).map(|k| format!(" ({k})")).unwrap_or_default();
                    format!("{}{kind}", if on { "yes" } else { "no" })
                }
            };
            let _ = write!(s, " {cell} |");
        }
        let _ = writeln!(s);
    }
}

/// The `hooks` array of kernel-check's JSON, empty when it did not run or say.
pub fn kernel_check_hooks(r: &GuestReport) -> Vec<Value> {
    let json = r.tools.get("kernel-check").and_then(|t| t.json());
    json.and_then(|j| j.get("hooks").and_then(Value::as_array).cloned()).unwrap_or_default()
}

/// "yes"/"no" from kernel-check's coverage, else from any scenario's trace coverage.
fn hook_cell(r: &GuestReport, key: &str) -> &'static str {
    let from_check = r.tools.get("kernel-check").and_then(|t| t.json()).and_then(|j| coverage(&j, key));
    let from_traces = || {
        let seen: Vec<bool> =
            r.scenarios.iter().filter_map(|s| s.tool.json()).filter_map(|j| coverage(&j, key)).collect();
        if seen.is_empty() { None } else { Some(seen.into_iter().any(|b| b)) }
    };
    match from_check.or_else(from_traces) {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
}

fn coverage(j: &Value, key: &str) -> Option<bool> {
    j.get("coverage")?.get(key)?.as_bool()
}

/// "pass" or "FAIL", with the cause the tool gave (or why it gave none).
fn scenario_cell(run: &KernelRun, e: &Expectation) -> String {
    let failed = run.checks.iter().any(|c| c.subject == e.name && c.status == Status::Fail);
    let verdict = match run.report.scenario(&e.name) {
        None => "not run".to_string(),
        Some(s) => match s.tool.json() {
            Some(j) => expect::cause(&j).unwrap_or("no cause").to_string(),
            None => format!("exit {}, no JSON", s.tool.exit),
        },
    };
    if failed { format!("**FAIL** {verdict}") } else { format!("pass {verdict}") }
}

/// Replaces the block between the markers; a README without them is left alone.
pub fn update_readme(readme: &Path, table: &str) -> Result<bool> {
    let Ok(text) = std::fs::read_to_string(readme) else { return Ok(false) };
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else { return Ok(false) };
    if b < a {
        return Ok(false);
    }
    let new = format!("{}{START}\n{table}{}", &text[..a], &text[b..]);
    if new != text {
        std::fs::write(readme, new)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_only_between_markers() {
        let dir = std::env::temp_dir().join(format!("dnt-matrix-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let readme = dir.join("README.md");
        std::fs::write(&readme, "intro\n<!-- vm-matrix:start -->\nold\n<!-- vm-matrix:end -->\noutro\n")
            .unwrap();
        assert!(super::update_readme(&readme, "| new |\n").unwrap());
        let text = std::fs::read_to_string(&readme).unwrap();
        assert_eq!(text, "intro\n<!-- vm-matrix:start -->\n| new |\n<!-- vm-matrix:end -->\noutro\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
