//! A recording's events over time: per-second buckets for a short recording, per-minute (or
//! per-hour) ones for longer, so a timeline stays a few hundred rows at most. Built line by
//! line: while the span grows, the buckets are merged into wider ones, so memory stays bounded
//! by the number of rows, however long the recording.
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

use super::line::{ChangeLine, timestamp};

/// Changes listed per bucket; more are counted only.
pub const CHANGES_PER_BUCKET: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket (UTC).
    pub t: String,
    pub count: u64,
    pub causes: BTreeMap<String, u64>,
    /// The bucket's first changes of the host's network, in the order recorded.
    pub changes: Vec<ChangeLine>,
    /// Changes in this bucket beyond those listed.
    pub more_changes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timeline {
    pub bucket_s: u64,
    /// Every bucket from the first line's to the last's, empty ones included.
    pub buckets: Vec<Bucket>,
}

/// Bucket width for a recording spanning `span`.
pub fn bucket_width(span: Duration) -> u64 {
    match span.as_secs() {
        0..=300 => 1,
        301..=43_200 => 60,
        _ => 3600,
    }
}

#[derive(Clone, Debug, Default)]
struct Acc {
    count: u64,
    causes: BTreeMap<String, u64>,
    changes: Vec<ChangeLine>,
    more_changes: u64,
}

impl Acc {
    fn merge(&mut self, other: Acc) {
        self.count += other.count;
        for (c, n) in other.causes {
            *self.causes.entry(c).or_default() += n;
        }
        self.more_changes += other.more_changes;
        for c in other.changes {
            self.push_change(c);
        }
    }

    fn push_change(&mut self, c: ChangeLine) {
        if self.changes.len() < CHANGES_PER_BUCKET {
            self.changes.push(c);
        } else {
            self.more_changes += 1;
        }
    }
}

/// Collects events and changes in any order; `finish` gives the timeline.
#[derive(Clone, Debug)]
pub struct TimelineBuilder {
    width: u64,
    span: Option<(u64, u64)>,
    buckets: BTreeMap<u64, Acc>,
}

impl Default for TimelineBuilder {
    fn default() -> Self {
        Self { width: 1, span: None, buckets: BTreeMap::new() }
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TimelineBuilder {
    pub fn add_event(&mut self, t: SystemTime, cause: &str, count: u64) {
        let b = self.bucket(secs(t));
        b.count += count;
        *b.causes.entry(cause.to_string()).or_default() += count;
    }

    pub fn add_change(&mut self, t: SystemTime, c: ChangeLine) {
        self.bucket(secs(t)).push_change(c);
    }

    /// The bucket of second `s`, widening every bucket first when the span needs it.
    fn bucket(&mut self, s: u64) -> &mut Acc {
        let (first, last) = match self.span {
            Some((a, b)) => (a.min(s), b.max(s)),
            None => (s, s),
        };
        self.span = Some((first, last));
        let width = bucket_width(Duration::from_secs(last - first));
        if width > self.width {
            self.width = width;
            let old = std::mem::take(&mut self.buckets);
            for (start, acc) in old {
                self.buckets.entry(start - start % width).or_default().merge(acc);
            }
        }
        self.buckets.entry(s - s % self.width).or_default()
    }

    pub fn finish(self) -> Timeline {
        let Some((first, last)) = self.span else { return Timeline { bucket_s: 1, buckets: vec![] } };
        let width = self.width;
        let mut filled = self.buckets;
        let start = first - first % width;
        let buckets = (0..=(last - start) / width)
            .map(|k| {
                let at = start + k * width;
                let acc = filled.remove(&at).unwrap_or_default();
                Bucket {
                    t: timestamp(UNIX_EPOCH + Duration::from_secs(at)),
                    count: acc.count,
                    causes: acc.causes,
                    changes: acc.changes,
                    more_changes: acc.more_changes,
                }
            })
            .collect();
        Timeline { bucket_s: width, buckets }
    }
}

/// `events`: (time, cause, count).
#[cfg(test)]
pub fn build(events: &[(SystemTime, String, u64)]) -> Timeline {
    let mut b = TimelineBuilder::default();
    for (t, cause, count) in events {
        b.add_event(*t, cause, *count);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::line::{ChangeKind, ChangeSource, ChangeWhat};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_300_000 + s)
    }

    #[test]
    fn short_recordings_get_seconds_with_gaps_kept() {
        let tl = build(&[
            (at(0), "network_isolation".into(), 3),
            (at(2), "firewall_drop".into(), 2),
            (at(2), "network_isolation".into(), 1),
        ]);
        assert_eq!(tl.bucket_s, 1);
        let counts: Vec<u64> = tl.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [3, 0, 3]);
        assert_eq!(tl.buckets[2].causes["firewall_drop"], 2);
        assert!(tl.buckets[0].t.ends_with(":40.000Z"), "{}", tl.buckets[0].t);
    }

    #[test]
    fn long_recordings_get_minutes_or_hours() {
        assert_eq!(bucket_width(Duration::from_secs(301)), 60);
        assert_eq!(bucket_width(Duration::from_secs(86_400)), 3600);
        let tl = build(&[(at(0), "x".into(), 1), (at(3600), "x".into(), 1)]);
        assert_eq!((tl.bucket_s, tl.buckets.len()), (60, 61));
        assert!(build(&[]).buckets.is_empty());
    }

    fn change(n: u32) -> ChangeLine {
        ChangeLine {
            schema: 1,
            t: format!("c{n}"),
            kind: ChangeKind::Change,
            source: ChangeSource::Docker,
            what: ChangeWhat::Event("container start".into()),
            iface: None,
            network: None,
            container: Some(format!("c{n}")),
            detail: None,
        }
    }

    #[test]
    fn widening_keeps_totals_and_changes_and_bounds_the_rows() {
        let mut b = TimelineBuilder::default();
        // Out of order on purpose: the widening must not depend on the order of the lines.
        b.add_event(at(100), "x", 2);
        b.add_change(at(95), change(0));
        b.add_event(at(3), "y", 1);
        for k in 0..(CHANGES_PER_BUCKET as u32 + 2) {
            b.add_change(at(70_000), change(k + 1));
        }
        b.add_event(at(70_000), "x", 5);
        let tl = b.finish();
        assert_eq!(tl.bucket_s, 3600);
        assert!(tl.buckets.len() <= 21, "{}", tl.buckets.len());
        assert_eq!(tl.buckets.iter().map(|b| b.count).sum::<u64>(), 8);
        assert_eq!(tl.buckets[0].causes["x"], 2);
        assert_eq!(tl.buckets[0].changes.len(), 1);
        let last = tl.buckets.last().unwrap();
        assert_eq!((last.changes.len(), last.more_changes), (CHANGES_PER_BUCKET, 2));
        assert_eq!(last.changes[0].t, "c1", "the first changes are the ones listed");
    }
}
