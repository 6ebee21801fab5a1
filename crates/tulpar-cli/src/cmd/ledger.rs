//! `tulpar ledger verify`: check a node's ledger directory offline; `tulpar ledger repair`: repair
//! a damaged one.

mod repair;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use indicatif::{ProgressBar, ProgressStyle};
use tulpar_audit::EntryChecker;
use tulpar_config::Config;
use tulpar_core::keys::PublicKey;
use tulpar_core::time::SystemClock;
use tulpar_ledger::verify_dir_entries;
use tulpar_trust::TrustStore;
use tulpar_trust::directory::Purpose;
use tulpar_trust::keyfile;

/// Work with a node's ledger.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Re-read every segment, recompute every hash and check every checkpoint signature.
    ///
    /// Safe to run while the node is running: it reads the segments only and takes no lock.
    Verify(VerifyArgs),
    /// Repair a node's damaged ledger: show what would be done; with --apply and the node stopped,
    /// do it.
    ///
    /// A damaged frame is replaced by the same bytes from a copy (--from); damage in the segment the
    /// node appends to that no copy holds is cut off, every byte kept in data_dir/damaged/; the ledger
    /// then regrows from the copies and the kept bytes. Only frames that verify against their signed
    /// checkpoints are taken. A ledger cut below a checkpoint it had signed is held: the node records
    /// nothing until those entries are restored (exit 1 when nothing can be done).
    Repair(repair::RepairArgs),
}

/// Verify a ledger directory.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("ledger").required(true).args(["dir", "config"])))]
pub(crate) struct VerifyArgs {
    /// A checkpoint public key of the ledger (SPKI PEM); repeat for each key the node has signed
    /// with. Default: with --config, the node keys its own directory names for checkpoints;
    /// otherwise DIR/ledger.pub and DIR/ledger.earlier.pub.
    #[arg(long)]
    pubkey: Vec<PathBuf>,
    /// The ledger directory (holding `segments/` and `ledger.pub`).
    dir: Option<PathBuf>,
    /// A node's configuration instead of DIR: its ledger is verified, and every alert, response,
    /// receipt, directory, checkpoint and cosignature inside it is checked against the node's own
    /// directory and trust store.
    #[arg(long, conflicts_with = "dir")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Verify(args) => verify(args),
        Args::Repair(args) => repair::run(args),
    }
}

/// Entry signature checks from a node's configuration.
fn entry_checker(config_path: &Path) -> Result<(PathBuf, EntryChecker, Vec<PublicKey>)> {
    let config = Config::load(config_path)?;
    let trust = TrustStore::open(&config.trust.store, Arc::new(SystemClock))
        .with_context(|| format!("trust.store: {}", config.trust.store.display()))?;
    let path = &config.trust.own_directory;
    let own = tulpar_audit::read_own_directory(path, config.country)
        .with_context(|| format!("trust.own_directory: {}", path.display()))?;
    let keys = own
        .node_keys()
        .iter()
        .filter(|k| k.purposes.contains(&Purpose::Checkpoint))
        .map(|k| k.public_key)
        .collect();
    let checker = EntryChecker::new(config.country, &config.federation.name, own, &trust);
    Ok((config.data_dir, checker, keys))
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let mut keys = args
        .pubkey
        .iter()
        .map(|path| keyfile::read_public_key(path).context("--pubkey"))
        .collect::<Result<Vec<_>>>()?;
    let (dir, checker) = match (&args.dir, &args.config) {
        (_, Some(config)) => {
            let (dir, checker, directory_keys) = entry_checker(config)?;
            if keys.is_empty() {
                keys = directory_keys;
            }
            (dir, Some(checker))
        }
        (Some(dir), None) => (dir.clone(), None),
        (None, None) => bail!("give the ledger directory, or --config"),
    };
    let mut revoked = Vec::new();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ({eta})",
        )
        .context("progress bar template")?,
    );
    let result = verify_dir_entries(
        &dir,
        (!keys.is_empty()).then_some(keys.as_slice()),
        |p| {
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_done);
            bar.set_message(format!("{} entries", p.entries));
        },
        |index, raw| match &checker {
            Some(checker) => {
                revoked.extend(checker.check(index, raw)?);
                Ok(())
            }
            None => Ok(()),
        },
    );
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{}: ledger does NOT verify: {e}", dir.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "ok: {} entries in {} segments, root {}",
        report.size,
        report.segments,
        STANDARD.encode(report.root)
    );
    if checker.is_some() {
        println!("every entry's signatures hold against the node's directory and trust store");
    }
    for use_of_revoked in &revoked {
        println!(
            "note: entry {} is signed by key {}, revoked from {}",
            use_of_revoked.index,
            use_of_revoked.key_id,
            tulpar_trust::directory::fmt_time(use_of_revoked.revoked_at)
        );
    }
    if let Some(cp) = &report.checkpoint {
        println!("latest checkpoint (signature checked):\n{}", cp.note());
    }
    if report.tail_ignored > 0 {
        eprintln!(
            "note: {} bytes at the end of the last segment are not a complete frame \
             (a commit in progress, or a torn tail the node cuts when it next opens)",
            report.tail_ignored
        );
    }
    Ok(ExitCode::SUCCESS)
}
