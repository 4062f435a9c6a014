//! The lab's containers and the workloads measured with and without an observer: TCP bulk
//! (iperf3), 64-byte UDP packets (iperf3 -u -l 64), HTTP connections (ab -c 8 against busybox
//! httpd) and a flood of packets that Docker's isolation drops.
use std::{net::SocketAddrV4, time::Duration};

use anyhow::{Context, Result, bail};
use dockernet_trace_tests::{Container, Lab};
use serde_json::Value;

use super::blast;

/// The containers: c1, c2 and web share `benchnet`; mysql (heima-net, tcp/3306) and nacos
/// (default bridge) share nothing, so nacos → mysql is dropped by isolation.
pub struct World {
    pub c1: Container,
    pub c2_ip: String,
    pub web_ip: String,
    pub nacos: Container,
    pub mysql_ip: String,
}

pub fn world(lab: &Lab) -> Result<World> {
    lab.create_network("benchnet", &["--subnet", "172.28.0.0/16"])?;
    lab.create_network("heima-net", &["--subnet", "172.18.0.0/16"])?;
    let c1 = lab.run("c1", &["--network", "benchnet"], &[])?;
    let c2 = lab.run("c2", &["--network", "benchnet"], &[])?;
    let web = lab.server("web", 80, &["--network", "benchnet"])?;
    let mysql = lab.server("mysql", 3306, &["--network", "heima-net"])?;
    let nacos = lab.run("nacos", &[], &[])?;
    lab.spawn_in(&c2.netns_path(), &["iperf3", "-s", "-p", "5201"])?;
    Ok(World {
        c1,
        c2_ip: c2.ip("benchnet").to_string(),
        web_ip: web.ip("benchnet").to_string(),
        nacos,
        mysql_ip: mysql.ip("heima-net").to_string(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Tcp,
    Udp,
    Http,
    Flood,
}

pub const ALL: [Workload; 4] = [Workload::Tcp, Workload::Udp, Workload::Http, Workload::Flood];

impl Workload {
    pub fn title(self) -> &'static str {
        match self {
            Self::Tcp => "TCP bulk (iperf3)",
            Self::Udp => "64-byte UDP packets/s (iperf3 -u -l 64 -b 0)",
            Self::Http => "HTTP connections/s (ab -c 8, busybox httpd)",
            Self::Flood => "a flood of packets that are dropped (isolation)",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::Tcp => "Gbit/s",
            Self::Udp => "kpackets/s received",
            Self::Http => "requests/s",
            Self::Flood => "kpackets/s sent (all dropped)",
        }
    }

    /// Runs the workload for `secs`; the figure in `unit`, plus packets sent for the flood.
    pub fn run(self, lab: &Lab, w: &World, secs: u64) -> Result<Outcome> {
        match self {
            Self::Tcp => {
                let v = iperf(lab, w, secs, &[])?;
                let bps = v["end"]["sum_received"]["bits_per_second"].as_f64().context("no sum_received")?;
                Ok(Outcome { value: bps / 1e9, sent: None })
            }
            Self::Udp => {
                let v = iperf(lab, w, secs, &["-u", "-l", "64", "-b", "0"])?;
                let sum = &v["end"]["sum"];
                let (packets, lost) = (sum["packets"].as_f64(), sum["lost_packets"].as_f64().unwrap_or(0.0));
                let seconds = sum["seconds"].as_f64().unwrap_or(secs as f64).max(0.001);
                let packets = packets.context("no packet count in iperf3's UDP summary")?;
                Ok(Outcome { value: (packets - lost) / seconds / 1e3, sent: None })
            }
            Self::Http => Ok(Outcome { value: ab(lab, w, secs)?, sent: None }),
            Self::Flood => {
                let dst = SocketAddrV4::new(w.mysql_ip.parse()?, 9);
                let sent = blast::flood(&w.nacos.netns_path(), dst, Duration::from_secs(secs))?;
                Ok(Outcome { value: sent.rate() / 1e3, sent: Some(sent.packets) })
            }
        }
    }
}

pub struct Outcome {
    pub value: f64,
    /// The flood: packets sent (every one of them is dropped).
    pub sent: Option<u64>,
}

/// iperf3 from c1 to c2 with `extra` options; its JSON.
fn iperf(lab: &Lab, w: &World, secs: u64, extra: &[&str]) -> Result<Value> {
    let ns = format!("--net={}", w.c1.netns_path());
    let t = secs.to_string();
    let mut last = String::new();
    for _ in 0..50 {
        let mut argv = vec!["nsenter", &ns, "iperf3", "-c", &w.c2_ip, "-p", "5201", "-t", &t, "-J"];
        argv.extend_from_slice(extra);
        // iperf3 exits 1 with its JSON on a busy server: look at the JSON either way.
        let out = lab.command(argv[0]).args(&argv[1..]).output()?;
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if v["end"]["sum_received"].is_object() || v["end"]["sum"]["packets"].is_number() {
            return Ok(v);
        }
        // e.g. "the server is busy running a test" while the last run winds down.
        last = v["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into());
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("iperf3 from c1 to {} never ran: {last}", w.c2_ip)
}

/// ab with 8 concurrent clients for `secs` from c1 against web; requests per second.
fn ab(lab: &Lab, w: &World, secs: u64) -> Result<f64> {
    let ns = format!("--net={}", w.c1.netns_path());
    let url = format!("http://{}:80/", w.web_ip);
    let t = secs.to_string();
    // -n after -t: a limit ab never reaches in `secs` (-t alone caps it at 50000).
    let out = lab.host(&["nsenter", &ns, "ab", "-q", "-r", "-c", "8", "-t", &t, "-n", "10000000", &url])?;
    out.lines()
        .find_map(|l| l.strip_prefix("Requests per second:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("ab printed no rate: {out}"))
}
