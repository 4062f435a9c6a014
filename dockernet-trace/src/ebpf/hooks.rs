//! Each kernel hook behind one trait, [`Attachable`]: can it run here, and attach it. A hook that cannot run is
//! reported and skipped (the trace says what it could not see), unless it is required.
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, FEntry, FExit, KProbe},
};
use serde::Serialize;

use dockernet_trace_common::programs;

use super::EbpfError;
use super::hook_status::short_reason;
pub use super::hook_status::{HookStatus, attach_all};
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
    /// Tracepoint programs `verify` attached as soon as they were verified.
    pub attached_ahead: Vec<&'static str>,
    pub btf: &'a KernelBtf,
    pub features: &'a Features,
    /// Whether the route/neighbour structures were found in BTF (else why not).
    pub route_layout: &'a Result<(), String>,
    /// Whether the IPv6 route structures were found in BTF (else why not).
    pub route6_layout: &'a Result<(), String>,
    /// Set when the kernel refused a trampoline program outright (EPERM: no fentry here),
    /// so the other enrichment hooks skip the attempt instead of paying for it again.
    pub trampolines_refused: std::cell::Cell<bool>,
}

/// The kernel refused to load the program at all (as opposed to the verifier rejecting it).
fn refused(e: &EbpfError) -> bool {
    matches!(
        e,
        EbpfError::Program { source: aya::programs::ProgramError::LoadError { io_error, .. }, .. }
            if io_error.raw_os_error() == Some(libc::EPERM)
    )
}

/// A kernel hook the tool can attach a program to (not `dockernet_trace_common::Hook`, which
/// names where an event was seen).
pub trait Attachable {
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
    /// The (program, tracepoint) to verify ahead of `attach`, side by side with others
    /// (see `verify`); None when the hook loads its own way or cannot run.
    fn verified_ahead(&self, _cx: &HookContext) -> Option<(&'static str, &'static str)> {
        None
    }
}

/// A BTF-enabled tracepoint (`tp_btf`): raw arguments, cheapest to run.
pub struct BtfTracepoint {
    pub program: &'static str,
    pub name: &'static str,
    pub label: &'static str,
    pub required: bool,
    /// Another program for kernels whose tracepoint has at least this many arguments.
    pub wider: Option<(&'static str, usize)>,
    /// The kernel structures it reads besides the skb's.
    pub needs: Layout,
}

/// Kernel structures a tracepoint program reads, resolved from BTF into the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Only the skb's (always there).
    Skb,
    /// Route and neighbour structures (`Config::route`).
    Route,
    /// IPv6 route structures (`Config::route6`) and the next hop's of `Config::route`.
    Route6,
}

impl Attachable for BtfTracepoint {
    // The hook's name for people is its label (`skb:kfree_skb`); `name` is the tracepoint's.
    #[allow(clippy::misnamed_getters)]
    fn name(&self) -> &'static str {
        self.label
    }
    fn required(&self) -> bool {
        self.required
    }
    fn can_run(&self, cx: &HookContext) -> Result<(), String> {
        if cx.btf.tracepoint_args(self.name).is_none() {
            return Err(format!("this kernel has no tracepoint {}", self.label));
        }
        match self.needs {
            Layout::Skb => Ok(()),
            Layout::Route => cx.route_layout.clone(),
            Layout::Route6 => cx.route_layout.clone().and(cx.route6_layout.clone()),
        }
    }
    fn attach(&self, ebpf: &mut Ebpf, cx: &HookContext) -> Result<HookKind, EbpfError> {
        let name = self.program_for(cx);
        if cx.attached_ahead.contains(&name) {
            return Ok(HookKind::Tracepoint);
        }
        let err = |source| EbpfError::Program { program: name.into(), source };
        let prog: &mut BtfTracePoint = program(ebpf, name)?.try_into().map_err(err)?;
        if prog.fd().is_err() {
            let t = std::time::Instant::now();
            prog.load(self.name, cx.aya_btf).map_err(err)?;
            log::debug!("{name} loaded (verified) in {} ms", t.elapsed().as_millis());
        }
        prog.attach().map_err(err)?;
        Ok(HookKind::Tracepoint)
    }
    fn verified_ahead(&self, cx: &HookContext) -> Option<(&'static str, &'static str)> {
        self.can_run(cx).is_ok().then(|| (self.program_for(cx), self.name))
    }
}

