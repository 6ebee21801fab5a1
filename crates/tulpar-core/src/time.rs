//! Time as the domain sees it: an injectable clock and conversions to and from protobuf timestamps.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tulpar_proto::pbjson_types::Timestamp;

/// Where "now" comes from. Production uses [`SystemClock`]; tests use [`ManualClock`] so that deadline
/// logic is exercised without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: SystemTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The protobuf timestamp for `time`.
pub fn to_timestamp(time: SystemTime) -> Timestamp {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => Timestamp {
            seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
        },
        Err(before) => {
            let before = before.duration();
            let mut seconds = -i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            let mut nanos = i32::try_from(before.subsec_nanos()).unwrap_or(0);
            if nanos > 0 {
                seconds -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            Timestamp { seconds, nanos }
        }
    }
}

/// The time a protobuf timestamp stands for, or `None` if it is out of range
/// (nanos outside 0..1e9, or before 0001-01-01 / after 9999-12-31 as proto3 requires).
pub fn from_timestamp(ts: &Timestamp) -> Option<SystemTime> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    if !(0..1_000_000_000).contains(&ts.nanos) || !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds)
    {
        return None;
    }
    let nanos = Duration::from_nanos(u64::try_from(ts.nanos).ok()?);
    if ts.seconds >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(ts.seconds).ok()?) + nanos)
    } else {
        Some(UNIX_EPOCH - Duration::from_secs(ts.seconds.unsigned_abs()) + nanos)
    }
}

/// Whole seconds since the Unix epoch (negative before it).
pub fn unix_seconds(time: SystemTime) -> i64 {
    to_timestamp(time).seconds
}

/// A duration for people, in its two largest units: "42s", "5m 3s", "2h 15m", "3d 4h".
pub fn fmt_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) if seconds == 0 => format!("{}ms", duration.as_millis()),
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_two_largest_units() {
        let cases = [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(42), "42s"),
            (Duration::from_secs(303), "5m 3s"),
            (Duration::from_secs(2 * 3600 + 15 * 60 + 9), "2h 15m"),
            (Duration::from_secs(3 * 86_400 + 4 * 3600), "3d 4h"),
        ];
        for (duration, text) in cases {
            assert_eq!(fmt_duration(duration), text);
        }
    }

    #[test]
    fn timestamps_round_trip_on_both_sides_of_the_epoch() {
        for offset in [-1_500_000_000i64, -1, 0, 1, 1_800_000_000] {
            let time = if offset >= 0 {
                UNIX_EPOCH + Duration::from_millis(offset as u64 * 1000 + 250)
            } else {
                UNIX_EPOCH - Duration::from_millis(offset.unsigned_abs() * 1000 - 250)
            };
            let ts = to_timestamp(time);
            assert!((0..1_000_000_000).contains(&ts.nanos));
            assert_eq!(from_timestamp(&ts), Some(time));
        }
    }

    #[test]
    fn out_of_range_timestamps_are_none() {
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }),
            None
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(UNIX_EPOCH);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(90));
    }
}
