//! Failed authentication on the client API: counted per peer address, logged at a bounded rate, and
//! throttled.
//!
//! A caller that fails authentication (an unknown or malformed token, no credentials, a revoked token
//! or certificate) counts against its address. After [`AUTH_FAILURES_ALLOWED`] failures within
//! [`AUTH_FAILURE_WINDOW`] the address is refused for one window with `RESOURCE_EXHAUSTED` and the time
//! to wait, before its credentials are even looked at: guessing costs the node nothing more, and a
//! flood writes a few log lines rather than one per attempt. An address gets at most one log line per
//! [`AUTH_FAILURE_LOG_INTERVAL`] (with the count of what it stands for), plus one when it is throttled.
//!
//! IPv6 callers are counted by their /64 prefix, since one host commonly holds a whole /64. The table
//! holds at most [`AUTH_FAILURE_ADDRESSES`] addresses and forgets the one seen longest ago first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tulpar_core::limits::{
    AUTH_FAILURE_ADDRESSES, AUTH_FAILURE_LOG_INTERVAL, AUTH_FAILURE_WINDOW, AUTH_FAILURES_ALLOWED,
};
use tulpar_core::time::Clock;

use crate::error::ApiError;

/// What is known about one address's failures.
#[derive(Debug)]
struct Record {
    /// Start of the window failures are counted in.
    window_start: SystemTime,
    /// Failures in the current window.
    failures: u32,
    /// Refused without a look at its credentials until then.
    blocked_until: Option<SystemTime>,
    /// When the last log line about this address was written.
    last_logged: Option<SystemTime>,
    /// Failures and refusals since the last log line.
    unlogged: u64,
    /// For eviction: the last failure or refusal.
    last_seen: SystemTime,
}

impl Record {
    fn new(now: SystemTime) -> Self {
        Self {
            window_start: now,
            failures: 0,
            blocked_until: None,
            last_logged: None,
            unlogged: 0,
            last_seen: now,
        }
    }

    /// Counts one event for the log; true when a line is due now.
    fn log_due(&mut self, now: SystemTime) -> bool {
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|last| elapsed(last, now) >= AUTH_FAILURE_LOG_INTERVAL);
        if due {
            self.last_logged = Some(now);
        }
        due
    }
}

fn elapsed(since: SystemTime, now: SystemTime) -> Duration {
    // A clock that stepped back counts as no time passed.
    now.duration_since(since).unwrap_or_default()
}

/// The address failures are counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
pub(crate) fn address_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Failed authentications by peer address.
pub(crate) struct AuthThrottle {
    clock: Arc<dyn Clock>,
    records: Mutex<HashMap<IpAddr, Record>>,
    /// Every failure since the node started, for the log.
    total: AtomicU64,
    /// Lines written to the log, for tests.
    lines: AtomicU64,
}

