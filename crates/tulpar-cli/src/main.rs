//! `tulpar`: the command line for PCU officers, focal points and node administrators.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tulpar: signed high-risk consignment alerts between Port Control Units.
#[derive(Debug, Parser)]
#[command(name = "tulpar", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new Ed25519 key pair and print its key id.
    Keygen(cmd::keygen::Args),
    /// Work with alert drafts.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Sign and verify envelopes offline.
    #[command(subcommand)]
    Envelope(cmd::envelope::Args),
    /// Work with a node's ledger offline.
    #[command(subcommand)]
    Ledger(cmd::ledger::Args),
}

#[derive(Debug, Subcommand)]
enum AlertCommand {
    /// Validate alert drafts (proto3 JSON) and print every violation.
    Check(cmd::alert_check::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Alert(AlertCommand::Check(args)) => cmd::alert_check::run(args),
        Command::Envelope(args) => cmd::envelope::run(args),
        Command::Ledger(args) => cmd::ledger::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
