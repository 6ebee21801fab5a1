//! `tulpar witness keys`: the verifier keys others need to witness this node, or to be witnessed by it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tulpar_config::Config;
use tulpar_ledger::note::{VerifierKey, VerifierKind, ledger_origin, witness_name};
use tulpar_trust::keyfile;

/// Witnessing between this node and logs or witnesses outside the federation.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Print the node's C2SP verifier keys: its log key (give it to external witnesses, so that they
    /// accept its checkpoints) and its witness key (give it to logs this node witnesses, so that they
    /// can verify its cosignatures).
    Keys(KeysArgs),
}

/// Print verifier keys.
#[derive(Debug, clap::Args)]
pub(crate) struct KeysArgs {
    /// The node's configuration: its country, `federation.name` and `keys.ledger_key`.
    #[arg(long)]
    config: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::Keys(args) => keys(args),
    }
}

fn keys(args: KeysArgs) -> Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let key = keyfile::read_private_key(&config.keys.ledger_key)
        .with_context(|| format!("keys.ledger_key: {}", config.keys.ledger_key.display()))?
        .public_key();
    let log = VerifierKey {
        name: ledger_origin(&config.federation.name, config.country),
        kind: VerifierKind::Log,
        key,
    };
    let witness = VerifierKey {
        name: witness_name(&config.federation.name, config.country),
        kind: VerifierKind::Cosigner,
        key,
    };
    println!("log:     {log}");
    println!("witness: {witness}");
    Ok(ExitCode::SUCCESS)
}