impl AuthThrottle {
    /// A throttle judging time by `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            records: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
            lines: AtomicU64::new(0),
        }
    }

    /// Refuses a call from `addr` while the address is throttled, without looking at its credentials.
    pub(crate) fn admit(&self, addr: IpAddr) -> Result<(), ApiError> {
        let key = address_key(addr);
        let now = self.clock.now();
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let Some(record) = records.get_mut(&key) else {
            return Ok(());
        };
        let Some(until) = record.blocked_until else {
            return Ok(());
        };
        let left = until.duration_since(now).unwrap_or_default();
        if left.is_zero() {
            // The time is served: count afresh.
            record.blocked_until = None;
            record.failures = 0;
            record.window_start = now;
            return Ok(());
        }
        record.last_seen = now;
        if record.log_due(now) {
            self.lines.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer.addr = %key,
                refused_or_failed = record.unlogged,
                retry_after_s = left.as_secs(),
                "authentication throttled: calls refused without checking their credentials"
            );
            record.unlogged = 0;
        }
        // Whole seconds, rounded up, so that retrying after the hint is never too early.
        let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Err(ApiError::ResourceExhausted(format!(
            "too many failed authentications from {key} ({AUTH_FAILURES_ALLOWED} within {}s); \
             calls from this address are refused for {seconds} more seconds: retry after that with \
             valid credentials",
            AUTH_FAILURE_WINDOW.as_secs()
        )))
    }

    /// Records that a call from `addr` failed authentication with `error`.
    pub(crate) fn failed(&self, addr: IpAddr, error: &ApiError) {
        let key = address_key(addr);
        let now = self.clock.now();
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if !records.contains_key(&key) && records.len() >= AUTH_FAILURE_ADDRESSES {
            let oldest = records
                .iter()
                .min_by_key(|(_, r)| r.last_seen)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                records.remove(&oldest);
            }
        }
        let record = records.entry(key).or_insert_with(|| Record::new(now));
        record.last_seen = now;
        if elapsed(record.window_start, now) >= AUTH_FAILURE_WINDOW || now < record.window_start {
            record.window_start = now;
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        if record.log_due(now) {
            self.lines.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer.addr = %key,
                failures = record.unlogged,
                total_failures = total,
                reason = %error,
                "authentication failed"
            );
            record.unlogged = 0;
        }
        if record.failures >= AUTH_FAILURES_ALLOWED && record.blocked_until.is_none() {
            record.blocked_until = Some(now + AUTH_FAILURE_WINDOW);
            self.lines.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                peer.addr = %key,
                failures = record.failures,
                for_s = AUTH_FAILURE_WINDOW.as_secs(),
                "authentication throttled: too many failures from this address"
            );
        }
    }

    /// How many addresses are remembered.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use tulpar_core::time::ManualClock;

    use super::*;

    fn setup() -> (Arc<ManualClock>, AuthThrottle) {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let throttle = AuthThrottle::new(clock.clone());
        (clock, throttle)
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn failure() -> ApiError {
        ApiError::Unauthenticated("unknown bearer token".into())
    }

    #[test]
    fn an_address_is_refused_after_the_allowed_failures_and_admitted_after_the_window() {
        let (clock, throttle) = setup();
        for _ in 0..AUTH_FAILURES_ALLOWED {
            throttle.admit(v4(1)).unwrap();
            throttle.failed(v4(1), &failure());
        }
        let refused = throttle.admit(v4(1)).unwrap_err();
        assert!(
            matches!(&refused, ApiError::ResourceExhausted(m) if m.contains("60 more seconds")),
            "{refused}"
        );
        // Other addresses are not affected.
        throttle.admit(v4(2)).unwrap();
        clock.advance(Duration::from_secs(59));
        let refused = throttle.admit(v4(1)).unwrap_err();
        assert!(refused.to_string().contains("1 more seconds"), "{refused}");
        clock.advance(Duration::from_secs(1));
        throttle.admit(v4(1)).unwrap();
        // Counting starts afresh: one failure does not throttle again.
        throttle.failed(v4(1), &failure());
        throttle.admit(v4(1)).unwrap();
    }

    #[test]
    fn failures_spread_over_windows_are_not_throttled() {
        let (clock, throttle) = setup();
        for _ in 0..5 * AUTH_FAILURES_ALLOWED {
            throttle.admit(v4(1)).unwrap();
            throttle.failed(v4(1), &failure());
            // Half the allowed rate: a system retrying with a stale token now and then.
            clock.advance(AUTH_FAILURE_WINDOW / (AUTH_FAILURES_ALLOWED / 2));
        }
    }

    #[test]
    fn ipv6_callers_are_counted_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), v4(1));
        let (_, throttle) = setup();
        for _ in 0..AUTH_FAILURES_ALLOWED {
            throttle.failed(a, &failure());
        }
        assert!(throttle.admit(b).is_err());
        assert!(throttle.admit(c).is_ok());
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest_address() {
        let (clock, throttle) = setup();
        for _ in 0..AUTH_FAILURES_ALLOWED {
            throttle.failed(v4(1), &failure());
        }
        assert!(throttle.admit(v4(1)).is_err());
        for i in 0..AUTH_FAILURE_ADDRESSES as u32 {
            clock.advance(Duration::from_millis(1));
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            throttle.failed(addr, &failure());
        }
        assert_eq!(throttle.remembered(), AUTH_FAILURE_ADDRESSES);
        // 192.0.2.1 was seen first, so it was forgotten to make room.
        assert!(throttle.admit(v4(1)).is_ok());
    }

    #[test]
    fn three_thousand_failures_from_one_address_write_a_few_lines() {
        let (clock, throttle) = setup();
        let mut refused = 0;
        // The attack: 3,000 wrong tokens from one address, one per millisecond.
        for _ in 0..3000 {
            clock.advance(Duration::from_millis(1));
            match throttle.admit(v4(1)) {
                Ok(()) => throttle.failed(v4(1), &failure()),
                Err(_) => refused += 1,
            }
        }
        assert_eq!(refused, 3000 - AUTH_FAILURES_ALLOWED);
        // The first failure and the start of the throttle; the rest waits for the next line.
        assert_eq!(throttle.lines.load(Ordering::Relaxed), 2);
        // Once the time is served, the next failure writes one line counting all that was not.
        clock.advance(AUTH_FAILURE_WINDOW);
        assert!(throttle.admit(v4(1)).is_ok());
        throttle.failed(v4(1), &failure());
        assert_eq!(throttle.lines.load(Ordering::Relaxed), 3);
    }
}
