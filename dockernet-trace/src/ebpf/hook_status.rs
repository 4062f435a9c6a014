//! Trying a list of hooks: which attached, and for those that did not, the gist of why
//! (a note of a trace or kernel-check, unless the hook was required).
use aya::Ebpf;
use serde::Serialize;

use super::{
    EbpfError,
    hooks::{Attachable, Coverage, HookContext, HookKind},
};

/// The outcome of trying one hook.
#[derive(Clone, Debug, Serialize)]
pub struct HookStatus {
    pub hook: &'static str,
    pub attached: bool,
    pub note: Option<String>,
}

/// The gist of an attach failure: aya's messages carry the whole (often empty) verifier log;
/// keep the syscall's error and the verifier's complaint (the lines before its statistics).
pub(super) fn short_reason(full: &str) -> String {
    let (head, log) = full.split_once(". Verifier output").unwrap_or((full, ""));
    let head = head.replace("the BPF_PROG_LOAD syscall returned ", "").trim().to_string();
    let complaint: Vec<&str> = log
        .trim_start_matches([':', ' '])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("processed ") && !l.starts_with("verification time"))
        .filter(|l| l.chars().any(char::is_alphanumeric))
        .collect();
    match complaint.len() {
        0 => head,
        n => format!("{head}; verifier: {}", complaint[n.saturating_sub(2)..].join(" / ")),
    }
}

/// Tries every hook; a required hook that fails is an error, others become notes.
pub fn attach_all(
    ebpf: &mut Ebpf,
    cx: &HookContext,
    hooks: &[Box<dyn Attachable>],
    coverage: &mut Coverage,
) -> Result<Vec<HookStatus>, EbpfError> {
    let mut out = Vec::new();
    for h in hooks {
        let t = std::time::Instant::now();
        let result = h.can_run(cx).map_err(EbpfError::Unavailable).and_then(|()| h.attach(ebpf, cx));
        log::debug!("{}: {:.1} ms", h.name(), t.elapsed().as_secs_f64() * 1000.0);
        match result {
            Ok(kind) => {
                match kind {
                    HookKind::Tracepoint => coverage.tracepoints = true,
                    HookKind::Kprobe => coverage.kprobes = true,
                    HookKind::Fentry => coverage.fentry = true,
                }
                out.push(HookStatus { hook: h.name(), attached: true, note: None });
            }
            Err(e) if h.required() => return Err(e),
            Err(e) => {
                log::info!("{} not attached: {e}", h.name());
                out.push(HookStatus {
                    hook: h.name(),
                    attached: false,
                    note: Some(short_reason(&e.to_string())),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::short_reason;

    #[test]
    fn short_reason_keeps_the_errno_and_the_verifiers_complaint() {
        let empty = "eBPF program x: the BPF_PROG_LOAD syscall returned Operation not permitted (os error 1). Verifier output: : ";
        assert_eq!(short_reason(empty), "eBPF program x: Operation not permitted (os error 1)");
        let log = "eBPF program x: the BPF_PROG_LOAD syscall returned Permission denied (os error 13). Verifier output: 0: (79) r1 = *(u64 *)(r1 +8)\nR1 invalid mem access 'scalar'\nprocessed 12 insns\n";
        assert_eq!(
            short_reason(log),
            "eBPF program x: Permission denied (os error 13); verifier: 0: (79) r1 = *(u64 *)(r1 +8) / R1 invalid mem access 'scalar'"
        );
    }
}
