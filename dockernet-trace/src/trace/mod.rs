//! The trace: send the probes, follow them through the kernel, explain where and why they
//! stopped. `run` is the orchestration; each step lives in its own module.
pub mod collect;
pub mod facts;
pub mod hops;
pub mod nftrace;
pub mod plan;
pub mod report;
pub mod verdict;

use std::time::Instant;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

use self::{
    collect::ProbePlan,
    facts::Facts,
    hops::ProbePorts,
    plan::Plan,
    report::{EndpointJson, TraceReport},
    verdict::Context,
};
use crate::{
    cli::{Proto, TraceArgs},
    doctor,
    ebpf::{Session, events::Proto as WireProto, hooks::Purpose, session::KernelInfo, tc},
    error::{Error, Result, require_privileges},
    kernel::Kallsyms,
    model::{
        EndpointArg, EndpointIssue, EndpointSpec, ModelError, NetnsRef, ResolvedEndpoint, Topology,
        resolve_pair,
    },
    netfilter,
};
use dockernet_trace_common::MODE_PROBE;

fn wire(p: Proto) -> WireProto {
    match p {
        Proto::Tcp => WireProto::Tcp,
        Proto::Udp => WireProto::Udp,
        Proto::Icmp => WireProto::Icmp,
    }
}

/// The model, without Docker when the engine is unreachable and no endpoint names a container.
async fn topology(args: &TraceArgs, from: &EndpointArg, to: &EndpointArg) -> Result<Topology> {
    match Topology::load(args.docker.docker_host.as_deref()).await {
        Ok(t) => Ok(t),
        Err(ModelError::DockerUnreachable { host, reason })
            if !matches!(from.spec, EndpointSpec::Name(_)) && !matches!(to.spec, EndpointSpec::Name(_)) =>
        {
            let why = format!("no Docker Engine at {host} ({reason}): tracing without Docker's view");
            Ok(Topology::without_docker(host, why).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// A container endpoint whose process, and so its network namespace, is gone since the model
/// was read: it stopped (or restarted) during the trace.
fn exited(e: &ResolvedEndpoint) -> bool {
    e.container.is_some() && matches!(&e.netns, Some(NetnsRef::Path(p)) if !p.exists())
}

/// Endpoints the probe cannot use are errors that say why (exit 2); the others go on.
fn check_endpoints(from: &ResolvedEndpoint, to: &ResolvedEndpoint) -> Result<()> {
    let start = |c: &str| format!("start it with: docker start {c}");
    match (&from.issue, &to.issue) {
        (Some(EndpointIssue::NotRunning { state }), _) => Err(Error::Usage(format!(
            "container {} is not running ({state}), so nothing can be sent from it; {}",
            from.name,
            start(&from.name)
        ))),
        (_, Some(EndpointIssue::NotRunning { state })) => Err(Error::Usage(format!(
            "container {} is not running ({state}), so it has no address to reach; {}",
            to.name,
            start(&to.name)
        ))),
        (_, Some(EndpointIssue::NoNetwork)) => Err(Error::Usage(format!(
            "container {} runs with --network none: it has only loopback, so nothing outside it can reach it; connect it: docker network connect bridge {}",
            to.name, to.name
        ))),
        (_, Some(EndpointIssue::NoAddress)) | (Some(EndpointIssue::NoAddress), _) => {
            Err(Error::Usage("an endpoint has no IPv4 address to trace with".into()))
        }
        _ => Ok(()),
    }
}

pub async fn run(args: &TraceArgs) -> Result<u8> {
    let started = Instant::now();
    let from_arg = EndpointArg::parse_source(args.from.as_deref().unwrap_or_default())?;
    let to_arg =
        EndpointArg::parse_target(args.to.as_deref().unwrap_or_default(), args.proto == Proto::Icmp)?;
    if args.proto != Proto::Icmp && to_arg.port.is_none() {
        return Err(Error::Usage(format!(
            "--to {} needs a port for {:?} (e.g. {}:3306), or use --proto icmp",
            to_arg.input, args.proto, to_arg.input
        )));
    }
    require_privileges()?;
    // Cleared however the trace ends (an error or a signal too), so an error stays one line.
    let spinner = ProgressBar::new_spinner().with_finish(ProgressFinish::AndClear).with_style(
        ProgressStyle::with_template("{spinner} {msg}").unwrap_or(ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner.set_message("reading Docker and the kernel's view of the network");

    let phase = |what: &str| log::debug!("{what}: {} ms", started.elapsed().as_millis());
    let topology = topology(args, &from_arg, &to_arg).await?;
    phase("model");
    let (from, to) = resolve_pair(&topology, &from_arg, &to_arg).await?;
    check_endpoints(&from, &to)?;
    let plan = Plan::new(&topology, &from, &to, args.proto);

    // Rules before, in parallel with loading the programs.
    let before = tokio::task::spawn_blocking(netfilter::snapshot);
    let kernel = tokio::task::spawn_blocking(KernelInfo::probe)
        .await
        .map_err(|e| Error::Usage(format!("kernel probe failed: {e}")))??;
    phase("kernel probe");
    tc::remove_stale();
    nftrace::remove_stale();
    phase("stale cleanup");
    let mut session = Session::load(&kernel)?;
    phase("load");
    session.attach_tracepoints(&kernel, Purpose::Trace)?;
    phase("tracepoints");
    session.attach_enrichment(&kernel);
    session.attached();
    phase("enrichment");
    for iface in &plan.tc_ifaces {
        if let Err(e) = session.attach_tc(iface, &kernel) {
            log::warn!("tc on {iface}: {e}");
        }
    }
    let ports = ProbePorts {
        proto: wire(args.proto),
        base: crate::probe::port_base(args.count as u16),
        count: args.count as u16,
    };
    let mut cfg = session.config();
    cfg.mode = MODE_PROBE;
    cfg.probe_proto = wire(args.proto).number();
    cfg.probe_port = ports.base;
    cfg.probe_port_count = ports.count;
    cfg.probe_addrs = [0; dockernet_trace_common::PROBE_ADDRS];
    for (slot, a) in cfg.probe_addrs.iter_mut().zip(&plan.probe_addrs) {
        *slot = u32::from(*a).to_be();
    }
    session.set_config(cfg)?;
    let mut reader = session.events()?;
    phase("tc");
    let before = before.await.map_err(|e| Error::Usage(e.to_string()))?.unwrap_or_default();
    phase("rules before");

    spinner.set_message(format!("probing {} → {}", from.name, args.to.as_deref().unwrap_or_default()));
    let probe_plan = ProbePlan {
        netns: plan.send_from.clone(),
        proto: args.proto,
        dst: plan.dst,
        dport: plan.dport,
        ports,
        timeout: args.timeout,
    };
    let nft = if args.allow_system_changes {
        let name = match args.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        };
        tokio::task::spawn_blocking(move || nftrace::NfTrace::start(ports, name)).await.ok().flatten()
    } else {
        None
    };
    let collected = collect::run(&probe_plan, &mut reader, &kernel.drop_reasons).await;
    let steps = match nft {
        Some(t) => tokio::task::spawn_blocking(move || t.finish()).await.unwrap_or_default(),
        None => vec![],
    };
    let collected = match collected {
        Err(_) if exited(&from) => {
            return Err(Error::Usage(format!(
                "container {0} exited during the trace (its network namespace is gone), so nothing more can be sent from it; start it again (docker start {0}) and trace again",
                from.name
            )));
        }
        other => other?,
    };
    phase("probes");
    let counters = session.counters();
    let coverage = session.coverage;
    let notes = TraceReport::notes_from(&session.hooks);
    drop(reader);
    spinner.set_message("explaining");

    let places = plan::places(&topology);
    let hops = hops::hops(&collected.events, &places, ports);
    let mut facts = Facts::gather(&collected.events, &places, ports, &mut Kallsyms::default());
    facts.nftrace = steps;
    // Counters only matter when netfilter dropped a probe; reading the rules again costs
    // a few hundred milliseconds of iptables-save.
    let after = if facts.netfilter_drops() > 0 || !facts.nftrace.is_empty() {
        tokio::task::spawn_blocking(netfilter::snapshot)
            .await
            .map_err(|e| Error::Usage(e.to_string()))?
            .unwrap_or_default()
    } else {
        before.clone()
    };
    phase("rules after");
    let deltas = netfilter::diff(&before, &after);
    let diagnosis = doctor::diagnose(&topology, &after);
    let cx = Context {
        topology: &topology,
        from: &from,
        to: &to,
        plan: &plan,
        probes: &collected.probes,
        hops: &hops,
        facts: &facts,
        deltas: &deltas,
        rules: &after,
        findings: verdict::on_path(&diagnosis.findings, &topology, &plan, &from, &to),
        lost: counters.lost,
    };
    let mut verdict = verdict::decide(&cx);
    if exited(&to) {
        let gone = format!("{} exited during the trace", to.name);
        verdict.summary = if verdict.cause == crate::cause::Cause::Ok {
            format!("{}; then {gone}, so the later probes went unanswered", verdict.summary)
        } else {
            format!("{gone}, so it could not answer: {}", verdict.summary)
        };
        verdict.evidence.push(format!("{}'s network namespace is gone since the trace began", to.name));
        verdict.fix.insert(0, format!("docker start {}   # if it is still stopped", to.name));
    }
    phase("verdict");
    spinner.finish_and_clear();

    let reachable = verdict.cause == crate::cause::Cause::Ok;
    let mut notes = notes;
    notes.extend(topology.docker.notes.iter().cloned());
    if let Some(EndpointIssue::HostNetwork) = &from.issue {
        notes.push(format!(
            "{} uses the host's network namespace: its packets take the host's path",
            from.name
        ));
    }
    if let Some(EndpointIssue::HostNetwork) = &to.issue {
        notes.push(format!(
            "{} uses the host's network namespace: it is reached at the host's own addresses, with no bridge or NAT on the way",
            to.name
        ));
    }
    let report = TraceReport {
        schema: 1,
        from: EndpointJson::of(&from, None),
        to: EndpointJson::of(
            &to,
            Some(match args.proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
                Proto::Icmp => "icmp",
            }),
        ),
        reachable,
        verdict,
        hops,
        coverage,
        probes: collected.probes,
        notes,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    if args.output.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        crate::style::print(&report::text(&report));
    }
    // Detaching waits for RCU grace periods (tens of ms per tcx link): the verdict is out
    // first, then the programs go.
    drop(session);
    phase("detached");
    Ok(if reachable { 0 } else { 1 })
}
