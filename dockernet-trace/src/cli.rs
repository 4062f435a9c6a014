//! The command line, exactly as ../shared/CONTRACT.md fixes it. Flags are grouped by purpose.
use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::flow::{IpFamily, Proto};

const EXAMPLES: &str = "\
Examples:
  sudo dockernet-trace --from nacos --to host:3306
      Why can't container nacos reach MySQL published on the host's port 3306?
  sudo dockernet-trace --from nacos --to mysql:3306 --json
      The same between two containers, as one JSON object.
  sudo dockernet-trace --from host --to 172.18.0.2 --proto icmp
      Can the host ping that container address?
  sudo dockernet-trace -6 --from nacos --to mysql:3306
      The same over IPv6, between the containers' IPv6 addresses (dual-stack networks).
  sudo dockernet-trace --from nacos --to '[fd00:18::2]:3306'
      An IPv6 address, with its port after the brackets.
  sudo dockernet-trace doctor
      Find broken bridges, routes, NAT and firewall rules without sending anything.
  sudo dockernet-trace watch --network heima-net --record drops.jsonl
      Record every drop involving that network until Ctrl-C.
  dockernet-trace report drops.jsonl
      Summarise a recording.

ENDPOINT: a container name, ID or unique ID prefix; `host` (this network namespace); an IPv4
address; an IPv6 address as [ADDR] ([ADDR]:PORT with a port); a DNS name; netns:NAME
(/run/netns/NAME); pid:PID (that process's namespace). When both ends have IPv4 and IPv6
addresses the trace uses IPv4 unless -6 is given; an IPv6 address makes it IPv6.
Exit codes: 0 reachable / no findings, 1 not reachable / findings, 2 usage or environment error.";

#[derive(Parser, Debug)]
#[command(
    name = "dockernet-trace",
    version,
    about = "Follow a packet through a Docker host's kernel and say where and why it stops.",
    long_about = "Sends its own probe from one endpoint to another and watches it in the kernel \
        (tc programs on veths and bridges, tracepoints everywhere): the path it really took \
        through container, veth, bridge, NAT and host, the exact place and reason it stopped \
        (interface, kernel function, drop reason, netfilter rule), and the command that fixes it.",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Find the known faults (lost bridge address, down links, STP, subnet overlaps, flushed
    /// NAT, isolation and firewall rules, sysctls) from the host's configuration, sending
    /// nothing. Example: sudo dockernet-trace doctor --json
    Doctor(DoctorArgs),
    /// Stay attached and report every drop, route failure and reset involving containers,
    /// live, with names, interface, reason and rule. Example:
    /// sudo dockernet-trace watch --container nacos --record incident.jsonl --duration 10m
    Watch(WatchArgs),
    /// Summarise a `watch --record` file: top causes, containers, rules and a timeline.
    /// Example: dockernet-trace report incident.jsonl
    Report(ReportArgs),
    /// Which kernel hooks attach on this host (tc, tracepoints, kprobes, fentry), and how long
    /// attaching takes. Example: sudo dockernet-trace kernel-check --json
    KernelCheck(OutputArgs),
    /// Print the shell completion script for SHELL. Example:
    /// dockernet-trace completions bash > /usr/share/bash-completion/completions/dockernet-trace
    Completions(CompletionsArgs),
    /// Write the man pages (dockernet-trace.1, dockernet-trace-watch.1, ...) into DIR.
    /// Example: sudo dockernet-trace man /usr/local/share/man/man1
    Man(ManArgs),
}

#[derive(Args, Debug, Clone)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug, Clone)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct TraceArgs {
    /// Where the probe starts (see ENDPOINT below).
    #[arg(long, value_name = "ENDPOINT", required = true, help_heading = "Path")]
    pub from: Option<String>,
    /// Where it should arrive, with the port for tcp/udp (e.g. mysql:3306, host:3306,
    /// [fd00:18::2]:3306).
    #[arg(long, value_name = "ENDPOINT[:PORT]", required = true, help_heading = "Path")]
    pub to: Option<String>,
    /// Use the IPv4 addresses of containers and of the host (the default when both ends have
    /// one).
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6", help_heading = "Path")]
    pub ipv4: bool,
    /// Use the IPv6 addresses of containers and of the host (their networks need --ipv6).
    #[arg(short = '6', long = "ipv6", help_heading = "Path")]
    pub ipv6: bool,

    /// Protocol of the probe: tcp connects (SYN, answered by SYN-ACK or RST), udp sends a
    /// datagram, icmp an echo request.
    #[arg(long, value_enum, default_value_t = Proto::Tcp, help_heading = "Probe")]
    pub proto: Proto,
    /// Number of probes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Probe")]
    pub count: u32,
    /// How long to wait for each probe's answer (e.g. 500ms, 2s); more than zero.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = positive_duration, help_heading = "Probe")]
    pub timeout: Duration,

    /// Allow temporary changes that sharpen the verdict: an nftables table that marks the
    /// probe's packets for netfilter's own tracing (nftrace), which names every chain and rule
    /// they meet. It is deleted before exit (or by the next run, if this one is killed).
    #[arg(long, help_heading = "System")]
    pub allow_system_changes: bool,

    /// Also write the probes' packets, hop by hop, to FILE (pcapng, for Wireshark): each
    /// interface they passed, the addresses as seen there. Made up from the kernel's events,
    /// which hold headers only.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub pcap: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub docker: DockerArgs,
}

