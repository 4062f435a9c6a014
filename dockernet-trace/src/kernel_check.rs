//! `dockernet-trace kernel-check`: which hooks attach on this kernel (used by the VM kernel
//! matrix, by `cargo xtask bench` for the attach/detach timing, and handy on a new host).
use std::time::Instant;

use serde::Serialize;

use crate::{
    ebpf::{
        Coverage, Session,
        hooks::{HookStatus, Purpose},
        session::KernelInfo,
    },
    error::{Result, require_privileges},
};

#[derive(Serialize)]
struct Report {
    kernel: String,
    btf: String,
    hooks: Vec<HookStatus>,
    coverage: Coverage,
    timing: Timing,
}

/// Milliseconds spent on each step, for the benchmark's "attach + detach" figure.
#[derive(Serialize, Default)]
struct Timing {
    /// Reading BTF, drop reasons and tracepoint layouts.
    probe_ms: f64,
    /// Loading the object into the kernel (maps created; programs are verified on attach).
    load_ms: f64,
    /// Verifying and attaching every program: tracepoints, enrichment, tc on lo.
    attach_ms: f64,
    /// Detaching and unloading them all (dropping the session).
    detach_ms: f64,
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

pub async fn run(json: bool) -> Result<u8> {
    require_privileges()?;
    let mut timing = Timing::default();
    let t = Instant::now();
    let kernel = KernelInfo::probe()?;
    timing.probe_ms = ms(t);
    let t = Instant::now();
    // Every mode's code verified: the check proves that watch's programs load too.
    let mut s = Session::load(&kernel, dockernet_trace_common::MODE_ANY, true)?;
    timing.load_ms = ms(t);
    let t = Instant::now();
    // tc on lo as a trace attaches its path's interfaces: beside the tracepoints' verification.
    let (lo, ahead) = std::sync::mpsc::channel();
    let _ = lo.send(vec!["lo".to_string()]);
    s.attach_tc_ahead(ahead);
    s.attach_tracepoints(&kernel, Purpose::Trace)?;
    s.attach_enrichment(&kernel);
    let tc = s.attach_tc(&["lo".to_string()], &kernel).and_then(|mut r| r.remove(0));
    timing.attach_ms = ms(t);
    let mut hooks = s.hooks.clone();
    hooks.push(HookStatus {
        hook: "tc:lo",
        attached: tc.is_ok(),
        note: tc.as_ref().map(|how| format!("{how:?}")).map_err(|e| e.to_string()).err(),
    });
    let coverage = s.coverage;
    let t = Instant::now();
    drop(s);
    timing.detach_ms = ms(t);
    let report = Report {
        kernel: kernel.features.release.clone(),
        btf: kernel.btf.path().into(),
        hooks,
        coverage,
        timing,
    };
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("kernel {} ({})", report.kernel, report.btf);
        for h in &report.hooks {
            let mark = if h.attached { "ok " } else { "-- " };
            println!("  {mark} {:<28} {}", h.hook, h.note.as_deref().unwrap_or(""));
        }
        let c = &report.coverage;
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!(
            "coverage: tc {} · tracepoints {} · kprobes {} · fentry {}",
            yes(c.tc),
            yes(c.tracepoints),
            yes(c.kprobes),
            yes(c.fentry)
        );
        let t = &report.timing;
        println!(
            "timing: probe {} ms, load {} ms, attach {} ms, detach {} ms",
            t.probe_ms, t.load_ms, t.attach_ms, t.detach_ms
        );
    }
    Ok(0)
}
