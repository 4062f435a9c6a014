//! The walking skeleton: our eBPF programs load into the real kernel, attach, and report what
//! the kernel saw, in an isolated Docker lab.
mod common;

use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use aya::programs::{SchedClassifier, TcAttachType};
use dockernet_trace::{
    ebpf::{KernelEvent, Session, config, events::Detail, hooks::Purpose, session::KernelInfo},
    flow::{IpFamily, Proto},
    kernel::Kallsyms,
    probe::ProbePorts,
};
use dockernet_trace_common::Hook;
use dockernet_trace_tests::{Lab, LabOptions, lab::LAB_IP};

const PINGS: u16 = 5;

/// Loads the programs and points their filter at ICMP echo id `id` between `addrs`.
fn session(purpose: Option<Purpose>, id: u16, addrs: [Ipv4Addr; 2]) -> (KernelInfo, Session) {
    let kernel = KernelInfo::probe().expect("kernel BTF");
    let mut s = Session::load(&kernel, dockernet_trace_common::MODE_PROBE, true).expect("load eBPF object");
    if let Some(p) = purpose {
        s.attach_tracepoints(&kernel, p).expect("attach tracepoints");
    }
    let probes = ProbePorts { proto: Proto::Icmp, base: id, count: 1 };
    let addrs = addrs.map(IpAddr::V4);
    s.set_config(config::for_probe(s.config(), &probes, IpFamily::V4, &addrs)).expect("configure");
    (kernel, s)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn dnt_tcx_programs(veth: &str) -> Vec<String> {
    let mut names = Vec::new();
    for dir in [TcAttachType::Ingress, TcAttachType::Egress] {
        if let Ok((_, progs)) = SchedClassifier::query_tcx(veth, dir) {
            names.extend(progs.iter().filter_map(|p| p.name_as_str().map(str::to_string)));
        }
    }
    names.retain(|n| n.starts_with("dnt_"));
    names
}

#[test]
fn tc_program_counts_a_containers_pings() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let c = lab.run("pinger", &[], &[]).unwrap();
    let veth = lab.host_veth(&c, "eth0").unwrap();
    let gw: Ipv4Addr = lab.network("bridge").unwrap().gateway.parse().unwrap();
    let container_ns = c.netns_path();
    let me: Ipv4Addr = c.ip("bridge").parse().unwrap();
    // Resolve the gateway's MAC first so ARP does not mix into the counts.
    assert_eq!(common::ping(&container_ns, gw, 0x1111, 1), 1, "the lab itself is broken");

    let id = 0x4242;
    let v = veth.clone();
    let (replies, ingress, egress) = common::in_netns(&lab.netns_path(), move || {
        let (kernel, mut s) = session(None, id, [me, gw]);
        let attached = s.attach_tc(std::slice::from_ref(&v), &kernel).expect("load the tc programs");
        attached.into_iter().next().unwrap().expect("attach tc to the veth");
        let mut events = s.events().unwrap();
        let replies = common::ping(&container_ns, gw, id, PINGS);
        let raw = runtime().block_on(async {
            let mut all = Vec::new();
            loop {
                let batch = events.next_batch(Duration::from_millis(300)).await;
                if batch.is_empty() {
                    break all;
                }
                all.extend(batch);
            }
        });
        let count = |h: Hook| raw.iter().filter(|e| e.hook == h as u8).count();
        (replies, count(Hook::TcIngress), count(Hook::TcEgress))
    });
    assert_eq!(replies, PINGS);
    assert_eq!(ingress, usize::from(PINGS), "echo requests seen by tc ingress on {veth}");
    assert_eq!(egress, usize::from(PINGS), "echo replies seen by tc egress on {veth}");

    // The session is gone: nothing of ours may stay attached.
    let left = common::in_netns(&lab.netns_path(), move || dnt_tcx_programs(&veth));
    assert!(left.is_empty(), "programs still attached: {left:?}");
    assert_eq!(common::tc_attachments(&lab), "", "cls_bpf filters left behind");
}

#[test]
fn kfree_skb_reports_an_iptables_drop_by_name_and_symbol() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let c = lab.run("victim", &[], &[]).unwrap();
    let src = c.ip("bridge").to_string();
    lab.iptables(&["-I", "INPUT", "-p", "icmp", "-s", &src, "-j", "DROP"]).unwrap();
    let container_ns = c.netns_path();
    let host_ip: Ipv4Addr = LAB_IP.parse().unwrap();
    let src_ip: Ipv4Addr = src.parse().unwrap();

    let id = 0x5151;
    let lab_ns =
        std::fs::metadata(lab.netns_path()).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    let (replies, drops) = common::in_netns(&lab.netns_path(), move || {
        let (kernel, mut s) = session(Some(Purpose::Drops), id, [src_ip, host_ip]);
        let mut events = s.events().unwrap();
        let replies = common::ping(&container_ns, host_ip, id, PINGS);
        let drops: Vec<KernelEvent> = runtime().block_on(async {
            let mut all = Vec::new();
            loop {
                let batch = events.next_batch(Duration::from_millis(300)).await;
                if batch.is_empty() {
                    break all;
                }
                all.extend(batch.iter().filter_map(|e| KernelEvent::from_raw(e, &kernel.drop_reasons)));
            }
        });
        // kfree_skb fires in every namespace: another lab on the machine (a parallel test,
        // another run) has the same addresses and may use the same echo id. Ours are the
        // drops in this lab's namespace.
        let drops: Vec<KernelEvent> =
            drops.into_iter().filter(|d| u64::from(d.place.netns) == lab_ns).collect();
        (replies, drops)
    });
    assert_eq!(replies, 0, "the DROP rule did not drop");
    assert_eq!(drops.len(), usize::from(PINGS), "one kfree_skb per dropped echo: {drops:#?}");
    let mut syms = Kallsyms::default();
    for d in &drops {
        let Detail::Drop { reason, location, .. } = &d.detail else { panic!("not a drop: {d:?}") };
        assert_eq!(reason.name(), "NETFILTER_DROP");
        let sym = syms.resolve(*location).expect("location resolves through /proc/kallsyms");
        assert!(
            ["nft_do_chain", "ipt_do_table", "nf_hook_slow", "nf_hook_slow_list"]
                .contains(&sym.name.as_str()),
            "dropped in {sym}"
        );
        let t = d.tuple.unwrap();
        assert_eq!(t.src.to_string(), src);
        assert_eq!(t.dst, IpAddr::V4(host_ip));
    }
}
