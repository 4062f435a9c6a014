//! The attach step of a trace: the running kernel probed, what crashed runs left removed, the
//! programs loaded and attached (tracepoints, enrichment, tc on the plan's interfaces), and the
//! kernel filter set to the plan's probes.
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
    kernel::KernelError,
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

/// The running kernel probed on a blocking thread, started first thing, so that it overlaps
/// the reading of Docker's view (which mostly waits for Docker). (aya's parse of the BTF is
/// not made this early: held beside the model's allocations, it left ~15 MB more resident.)
pub struct KernelProbe(tokio::task::JoinHandle<Result<KernelInfo, KernelError>>);

impl KernelProbe {
    pub fn start() -> Self {
        Self(tokio::task::spawn_blocking(KernelInfo::probe))
    }
}

/// The programs loaded and the tracepoints attached, following nothing yet; tc is attached to
/// `tc_ahead` (the plan's interfaces, when known this early) while the programs are verified.
pub async fn load(probe: KernelProbe, phases: Phases, tc_ahead: Vec<String>) -> Result<Attached> {
    let kernel = probe.0.await.map_err(|e| Error::Usage(format!("kernel probe failed: {e}")))??;
    phases.mark("kernel probe");
    tc::remove_stale();
    nftrace::remove_stale();
    phases.mark("stale cleanup");
    let mut session = Session::load(&kernel)?;
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
