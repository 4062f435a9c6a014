//! What issue 17 gives fleets and forensics, with real parts in a lab: a real Prometheus
//! scrapes `watch --metrics` and its HTTP API returns the drops the test made, `promtool`
//! accepts the endpoint's text; `tshark` reads a trace's `--pcap` (the interfaces, the probe's
//! packets in order, the NAT between two of them) and a watch's; `report` names the change
//! that came before a burst of drops and reads a recording whose last line was cut; a
//! container in another's namespace does not take its name.
//!
//! Each test waits for what it needs (the watch's ready line, Prometheus's /-/ready, the lines
//! or the query result it expects, each with a deadline), never for a fixed time.
mod common;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    tshark::tshark,
    watching::{Watch, between, json_lines},
};
use dockernet_trace_tests::{Lab, LabOptions, lab::OUTSIDE_IP};
use nix::sys::signal::Signal;
use serde_json::Value;

const NET_A: &str = "192.168.215.0/24";
const NET_B: &str = "192.168.216.0/24";
const METRICS: &str = "127.0.0.1:9464";
const PROMETHEUS: &str = "127.0.0.1:9090";

/// A file of this test in the lab's state directory's neighbourhood, removed by the caller.
fn scratch(lab: &Lab, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dnt-fleet-{}-{name}", lab.id))
}

/// `curl -sf URL` in the lab's namespace (where the watch and Prometheus listen).
fn get(lab: &Lab, url: &str, extra: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["curl", "-sf", "--max-time", "5"];
    argv.extend_from_slice(extra);
    argv.push(url);
    lab.host(&argv)
}

