//! `watch --metrics ADDR`: what the watch reports, as Prometheus metrics (OpenMetrics, or the
//! classic text format for clients that do not ask for OpenMetrics), served over HTTP by
//! [`server`]. Nothing here runs, and nothing is counted, unless `--metrics` is given.
//!
//! Metrics (all prefixed `dockernet_trace_`):
//! - `drops_total`, `route_failures_total`, `resets_total` by `cause`, `container`, `network`
//!   and `iface`: the events of the watch's lines (their `count`s). `container` is the source's
//!   container if it is one, else the destination's; `network` is that container's network (for
//!   traffic between non-containers, the destination's network, else the source's); `iface` is
//!   where the kernel saw it. No ports or addresses become labels.
//! - `lost_events_total`: events the kernel could not hand over (ring buffer full).
//! - `program_attached{hook}`: 1 when the program of that hook is attached.
//! - `docker_events_total{type,action}`, `changes_total{source,what}`: Docker's events seen and
//!   the host's network changes seen while watching.
//! - `label_sets_capped_total`: events counted under `_other` labels because a family reached
//!   [`labels::MAX_LABEL_SETS`] distinct label sets (a host with very many containers).
pub mod labels;
pub mod server;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, info::Info},
    registry::Registry,
};

use self::labels::{Capped, EventLabels};
use super::line::{ChangeLine, EventLine, Kind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DockerLabels {
    r#type: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChangeLabels {
    source: String,
    what: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

pub struct Metrics {
    registry: Registry,
    drops: Capped<EventLabels>,
    route_failures: Capped<EventLabels>,
    resets: Capped<EventLabels>,
    lost_events: Counter,
    programs: Family<HookLabels, Gauge>,
    docker_events: Capped<DockerLabels>,
    changes: Capped<ChangeLabels>,
    capped: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dockernet_trace");
        let capped = Counter::default();
        let m = Metrics {
            drops: Capped::new(capped.clone()),
            route_failures: Capped::new(capped.clone()),
            resets: Capped::new(capped.clone()),
            lost_events: Counter::default(),
            programs: Family::default(),
            docker_events: Capped::new(capped.clone()),
            changes: Capped::new(capped.clone()),
            capped,
            registry: Registry::default(),
        };
        let by = "by cause, container, network and interface";
        registry.register("drops", format!("Packets dropped, {by}"), m.drops.family());
        registry.register(
            "route_failures",
            format!("Failed route lookups and ARP, {by}"),
            m.route_failures.family(),
        );
        registry.register("resets", format!("TCP resets sent, {by}"), m.resets.family());
        registry.register("lost_events", "Kernel events lost (ring buffer full)", m.lost_events.clone());
        registry.register(
            "program_attached",
            "Whether the program of a kernel hook is attached",
            m.programs.clone(),
        );
        registry.register("docker_events", "Docker events seen", m.docker_events.family());
        registry.register("changes", "Changes of the host's network seen while watching", m.changes.family());
        registry.register(
            "label_sets_capped",
            format!(
                "Events counted under _other labels: a family reached {} label sets",
                labels::MAX_LABEL_SETS
            ),
            m.capped.clone(),
        );
        let version = VersionLabels { version: env!("CARGO_PKG_VERSION").into() };
        registry.register("build", "The watch's version", Info::new(version));
        Metrics { registry, ..m }
    }

    /// Counts the events of one line of the watch.
    pub fn event(&self, l: &EventLine) {
        let family = match l.kind {
            Kind::Drop => &self.drops,
            Kind::RouteFailure => &self.route_failures,
            Kind::Reset => &self.resets,
            Kind::Summary => return,
        };
        family.inc_by(EventLabels::of(l), l.count);
    }

    pub fn change(&self, c: &ChangeLine) {
        self.changes.inc_by(ChangeLabels { source: c.source.code().into(), what: c.what.code().into() }, 1);
    }

    pub fn docker_event(&self, kind: &str, action: &str) {
        // `exec_start: sh -c ...` carries a command line: only the action's name is a label.
        let action = action.split(':').next().unwrap_or_default().trim();
        self.docker_events.inc_by(DockerLabels { r#type: kind.into(), action: action.into() }, 1);
    }

    /// The kernel's lost-event total so far (a counter only grows: the difference is added).
    pub fn lost_events(&self, total: u64) {
        let seen = self.lost_events.get();
        if total > seen {
            self.lost_events.inc_by(total - seen);
        }
    }

    pub fn program(&self, hook: &str, attached: bool) {
        self.programs.get_or_create(&HookLabels { hook: hook.into() }).set(i64::from(attached));
    }

    /// The OpenMetrics text (with `openmetrics`), else the Prometheus text format 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        let done = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        if let Err(e) = done {
            log::warn!("encoding the metrics: {e}");
        }
        out
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
