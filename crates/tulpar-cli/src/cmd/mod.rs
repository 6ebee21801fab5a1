//! One module per command; each has clap `Args` and a `run` returning the process exit code.

pub(crate) mod alert_check;
pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod cert;
pub(crate) mod directory;
pub(crate) mod envelope;
pub(crate) mod init;
pub(crate) mod keygen;
mod layout;
pub(crate) mod ledger;
mod node_config;
pub(crate) mod renew;
pub(crate) mod token;
pub(crate) mod trust;
pub(crate) mod user;
pub(crate) mod webhooks;
pub(crate) mod witness;
