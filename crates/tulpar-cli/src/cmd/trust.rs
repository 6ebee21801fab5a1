//! `tulpar trust add|list`: the node's trust store of partner countries.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use tulpar_core::codes::CountryCode;
use tulpar_core::time::SystemClock;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::fmt_time;
use tulpar_trust::keyfile;

use super::layout::read_envelope;

/// Manage the partners a node trusts.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Pin a partner's root key, checked against the fingerprint its focal point gave you.
    Add {
        /// The trust store folder (DIR/node/trust for a node made by `tulpar init`).
        #[arg(long)]
        store: PathBuf,
        /// The partner country, e.g. UZ.
        #[arg(long)]
        country: String,
        /// The partner's root public key (its public/root.pub).
        #[arg(long)]
        root_key: PathBuf,
        /// The root key fingerprint (64 hex) received over a separate channel.
        #[arg(long)]
        fingerprint: String,
        /// The partner's signed directory (its public/directory.env).
        #[arg(long)]
        directory: Option<PathBuf>,
    },
    /// List the partners with their pinned roots and directories.
    List {
        /// The trust store folder.
        #[arg(long)]
        store: PathBuf,
    },
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Add {
            store,
            country,
            root_key,
            fingerprint,
            directory,
        } => {
            let country = CountryCode::parse(&country).context("--country")?;
            let root = keyfile::read_public_key(&root_key)?;
            let envelope = directory.as_deref().map(read_envelope).transpose()?;
            let store = TrustStore::open(&store, Arc::new(SystemClock))?;
            let entry = store.add_country(country, root, &fingerprint, envelope.as_ref())?;
            match entry.directory() {
                Some(d) => eprintln!(
                    "{country} pinned to root {}; directory version {} accepted ({} units)",
                    root.key_id(),
                    d.version(),
                    d.units().len()
                ),
                None => eprintln!(
                    "{country} pinned to root {}; no directory yet (add one with --directory)",
                    root.key_id()
                ),
            }
        }
        Args::List { store } => {
            let store = TrustStore::open(&store, Arc::new(SystemClock))?;
            let now = SystemTime::now();
            println!(
                "{:<4} {:<18} {:>7} {:<22} {:>5}  endpoints",
                "cc", "root", "version", "expires", "units"
            );
            for country in store.countries() {
                let Some(entry) = store.entry(country) else {
                    continue;
                };
                let root = entry.pinned_root().key_id().short();
                match entry.directory() {
                    Some(d) => {
                        let expired = if d.expires_at() <= now {
                            " EXPIRED"
                        } else {
                            ""
                        };
                        println!(
                            "{:<4} {:<18} {:>7} {:<22} {:>5}  {}",
                            country,
                            root,
                            d.version(),
                            format!("{}{expired}", fmt_time(d.expires_at())),
                            d.units().len(),
                            d.endpoints().join(",")
                        );
                    }
                    None => println!("{country:<4} {root:<18} {:>7} {:<22} {:>5}", "-", "-", "-"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
