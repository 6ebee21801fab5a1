//! `tulpar`: the command line for PCU officers, focal points and node administrators.

mod client;
mod cmd;
mod paint;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tulpar: signed high-risk consignment alerts between Port Control Units.
#[derive(Debug, Parser)]
#[command(name = "tulpar", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: client::Connection,
    #[command(flatten)]
    output: cmd::alerts::Output,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new Ed25519 key pair and print its key id.
    Keygen(cmd::keygen::Args),
    /// Check, send, follow and answer alerts.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Sign and verify envelopes offline.
    #[command(subcommand)]
    Envelope(cmd::envelope::Args),
    /// Key ceremony: create a country's root key, TLS CA, node and unit keys, and first directory.
    Init(cmd::init::Args),
    /// Change, sign and show the country directory (needs the offline root key).
    #[command(subcommand)]
    Directory(cmd::directory::Args),
    /// Manage the partner countries a node trusts.
    #[command(subcommand)]
    Trust(cmd::trust::Args),
    /// Issue client certificates for the national API, and the node's certificate for new names.
    #[command(subcommand)]
    Cert(cmd::cert::Args),
    /// Bearer tokens for customs systems: make one; revoke and list a node's (administrators).
    #[command(subcommand)]
    Token(cmd::token::Args),
    /// People's accounts for the console (administrators): add, list, disable, reset a password or TOTP.
    #[command(subcommand)]
    User(cmd::user::Args),
    /// Webhook subscriptions: their delivery state and a test message (administrators); new secrets.
    Webhooks(cmd::webhooks::Args),
    /// Work with a node's ledger offline.
    #[command(subcommand)]
    Ledger(cmd::ledger::Args),
    /// Witnessing with logs and witnesses outside the federation (C2SP tlog-witness).
    #[command(subcommand)]
    Witness(cmd::witness::Args),
    /// Copy a running node's ledger (up to a signed checkpoint) and data into a folder with a manifest.
    Backup(cmd::backup::BackupArgs),
    /// Put a backup back where a configuration says, after checking all of it (the node stopped).
    Restore(cmd::backup::RestoreArgs),
    /// Audit the node (focal points): verify, reconcile with a partner, report, alarms.
    #[command(subcommand)]
    Audit(cmd::audit::Args),
    #[command(flatten)]
    Node(cmd::alerts::NodeCall),
    /// Print a shell completion script, e.g. `tulpar completions bash > /etc/bash_completion.d/tulpar`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum AlertCommand {
    /// Validate alert drafts (proto3 JSON) and print every violation, offline.
    Check(cmd::alert_check::Args),
    #[command(flatten)]
    Call(cmd::alerts::AlertCall),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Alert(AlertCommand::Check(args)) => cmd::alert_check::run(args),
        Command::Alert(AlertCommand::Call(call)) => {
            cmd::alerts::run_alert(&cli.connection, &cli.output, call)
        }
        Command::Audit(args) => cmd::audit::run(&cli.connection, &cli.output, args),
        Command::Node(call) => cmd::alerts::run_node(&cli.connection, &cli.output, call),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "tulpar", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Envelope(args) => cmd::envelope::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Directory(args) => cmd::directory::run(args),
        Command::Trust(args) => cmd::trust::run(args),
        Command::Cert(args) => cmd::cert::run(args),
        Command::Ledger(args) => cmd::ledger::run(args),
        Command::Witness(args) => cmd::witness::run(args),
        Command::Backup(args) => cmd::backup::run_backup(args),
        Command::Restore(args) => cmd::backup::run_restore(args),
        Command::Token(args) => cmd::token::run(&cli.connection, &cli.output, args),
        Command::User(args) => cmd::user::run(&cli.connection, &cli.output, args),
        Command::Webhooks(args) => cmd::webhooks::run(&cli.connection, &cli.output, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap checks a command's definition only when it is parsed; this checks every subcommand.
    #[test]
    fn every_command_is_well_defined() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
