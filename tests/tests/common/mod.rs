//! Helpers shared by the integration tests.
#![allow(dead_code)]
pub mod tshark;
pub mod watching;
use std::{fs::File, net::Ipv4Addr, os::fd::AsFd, path::Path, time::Duration};

#[allow(unused_imports)] // each test file uses some of them
pub use dockernet_trace_tests::lab::{Engine, LAB_IP, OUTSIDE_IP};

use socket2::{Domain, Protocol, Socket, Type};

/// Runs `f` on a new OS thread that has joined the network namespace at `path`. The thread
/// ends with `f`, so no other code ever runs in the wrong namespace.
pub fn in_netns<T: Send + 'static>(path: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = path.to_string();
    std::thread::spawn(move || {
        let ns = File::open(Path::new(&path)).expect("open netns");
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("netns thread panicked")
}

/// Sends `bytes` over one TCP connection from the namespace at `client_ns` to a listener on
/// `server:port` that this opens in `server_ns`, at full speed, and ends it cleanly: the
/// receiver reads to the end before it closes, so no segment finds its socket gone. (iperf3's
/// end of test closes a socket with data unread, and the kernel rightly answers the client's
/// last segments with a reset.) Returns the bytes received.
pub fn bulk_tcp(server_ns: &str, client_ns: &str, server: Ipv4Addr, port: u16, bytes: usize) -> u64 {
    use std::io::{Read, Write};
    let listener = in_netns(server_ns, move || std::net::TcpListener::bind((server, port)).expect("bind"));
    let receiver = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        std::io::copy(&mut s, &mut std::io::sink()).expect("receive")
    });
    in_netns(client_ns, move || {
        let mut c = std::net::TcpStream::connect((server, port)).expect("connect");
        let chunk = vec![0u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            c.write_all(&chunk[..n]).expect("send");
            left -= n;
        }
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        // The receiver's close, once it has read everything: then ours.
        let _ = c.read(&mut [0u8; 1]);
    });
    receiver.join().expect("the receiver panicked")
}

/// Sends `count` ICMP echo requests with identifier `id` from the namespace at `netns` to
/// `dst`, and returns how many replies came back (each awaited up to a second: a busy machine
/// can be slow to answer, and a dropped echo costs the test that second).
pub fn ping(netns: &str, dst: Ipv4Addr, id: u16, count: u16) -> u16 {
    in_netns(netns, move || {
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).expect("raw socket");
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let addr = std::net::SocketAddr::from((dst, 0)).into();
        let mut replies = 0;
        for seq in 0..count {
            s.send_to(&echo_request(id, seq), &addr).expect("send");
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
            while let Ok((n, _)) = s.recv_from(&mut buf) {
                // SAFETY: recv_from initialised the first n bytes.
                let b: Vec<u8> = buf[..n].iter().map(|x| unsafe { x.assume_init() }).collect();
                let ihl = usize::from(b[0] & 0x0f) * 4;
                if n >= ihl + 8 && b[ihl] == 0 && u16::from_be_bytes([b[ihl + 4], b[ihl + 5]]) == id {
                    replies += 1;
                    break;
                }
            }
        }
        replies
    })
}

fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8u8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"dockernet-trace!");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Names of tc filters (cls_bpf) and tcx programs attached anywhere in the namespace.
pub fn tc_attachments(lab: &dockernet_trace_tests::Lab) -> String {
    let links = lab.host(&["ip", "-o", "link", "show"]).unwrap_or_default();
    let mut found = String::new();
    for l in links.lines() {
        let Some(name) =
            l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        else {
            continue;
        };
        for dir in ["ingress", "egress"] {
            let f = lab.host(&["tc", "filter", "show", "dev", &name, dir]).unwrap_or_default();
            if f.contains("bpf") {
                found.push_str(&format!("{name} {dir}: {f}\n"));
            }
        }
    }
    // tcx links are listed by bpftool only; check the bpf links the kernel knows for our names.
    found
}

/// The seed's world: mysql (TCP 3306) on heima-net; nacos on the default bridge only, or also
/// on heima-net when `shared`.
pub fn heima(lab: &dockernet_trace_tests::Lab, shared: bool) -> dockernet_trace_tests::Network {
    let net = lab.create_network("heima-net", &["--subnet", "172.18.0.0/16"]).unwrap();
    lab.server("mysql", 3306, &["--network", "heima-net"]).unwrap();
    lab.run("nacos", &[], &[]).unwrap();
    if shared {
        lab.connect("heima-net", "nacos").unwrap();
    }
    net
}

/// The rule that first drops a packet from another Docker network to a container (`dst_ip`
/// on `bridge`), and that rule's chain as nftrace names it. Docker 20.10: the isolation chain.
/// Docker 28: raw PREROUTING, which keeps every interface but the container's own bridge away
/// from its address, before any isolation rule is reached.
pub fn isolation_drop(
    lab: &dockernet_trace_tests::Lab,
    dst_ip: &str,
    bridge: &str,
) -> (String, &'static str) {
    match lab.engine {
        Engine::Docker20 => {
            (format!("-A DOCKER-ISOLATION-STAGE-2 -o {bridge} -j DROP"), "DOCKER-ISOLATION-STAGE-2")
        }
        Engine::Docker28 => (format!("-A PREROUTING -d {dst_ip}/32 ! -i {bridge} -j DROP"), "raw PREROUTING"),
    }
}

/// Runs a trace with `--json` in the lab; returns (exit code, JSON).
pub fn trace(lab: &dockernet_trace_tests::Lab, args: &[&str]) -> (i32, serde_json::Value) {
    let mut a = args.to_vec();
    a.push("--json");
    let out = lab.tool(&a).unwrap();
    let json = out.json().unwrap_or_else(|e| panic!("{e}\nexit {}", out.code));
    (out.code, json)
}

/// Asserts the verdict's cause, showing the whole report when it differs.
pub fn assert_cause(json: &serde_json::Value, cause: &str) {
    assert_eq!(json["verdict"]["cause"], cause, "report:\n{}", serde_json::to_string_pretty(json).unwrap());
}

/// A listener in the sink namespace ("a service outside the host"), once it listens.
pub fn outside_server(lab: &dockernet_trace_tests::Lab, ip: &str, port: u16) {
    let addr = format!("{ip}:{port}");
    let sink = format!("/run/netns/{}", lab.sink);
    lab.spawn_in(&sink, &["busybox", "httpd", "-f", "-p", &addr, "-h", "/tmp"]).unwrap();
    lab.wait_listening_in(&sink, port).unwrap_or_else(|e| panic!("the outside server on {addr}: {e}"));
}

/// Names of our (dnt_*) tcx programs attached to `iface` in the lab's namespace.
pub fn tcx_programs(lab: &dockernet_trace_tests::Lab, iface: &str) -> Vec<String> {
    use aya::programs::{SchedClassifier, TcAttachType};
    let iface = iface.to_string();
    in_netns(&lab.netns_path(), move || {
        let mut names = Vec::new();
        for dir in [TcAttachType::Ingress, TcAttachType::Egress] {
            if let Ok((_, progs)) = SchedClassifier::query_tcx(&iface, dir) {
                names.extend(progs.iter().filter_map(|p| p.name_as_str().map(str::to_string)));
            }
        }
        names.retain(|n| n.starts_with("dnt_"));
        names
    })
}
