//! A recording's events over time: per-second buckets for a short recording, per-minute (or
//! per-hour) ones for longer, so a timeline stays a few hundred rows at most.
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

use super::line::timestamp;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket (UTC).
    pub t: String,
    pub count: u64,
    pub causes: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timeline {
    pub bucket_s: u64,
    /// Every bucket from the first event's to the last's, empty ones included.
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

/// `events`: (time, cause, count).
pub fn build(events: &[(SystemTime, String, u64)]) -> Timeline {
    let secs = |t: &SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (Some(first), Some(last)) =
        (events.iter().map(|e| secs(&e.0)).min(), events.iter().map(|e| secs(&e.0)).max())
    else {
        return Timeline { bucket_s: 1, buckets: vec![] };
    };
    let width = bucket_width(Duration::from_secs(last - first));
    let start = first - first % width;
    let n = ((last - start) / width + 1) as usize;
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|k| Bucket {
            t: timestamp(UNIX_EPOCH + Duration::from_secs(start + k as u64 * width)),
            count: 0,
            causes: BTreeMap::new(),
        })
        .collect();
    for (t, cause, count) in events {
        let b = &mut buckets[((secs(t) - start) / width) as usize];
        b.count += count;
        *b.causes.entry(cause.clone()).or_default() += count;
    }
    Timeline { bucket_s: width, buckets }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
