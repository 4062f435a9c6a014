//! Enrichment where the kernel allows kprobes or fentry/fexit: the bridge's forwarding
//! decision, which netfilter hook/table saw the probe and what it decided, and NAT rewrites.
//! Each function has an fentry (or fexit) and a kprobe variant; user space loads the first one
//! that works. Only probe packets produce events (the filter comes first, as everywhere).
use aya_ebpf::{
    bindings::pt_regs,
    macros::{fentry, fexit, kprobe},
    programs::{FEntryContext, FExitContext, ProbeContext},
};
use dockernet_trace_common::{Config, FAMILY_V6, Hook, LABEL_LEN, VERDICT_UNKNOWN};

use crate::{
    context::{Probed, config, device, read, read_buf, skb_dev},
    emit::emit,
    packet::{Packet, v4_bytes},
    skb::probe_packet,
};

/// Argument `n` of a kprobed function. `n` comes from the config map (the argument order
/// differs across kernels), and the verifier lets a program read its context only at constant
/// offsets ("dereference of modified ctx ptr"): so the register is read with a helper at the
/// offset its position gives (one word: a copy of all of pt_regs, 168 bytes, would crowd the
/// 512-byte stack).
#[inline(always)]
fn kprobe_arg(ctx: &ProbeContext, n: u8) -> u64 {
    // x86-64 System V: rdi, rsi, rdx, rcx, r8, r9.
    let off = match n {
        0 => core::mem::offset_of!(pt_regs, rdi),
        1 => core::mem::offset_of!(pt_regs, rsi),
        2 => core::mem::offset_of!(pt_regs, rdx),
        3 => core::mem::offset_of!(pt_regs, rcx),
        4 => core::mem::offset_of!(pt_regs, r8),
        5 => core::mem::offset_of!(pt_regs, r9),
        _ => return 0,
    };
    read::<u64>(ctx.regs as u64, off as u16).unwrap_or(0)
}

#[inline(always)]
fn probe_skb(skb: u64) -> Option<(&'static Config, Packet)> {
    let cfg = config()?;
    // (probe_packet checks the mode, and the addresses before the ports.)
    Some((cfg, probe_packet(cfg, skb)?))
}

/// nf_hook_slow(skb, state, entries, index): `verdict` is its return value (1 accept,
/// -EPERM drop), or VERDICT_UNKNOWN.
#[inline(always)]
fn nf_hook(skb: u64, state: u64, verdict: u32) {
    let Some((cfg, p)) = probe_skb(skb) else { return };
    let l = &cfg.enrich;
    let hook: u8 = read(state, l.nf_state_hook).unwrap_or(0xff);
    let pf: u8 = read(state, l.nf_state_pf).unwrap_or(0);
    // The device the hook concerns: out for output-side hooks, else in.
    let out: u64 = read(state, l.nf_state_out).unwrap_or(0);
    let inp: u64 = read(state, l.nf_state_in).unwrap_or(0);
    let dev = device::<Probed>(if out != 0 { out } else { inp });
    emit(Hook::NfVerdict, skb, &p, &dev, |e| {
        e.table = u32::from(hook);
        e.aux = u32::from(pf);
        e.reason = verdict;
    });
}

#[fexit(function = "nf_hook_slow")]
pub fn dnt_fx_nf_hook(ctx: FExitContext) -> u32 {
    let ret: i32 = ctx.ret().unwrap_or(0);
    nf_hook(ctx.arg(0), ctx.arg(1), ret as u32);
    0
}

#[kprobe]
pub fn dnt_kp_nf_hook(ctx: ProbeContext) -> u32 {
    nf_hook(ctx.arg(0).unwrap_or(0), ctx.arg(1).unwrap_or(0), VERDICT_UNKNOWN);
    0
}

/// Copies a NUL-terminated kernel string (at most 15 bytes: table and base chain names are
/// short) into `label` at `at`, returning where it ends.
#[inline(always)]
fn put_str(label: &mut [u8; LABEL_LEN], at: usize, src: u64) -> usize {
    if src == 0 || at + 16 > LABEL_LEN {
        return at;
    }
    let _ = read_buf(src, &mut label[at..at + 16]);
    let mut i = 0;
    while i < 15 && label[at + i] != 0 {
        i += 1;
    }
    label[at + i] = 0;
    at + i
}

#[inline(always)]
fn nf_table(skb: u64, table_name: u64, chain_name: u64, dev_from_skb: bool) {
    let Some((_, p)) = probe_skb(skb) else { return };
    let dev = if dev_from_skb { device::<Probed>(skb_dev::<Probed>(skb)) } else { device::<Probed>(0) };
    emit(Hook::NfTable, skb, &p, &dev, |e| {
        let end = put_str(&mut e.label, 0, table_name);
        if chain_name != 0 && end < LABEL_LEN {
            e.label[end] = b' ';
            put_str(&mut e.label, end + 1, chain_name);
        }
    });
}

