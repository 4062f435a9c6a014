//! Layout for the enrichment programs: offsets in netfilter, bridge and conntrack structures,
//! and argument positions, read from vmlinux BTF and from the BTF of the modules that define
//! them (nf_tables, x_tables, bridge, nf_conntrack, nf_nat), which exist only once loaded.
use dockernet_trace_common::EnrichLayout;

use crate::kernel::KernelBtf;

/// What the running kernel lets each enrichment program read.
#[derive(Clone, Debug, Default)]
pub struct Enrichment {
    pub layout: EnrichLayout,
    pub nf_hook: bool,
    pub nft_chain: bool,
    pub ipt_table: bool,
    pub br_forward: bool,
    pub br_pass_up: bool,
    pub nat: bool,
}

/// vmlinux, then the modules that may define a type or function.
struct Sources<'a> {
    vmlinux: &'a KernelBtf,
    modules: Vec<KernelBtf>,
}

impl<'a> Sources<'a> {
    fn new(vmlinux: &'a KernelBtf) -> Self {
        let modules = ["nf_tables", "x_tables", "ip_tables", "bridge", "nf_conntrack", "nf_nat"]
            .iter()
            .filter(|m| std::path::Path::new("/sys/kernel/btf").join(m).exists())
            .filter_map(|m| vmlinux.module(m).ok())
            .collect();
        Self { vmlinux, modules }
    }

    fn all(&self) -> impl Iterator<Item = &KernelBtf> {
        std::iter::once(self.vmlinux).chain(self.modules.iter())
    }

    fn offset(&self, strct: &str, path: &[&str]) -> Option<u16> {
        self.all()
            .find(|b| b.has_struct(strct))
            .and_then(|b| b.offset_of(strct, path).ok())
            .and_then(|o| u16::try_from(o).ok())
    }

    fn params(&self, func: &str) -> Option<Vec<String>> {
        self.all().find_map(|b| b.func_params(func))
    }
}

fn position(params: &[String], names: &[&str]) -> Option<u8> {
    params.iter().position(|p| names.contains(&p.as_str())).and_then(|i| u8::try_from(i).ok())
}

pub fn resolve(btf: &KernelBtf) -> Enrichment {
    let src = Sources::new(btf);
    let mut l = EnrichLayout::default();
    let mut e = Enrichment::default();

    if let (Some(hook), Some(pf), Some(inp), Some(out)) = (
        src.offset("nf_hook_state", &["hook"]),
        src.offset("nf_hook_state", &["pf"]),
        src.offset("nf_hook_state", &["in"]),
        src.offset("nf_hook_state", &["out"]),
    ) {
        (l.nf_state_hook, l.nf_state_pf, l.nf_state_in, l.nf_state_out) = (hook, pf, inp, out);
        e.nf_hook = src.params("nf_hook_slow").is_some();
    }

    if let (Some(name), Some(table), Some(tname), Some(skb), Some(params)) = (
        src.offset("nft_chain", &["name"]),
        src.offset("nft_chain", &["table"]),
        src.offset("nft_table", &["name"]),
        src.offset("nft_pktinfo", &["skb"]),
        src.params("nft_do_chain"),
    ) {
        (l.nft_chain_name, l.nft_chain_table, l.nft_table_name) = (name, table, tname);
        if let (0, Some(pkt), Some(prv)) = (skb, position(&params, &["pkt"]), position(&params, &["priv"])) {
            (l.nft_pkt_arg, l.nft_priv_arg) = (pkt, prv);
            e.nft_chain = true;
        }
    }

    if let (Some(name), Some(params)) = (src.offset("xt_table", &["name"]), src.params("ipt_do_table")) {
        l.xt_table_name = name;
        if let (Some(t), Some(skb)) = (position(&params, &["priv", "table"]), position(&params, &["skb"])) {
            (l.ipt_priv_arg, l.ipt_skb_arg) = (t, skb);
            l.ipt_state_arg = position(&params, &["state"]).unwrap_or(0xff);
            e.ipt_table = true;
        }
    }

    if let (Some(dev), Some(params)) = (src.offset("net_bridge_port", &["dev"]), src.params("br_forward")) {
        l.br_port_dev = dev;
        if let (Some(to), Some(skb)) = (position(&params, &["to"]), position(&params, &["skb"])) {
            (l.br_fwd_port_arg, l.br_fwd_skb_arg) = (to, skb);
            e.br_forward = true;
        }
    }
    e.br_pass_up = src.params("br_pass_frame_up").is_some_and(|p| p.first().is_some_and(|n| n == "skb"));

    let tuple = |path: &[&str]| src.offset("nf_conntrack_tuple", path);
    if let (Some(sip), Some(sport), Some(dip), Some(dport), Some(params)) = (
        tuple(&["src", "u3"]),
        tuple(&["src", "u"]),
        tuple(&["dst", "u3"]),
        tuple(&["dst", "u"]),
        src.params("nf_nat_ipv4_manip_pkt"),
    ) {
        (l.ct_src_ip, l.ct_src_port, l.ct_dst_ip, l.ct_dst_port) = (sip, sport, dip, dport);
        if let (Some(skb), Some(t), Some(m)) =
            (position(&params, &["skb"]), position(&params, &["target"]), position(&params, &["maniptype"]))
        {
            (l.nat_skb_arg, l.nat_target_arg, l.nat_mtype_arg) = (skb, t, m);
            e.nat = true;
        }
    }
    e.layout = l;
    e
}

#[cfg(test)]
mod tests {
    #[test]
    fn positions_by_name() {
        let p: Vec<String> = ["priv", "skb", "state"].iter().map(|s| s.to_string()).collect();
        assert_eq!(super::position(&p, &["skb"]), Some(1));
        assert_eq!(super::position(&p, &["table", "priv"]), Some(0));
        assert_eq!(super::position(&p, &["nope"]), None);
    }
}
