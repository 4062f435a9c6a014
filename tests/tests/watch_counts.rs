//! Every dropped packet the kernel counted reaches `watch`'s lines and summary, also when the
//! watch is stopped right after a flood (its last second is counted in the kernel, not yet
//! folded by a tick). The networks use subnets no other lab test uses: the kernel programs see
//! every namespace, so a parallel lab's drops must not add to the counts.
mod common;

use common::watching::{Watch, between, json_lines, summary};
use dockernet_trace_tests::{Lab, LabOptions};
use nix::sys::signal::Signal;

const NET_A: &str = "192.168.217.0/24";
const NET_B: &str = "192.168.218.0/24";

#[test]
fn a_flood_stopped_at_once_is_counted_whole() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("ca", &["--subnet", NET_A]).unwrap();
    lab.create_network("cb", &["--subnet", NET_B]).unwrap();
    let a1 = lab.run("a1", &["--network", "ca"], &[]).unwrap();
    let b1 = lab.run("b1", &["--network", "cb"], &[]).unwrap();
    let (a1_ip, b1_ip) = (a1.ip("ca").to_string(), b1.ip("cb").to_string());
    // Starts once the programs are attached (the watch's first stderr line).
    let w = Watch::start(&lab, &["--json", "--network", "ca", "--network", "cb"]);
    // One UDP flow, dropped by Docker's isolation packet by packet for about 3 s: the kernel
    // counts it under one key, ticks fold it while it lasts, and the last packets come after
    // the last tick. Sent from this process (a veth delivers within the send call), so the
    // signal follows the last drop at once.
    const FLOOD: u64 = 3000;
    let dst = std::net::SocketAddr::new(b1_ip.parse().unwrap(), 9999);
    let sent = common::in_netns(&a1.netns_path(), move || {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.connect(dst).unwrap();
        let mut sent = 0;
        for _ in 0..FLOOD {
            sent += u64::from(sock.send(b"flood").is_ok());
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        sent
    });
    assert_eq!(sent, FLOOD);
    // No waiting for a tick: the last packets are still only in the kernel's counts.
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "stderr:\n{}", err.join("\n"));
    let v = json_lines(&out);
    let (_, n) = between(&v, &a1_ip, &b1_ip);
    assert_eq!(n, FLOOD, "every dropped datagram is in the lines:\n{}", out.join("\n"));
    let s = summary(&v);
    assert_eq!(s["lost_events"], 0, "{s}");
    assert!(s["total"].as_u64().is_some_and(|t| t >= FLOOD), "the summary counts them too: {s}");
}