impl BtfTracepoint {
    /// The program for this kernel's prototype of the tracepoint.
    fn program_for(&self, cx: &HookContext) -> &'static str {
        let args = cx.btf.tracepoint_args(self.name).unwrap_or(0);
        match self.wider {
            Some((wider, min_args)) if args >= min_args => wider,
            _ => self.program,
        }
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
        // (Loaded already when it was the trampoline probe: see Session::attach_enrichment.)
        if exit {
            let p: &mut FExit = program(ebpf, name)?.try_into().map_err(err)?;
            if p.fd().is_err() {
                p.load(self.function, cx.aya_btf).map_err(err)?;
            }
            p.attach().map_err(err)?;
        } else {
            let p: &mut FEntry = program(ebpf, name)?.try_into().map_err(err)?;
            if p.fd().is_err() {
                p.load(self.function, cx.aya_btf).map_err(err)?;
            }
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

impl Attachable for FunctionHook {
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
            if cx.trampolines_refused.get() {
                why = "fentry: refused by this kernel; ".into();
            } else {
                match self.attach_trampoline(ebpf, cx, name, exit) {
                    Ok(()) => return Ok(HookKind::Fentry),
                    Err(e) => {
                        cx.trampolines_refused.set(refused(&e));
                        why = format!("fentry: {}; ", short_reason(&e.to_string()));
                    }
                }
            }
        }
        if !cx.features.kprobes {
            return Err(EbpfError::Unavailable(format!("{why}kprobes: not in this kernel")));
        }
        self.attach_kprobe(ebpf)
            .map(|()| HookKind::Kprobe)
            .map_err(|e| EbpfError::Unavailable(format!("{why}kprobe: {}", short_reason(&e.to_string()))))
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

pub fn tracepoints(purpose: Purpose) -> Vec<Box<dyn Attachable>> {
    // Each program is named after its tracepoint.
    let tp = |program, label, required, needs| -> Box<dyn Attachable> {
        Box::new(BtfTracepoint { program, name: program, label, required, wider: None, needs })
    };
    let mut hooks = vec![tp(programs::KFREE_SKB, "skb:kfree_skb", true, Layout::Skb)];
    if purpose == Purpose::Drops {
        return hooks;
    }
    if purpose == Purpose::Trace {
        hooks.push(tp(programs::NETIF_RECEIVE_SKB, "net:netif_receive_skb", false, Layout::Skb));
        hooks.push(tp(programs::NET_DEV_XMIT, "net:net_dev_xmit", false, Layout::Skb));
        hooks.push(tp(programs::NEIGH_CREATE, "neigh:neigh_create", false, Layout::Route));
        // A watch reports the drop that comes with an ICMP error, never the error itself.
        hooks.push(tp(programs::ICMP_SEND, "icmp:icmp_send", false, Layout::Skb));
    }
    // 6.10 added the reset's reason as a third argument.
    hooks.push(Box::new(BtfTracepoint {
        program: programs::TCP_SEND_RESET,
        name: programs::TCP_SEND_RESET,
        label: "tcp:tcp_send_reset",
        required: false,
        wider: Some((programs::TCP_RESET_RSN, 3)),
        needs: Layout::Skb,
    }));
    if purpose == Purpose::Trace {
        // Every route lookup of the host runs these (two per forwarded IPv4 packet, one per
        // new connection): a watch learns a route failure's errno from the refused packet's
        // own route instead (see the kfree_skb program's `refused_route`).
        hooks.push(tp(programs::FIB_TABLE_LOOKUP, "fib:fib_table_lookup", false, Layout::Route));
        hooks.push(tp(programs::FIB6_TABLE_LOOKUP, "fib6:fib6_table_lookup", false, Layout::Route6));
    }
    hooks.push(tp(programs::NEIGH_UPDATE, "neigh:neigh_update", false, Layout::Route));
    hooks
}

/// The fexit program loaded first to learn whether this kernel takes trampolines at all, and
/// its function (in vmlinux, so no module BTF is needed to try).
pub const TRAMPOLINE_PROBE: &str = programs::FX_NF_HOOK;
pub const TRAMPOLINE_PROBE_TARGET: &str = "nf_hook_slow";

/// The enrichment hooks this kernel's layout allows.
pub fn enrichment(e: &super::enrich::Enrichment) -> Vec<Box<dyn Attachable>> {
    let f = |function, label, trampoline, kprobe, layout_ok| -> Box<dyn Attachable> {
        Box::new(FunctionHook { function, label, trampoline, kprobe, layout_ok })
    };
    vec![
        f(
            "nf_hook_slow",
            "netfilter verdict (nf_hook_slow)",
            Some((programs::FX_NF_HOOK, true)),
            programs::KP_NF_HOOK,
            e.nf_hook,
        ),
        f(
            "nft_do_chain",
            "nftables chain (nft_do_chain)",
            Some((programs::FE_NFT_CHAIN, false)),
            programs::KP_NFT_CHAIN,
            e.nft_chain,
        ),
        f("ipt_do_table", "iptables table (ipt_do_table)", None, programs::KP_IPT_TABLE, e.ipt_table),
        f(
            "br_forward",
            "bridge forward (br_forward)",
            Some((programs::FE_BR_FORWARD, false)),
            programs::KP_BR_FORWARD,
            e.br_forward,
        ),
        f(
            "br_pass_frame_up",
            "bridge to host (br_pass_frame_up)",
            Some((programs::FE_BR_PASS_UP, false)),
            programs::KP_BR_PASS_UP,
            e.br_pass_up,
        ),
        f("nf_nat_ipv4_manip_pkt", "NAT rewrite (nf_nat_ipv4_manip_pkt)", None, programs::KP_NAT, e.nat),
    ]
}
