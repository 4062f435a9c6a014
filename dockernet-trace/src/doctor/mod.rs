//! `doctor`: the known faults, found from the host's configuration without sending a packet.
//! The same checks tell the live trace which faults lie on its path.
mod bridges;
mod dns;
mod docker_user;
mod firewall;
mod flows;
mod foreign;
mod nat;
mod ports;
mod report;
mod subnets;

use serde::Serialize;

use crate::{
    cause::Finding,
    cli::DoctorArgs,
    error::{Result, require_privileges},
    model::Topology,
    netfilter::{self, Ruleset, docker::missing_docker_chains},
};

/// Everything doctor found, in the order a person should fix it.
#[derive(Debug, Serialize)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    /// Observations that are not faults (a container skipped, a backend not readable).
    pub notes: Vec<String>,
}

/// Runs every check against a model and a rule snapshot.
pub fn diagnose(t: &Topology, rs: &Ruleset) -> Diagnosis {
    uncounted(t, rs).with_counted(t, rs)
}

/// The findings of the checks that read no rule counter, not yet ordered: a trace runs them
/// on the rules read before its probes, while the probes fly, and adds the counted ones to
/// the rules read after.
pub struct Uncounted {
    findings: Vec<Finding>,
    notes: Vec<String>,
    /// Where the counted checks' findings go (their order among equals stays doctor's).
    counted_at: usize,
}

/// Every check but those whose evidence counts packets.
pub fn uncounted(t: &Topology, rs: &Ruleset) -> Uncounted {
    let mut findings = Vec::new();
    firewall::ip_forward(t, &mut findings);
    // Docker writes its chains and jumps with its first bridge network (`--bridge=none` and
    // no user network: none of them, and nothing is missing).
    let bridged = t.docker.networks.iter().any(|n| n.bridge.is_some());
    let missing = if bridged { missing_docker_chains(rs) } else { Vec::new() };
    nat::missing_chains(&missing, &mut findings);
    for n in &t.docker.networks {
        bridges::check(t, n, &mut findings);
        nat::masquerade(n, rs, &mut findings);
        firewall::forward_accepts(n, rs, &mut findings);
    }
    subnets::check(t, &mut findings);
    for c in t.docker.containers.iter().filter(|c| c.is_running()) {
        for e in t.endpoints_of(c) {
            if let Some(n) = t.network(&e.network) {
                ports::check(t, c, e, n, &mut findings);
            }
        }
    }
    let mut notes = t.docker.notes.clone();
    nat::published_ports(t, rs, &mut findings, &mut notes);
    firewall::published_accepts(t, rs, &mut findings);
    let counted_at = findings.len();
    foreign::drops(t, rs, &flows::host_services(), &mut findings, &mut notes);
    // With FORWARD accepting by default, missing filter chains cut nothing off (the checks
    // above find what a DROP policy cuts off), but DOCKER-USER and isolation no longer apply.
    notes.extend(missing.iter().filter(|m| m.table != "nat").map(|m| {
        format!("Docker's filter rules: {m}; DOCKER-USER and network isolation may not apply (fix: systemctl restart docker)")
    }));
    Uncounted { findings, notes, counted_at }
}

impl Uncounted {
    /// Adds the checks whose evidence counts packets (DOCKER-USER drops, "N packets matched
    /// so far") on `rs`, the rules as they are now, and orders the findings.
    pub fn with_counted(self, t: &Topology, rs: &Ruleset) -> Diagnosis {
        let Uncounted { mut findings, notes, counted_at } = self;
        let mut counted = Vec::new();
        docker_user::drops(rs, t, &mut counted);
        findings.splice(counted_at..counted_at, counted);
        findings.sort_by_key(|f| f.cause.severity());
        findings.dedup();
        Diagnosis { findings, notes }
    }
}

/// `d` with the checks of each network's name resolution, which read the containers' own
/// resolver files (kept out of `diagnose`, which the trace also runs for its path).
pub fn with_name_resolution(mut d: Diagnosis, t: &Topology, rs: &Ruleset) -> Diagnosis {
    let (findings, notes) = dns::check(t, rs);
    d.findings.extend(findings);
    d.findings.sort_by_key(|f| f.cause.severity());
    d.findings.dedup();
    d.notes.extend(notes);
    d
}

/// Reads the host's rules without blocking the runtime (iptables-save and nft are processes).
pub async fn ruleset() -> Result<Ruleset> {
    let rs = tokio::task::spawn_blocking(netfilter::snapshot)
        .await
        .map_err(|e| crate::error::Error::Usage(format!("reading netfilter rules failed: {e}")))??;
    Ok(rs)
}

pub async fn run(args: &DoctorArgs) -> Result<u8> {
    require_privileges()?;
    // The rules are read by other processes: beside the reading of Docker and the kernel.
    let (topology, rules) = tokio::join!(Topology::load(args.docker.docker_host.as_deref()), ruleset());
    let (topology, rules) = (topology?, rules?);
    let d = with_name_resolution(diagnose(&topology, &rules), &topology, &rules);
    if args.output.json {
        println!("{}", report::json(&d));
    } else {
        crate::style::print(&report::text(&topology, &d));
    }
    Ok(if d.findings.is_empty() { 0 } else { 1 })
}
