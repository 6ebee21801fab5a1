//! `tulpar webhooks`: the node's webhook subscriptions with their delivery state, a test message to
//! one of them (administrators), and new secrets for the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use tulpar_core::proto;
use tulpar_core::webhook::WebhookSecret;

use super::alerts::{Output, call, print_json, runtime, time};
use crate::client::Connection;
use crate::paint::{Tone, paint};

/// Webhook subscriptions.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The node's subscriptions with their backlog, last success and last error (the default).
    List,
    /// Send a signed `webhook.test` message to a subscription now and show what its receiver answered.
    Test {
        /// The subscription's name in the node's `webhooks.subscriptions`.
        name: String,
    },
    /// Write a new random secret (`whsec_…`) to FILE with mode 0600 and print it once, for the
    /// receiver; the subscription's `secret_file` names FILE.
    Secret {
        /// Where to write it; an existing file is never replaced.
        file: PathBuf,
    },
}

pub(crate) fn run(connection: &Connection, output: &Output, args: Args) -> Result<ExitCode> {
    match args.command.unwrap_or(Command::List) {
        Command::List => runtime()?.block_on(async {
            let mut client = connection.connect_admin()?;
            let response = call(client.list_webhooks(proto::ListWebhooksRequest {})).await?;
            if output.json {
                print_json(&response)?;
                return Ok(ExitCode::SUCCESS);
            }
            if response.webhooks.is_empty() {
                println!("no webhook subscriptions are configured (webhooks.subscriptions)");
            }
            for webhook in &response.webhooks {
                print_webhook(webhook);
            }
            Ok(ExitCode::SUCCESS)
        }),
        Command::Test { name } => runtime()?.block_on(async {
            let mut client = connection.connect_admin()?;
            let answer = call(client.test_webhook(proto::TestWebhookRequest { name })).await?;
            if output.json {
                print_json(&answer)?;
            } else if answer.accepted {
                println!(
                    "{} {} answered {} in {} ms",
                    paint("accepted", Tone::Good),
                    answer.event_id,
                    answer.http_status,
                    answer.elapsed_ms
                );
            } else {
                println!(
                    "{} {} after {} ms: {}",
                    paint("not accepted", Tone::Bad),
                    answer.event_id,
                    answer.elapsed_ms,
                    answer.error
                );
            }
            Ok(if answer.accepted {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
        Command::Secret { file } => {
            let secret = WebhookSecret::generate()
                .map_err(|_| anyhow!("the system random generator failed"))?;
            tulpar_trust::files::write_new(&file, secret.expose().as_bytes(), 0o600)
                .with_context(|| format!("cannot create {}", file.display()))?;
            println!("{}", secret.expose());
            eprintln!(
                "wrote {} (mode 0600): name it as the subscription's secret_file, and give the secret \
                 above to the receiver over a secure channel to verify webhook-signature",
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_webhook(webhook: &proto::WebhookInfo) {
    let state = if webhook.failed_attempts > 0 {
        paint("failing", Tone::Bad)
    } else if webhook.backlog_entries > 0 {
        paint("sending", Tone::Warn)
    } else {
        paint("caught up", Tone::Good)
    };
    println!("{}  {}  {state}", webhook.name, webhook.url);
    let events = if webhook.events.is_empty() {
        "all events".to_owned()
    } else {
        webhook.events.join(", ")
    };
    println!("  for        {} ({events})", webhook.units.join(", "));
    println!(
        "  backlog    {} ledger entries not yet looked at (from index {})",
        webhook.backlog_entries, webhook.next_index
    );
    println!(
        "  delivered  {} events, last accepted {}",
        webhook.delivered,
        time(&webhook.last_success_at)
    );
    if webhook.last_error.is_empty() {
        println!("  last error none since the node started");
    } else {
        println!(
            "  last error {} at {}",
            webhook.last_error,
            time(&webhook.last_error_at)
        );
    }
    if webhook.failed_attempts > 0 {
        println!(
            "  retrying   {} after {} failed attempts, next at {}",
            webhook.pending_event_id,
            webhook.failed_attempts,
            time(&webhook.next_attempt_at)
        );
    }
}