/// nft_do_chain(pkt, priv): the base chain (priv) and its table.
#[inline(always)]
fn nft_chain(pkt: u64, chain: u64) {
    let Some(cfg) = config() else { return };
    let l = &cfg.enrich;
    let skb: u64 = read(pkt, 0).unwrap_or(0);
    let table: u64 = read(chain, l.nft_chain_table).unwrap_or(0);
    let table_name: u64 = read(table, l.nft_table_name).unwrap_or(0);
    let chain_name: u64 = read(chain, l.nft_chain_name).unwrap_or(0);
    nf_table(skb, table_name, chain_name, true);
}

#[fentry(function = "nft_do_chain")]
pub fn dnt_fe_nft_chain(ctx: FEntryContext) -> u32 {
    nft_chain(ctx.arg(0), ctx.arg(1));
    0
}

#[kprobe]
pub fn dnt_kp_nft_chain(ctx: ProbeContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let l = &cfg.enrich;
    nft_chain(kprobe_arg(&ctx, l.nft_pkt_arg), kprobe_arg(&ctx, l.nft_priv_arg));
    0
}

/// ipt_do_table(table, skb, state) (argument order differs across kernels; see config).
#[kprobe]
pub fn dnt_kp_ipt_table(ctx: ProbeContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let l = &cfg.enrich;
    let table: u64 = kprobe_arg(&ctx, l.ipt_priv_arg);
    let skb: u64 = kprobe_arg(&ctx, l.ipt_skb_arg);
    // xt_table.name is an inline array: its address is table + offset.
    nf_table(skb, if table == 0 { 0 } else { table + u64::from(l.xt_table_name) }, 0, true);
    0
}

/// br_forward(to, skb, local_rcv, local_orig): the port the bridge sends the frame to.
#[inline(always)]
fn br_forward(port: u64, skb: u64) {
    let Some((cfg, p)) = probe_skb(skb) else { return };
    let dev = device::<Probed>(read::<u64>(port, cfg.enrich.br_port_dev).unwrap_or(0));
    emit(Hook::BrForward, skb, &p, &dev, |_| {});
}

#[fentry(function = "br_forward")]
pub fn dnt_fe_br_forward(ctx: FEntryContext) -> u32 {
    br_forward(ctx.arg(0), ctx.arg(1));
    0
}

#[kprobe]
pub fn dnt_kp_br_forward(ctx: ProbeContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let l = &cfg.enrich;
    br_forward(kprobe_arg(&ctx, l.br_fwd_port_arg), kprobe_arg(&ctx, l.br_fwd_skb_arg));
    0
}

/// br_pass_frame_up(skb, ...): the bridge hands the frame to the host's own stack.
#[inline(always)]
fn br_pass_up(skb: u64) {
    let Some((_, p)) = probe_skb(skb) else { return };
    let dev = device::<Probed>(skb_dev::<Probed>(skb));
    emit(Hook::BrPassUp, skb, &p, &dev, |_| {});
}

#[fentry(function = "br_pass_frame_up")]
pub fn dnt_fe_br_pass_up(ctx: FEntryContext) -> u32 {
    br_pass_up(ctx.arg(0));
    0
}

#[kprobe]
pub fn dnt_kp_br_pass_up(ctx: ProbeContext) -> u32 {
    br_pass_up(ctx.arg(0).unwrap_or(0));
    0
}

/// nf_nat_ipv4_manip_pkt(skb, iphdroff, target, maniptype): the address (and port) NAT is
/// about to write; maniptype 0 rewrites the source, 1 the destination.
#[kprobe]
pub fn dnt_kp_nat(ctx: ProbeContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let l = &cfg.enrich;
    let skb: u64 = kprobe_arg(&ctx, l.nat_skb_arg);
    let target: u64 = kprobe_arg(&ctx, l.nat_target_arg);
    let mtype = kprobe_arg(&ctx, l.nat_mtype_arg) as u32;
    let Some((_, p)) = probe_skb(skb) else { return 0 };
    let dev = device::<Probed>(skb_dev::<Probed>(skb));
    emit(Hook::NatRewrite, skb, &p, &dev, |e| {
        if target != 0 {
            // The rewritten tuple replaces the packet's (`union nf_inet_addr`: IPv4 in its
            // first four bytes, IPv6 in all sixteen, as an event carries them).
            let addr = |off: u16| {
                if p.family == FAMILY_V6 {
                    read::<[u8; 16]>(target, off).unwrap_or([0; 16])
                } else {
                    v4_bytes(read(target, off).unwrap_or(0))
                }
            };
            e.saddr = addr(l.ct_src_ip);
            e.sport = u16::from_be(read(target, l.ct_src_port).unwrap_or(0));
            e.daddr = addr(l.ct_dst_ip);
            e.dport = u16::from_be(read(target, l.ct_dst_port).unwrap_or(0));
        }
        e.value = mtype as i32;
    });
    0
}
