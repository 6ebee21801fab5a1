//! How many connections a listener holds: in all, per remote address, and in TLS handshake.
//!
//! A connection takes its place when it is accepted, before its handshake, and gives it back when it
//! closes. One over a limit is still told why when a handshake slot is free: it completes TLS and every
//! call on it is answered `RESOURCE_EXHAUSTED` naming the limit, then it is closed. When no handshake
//! slot is free it is closed at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use tulpar_config::ConnectionLimits;

/// How often a refusal is logged for the same address.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses remembered for [`REFUSAL_LOG_INTERVAL`]; the memory is cleared when it is full.
const REFUSAL_LOG_ADDRESSES: usize = 4096;

/// The connections a listener holds.
#[derive(Debug)]
pub(crate) struct Admission {
    api: &'static str,
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    refusals_logged: HashMap<IpAddr, Instant>,
}

/// A connection's place; given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    admission: Arc<Admission>,
    address: IpAddr,
}

impl Admission {
    pub(crate) fn new(api: &'static str, limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            api,
            limits,
            counts: Mutex::default(),
        })
    }

    pub(crate) fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// A place for a connection from `address`, or the refusal to tell it.
    pub(crate) fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Refused> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let from_address = counts.by_address.get(&address).copied().unwrap_or(0);
        let refusal = if counts.total >= self.limits.max_connections {
            Some(Refused::Total {
                limit: self.limits.max_connections,
                api: self.api,
            })
        } else if from_address >= self.limits.max_connections_per_address {
            Some(Refused::PerAddress {
                limit: self.limits.max_connections_per_address,
                address,
                api: self.api,
            })
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let now = Instant::now();
            if counts.refusals_logged.len() >= REFUSAL_LOG_ADDRESSES {
                counts.refusals_logged.clear();
            }
            let log = counts
                .refusals_logged
                .get(&address)
                .is_none_or(|last| now.duration_since(*last) >= REFUSAL_LOG_INTERVAL);
            if log {
                counts.refusals_logged.insert(address, now);
                tracing::warn!(
                    api = self.api,
                    peer.addr = %address,
                    connections = counts.total,
                    from_address,
                    "connection refused: {refusal} (logged once a minute per address)"
                );
            }
            return Err(refusal);
        }
        counts.total += 1;
        *counts.by_address.entry(address).or_insert(0) += 1;
        Ok(Slot {
            admission: self.clone(),
            address,
        })
    }
}

/// Why a connection was not admitted; told to the caller in every answer on it.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Refused {
    /// The listener holds all the connections it may.
    #[error(
        "this node holds at most {limit} connections on its {api} API (max_connections); \
         try again later"
    )]
    Total { limit: usize, api: &'static str },
    /// The address holds its share.
    #[error(
        "this node holds at most {limit} connections from one address ({address}) on its {api} \
         API (max_connections_per_address); close idle connections or share one"
    )]
    PerAddress {
        limit: usize,
        address: IpAddr,
        api: &'static str,
    },
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.by_address.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 5,
            max_connections_per_address: 3,
            max_handshakes: 2,
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn one_address_gets_its_share_and_the_listener_its_total() {
        let admission = Admission::new("client", limits());
        let one: IpAddr = [127, 0, 0, 1].into();
        let two: IpAddr = [127, 0, 0, 2].into();
        let three: IpAddr = [127, 0, 0, 3].into();
        let mut held: Vec<Slot> = (0..3)
            .map(|_| admission.admit(one).expect("room"))
            .collect();
        let refusal = admission
            .admit(one)
            .expect_err("over the share of one address");
        assert!(
            refusal.to_string().contains("max_connections_per_address"),
            "{refusal}"
        );
        assert!(refusal.to_string().contains("127.0.0.1"), "{refusal}");
        held.push(admission.admit(two).expect("another address"));
        held.push(admission.admit(two).expect("another address"));
        let refusal = admission.admit(three).expect_err("over the total");
        assert!(
            refusal.to_string().contains("at most 5 connections"),
            "{refusal}"
        );
        // A closed connection gives its place back.
        held.remove(0);
        admission.admit(one).expect("room again");
    }
}
