//! The attach step of a trace: the running kernel probed, what crashed runs left removed, the
//! programs loaded and attached (tracepoints, enrichment, tc on the plan's interfaces), and the
//! kernel filter set to the plan's probes.
use std::{sync::mpsc, time::Duration};

use super::{nftrace, phase::Phases, plan::Plan};
use crate::{
    ebpf::{
        Coverage, Session, config,
        events::EventReader,
        hooks::{HookStatus, Purpose},
        session::KernelInfo,
        tc,
    },
    error::{Error, Result},
};

pub struct Attached {
    pub kernel: KernelInfo,
    /// Dropping it detaches everything.
    pub session: Session,
    pub reader: EventReader,
}

/// What the attached programs could see, for the verdict and the report.
pub struct Visibility {
    /// Events the kernel could not deliver (ring buffer full).
    pub lost: u64,
    pub coverage: Coverage,
    pub hooks: Vec<HookStatus>,
}

impl Attached {
    pub fn visibility(&self) -> Visibility {
        let s = &self.session;
        Visibility { lost: s.counters().lost, coverage: s.coverage, hooks: s.hooks.clone() }
    }
}

/// The kernel probed, what crashed runs left removed, the programs loaded and the tracepoints
/// attached, on a thread of their own started first thing: the kernel's verifier works while
/// Docker's view is read (which mostly waits for Docker). tc goes on the interfaces the plan
/// names (`tc_ahead`) as soon as both are known.
pub struct Loading {
    task: tokio::task::JoinHandle<Result<Attached>>,
    tc_ahead: mpsc::Sender<Vec<String>>,
    ipv6: mpsc::Sender<bool>,
}

/// How long the loading waits, once ready, to learn whether the target is IPv6 (`Loading::ipv6`):
/// told in time, the programs are loaded without the IPv6 code an IPv4 trace never runs, and
/// the verifier spends tens of milliseconds less; not told, they are loaded whole. Docker's
/// view is usually read by then; where it is slow (a busy host), waiting longer would only
/// delay the load.
const FAMILY_WAIT: Duration = Duration::from_millis(5);

impl Loading {
    pub fn start(phases: Phases) -> Self {
        let (tc_ahead, told) = mpsc::channel();
        let (ipv6, ipv6_told) = mpsc::channel();
        let task = tokio::task::spawn_blocking(move || load(phases, told, ipv6_told));
        Loading { task, tc_ahead, ipv6 }
    }

    /// Whether the probes will be IPv6 (an IPv6 target).
    pub fn ipv6(&self, ipv6: bool) {
        // The loading thread is gone only when it failed: `finish` says why.
        let _ = self.ipv6.send(ipv6);
    }

    /// The interfaces the plan puts tc on (none: `follow` attaches them, after a name's
    /// resolution).
    pub fn tc_ahead(&self, ifaces: Vec<String>) {
        // The loading thread is gone only when it failed: `finish` says why.
        let _ = self.tc_ahead.send(ifaces);
    }

    /// Everything attached, following nothing yet.
    pub async fn finish(self) -> Result<Attached> {
        drop(self.tc_ahead); // not told by now: nothing ahead
        self.task.await.map_err(|e| Error::Usage(format!("loading the kernel programs failed: {e}")))?
    }
}

fn load(
    phases: Phases,
    tc_ahead: mpsc::Receiver<Vec<String>>,
    ipv6: mpsc::Receiver<bool>,
) -> Result<Attached> {
    let kernel = KernelInfo::probe()?;
    phases.mark("kernel probe");
    tc::remove_stale();
    nftrace::remove_stale();
    phases.mark("stale cleanup");
    let ipv6 = ipv6.recv_timeout(FAMILY_WAIT).unwrap_or(true);
    let mut session = Session::load(&kernel, dockernet_trace_common::MODE_PROBE, ipv6)?;
    phases.mark("load");
    session.attach_tc_ahead(tc_ahead);
    session.attach_tracepoints(&kernel, Purpose::Trace)?;
    phases.mark("tracepoints");
    session.attach_enrichment(&kernel);
    phases.mark("enrichment");
    session.attached();
    let reader = session.events()?;
    Ok(Attached { kernel, session, reader })
}

impl Attached {
    /// tc programs on the plan's interfaces, and the filter set to its probes.
    pub fn follow(&mut self, plan: &Plan) -> Result<()> {
        self.add_tc(&plan.tc_ifaces);
        let cfg = config::for_probe(self.session.config(), &plan.ports, plan.family(), &plan.probe_addrs);
        self.session.set_config(cfg)?;
        Ok(())
    }

    /// tc programs on `ifaces` (those that have them keep them: a second leg adds only the
    /// new ones); one that fails is a warning.
    pub fn add_tc(&mut self, ifaces: &[String]) {
        let results = match self.session.attach_tc(ifaces, &self.kernel) {
            Ok(r) => r,
            Err(e) => return log::warn!("tc: {e}"),
        };
        for (iface, result) in ifaces.iter().zip(results) {
            if let Err(e) = result {
                log::warn!("tc on {iface}: {e}");
            }
        }
    }
}
