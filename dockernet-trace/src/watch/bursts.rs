//! Bursts of drops, and the change of the host's network that came just before each: "03:12:44
//! br-73a00eba170c lost 172.18.0.1/16 — from 03:12:45, 212 drops to heima-net, cause
//! bridge_gateway_missing".
//!
//! A burst is a run of lines of one kind and cause towards one destination network, each less
//! than [`GAP`] after the one before. The change named before it is the latest change up to the
//! burst's start that concerns it (its network, interface or containers; the ruleset for
//! firewall causes; the sysctls for forwarding), else the latest change of any kind at most
//! [`RECENT`] before it. Lines are read in file order, which is time order only roughly (a
//! drop line is written at the end of its second, a change when it is seen), so a change read
//! after a burst opened still counts for it when its time is before the burst's start.
use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, SystemTime},
};

use serde::Serialize;

use super::line::{ChangeLine, ChangeSource, EventLine, Kind};
use crate::cause::Cause;

/// Lines further apart than this start a new burst.
pub const GAP: Duration = Duration::from_secs(60);
/// How close before a burst a change that does not concern it must be, to be named.
pub const RECENT: Duration = Duration::from_secs(60);
/// A change stamped this little after a burst's first line still counts as before it (the
/// drop and the change are seen by different parts, each with its own small delay).
const SLACK: Duration = Duration::from_millis(250);
/// Changes this close together are one change and its consequences (a subnet's route goes
/// with its address): the first of them is the one to name.
const CONSEQUENCE: Duration = Duration::from_millis(100);
/// Bursts kept: the largest, when a recording has more.
pub const MAX_BURSTS: usize = 100;
/// Recent changes kept per subject (network, interface, container, ruleset, sysctls).
const PER_SUBJECT: usize = 4;
const MAX_SUBJECTS: usize = 4096;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Burst {
    pub from: String,
    pub to: String,
    pub kind: Kind,
    pub cause: Cause,
    pub count: u64,
    /// The destination's network; the destination itself when there was only one.
    pub dst_network: Option<String>,
    pub dst_ip: Option<IpAddr>,
    pub dst_container: Option<String>,
    /// The change just before the burst (null when none was recorded).
    pub change_before: Option<ChangeLine>,
    /// Whether that change concerns the burst's network, interface, containers or cause, or
    /// merely came shortly before it.
    pub change_related: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Network(String),
    Iface(String),
    Container(String),
    Ruleset,
    Sysctls,
}

fn subjects_of_change(c: &ChangeLine) -> Vec<Subject> {
    let mut s: Vec<Subject> = [
        c.network.clone().map(Subject::Network),
        c.iface.clone().map(Subject::Iface),
        c.container.clone().map(Subject::Container),
    ]
    .into_iter()
    .flatten()
    .collect();
    match c.source {
        ChangeSource::Netfilter => s.push(Subject::Ruleset),
        ChangeSource::Sysctl => s.push(Subject::Sysctls),
        _ => {}
    }
    s
}

fn subjects_of_event(e: &EventLine) -> Vec<Subject> {
    let mut s: Vec<Subject> = [
        e.dst.network.clone().map(Subject::Network),
        e.src.network.clone().map(Subject::Network),
        e.iface.clone().map(Subject::Iface),
        e.dst.container.clone().map(Subject::Container),
        e.src.container.clone().map(Subject::Container),
    ]
    .into_iter()
    .flatten()
    .collect();
    match e.cause {
        Cause::NetworkIsolation | Cause::FirewallDrop | Cause::DnatMissing | Cause::MasqueradeMissing => {
            s.push(Subject::Ruleset)
        }
        Cause::IpForwardDisabled => s.push(Subject::Sysctls),
        _ => {}
    }
    s
}

type Key = (Kind, Cause, Option<String>);

/// The change picked for a burst: related ones beat unrelated ones, later beat earlier (but a
/// change beats its own consequences, see [`CONSEQUENCE`]).
#[derive(Clone, Debug)]
struct Pick {
    related: bool,
    t: SystemTime,
    change: ChangeLine,
}

#[derive(Clone, Debug)]
struct Open {
    start: SystemTime,
    last: SystemTime,
    first: EventLine,
    count: u64,
    one_dst: bool,
    subjects: Vec<Subject>,
    pick: Option<Pick>,
}