impl TraceArgs {
    /// The family `-4`/`-6` asked for, if any.
    pub fn family(&self) -> Option<IpFamily> {
        match (self.ipv4, self.ipv6) {
            (true, _) => Some(IpFamily::V4),
            (_, true) => Some(IpFamily::V6),
            _ => None,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// One JSON object on stdout (schema in CONTRACT.md) instead of text.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DockerArgs {
    /// Docker Engine address, as the docker CLI takes it (default: $DOCKER_HOST, else
    /// unix:///var/run/docker.sock).
    #[arg(long, value_name = "URI", help_heading = "Docker")]
    pub docker_host: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub docker: DockerArgs,
}

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// Only drops involving this container (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Filter")]
    pub container: Vec<String>,
    /// Only drops involving this Docker network (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Filter")]
    pub network: Vec<String>,
    /// Also write the JSON lines to FILE (for `report`).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub record: Option<PathBuf>,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, help_heading = "Output")]
    pub duration: Option<Duration>,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9464): drops, route failures and
    /// resets by cause, container, network and interface; lost events; programs attached.
    #[arg(long, value_name = "ADDR", help_heading = "Output")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Also write the packets of the drops it reports to FILE (pcapng, for Wireshark), made up
    /// from the kernel's events (headers only).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub pcap: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub docker: DockerArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// A file written by `watch --record`.
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A duration such as `500ms` or `2s`, more than zero: a probe given no time cannot be
/// answered, and every path would look broken.
fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => {
            Err("a probe needs time to be answered; give more than zero, e.g. 500ms".into())
        }
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (e.g. 500ms, 2s)")),
    }
}

