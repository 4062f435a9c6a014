//! The lab's containers and the workloads measured with and without an observer: TCP bulk
//! (iperf3), 64-byte UDP packets (iperf3 -u -l 64), HTTP connections (ab -c 8 against busybox
//! httpd) and a flood of packets that Docker's isolation drops. Each runs until stopped; its
//! progress is read from the kernel's counters (see `meter`), so a run can be cut into windows.
use std::{
    net::SocketAddrV4,
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use dockernet_trace_tests::{Container, Lab};

use super::{blast::Flood, meter::Meter, observer::stop_child};

/// The containers: c1, c2 and web share `benchnet`; mysql (heima-net, tcp/3306) and nacos
/// (default bridge) share nothing, so nacos → mysql is dropped by isolation.
pub struct World {
    pub c1: Container,
    pub c2: Container,
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
    Ok(World {
        c2_ip: c2.ip("benchnet").to_string(),
        web_ip: web.ip("benchnet").to_string(),
        mysql_ip: mysql.ip("heima-net").to_string(),
        c1,
        c2,
        nacos,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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
            Self::Tcp => "Gbit/s received by c2",
            Self::Udp => "kpackets/s delivered to c2's socket",
            Self::Http => "connections/s",
            Self::Flood => "kpackets/s sent (all dropped)",
        }
    }

    /// The figure, in `unit`, of `count` (of the workload's meter) over `secs`.
    pub fn figure(self, count: u64, secs: f64) -> f64 {
        let per_s = count as f64 / secs.max(0.001);
        match self {
            Self::Tcp => per_s * 8.0 / 1e9,
            Self::Udp | Self::Flood => per_s / 1e3,
            Self::Http => per_s,
        }
    }

    /// Starts the workload; it runs until stopped. Returns once it is flowing (its meter
    /// moves).
    pub fn start(self, w: &World) -> Result<Running> {
        let running = match self {
            Self::Tcp => iperf(w, &[], Meter::RxBytes { pid: w.c2.pid })?,
            Self::Udp => {
                let udp = ["-u", "-l", "64", "-b", "0"];
                iperf(w, &udp, Meter::UdpDelivered { pid: w.c2.pid })?
            }
            Self::Http => {
                let url = format!("http://{}:80/", w.web_ip);
                // -n after -t: a limit no round reaches (-t alone caps it at 50000).
                let ab = ["ab", "-q", "-r", "-c", "8", "-t", "86400", "-n", "2000000", &url];
                let client = spawn_in(&w.c1, &ab)?;
                Running {
                    meter: Meter::TcpConnects { pid: w.c1.pid },
                    kind: Kind::Processes { client, server: None },
                }
            }
            Self::Flood => {
                let dst = SocketAddrV4::new(w.mysql_ip.parse()?, 9);
                let flood = Flood::start(&w.nacos.netns_path(), dst)?;
                Running { meter: Meter::Sent(flood.counter()), kind: Kind::Flood(flood) }
            }
        };
        running.wait_flowing()
    }

    /// Runs the workload for `secs`; returns its meter's rate meanwhile (per second, in the
    /// meter's units: for the flood, packets sent).
    pub fn run(self, w: &World, secs: u64) -> Result<f64> {
        let mut running = self.start(w)?;
        let (c0, t0) = (running.count()?, Instant::now());
        std::thread::sleep(Duration::from_secs(secs));
        let rate = running.count()?.saturating_sub(c0) as f64 / t0.elapsed().as_secs_f64();
        running.check_alive()?;
        running.stop()?;
        Ok(rate)
    }
}

/// A workload running.
pub struct Running {
    meter: Meter,
    kind: Kind,
}

enum Kind {
    /// A client, and the one-off server it talks to (iperf3).
    Processes {
        client: Group,
        server: Option<Group>,
    },
    Flood(Flood),
}

impl Running {
    /// The meter's reading now.
    pub fn count(&self) -> Result<u64> {
        self.meter.read()
    }

    /// The flood stops sending (and returns once it has); other workloads go on.
    pub fn pause(&self) {
        if let Kind::Flood(f) = &self.kind {
            f.pause();
        }
    }

    pub fn resume(&self) {
        if let Kind::Flood(f) = &self.kind {
            f.resume();
        }
    }

    /// An error if the workload has ended on its own (a window would measure nothing).
    pub fn check_alive(&mut self) -> Result<()> {
        let ended = match &mut self.kind {
            Kind::Processes { client, .. } => client.0.try_wait()?.map(|s| s.to_string()),
            Kind::Flood(f) => f.finished().then(|| "the flood's thread ended".to_string()),
        };
        match ended {
            Some(how) => bail!("the workload ended before it was stopped ({how})"),
            None => Ok(()),
        }
    }

    pub fn stop(self) -> Result<()> {
        match self.kind {
            Kind::Flood(f) => f.stop(),
            Kind::Processes { mut client, server } => {
                stop_child(&mut client.0)?;
                // A one-off iperf3 server ends with its client's test.
                if let Some(mut s) = server {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while s.0.try_wait()?.is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    stop_child(&mut s.0)?;
                }
                Ok(())
            }
        }
    }

    /// Waits until the meter moves (the workload is under way), or fails if it ends first.
    fn wait_flowing(mut self) -> Result<Self> {
        let (first, deadline) = (self.count()?, Instant::now() + Duration::from_secs(20));
        while self.count()? == first {
            self.check_alive()?;
            if Instant::now() > deadline {
                bail!("the workload never got going");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(self)
    }
}

/// iperf3 from c1 to a one-off server of its own in c2 (a port per run: a server that just
/// ended a test may still call itself busy), `extra` options, until stopped.
fn iperf(w: &World, extra: &[&str], meter: Meter) -> Result<Running> {
    static PORT: AtomicU16 = AtomicU16::new(5300);
    let port = PORT.fetch_add(1, Ordering::Relaxed).to_string();
    let mut server = spawn_in(&w.c2, &["iperf3", "-s", "-1", "-p", &port])?;
    wait_listening(w.c2.pid, port.parse()?, &mut server)?;
    let mut argv = vec!["iperf3", "-c", &w.c2_ip, "-p", &port, "-t", "86400"];
    argv.extend_from_slice(extra);
    let client = spawn_in(&w.c1, &argv)?;
    Ok(Running { meter, kind: Kind::Processes { client, server: Some(server) } })
}

/// `argv` in the network namespace of container `c`, in a process group of its own (so that
/// SIGINT reaches it), its output discarded.
fn spawn_in(c: &Container, argv: &[&str]) -> Result<Group> {
    let child = Command::new("nsenter")
        .arg(format!("--net={}", c.netns_path()))
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {argv:?} (run `cargo xtask setup`)"))?;
    Ok(Group(child))
}

/// A process in a process group of its own, killed with its group if it is dropped still
/// running (a round that failed half-way leaves no iperf3 behind).
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            // SAFETY: kill(2) on the process group of our own child, which is not reaped yet.
            unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }
}

/// Waits until a TCP socket listens on `port` in the namespace of `pid`.
fn wait_listening(pid: u32, port: u16, server: &mut Group) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tables = ["tcp", "tcp6"].map(|t| std::fs::read_to_string(format!("/proc/{pid}/net/{t}")));
        if tables.iter().flatten().any(|t| listens(t, port)) {
            return Ok(());
        }
        if let Some(s) = server.0.try_wait()? {
            bail!("iperf3's server on port {port} ended ({s})");
        }
        if Instant::now() > deadline {
            bail!("iperf3's server never listened on port {port}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A socket in LISTEN (state 0A) on `port` in the text of /proc/net/tcp or tcp6.
fn listens(table: &str, port: u16) -> bool {
    let want = format!(":{port:04X}");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1).is_some_and(|local| local.ends_with(&want)) && f.get(3) == Some(&"0A")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listening_socket_by_port() {
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue\n   0: 00000000000000000000000000000000:14B5 00000000000000000000000000000000:0000 0A 00000000:00000000\n   1: 0000000000000000FFFF00000A000002:14B5 0000000000000000FFFF00000A000001:9C40 01 00000000:00000000\n";
        assert!(listens(tcp6, 5301));
        assert!(!listens(tcp6, 5302));
        let connected_only = "  sl  local_address rem_address   st\n   0: 0100007F:14B5 0100007F:9C40 01 0\n";
        assert!(!listens(connected_only, 5301));
    }

    #[test]
    fn figures_are_rates_in_the_workloads_units() {
        assert!((Workload::Tcp.figure(1_250_000_000, 2.0) - 5.0).abs() < 1e-9);
        assert!((Workload::Udp.figure(200_000, 2.0) - 100.0).abs() < 1e-9);
        assert!((Workload::Http.figure(8000, 2.0) - 4000.0).abs() < 1e-9);
    }
}
