//! Retry waits: capped exponential backoff with jitter, for delivery to partners and to webhook
//! receivers alike.

use std::time::Duration;

/// A backoff that doubles from `initial` up to `max` with each failure in a row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Option<Duration>,
}

impl Backoff {
    /// A backoff with no failure yet.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: None,
        }
    }

    /// After a success: the next failure waits `initial` again.
    pub(crate) fn reset(&mut self) {
        self.current = None;
    }

    /// After a failure: how long to wait before the next attempt, jittered.
    pub(crate) fn fail(&mut self) -> Duration {
        let next = self.current.map_or(self.initial, |b| (b * 2).min(self.max));
        self.current = Some(next);
        jitter(next)
    }
}

/// A random wait between half and all of `backoff`, so that many retrying do not move in step.
fn jitter(backoff: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let random = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte)
        .map(|()| u16::from_le_bytes(byte))
        .unwrap_or(u16::MAX);
    backoff / 2 + backoff.mul_f64(f64::from(random) / f64::from(u16::MAX) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_within_jitter_and_resets() {
        let second = Duration::from_secs(1);
        let mut backoff = Backoff::new(second, 8 * second);
        for expected in [1, 2, 4, 8, 8] {
            let wait = backoff.fail();
            let full = expected * second;
            assert!(wait >= full / 2 && wait <= full, "{wait:?} for {full:?}");
        }
        backoff.reset();
        assert!(backoff.fail() <= second);
    }
}
