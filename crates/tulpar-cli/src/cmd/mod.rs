//! One module per command; each has clap `Args` and a `run` returning the process exit code.

pub(crate) mod alert_check;
pub(crate) mod envelope;
pub(crate) mod keygen;
pub(crate) mod ledger;
