//! Label sets kept bounded: a family takes at most [`MAX_LABEL_SETS`] distinct label sets;
//! past that, events are counted under one `_other` set (and in `label_sets_capped_total`), so
//! a host with thousands of short-lived containers cannot make the scrape grow without end.
use std::{collections::HashSet, hash::Hash, sync::Mutex};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};

use crate::watch::line::EventLine;

pub const MAX_LABEL_SETS: usize = 500;
pub const OTHER: &str = "_other";

/// What an event is counted by: no ports, no addresses.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub cause: String,
    pub container: String,
    pub network: String,
    pub iface: String,
}

impl EventLabels {
    /// The source's container if it is one, else the destination's (and that one's network);
    /// between non-containers, the destination's network, else the source's.
    pub fn of(l: &EventLine) -> Self {
        let (container, network) = match (&l.src.container, &l.dst.container) {
            (Some(c), _) => (Some(c), l.src.network.as_ref()),
            (None, Some(c)) => (Some(c), l.dst.network.as_ref()),
            (None, None) => (None, l.dst.network.as_ref().or(l.src.network.as_ref())),
        };
        EventLabels {
            cause: l.cause.code().into(),
            container: container.cloned().unwrap_or_default(),
            network: network.cloned().unwrap_or_default(),
            iface: l.iface.clone().unwrap_or_default(),
        }
    }
}

/// The label set standing for all that did not fit.
pub trait Overflow {
    fn overflow(&self) -> Self;
}

impl Overflow for EventLabels {
    /// The cause stays: it has a few values only, and alerts are written on it.
    fn overflow(&self) -> Self {
        EventLabels {
            cause: self.cause.clone(),
            container: OTHER.into(),
            network: OTHER.into(),
            iface: OTHER.into(),
        }
    }
}

macro_rules! overflow_all {
    ($t:ty { $($f:ident),* }) => {
        impl Overflow for $t {
            fn overflow(&self) -> Self {
                Self { $($f: OTHER.into()),* }
            }
        }
    };
}
overflow_all!(super::DockerLabels { r#type, action });
overflow_all!(super::ChangeLabels { source, what });

/// A counter family with a bound on its label sets.
pub struct Capped<L: Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static> {
    family: Family<L, Counter>,
    seen: Mutex<HashSet<L>>,
    capped: Counter,
}

impl<L: Clone + Hash + Eq + EncodeLabelSet + std::fmt::Debug + Overflow + Send + Sync + 'static> Capped<L> {
    pub fn new(capped: Counter) -> Self {
        Capped { family: Family::default(), seen: Mutex::default(), capped }
    }

    pub fn family(&self) -> Family<L, Counter> {
        self.family.clone()
    }

    pub fn inc_by(&self, labels: L, n: u64) {
        let labels = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.contains(&labels) || seen.len() < MAX_LABEL_SETS {
                seen.insert(labels.clone());
                labels
            } else {
                self.capped.inc_by(n);
                labels.overflow()
            }
        };
        self.family.get_or_create(&labels).inc_by(n);
    }
}
