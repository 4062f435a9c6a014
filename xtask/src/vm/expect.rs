//! What each VM run must show, and the checks against one guest's report. The scenario files
//! (tests/vm/scenarios/*.sh) carry their own expectations in `EXPECT_*=` lines, read here, so a
//! scenario and its verdict live in one place.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::report::{GuestReport, ScenarioRun};

#[derive(Clone, Debug)]
pub struct Expectation {
    pub name: String,
    pub cause: String,
    pub exit: i64,
    /// Whether the harness's own connection attempt must get through.
    pub reachable: bool,
    /// `EXPECT_BRIDGE_HOP=observed`: the hops show the bridge forwarding, seen by the kernel
    /// (br_forward enrichment), not inferred.
    pub bridge_hop: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Not there yet and allowed to be missing (kernel-check, until it exists).
    Tolerated,
}

/// Who must fix a failure: the VM harness (scenario setup, modules, boot) or dockernet-trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    Harness,
    Tool,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub kernel: String,
    /// "kernel" or a scenario name.
    pub subject: String,
    pub what: &'static str,
    pub status: Status,
    pub blame: Blame,
    pub detail: String,
}

pub fn scenario_files() -> Result<Vec<PathBuf>> {
    let dir = super::super::root().join("tests/vm/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{} is missing", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn expectations() -> Result<Vec<Expectation>> {
    let mut all = Vec::new();
    for file in scenario_files()? {
        let text = std::fs::read_to_string(&file)?;
        let var = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim().trim_matches('"').to_string())
                .with_context(|| format!("{}: no {k}= line", file.display()))
        };
        let exit = var("EXPECT_EXIT")?.parse().with_context(|| format!("{}: EXPECT_EXIT", file.display()))?;
        let reachable = match var("EXPECT_REACHABLE")?.as_str() {
            "yes" => true,
            "no" => false,
            other => bail!("{}: EXPECT_REACHABLE={other}, want yes or no", file.display()),
        };
        let bridge_hop = var("EXPECT_BRIDGE_HOP").is_ok_and(|v| v == "observed");
        all.push(Expectation {
            name: var("NAME")?,
            cause: var("EXPECT_CAUSE")?,
            exit,
            reachable,
            bridge_hop,
        });
    }
    Ok(all)
}

struct Checks<'a> {
    kernel: &'a str,
    out: Vec<Check>,
}

impl Checks<'_> {
    fn add(&mut self, subject: &str, what: &'static str, blame: Blame, ok: bool, detail: String) {
        let status = if ok { Status::Pass } else { Status::Fail };
        self.out.push(Check {
            kernel: self.kernel.to_string(),
            subject: subject.to_string(),
            what,
            status,
            blame,
            detail,
        });
    }
}

/// Every assertion for one kernel's run.
pub fn check(
    kernel: &str,
    timed_out: bool,
    console_tail: &str,
    r: &GuestReport,
    exps: &[Expectation],
) -> Vec<Check> {
    let mut c = Checks { kernel, out: Vec::new() };
    let finished = r.done && !timed_out;
    let why = if timed_out { "qemu was killed at the time limit" } else { "the guest stopped early" };
    c.add(
        "kernel",
        "guest ran to the end",
        Blame::Harness,
        finished,
        format!("{why}; console ends with: {console_tail}"),
    );
    c.add(
        "kernel",
        "result lines intact",
        Blame::Harness,
        r.bad_lines == 0,
        format!("{} unreadable lines", r.bad_lines),
    );
    c.add("kernel", "modules loaded", Blame::Harness, r.modules_failed.is_empty(), r.modules_failed.clone());
    c.add(
        "kernel",
        "vmlinux BTF present",
        Blame::Harness,
        r.fact("btf_vmlinux") == Some(true),
        "no /sys/kernel/btf/vmlinux".into(),
    );
    c.add(
        "kernel",
        "module BTF present (bridge)",
        Blame::Harness,
        r.fact("btf_bridge") == Some(true),
        "no /sys/kernel/btf/bridge after insmod bridge".into(),
    );
    let version = r.tools.get("version").cloned().unwrap_or_default();
    c.add(
        "kernel",
        "dockernet-trace --version",
        Blame::Tool,
        version.exit == 0 && version.stdout.contains("dockernet-trace"),
        format!("exit {}: {}", version.exit, version.error_line()),
    );
    kernel_check(&mut c, r);
    for e in exps {
        match r.scenario(&e.name) {
            Some(s) => scenario(&mut c, e, s),
            None => c.add(
                &e.name,
                "scenario ran",
                Blame::Harness,
                false,
                "no result line (see the console log)".into(),
            ),
        }
    }
    c.out
}