impl Open {
    /// Takes `c` (at `t`) if it is a better "change before" than the current pick.
    fn consider(&mut self, t: SystemTime, c: &ChangeLine, related: bool) {
        if t > self.start + SLACK || (!related && t + RECENT < self.start) {
            return;
        }
        let better = match &self.pick {
            None => true,
            Some(p) if related == p.related && t.max(p.t) <= t.min(p.t) + CONSEQUENCE => t < p.t,
            Some(p) => (related, t) > (p.related, p.t),
        };
        if better {
            self.pick = Some(Pick { related, t, change: c.clone() });
        }
    }

    fn close(self) -> (SystemTime, Burst) {
        let stamp = super::line::timestamp;
        let one = self.one_dst;
        let burst = Burst {
            from: stamp(self.start),
            to: stamp(self.last),
            kind: self.first.kind,
            cause: self.first.cause,
            count: self.count,
            dst_network: self.first.dst.network.clone(),
            dst_ip: one.then_some(self.first.dst.ip),
            dst_container: self.first.dst.container.clone().filter(|_| one),
            change_related: self.pick.as_ref().is_some_and(|p| p.related),
            change_before: self.pick.map(|p| p.change),
        };
        (self.start, burst)
    }
}

#[derive(Default)]
pub struct Bursts {
    open: HashMap<Key, Open>,
    closed: Vec<(SystemTime, Burst)>,
    /// Bursts left out to keep [`MAX_BURSTS`].
    pub left_out: usize,
    recent: HashMap<Subject, VecDeque<(SystemTime, ChangeLine)>>,
    latest: VecDeque<(SystemTime, ChangeLine)>,
}

impl Bursts {
    pub fn add_change(&mut self, t: SystemTime, c: &ChangeLine) {
        let subjects = subjects_of_change(c);
        for open in self.open.values_mut() {
            let related = subjects.iter().any(|s| open.subjects.contains(s));
            open.consider(t, c, related);
        }
        if self.recent.len() < MAX_SUBJECTS {
            for s in &subjects {
                self.recent.entry(s.clone()).or_default();
            }
        }
        for s in &subjects {
            if let Some(q) = self.recent.get_mut(s) {
                push_bounded(q, (t, c.clone()));
            }
        }
        push_bounded(&mut self.latest, (t, c.clone()));
    }

    pub fn add_event(&mut self, t: SystemTime, e: &EventLine) {
        let key: Key = (e.kind, e.cause, e.dst.network.clone());
        if let Some(open) = self.open.get_mut(&key) {
            if t <= open.last + GAP {
                open.count += e.count;
                open.last = open.last.max(t);
                open.start = open.start.min(t);
                open.one_dst &= open.first.dst.ip == e.dst.ip;
                return;
            }
            let done = self.open.remove(&key).expect("present");
            self.keep(done.close());
        }
        let mut open = Open {
            start: t,
            last: t,
            first: e.clone(),
            count: e.count,
            one_dst: true,
            subjects: subjects_of_event(e),
            pick: None,
        };
        for s in open.subjects.clone() {
            for (ct, c) in self.recent.get(&s).into_iter().flatten() {
                open.consider(*ct, c, true);
            }
        }
        for (ct, c) in &self.latest {
            open.consider(*ct, c, false);
        }
        self.open.insert(key, open);
    }

    fn keep(&mut self, b: (SystemTime, Burst)) {
        self.closed.push(b);
        if self.closed.len() > MAX_BURSTS {
            let smallest = (0..self.closed.len()).min_by_key(|&k| self.closed[k].1.count).unwrap_or(0);
            self.closed.remove(smallest);
            self.left_out += 1;
        }
    }

    /// Every burst, in time order.
    pub fn finish(mut self) -> (Vec<Burst>, usize) {
        let open: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        for o in open {
            self.keep(o.close());
        }
        self.closed.sort_by(|(t, a), (u, b)| t.cmp(u).then(a.cause.cmp(&b.cause)));
        (self.closed.into_iter().map(|(_, b)| b).collect(), self.left_out)
    }
}

fn push_bounded(q: &mut VecDeque<(SystemTime, ChangeLine)>, item: (SystemTime, ChangeLine)) {
    if q.len() == PER_SUBJECT {
        q.pop_front();
    }
    q.push_back(item);
}

#[cfg(test)]
#[path = "bursts_tests.rs"]
mod tests;
