//! The change sources of `watch` (rtnetlink, `nft monitor`, the sysctls, Docker's events) in
//! a lab of their own: each fault a test makes shows up as the change line it should be, and
//! `nft monitor` is gone once the sources are dropped.
//!
//! The sources run on a thread inside the lab's namespace, as the tool runs on a Docker host.
//! `Sources::start` returns once they listen, so the faults come after it without sleeping.
mod common;

use std::{
    collections::{HashMap, HashSet},
    sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel},
    time::{Duration, Instant},
};

use dockernet_trace::watch::{
    changes::{Sink, Sources, docker::change_of, netlink::Interest},
    line::ChangeLine,
};
use dockernet_trace_tests::{Lab, LabOptions};
use futures::StreamExt;

const NET: &str = "192.168.213.0/24";

/// The sources, running in the lab: their lines as they come.
struct Running {
    lines: Receiver<ChangeLine>,
    seen: Vec<ChangeLine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Option<u32>>>,
}

fn start(lab: &Lab, interest: Interest) -> Running {
    let (line_tx, lines) = channel();
    let (ready_tx, ready) = channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel();
    let netns = lab.netns_path();
    let docker = lab.docker_host();
    let thread = std::thread::spawn(move || {
        common::in_netns(&netns, move || run_sources(interest, docker, line_tx, ready_tx, stop_rx))
    });
    ready.recv_timeout(Duration::from_secs(20)).expect("the sources did not start");
    Running { lines, seen: vec![], stop: Some(stop), thread: Some(thread) }
}

/// On a thread in the lab's namespace: the sources, and Docker's events mapped as the watch
/// maps them; returns the `nft monitor` pid.
fn run_sources(
    interest: Interest,
    docker: String,
    out: Sender<ChangeLine>,
    ready: Sender<()>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Option<u32> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let (sink, mut rx) = Sink::channel(256);
        let (_keep, interest) = tokio::sync::watch::channel(interest);
        let sources = Sources::start(&sink, interest).await;
        assert!(sources.missing.is_empty(), "{:?}", sources.missing);
        let client = bollard::Docker::connect_with_unix(
            docker.trim_start_matches("unix://"),
            30,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        // The stream is opened lazily: from a second back, so nothing made after `ready` is missed.
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;
        let opts = bollard::query_parameters::EventsOptionsBuilder::new().since(&since.to_string()).build();
        let mut events = client.events(Some(opts));
        ready.send(()).unwrap();
        let pid = sources.ruleset_monitor_pid();
        let mut stop = stop;
        loop {
            tokio::select! {
                Some(c) = rx.recv() => { let _ = out.send(c.line()); }
                Some(Ok(ev)) = events.next() => {
                    if let Some(c) = change_of(&ev) { sink.emit(c); }
                }
                _ = &mut stop => break,
            }
        }
        drop(sources);
        pid
    })
}

