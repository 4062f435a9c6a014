//! `dockernet-trace kernel-check`: which hooks attach on this kernel (hidden; used by the VM
//! kernel matrix and handy on a new host).
use serde::Serialize;

use crate::{
    ebpf::{Coverage, Session, hooks::{HookStatus, Purpose}, session::KernelInfo},
    error::{Result, require_privileges},
};

#[derive(Serialize)]
struct Report {
    kernel: String,
    btf: String,
    hooks: Vec<HookStatus>,
    coverage: Coverage,
}

pub async fn run(json: bool) -> Result<u8> {
    require_privileges()?;
    let kernel = KernelInfo::probe()?;
    let mut s = Session::load(&kernel)?;
    s.attach_tracepoints(&kernel, Purpose::Trace)?;
    s.attach_enrichment(&kernel);
    let tc = s.attach_tc("lo", &kernel);
    let mut hooks = s.hooks.clone();
    hooks.push(HookStatus {
        hook: "tc:lo",
        attached: tc.is_ok(),
        note: tc.as_ref().map(|how| format!("{how:?}")).map_err(|e| e.to_string()).err(),
    });
    let report = Report { kernel: kernel.features.release.clone(), btf: kernel.btf.path().into(), hooks, coverage: s.coverage };
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("kernel {} ({})", report.kernel, report.btf);
        for h in &report.hooks {
            let mark = if h.attached { "ok " } else { "-- " };
            println!("  {mark} {:<28} {}", h.hook, h.note.as_deref().unwrap_or(""));
        }
        println!("coverage: {:?}", report.coverage);
    }
    Ok(0)
}