fn kernel_check(c: &mut Checks, r: &GuestReport) {
    let Some(run) = r.tools.get("kernel-check") else {
        c.add("kernel", "kernel-check ran", Blame::Harness, false, "no result line".into());
        return;
    };
    match run.json() {
        Some(j) => {
            let detail = format!(
                "coverage {}",
                j.get("coverage").map(Value::to_string).unwrap_or_else(|| "missing".into())
            );
            c.add("kernel", "kernel-check: kprobe or fentry attached", Blame::Tool, enrichment(&j), detail);
            // The bar: every hook, enrichment included, attaches on these kernels.
            let missing: Vec<String> = super::matrix::kernel_check_hooks(r)
                .iter()
                .filter(|h| h.get("attached").and_then(Value::as_bool) != Some(true))
                .map(|h| {
                    let name = h.get("hook").and_then(Value::as_str).unwrap_or("?");
                    let note = h.get("note").and_then(Value::as_str).unwrap_or("");
                    format!("{name} ({note})")
                })
                .collect();
            c.add(
                "kernel",
                "kernel-check: every hook attached",
                Blame::Tool,
                missing.is_empty(),
                format!("not attached: {}", missing.join("; ")),
            );
        }
        None => c.out.push(Check {
            kernel: c.kernel.to_string(),
            subject: "kernel".into(),
            what: "kernel-check: kprobe or fentry attached",
            status: Status::Tolerated,
            blame: Blame::Tool,
            detail: format!("not available yet (exit {}): {}", run.exit, run.error_line()),
        }),
    }
}

/// coverage.kprobes or coverage.fentry is true.
pub fn enrichment(j: &Value) -> bool {
    let on = |k: &str| j.pointer(&format!("/coverage/{k}")).and_then(Value::as_bool) == Some(true);
    on("kprobes") || on("fentry")
}

pub fn cause(j: &Value) -> Option<&str> {
    j.pointer("/verdict/cause").and_then(Value::as_str)
}

fn scenario(c: &mut Checks, e: &Expectation, s: &ScenarioRun) {
    c.add(
        &e.name,
        "world and fault built without errors",
        Blame::Harness,
        s.setup.trim().is_empty(),
        s.setup.trim().replace('\n', " | "),
    );
    let got_through = s.check_exit == 0;
    c.add(
        &e.name,
        "fault really built (harness's own connect)",
        Blame::Harness,
        got_through == e.reachable,
        format!(
            "wget {} but should {}: {}",
            if got_through { "got through" } else { "failed" },
            if e.reachable { "get through" } else { "fail" },
            s.check_msg.trim()
        ),
    );
    let json = s.tool.json();
    let seen = json.as_ref().and_then(cause).map(str::to_string);
    let detail = match (&json, &seen) {
        (None, _) => format!("no JSON on stdout (exit {}): {}", s.tool.exit, s.tool.error_line()),
        (Some(_), None) => "JSON without verdict.cause".into(),
        (Some(_), Some(cause)) => format!("cause {cause}, want {}", e.cause),
    };
    let detail = format!("{detail} (trace took {:.1} s)", s.tool.ms as f64 / 1000.0);
    c.add(&e.name, "verdict cause", Blame::Tool, seen.as_deref() == Some(e.cause.as_str()), detail);
    c.add(
        &e.name,
        "exit code",
        Blame::Tool,
        s.tool.exit == e.exit,
        format!("exit {}, want {}: {}", s.tool.exit, e.exit, s.tool.error_line()),
    );
    let cov = json.as_ref().map(enrichment).unwrap_or(false);
    let cov_detail = json
        .as_ref()
        .and_then(|j| j.get("coverage"))
        .map(|v| format!("coverage {v}"))
        .unwrap_or_else(|| "no coverage in the output".into());
    c.add(&e.name, "kprobe or fentry coverage", Blame::Tool, cov, cov_detail);
    if e.bridge_hop {
        let hop = json.as_ref().and_then(observed_bridge_hop);
        let detail = format!("no br_forward hop naming its bridge, seen rather than inferred: {hop:?}");
        c.add(&e.name, "bridge hop observed", Blame::Tool, hop.is_some(), detail);
    }
    c.add(
        &e.name,
        "nothing left attached",
        Blame::Tool,
        s.left.is_empty(),
        format!("left: {}", s.left.replace('\n', " | ")),
    );
}

/// The bridge named by a br_forward hop the kernel showed (not inferred).
pub fn observed_bridge_hop(j: &Value) -> Option<String> {
    let hops = j.get("hops")?.as_array()?;
    hops.iter()
        .filter(|h| h.get("hook").and_then(Value::as_str) == Some("br_forward"))
        .filter(|h| h.get("inferred").and_then(Value::as_bool) != Some(true))
        .find_map(|h| h.get("bridge").and_then(Value::as_str).map(str::to_string))
}

#[cfg(test)]
mod tests {
    #[test]
    fn scenario_files_carry_expectations() {
        let exps = super::expectations().unwrap();
        let causes: Vec<&str> = exps.iter().map(|e| e.cause.as_str()).collect();
        assert_eq!(
            causes,
            [
                "ok",
                "network_isolation",
                "bridge_gateway_missing",
                "veth_detached",
                "no_listener",
                "ok",
                "bridge_gateway_missing"
            ]
        );
        assert!(exps[0].reachable && exps[0].exit == 0);
        assert!(exps[0].bridge_hop, "the healthy path shows its bridge");
        let j = serde_json::json!({"hops": [
            {"hook": "br_forward", "iface": "br0", "bridge": "br0", "inferred": true},
            {"hook": "br_forward", "iface": "veth2", "bridge": "br0"}]});
        assert_eq!(super::observed_bridge_hop(&j).as_deref(), Some("br0"));
    }
}