/// Polls `check` until it yields a value or `what` times out (the condition is what is
/// awaited: a readiness, a result the test made).
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn prometheus_scrapes_the_drop_counts_and_promtool_accepts_them() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("fa", &["--subnet", NET_A]).unwrap();
    lab.create_network("fb", &["--subnet", NET_B]).unwrap();
    let a1 = lab.run("a1", &["--network", "fa"], &[]).unwrap();
    let b1 = lab.run("b1", &["--network", "fb"], &[]).unwrap();
    let (a1_ip, b1_ip) = (a1.ip("fa").to_string(), b1.ip("fb").to_string());
    let mut w = Watch::start(&lab, &["--json", "--network", "fa", "--network", "fb", "--metrics", METRICS]);
    assert!(
        w.err.iter().any(|l| l.contains(&format!("serving metrics on http://{METRICS}/metrics"))),
        "{:?}",
        w.err
    );

    // A real Prometheus in the lab's namespace, scraping the watch every second.
    let dir = scratch(&lab, "prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n  - job_name: dockernet-trace\n    static_configs:\n      - targets: [\"{METRICS}\"]\n"
        ),
    )
    .unwrap();
    lab.spawn_in(
        &lab.netns_path(),
        &[
            "prometheus",
            &format!("--config.file={}", config.display()),
            &format!("--storage.tsdb.path={}", dir.join("data").display()),
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
    )
    .unwrap();
    wait_for("Prometheus ready", Duration::from_secs(60), || {
        get(&lab, &format!("http://{PROMETHEUS}/-/ready"), &[]).ok()
    });

    assert_eq!(
        common::ping(&a1.netns_path(), b1_ip.parse().unwrap(), 0x6401, 3),
        0,
        "isolation did not drop"
    );
    w.wait_json(Duration::from_secs(15), |v| between(v, &a1_ip, &b1_ip).1 >= 3);

    let query = r#"sum(dockernet_trace_drops_total{cause="network_isolation",container="a1",network="fa"})"#;
    let value = wait_for("the drops in Prometheus", Duration::from_secs(30), || {
        let url = format!("http://{PROMETHEUS}/api/v1/query");
        let body = get(&lab, &url, &["-G", "--data-urlencode", &format!("query={query}")]).ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let value = v["data"]["result"][0]["value"][1].as_str()?.to_string();
        (value == "3").then_some(value)
    });
    assert_eq!(value, "3");

    // The classic text format (what curl gets) passes promtool; Prometheus got OpenMetrics.
    let text = get(&lab, &format!("http://{METRICS}/metrics"), &[]).unwrap();
    assert!(
        text.contains(
            "dockernet_trace_drops_total{cause=\"network_isolation\",container=\"a1\",network=\"fa\""
        ),
        "{text}"
    );
    assert!(!text.contains(&a1_ip) && !text.contains(&b1_ip), "no addresses as labels:\n{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let om = get(
        &lab,
        &format!("http://{METRICS}/metrics"),
        &["-H", "Accept: application/openmetrics-text;version=1.0.0"],
    )
    .unwrap();
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE dockernet_trace_drops counter"), "{om}");

    let (code, _, err) = w.stop(Signal::SIGTERM);
    assert_eq!(code, 0, "{}", err.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_traces_pcap_shows_its_interfaces_and_the_nat_in_tshark() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let web = lab.server("web", 80, &["-p", "8080:80"]).unwrap();
    lab.run("client", &[], &[]).unwrap();
    let file = scratch(&lab, "trace.pcapng");
    let out = lab
        .tool(&[
            "--from",
            "client",
            "--to",
            "host:8080",
            "--count",
            "1",
            "--json",
            "--pcap",
            &file.to_string_lossy(),
        ])
        .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A bridge hop inferred from the links (not seen by the kernel) has no packet in the file.
    let json = out.json().unwrap();
    let hops = json["hops"].as_array().unwrap().iter().filter(|h| h["inferred"] != true).count();

    let rows = tshark(
        &file,
        &[
            "frame.time_epoch",
            "frame.interface_name",
            "frame.interface_description",
            "ip.src",
            "ip.dst",
            "tcp.dstport",
            "ip.checksum.status",
            "tcp.checksum.status",
            "frame.comment",
        ],
    );
    assert_eq!(rows.len(), hops, "one packet per hop the kernel showed: {rows:#?}");
    let times: Vec<f64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in the order seen: {times:?}");
    assert!(rows.iter().any(|r| r[2] == "eth0 in network namespace container:client"), "{rows:#?}");
    let ifaces: std::collections::BTreeSet<(&str, &str)> =
        rows.iter().map(|r| (r[1].as_str(), r[2].as_str())).collect();
    assert!(ifaces.len() >= 3, "the client's eth0, its veth and docker0 at least: {ifaces:?}");
    assert!(rows.iter().all(|r| r[6] == "1" && r[7] == "1"), "checksums good: {rows:#?}");
    assert!(rows.iter().all(|r| r[8].contains("reconstructed")), "{rows:#?}");
    // DNAT: the probe to the host's published port, then the same probe to web:80.
    // `host` from a container is its network's gateway address (as host-gateway is).
    let host_ip = json["to"]["ip"].as_str().unwrap();
    let to_host = rows.iter().position(|r| r[4] == host_ip && r[5] == "8080").expect("the probe before DNAT");
    let to_web =
        rows.iter().position(|r| r[4] == web.ip("bridge") && r[5] == "80").expect("the probe after DNAT");
    assert!(to_host < to_web, "{rows:#?}");
    assert!(
        rows[to_host][8].starts_with("hop ") && rows[to_web][8].contains("probe 1 towards the target"),
        "{rows:#?}"
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn report_names_the_change_before_a_burst_and_reads_a_cut_recording() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("fa", &["--subnet", NET_A]).unwrap();
    let a1 = lab.run("a1", &["--network", "fa"], &[]).unwrap();
    let a1_ip = a1.ip("fa").to_string();
    let (record, pcap) = (scratch(&lab, "rec.jsonl"), scratch(&lab, "drops.pcapng"));
    let (record_s, pcap_s) = (record.to_string_lossy().to_string(), pcap.to_string_lossy().to_string());
    let mut w = Watch::start(&lab, &["--json", "--network", "fa", "--record", &record_s, "--pcap", &pcap_s]);

    lab.iptables(&["-I", "DOCKER-USER", "-s", &a1_ip, "-d", OUTSIDE_IP, "-p", "icmp", "-j", "DROP"]).unwrap();
    let is_rule = |l: &Value| {
        l["kind"] == "change" && l["detail"].as_str().is_some_and(|d| d.starts_with("ip filter DOCKER-USER:"))
    };
    w.wait_json(Duration::from_secs(15), |v| v.iter().any(is_rule));
    assert_eq!(
        common::ping(&a1.netns_path(), OUTSIDE_IP.parse().unwrap(), 0x6402, 2),
        0,
        "the rule did not drop"
    );
    w.wait_json(Duration::from_secs(15), |v| between(v, &a1_ip, OUTSIDE_IP).1 >= 2);
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "{}", err.join("\n"));
    let v = json_lines(&out);
    let rule = v.iter().find(|l| is_rule(l)).unwrap();
    assert_eq!(
        (rule["source"].as_str(), rule["what"].as_str()),
        (Some("netfilter"), Some("rules_changed")),
        "{rule}"
    );

    let r = lab.tool(&["report", &record_s, "--json"]).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = r.json().unwrap();
    let burst = r["bursts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["cause"] == "firewall_drop")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(burst["count"], 2, "{burst}");
    assert_eq!(burst["change_before"]["what"], "rules_changed", "{burst}");
    assert!(
        burst["change_before"]["detail"].as_str().unwrap().starts_with("ip filter DOCKER-USER:"),
        "{burst}"
    );
    let text = lab.tool(&["report", &record_s]).unwrap().stdout;
    let named = text
        .lines()
        .find(|l| l.contains("rules changed: ip filter DOCKER-USER") && l.contains("— from"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(named.contains("2 drops to") && named.contains("cause firewall_drop"), "{named}");

    // The watch's pcap: the dropped echoes, where and why.
    let rows = tshark(&pcap, &["frame.interface_name", "ip.src", "ip.dst", "icmp.type", "frame.comment"]);
    assert!(!rows.is_empty(), "no packets in {pcap_s}");
    assert!(rows.iter().all(|r| r[1] == a1_ip && r[2] == OUTSIDE_IP && r[3] == "8"), "{rows:#?}");
    assert!(
        rows.iter().all(|r| r[4].contains("cause firewall_drop") && r[4].contains("reconstructed")),
        "{rows:#?}"
    );

    // A watch killed mid-line: the whole lines are reported, with one warning, exit 0.
    let whole = std::fs::read_to_string(&record).unwrap();
    let last = whole.trim_end().rsplit('\n').next().unwrap().to_string();
    let cut = format!("{}{}", &whole[..whole.len() - last.len() - 1], &last[..last.len() / 2]);
    std::fs::write(&record, cut).unwrap();
    let r = lab.tool(&["report", &record_s, "--json"]).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "one warning: {}", r.stderr);
    assert!(r.stderr.contains("cut short") && r.stderr.contains(&record_s), "{}", r.stderr);
    let j = r.json().unwrap();
    assert_eq!((j["truncated"].as_bool(), j["complete"].as_bool()), (Some(true), Some(false)), "{j}");
    assert_eq!(j["events"].as_u64(), Some(between(&v, &a1_ip, OUTSIDE_IP).1), "{j}");
    let _ = std::fs::remove_file(&record);
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn a_container_in_anothers_namespace_does_not_take_its_name() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    lab.create_network("fa", &["--subnet", NET_A]).unwrap();
    lab.create_network("fb", &["--subnet", NET_B]).unwrap();
    let a1 = lab.run("a1", &["--network", "fa"], &[]).unwrap();
    let db = lab.run("db", &["--network", "fb"], &[]).unwrap();
    lab.run("sidecar", &["--network", "container:db"], &[]).unwrap();
    let (a1_ip, db_ip) = (a1.ip("fa").to_string(), db.ip("fb").to_string());
    let mut w = Watch::start(&lab, &["--json", "--network", "fa", "--network", "fb"]);
    assert_eq!(common::ping(&a1.netns_path(), db_ip.parse().unwrap(), 0x6403, 2), 0);
    w.wait_json(Duration::from_secs(15), |v| between(v, &a1_ip, &db_ip).1 >= 2);
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "{}", err.join("\n"));
    let v = json_lines(&out);
    for l in between(&v, &a1_ip, &db_ip).0 {
        assert_eq!(l["dst"]["container"], "db", "the namespace's owner: {l}");
        assert_eq!(l["dst"]["sharers"], serde_json::json!(["sidecar"]), "{l}");
        assert!(l["src"].get("sharers").is_none(), "left out when there are none: {l}");
    }
}

/// Seed 000: the bridge lost its gateway address; what the containers then send to the world
/// fails, and the report names the address's removal as the change before those failures.
#[test]
fn report_names_the_lost_gateway_before_the_failures_it_caused() {
    let lab = Lab::start(LabOptions::default()).unwrap();
    let net = lab.create_network("fa", &["--subnet", NET_A]).unwrap();
    let a1 = lab.run("a1", &["--network", "fa"], &[]).unwrap();
    let record = scratch(&lab, "seed000.jsonl");
    let record_s = record.to_string_lossy().to_string();
    let mut w = Watch::start(&lab, &["--json", "--network", "fa", "--record", &record_s]);

    let gateway = format!("{}/24", net.gateway);
    lab.remove_bridge_address(&net.bridge, &gateway).unwrap();
    let lost = |l: &Value| l["what"] == "address_removed" && l["iface"] == net.bridge.as_str();
    w.wait_json(Duration::from_secs(15), |v| v.iter().any(lost));
    assert_eq!(
        common::ping(&a1.netns_path(), OUTSIDE_IP.parse().unwrap(), 0x6404, 3),
        0,
        "no way out without the gateway"
    );
    let failed = |v: &[Value]| {
        v.iter()
            .filter(|l| l["kind"] != "change" && l["kind"] != "summary")
            .map(|l| l["count"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    w.wait_json(Duration::from_secs(20), |v| failed(v) >= 1);
    let (code, out, err) = w.stop(Signal::SIGINT);
    assert_eq!(code, 0, "{}", err.join("\n"));
    let v = json_lines(&out);
    let change = v.iter().find(|l| lost(l)).unwrap();
    assert_eq!(
        (change["network"].as_str(), change["detail"].as_str()),
        (Some("fa"), Some(gateway.as_str())),
        "{change}"
    );

    let r = lab.tool(&["report", &record_s, "--json"]).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = r.json().unwrap();
    let bursts = r["bursts"].as_array().unwrap();
    assert!(!bursts.is_empty(), "{r:#}\nlines:\n{}", out.join("\n"));
    for b in bursts {
        assert_eq!(b["change_before"]["what"], "address_removed", "{b}\nlines:\n{}", out.join("\n"));
        assert_eq!(b["change_related"], true, "{b}");
    }
    let text = lab.tool(&["report", &record_s]).unwrap().stdout;
    let line = format!("{} lost {gateway} (fa) — from", net.bridge);
    assert!(text.contains(&line), "{line:?} not in:\n{text}");
    let _ = std::fs::remove_file(&record);
}