impl Running {
    /// Waits for a line that satisfies `want`; panics with every line seen if none comes.
    fn expect(&mut self, what: &str, want: impl Fn(&ChangeLine) -> bool) -> ChangeLine {
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Some(l) = self.seen.iter().find(|l| want(l)) {
            return l.clone();
        }
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if want(&l) {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let all: Vec<String> =
                        self.seen.iter().map(|l| serde_json::to_string(l).unwrap()).collect();
                    panic!("no change line for {what}; seen:\n{}", all.join("\n"))
                }
            }
        }
    }

    /// Stops the sources; returns the `nft monitor` pid they had.
    fn stop(mut self) -> Option<u32> {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

fn is(l: &ChangeLine, what: &str, iface: Option<&str>) -> bool {
    l.what.code() == what && (iface.is_none() || l.iface.as_deref() == iface)
}

#[test]
fn address_route_port_link_ruleset_sysctl_and_docker_changes_are_lines() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab.create_network("fleetnet", &["--subnet", NET]).unwrap();
    let web = lab.run("web", &["--network", "fleetnet"], &[]).unwrap();
    let veth = lab.host_veth(&web, "eth0").unwrap();
    lab.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let interest = Interest {
        bridges: HashMap::from([(net.bridge.clone(), Some("fleetnet".to_string()))]),
        veths: HashMap::from([(veth.clone(), "web".to_string())]),
        uplinks: HashSet::new(),
        everything: false,
    };
    let mut run = start(&lab, interest);
    let bridge = Some(net.bridge.as_str());

    lab.remove_bridge_address(&net.bridge, &format!("{}/24", net.gateway)).unwrap();
    let l = run.expect("the gateway address removed", |l| is(l, "address_removed", bridge));
    assert_eq!(
        (l.network.as_deref(), l.detail.clone()),
        (Some("fleetnet"), Some(format!("{}/24", net.gateway)))
    );
    assert_eq!(l.source.code(), "netlink");
    run.expect("the subnet's route removed with it", |l| is(l, "route_removed", bridge));

    lab.detach_veth(&web).unwrap();
    let l = run.expect("the port leaving its bridge", |l| is(l, "port_left", Some(&veth)));
    assert_eq!(
        (l.container.as_deref(), l.network.as_deref(), l.detail.as_deref()),
        (Some("web"), Some("fleetnet"), bridge)
    );

    lab.set_link(&net.bridge, false).unwrap();
    let l = run.expect("the bridge down", |l| is(l, "link_down", bridge));
    assert_eq!(l.detail.as_deref(), Some("set down"));

    lab.nft(&["add", "table", "inet", "fleetchg"]).unwrap();
    lab.nft(&["add", "chain", "inet", "fleetchg", "c", "{ type filter hook forward priority 0; }"]).unwrap();
    lab.nft(&["add", "rule", "inet", "fleetchg", "c", "ip", "daddr", "192.168.213.9", "drop"]).unwrap();
    let l = run.expect("the nft rule added", |l| {
        is(l, "rules_changed", None)
            && l.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("inet fleetchg c:") && d.contains("1 rule added"))
    });
    assert!(l.detail.unwrap().contains("ip daddr 192.168.213.9 drop"));
    lab.iptables(&["-I", "DOCKER-USER", "-d", "192.168.213.9", "-j", "DROP"]).unwrap();
    run.expect("the iptables rule added", |l| {
        is(l, "rules_changed", None)
            && l.detail.as_deref().is_some_and(|d| d.starts_with("ip filter DOCKER-USER:"))
    });

    lab.sysctl("net.ipv4.ip_forward", "0").unwrap();
    let l = run.expect("forwarding turned off", |l| is(l, "sysctl", None));
    assert_eq!(l.detail.as_deref(), Some("net.ipv4.ip_forward=0"));

    lab.docker(&["network", "disconnect", "fleetnet", "web"]).unwrap();
    let l = run.expect("Docker's disconnect", |l| l.what.code() == "network disconnect");
    assert_eq!((l.source.code(), l.network.as_deref()), ("docker", Some("fleetnet")));

    let pid = run.stop().expect("nft monitor ran");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "nft monitor {pid} outlived its sources");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bridge_port_held_back_by_stp_is_a_change() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab.create_network("fleetstp", &["--subnet", "192.168.214.0/24"]).unwrap();
    lab.enable_stp(&net.bridge, 4).unwrap();
    let interest = Interest {
        bridges: HashMap::from([(net.bridge.clone(), Some("fleetstp".to_string()))]),
        ..Default::default()
    };
    let mut run = start(&lab, interest);
    lab.run("late", &["--network", "fleetstp"], &[]).unwrap();
    let l = run.expect("the new port listening", |l| is(l, "stp_state", None));
    assert_eq!((l.detail.as_deref(), l.network.as_deref()), (Some("port state listening"), Some("fleetstp")));
    run.stop();
}
