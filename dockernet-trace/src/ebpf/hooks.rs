//! Each kernel hook behind one trait: can it run here, and attach it. A hook that cannot run is
//! reported and skipped (the trace says what it could not see), unless it is required.
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, FEntry, FExit, KProbe, TracePoint},
};
use serde::Serialize;

use super::EbpfError;
use crate::kernel::{Features, KernelBtf};

/// Which families of hooks are active, as reported in a trace's `coverage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub tc: bool,
    pub tracepoints: bool,
    pub kprobes: bool,
    pub fentry: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    Tracepoint,
    Kprobe,
    Fentry,
}

/// What a hook may consult to decide and to attach.
pub struct HookContext<'a> {
    pub aya_btf: &'a Btf,
    pub btf: &'a KernelBtf,
    pub features: &'a Features,
}

pub trait Hook {
    /// `category:name` of the tracepoint or the function probed.
    fn name(&self) -> &'static str;
    /// Without a required hook the command cannot work at all.
    fn required(&self) -> bool {
        false
    }
    /// Why this hook cannot run on this kernel, if it cannot.
    fn can_run(&self, cx: &HookContext) -> Result<(), String>;
    /// Attaches, returning the kind of program that ended up attached.
    fn attach(&self, ebpf: &mut Ebpf, cx: &HookContext) -> Result<HookKind, EbpfError>;
}

/// A BTF-enabled tracepoint (`tp_btf`): raw arguments, cheapest to run.
pub struct BtfTracepoint {
    pub program: &'static str,
    pub name: &'static str,
    pub label: &'static str,
    pub required: bool,
    /// Another program for kernels whose tracepoint has at least this many arguments.
    pub wider: Option<(&'static str, usize)>,
}

impl Hook for BtfTracepoint {
    // The hook's name for people is its label (`skb:kfree_skb`); `name` is the tracepoint's.
    #[allow(clippy::misnamed_getters)]
    fn name(&self) -> &'static str {
        self.label
    }
    fn required(&self) -> bool {
        self.required
    }
    fn can_run(&self, cx: &HookContext) -> Result<(), String> {
        match cx.btf.tracepoint_args(self.name) {
            Some(_) => Ok(()),
            None => Err(format!("this kernel has no tracepoint {}", self.label)),
        }
    }
    fn attach(&self, ebpf: &mut Ebpf, cx: &HookContext) -> Result<HookKind, EbpfError> {
        let args = cx.btf.tracepoint_args(self.name).unwrap_or(0);
        let name = match self.wider {
            Some((wider, min_args)) if args >= min_args => wider,
            _ => self.program,
        };
        let err = |source| EbpfError::Program { program: name.into(), source };
        let prog: &mut BtfTracePoint = program(ebpf, name)?.try_into().map_err(err)?;
        prog.load(self.name, cx.aya_btf).map_err(err)?;
        prog.attach().map_err(err)?;
        Ok(HookKind::Tracepoint)
    }
}

/// A classic tracepoint, whose record layout comes from tracefs.
pub struct ClassicTracepoint {
    pub program: &'static str,
    pub category: &'static str,
    pub name: &'static str,
    pub label: &'static str,
}

impl Hook for ClassicTracepoint {
    #[allow(clippy::misnamed_getters)] // as for BtfTracepoint
    fn name(&self) -> &'static str {
        self.label
    }
    fn can_run(&self, _cx: &HookContext) -> Result<(), String> {
        crate::kernel::tracefs::format(self.category, self.name)
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", self.label))
    }
    fn attach(&self, ebpf: &mut Ebpf, _cx: &HookContext) -> Result<HookKind, EbpfError> {
        let err = |source| EbpfError::Program { program: self.program.into(), source };
        let prog: &mut TracePoint = program(ebpf, self.program)?.try_into().map_err(err)?;
        prog.load().map_err(err)?;
        prog.attach(self.category, self.name).map_err(err)?;
        Ok(HookKind::Tracepoint)
    }
}

/// An enrichment hook on a kernel function: fentry/fexit when the function is in vmlinux BTF
/// and trampolines work, else a kprobe, else (with a note) nothing.
pub struct FunctionHook {
    pub function: &'static str,
    pub label: &'static str,
    /// fentry (false) or fexit (true) program, if there is one for this function.
    pub trampoline: Option<(&'static str, bool)>,
    pub kprobe: &'static str,
    /// The structures it reads were found in BTF.
    pub layout_ok: bool,
}

impl FunctionHook {
    fn attach_trampoline(
        &self,
        ebpf: &mut Ebpf,
        cx: &HookContext,
        name: &str,
        exit: bool,
    ) -> Result<(), EbpfError> {
        let err = |source| EbpfError::Program { program: name.into(), source };
        if exit {
            let p: &mut FExit = program(ebpf, name)?.try_into().map_err(err)?;
            p.load(self.function, cx.aya_btf).map_err(err)?;
            p.attach().map_err(err)?;
        } else {
            let p: &mut FEntry = program(ebpf, name)?.try_into().map_err(err)?;
            p.load(self.function, cx.aya_btf).map_err(err)?;
            p.attach().map_err(err)?;
        }
        Ok(())
    }

