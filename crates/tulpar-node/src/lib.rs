//! The Tulpar national node: the client API for the country's own officers and customs systems, the
//! federation API for partner nodes, store-and-forward delivery, and acknowledgement tracking.
//!
//! **Architecture invariant:** the ledger is the database. Handlers verify, then append to the ledger;
//! all other state (alert records, outboxes, deadlines, idempotency records) is the [`state`] view, which
//! only the ledger's commit loop writes and which is rebuilt from the ledger after a crash.

mod accounts;
pub mod audit;
pub mod auth;
mod backoff;
mod client_auth;
pub mod config;
mod console;
mod context;
mod deadlines;
mod delivery;
pub mod error;
mod http_api;
pub mod inbound;
pub mod integrity;
mod ledger_key;
pub mod lifecycle;
mod locks;
mod metrics;
mod node;
mod paging;
mod partners;
mod renewal;
mod revocations;
mod scrape;
mod service;
mod settle;
mod startup;
mod state;
mod submission;
#[cfg(test)]
pub(crate) mod testing;
mod throttle;
pub mod transport;
mod units;
mod watch;
mod webhooks;
mod witness;

pub use startup::{
    EXIT_DAMAGED_LEDGER, RunningNode, check, is_damaged_ledger, open_ledger, run_until_signal,
    start, start_with_clock,
};
