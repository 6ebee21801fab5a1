//! How long the commit loop's writes and syncs take, counted in fixed buckets so that a monitoring
//! system can compute percentiles; the ledger depends on no metrics library.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from 0.5 ms (a battery-backed cache) to 2.5 s (a disk in
/// trouble).
pub const SYNC_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counts of durations by bucket, updated without a lock.
#[derive(Debug, Default)]
pub(crate) struct SyncTimes {
    /// Per bucket of [`SYNC_BUCKETS`], the durations at most its bound and above the one before;
    /// the last counts those above every bound.
    buckets: [AtomicU64; SYNC_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    bytes: AtomicU64,
}

impl SyncTimes {
    /// Counts one durable write of `bytes` that took `took`.
    pub(crate) fn record(&self, took: Duration, bytes: usize) {
        let seconds = took.as_secs_f64();
        let bucket = SYNC_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(SYNC_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The counts as they stand.
    pub(crate) fn snapshot(&self) -> CommitTimes {
        let mut cumulative = 0;
        let buckets = SYNC_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        CommitTimes {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// The ledger's durable writes (one per group-committed batch: write and fdatasync) since it opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitTimes {
    /// Cumulative counts: per bound of [`SYNC_BUCKETS`] in seconds, the writes that took at most it.
    pub buckets: Vec<(f64, u64)>,
    /// Every write counted, the slowest included.
    pub count: u64,
    /// Their durations added up.
    pub sum: Duration,
    /// The bytes they wrote.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_slowest_counts_only_in_the_total() {
        let times = SyncTimes::default();
        times.record(Duration::from_micros(300), 10);
        times.record(Duration::from_millis(30), 20);
        times.record(Duration::from_secs(3), 30);
        let snapshot = times.snapshot();
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.bytes, 60);
        assert_eq!(snapshot.buckets[0], (0.0005, 1));
        assert_eq!(snapshot.buckets[5], (0.025, 1));
        assert_eq!(snapshot.buckets[6], (0.05, 2));
        assert_eq!(snapshot.buckets.last(), Some(&(2.5, 2)));
        assert_eq!(
            snapshot.sum,
            Duration::from_micros(300) + Duration::from_millis(30) + Duration::from_secs(3)
        );
    }
}