/// clap's own error (unknown flag, missing value...) as the one line CONTRACT.md promises:
/// its first paragraph joined, without clap's `error:` prefix, and where to look for more.
pub fn one_line_error(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> =
        rendered.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
    let text = paragraph.join(" ");
    let text = text.strip_prefix("error:").map(str::trim).unwrap_or(&text);
    let text = if text.is_empty() { "invalid arguments" } else { text };
    format!("{text}; see dockernet-trace --help")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn trace_needs_both_ends() {
        assert!(Cli::try_parse_from(["dnt", "--from", "a"]).is_err());
        let c = Cli::try_parse_from(["dnt", "--from", "nacos", "--to", "host:3306", "--json"]).unwrap();
        assert!(c.command.is_none());
        assert_eq!(c.trace.to.as_deref(), Some("host:3306"));
        assert!(c.trace.output.json);
        assert_eq!(c.trace.count, 3);
        assert_eq!(c.trace.timeout, Duration::from_secs(1));
        assert_eq!(c.trace.family(), None);
    }

    #[test]
    fn family_flags() {
        let c = Cli::try_parse_from(["dnt", "-6", "--from", "a", "--to", "[fd00::2]:80"]).unwrap();
        assert_eq!((c.trace.family(), c.trace.to.as_deref()), (Some(IpFamily::V6), Some("[fd00::2]:80")));
        let c = Cli::try_parse_from(["dnt", "--ipv4", "--from", "a", "--to", "b:80"]).unwrap();
        assert_eq!(c.trace.family(), Some(IpFamily::V4));
        assert!(Cli::try_parse_from(["dnt", "-4", "-6", "--from", "a", "--to", "b:80"]).is_err());
    }

    #[test]
    fn subcommands_parse() {
        let c = Cli::try_parse_from(["dnt", "doctor", "--json", "--docker-host", "unix:///x.sock"]).unwrap();
        assert!(matches!(c.command, Some(Command::Doctor(ref d)) if d.output.json));
        let c = Cli::try_parse_from([
            "dnt",
            "watch",
            "--container",
            "a",
            "--container",
            "b",
            "--network",
            "n",
            "--duration",
            "10s",
        ])
        .unwrap();
        let Some(Command::Watch(w)) = c.command else { panic!() };
        assert_eq!(w.container, ["a", "b"]);
        assert_eq!(w.duration, Some(Duration::from_secs(10)));
        assert_eq!((w.metrics, w.pcap), (None, None));
        let c = Cli::try_parse_from(["dnt", "watch", "--metrics", "127.0.0.1:9464", "--pcap", "d.pcapng"])
            .unwrap();
        let Some(Command::Watch(w)) = c.command else { panic!() };
        assert_eq!(w.metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(
            Cli::try_parse_from(["dnt", "watch", "--metrics", "localhost"]).is_err(),
            "an address and a port"
        );
        assert!(Cli::try_parse_from(["dnt", "report"]).is_err());
        assert!(Cli::try_parse_from(["dnt", "--from", "a", "--to", "b", "--count", "0"]).is_err());
        assert!(Cli::try_parse_from(["dnt", "--from", "a", "--to", "b", "--proto", "sctp"]).is_err());
        let c = Cli::try_parse_from(["dnt", "completions", "zsh"]).unwrap();
        assert!(
            matches!(c.command, Some(Command::Completions(ref a)) if a.shell == clap_complete::Shell::Zsh)
        );
        assert!(Cli::try_parse_from(["dnt", "man"]).is_err(), "man needs its directory");
    }

    #[test]
    fn every_command_is_listed_in_help() {
        let help = Cli::command().render_long_help().to_string();
        for c in ["doctor", "watch", "report", "kernel-check", "completions", "man"] {
            assert!(help.lines().any(|l| l.trim_start().starts_with(c)), "{c} missing in --help:\n{help}");
        }
    }

    #[test]
    fn zero_timeout_is_refused_in_one_line() {
        let e = Cli::try_parse_from(["dnt", "--from", "a", "--to", "b:1", "--timeout", "0"]).unwrap_err();
        let line = one_line_error(&e);
        assert!(line.contains("--timeout") && line.contains("more than zero"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert!(Cli::try_parse_from(["dnt", "--from", "a", "--to", "b:1", "--timeout", "0ms"]).is_err());
        let ok = Cli::try_parse_from(["dnt", "--from", "a", "--to", "b:1", "--timeout", "250ms"]).unwrap();
        assert_eq!(ok.trace.timeout, Duration::from_millis(250));
    }

    #[test]
    fn clap_errors_become_one_line() {
        let e = Cli::try_parse_from(["dnt", "--from", "a", "--to", "b:1", "--bogus"]).unwrap_err();
        let line = one_line_error(&e);
        assert!(line.starts_with("unexpected argument '--bogus'"), "{line}");
        assert!(!line.contains('\n') && line.ends_with("see dockernet-trace --help"), "{line}");
        let e = Cli::try_parse_from(["dnt", "--from", "a"]).unwrap_err();
        let line = one_line_error(&e);
        assert!(line.contains("required") && line.contains("--to"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }
}
