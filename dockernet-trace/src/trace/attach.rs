//! The attach step of a trace: the running kernel probed, what crashed runs left removed, the
//! programs loaded and attached (tracepoints, enrichment, tc on the plan's interfaces), and the
//! kernel filter set to the plan's probes.
use super::{nftrace, plan::Plan};
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

pub async fn attach(plan: &Plan) -> Result<Attached> {
    let kernel = tokio::task::spawn_blocking(KernelInfo::probe)
        .await
        .map_err(|e| Error::Usage(format!("kernel probe failed: {e}")))??;
    tc::remove_stale();
    nftrace::remove_stale();
    let mut session = Session::load(&kernel)?;
    session.attach_tracepoints(&kernel, Purpose::Trace)?;
    session.attach_enrichment(&kernel);
    session.attached();
    for iface in &plan.tc_ifaces {
        if let Err(e) = session.attach_tc(iface, &kernel) {
            log::warn!("tc on {iface}: {e}");
        }
    }
    session.set_config(config::for_probe(session.config(), &plan.ports, plan.family(), &plan.probe_addrs))?;
    let reader = session.events()?;
    Ok(Attached { kernel, session, reader })
}
