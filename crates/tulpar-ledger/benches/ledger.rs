//! Ledger benchmarks.
fn main() {}
