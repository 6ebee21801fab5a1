//! `tulpar ledger verify`: check a node's ledger directory offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use indicatif::{ProgressBar, ProgressStyle};
use tulpar_ledger::verify_dir;
use tulpar_trust::keyfile;

/// Work with a node's ledger.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Re-read every segment, recompute every hash and check every checkpoint signature.
    ///
    /// Safe to run while the node is running: it reads the segments only and takes no lock.
    Verify(VerifyArgs),
}

/// Verify a ledger directory.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The ledger's checkpoint public key (SPKI PEM); default: DIR/ledger.pub.
    #[arg(long)]
    pubkey: Option<PathBuf>,
    /// The ledger directory (holding `segments/` and `ledger.pub`).
    dir: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Verify(args) => verify(args),
    }
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let key = args
        .pubkey
        .as_deref()
        .map(keyfile::read_public_key)
        .transpose()?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ({eta})",
        )
        .context("progress bar template")?,
    );
    let result = verify_dir(&args.dir, key.as_ref(), |p| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{} entries", p.entries));
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{}: ledger does NOT verify: {e}", args.dir.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "ok: {} entries in {} segments, root {}",
        report.size,
        report.segments,
        STANDARD.encode(report.root)
    );
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