    fn attach_kprobe(&self, ebpf: &mut Ebpf) -> Result<(), EbpfError> {
        let err = |source| EbpfError::Program { program: self.kprobe.into(), source };
        let p: &mut KProbe = program(ebpf, self.kprobe)?.try_into().map_err(err)?;
        p.load().map_err(err)?;
        p.attach(self.function, 0).map_err(err)?;
        Ok(())
    }
}

impl Hook for FunctionHook {
    fn name(&self) -> &'static str {
        self.label
    }
    fn can_run(&self, cx: &HookContext) -> Result<(), String> {
        if !self.layout_ok {
            return Err(format!(
                "{}: its structures are not in this kernel's BTF (module not loaded?)",
                self.function
            ));
        }
        if cx.btf.has_function(self.function) || cx.features.kprobes {
            Ok(())
        } else {
            Err(format!(
                "{}: no fentry (not in vmlinux BTF) and no kprobes (CONFIG_KPROBES off)",
                self.function
            ))
        }
    }
    fn attach(&self, ebpf: &mut Ebpf, cx: &HookContext) -> Result<HookKind, EbpfError> {
        let mut why = String::new();
        if let Some((name, exit)) = self.trampoline
            && cx.btf.has_function(self.function)
        {
            match self.attach_trampoline(ebpf, cx, name, exit) {
                Ok(()) => return Ok(HookKind::Fentry),
                Err(e) => why = format!("fentry: {e}; "),
            }
        }
        if !cx.features.kprobes {
            return Err(EbpfError::Unavailable(format!("{why}kprobes: not in this kernel")));
        }
        self.attach_kprobe(ebpf)
            .map(|()| HookKind::Kprobe)
            .map_err(|e| EbpfError::Unavailable(format!("{why}kprobe: {e}")))
    }
}

pub(super) fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &str,
) -> Result<&'a mut aya::programs::Program, EbpfError> {
    ebpf.program_mut(name).ok_or_else(|| EbpfError::Missing(format!("program {name}")))
}

/// What the tool attaches for a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Follow one probe hop by hop.
    Trace,
    /// Drops, route failures and resets only: no per-packet hop hooks.
    Watch,
    /// Drops only (the skeleton test).
    Drops,
}

pub fn tracepoints(purpose: Purpose) -> Vec<Box<dyn Hook>> {
    let btf = |program, name, label, required| -> Box<dyn Hook> {
        Box::new(BtfTracepoint { program, name, label, required, wider: None })
    };
    let classic = |program, category, name, label| -> Box<dyn Hook> {
        Box::new(ClassicTracepoint { program, category, name, label })
    };
    let mut hooks = vec![btf("kfree_skb", "kfree_skb", "skb:kfree_skb", true)];
    if purpose == Purpose::Drops {
        return hooks;
    }
    if purpose == Purpose::Trace {
        hooks.push(btf("netif_receive_skb", "netif_receive_skb", "net:netif_receive_skb", false));
        hooks.push(btf("net_dev_xmit", "net_dev_xmit", "net:net_dev_xmit", false));
        hooks.push(classic("neigh_create", "neigh", "neigh_create", "neigh:neigh_create"));
    }
    hooks.push(btf("icmp_send", "icmp_send", "icmp:icmp_send", false));
    // 6.10 added the reset's reason as a third argument.
    let (program, name, label) = ("tcp_send_reset", "tcp_send_reset", "tcp:tcp_send_reset");
    hooks.push(Box::new(BtfTracepoint {
        program,
        name,
        label,
        required: false,
        wider: Some(("tcp_reset_rsn", 3)),
    }));
    hooks.push(classic("fib_table_lookup", "fib", "fib_table_lookup", "fib:fib_table_lookup"));
    hooks.push(classic("neigh_update", "neigh", "neigh_update", "neigh:neigh_update"));
    hooks
}

/// The enrichment hooks this kernel's layout allows.
pub fn enrichment(e: &super::enrich::Enrichment) -> Vec<Box<dyn Hook>> {
    let f = |function, label, trampoline, kprobe, layout_ok| -> Box<dyn Hook> {
        Box::new(FunctionHook { function, label, trampoline, kprobe, layout_ok })
    };
    vec![
        f(
            "nf_hook_slow",
            "netfilter verdict (nf_hook_slow)",
            Some(("dnt_fx_nf_hook", true)),
            "dnt_kp_nf_hook",
            e.nf_hook,
        ),
        f(
            "nft_do_chain",
            "nftables chain (nft_do_chain)",
            Some(("dnt_fe_nft_chain", false)),
            "dnt_kp_nft_chain",
            e.nft_chain,
        ),
        f("ipt_do_table", "iptables table (ipt_do_table)", None, "dnt_kp_ipt_table", e.ipt_table),
        f(
            "br_forward",
            "bridge forward (br_forward)",
            Some(("dnt_fe_br_forward", false)),
            "dnt_kp_br_forward",
            e.br_forward,
        ),
        f(
            "br_pass_frame_up",
            "bridge to host (br_pass_frame_up)",
            Some(("dnt_fe_br_pass_up", false)),
            "dnt_kp_br_pass_up",
            e.br_pass_up,
        ),
        f("nf_nat_ipv4_manip_pkt", "NAT rewrite (nf_nat_ipv4_manip_pkt)", None, "dnt_kp_nat", e.nat),
    ]
}

/// The outcome of trying one hook.
#[derive(Clone, Debug, Serialize)]
pub struct HookStatus {
    pub hook: &'static str,
    pub attached: bool,
    pub note: Option<String>,
}

/// The gist of an attach failure: aya's messages carry the whole (often empty) verifier log;
/// keep the syscall's error and the verifier's complaint (the lines before its statistics).
fn short_reason(full: &str) -> String {
    let (head, log) = full.split_once(". Verifier output").unwrap_or((full, ""));
    let head = head.replace("the BPF_PROG_LOAD syscall returned ", "").trim().to_string();
    let complaint: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("processed ") && !l.starts_with("verification time"))
        .filter(|l| *l != ":")
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
    hooks: &[Box<dyn Hook>],
    coverage: &mut Coverage,
) -> Result<Vec<HookStatus>, EbpfError> {
    let mut out = Vec::new();
    for h in hooks {
        let result = h.can_run(cx).map_err(EbpfError::Unavailable).and_then(|()| h.attach(ebpf, cx));
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
