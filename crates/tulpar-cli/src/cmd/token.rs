//! `tulpar token`: a bearer token for a customs system and the hash the node's configuration keeps;
//! revoking a token on a running node and listing the node's tokens (administrators).

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use base64::Engine;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use tulpar_core::proto;

use super::alerts::{Output, call, print_json, runtime, time};
use crate::client::Connection;
use crate::paint::{Tone, paint};

/// Bearer tokens for system integrations.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Print a new random token (give it to the system, once) and its SHA-256 (put it in the node's
    /// `[[client_api.tokens]]`).
    New,
    /// Revoke a token of the node by its name (administrators): recorded in the node's ledger, refused
    /// at once without a restart, and streams it holds open end.
    Revoke {
        /// The token's name in the node's `client_api.tokens`.
        name: String,
        /// Why, e.g. "system decommissioned" (at most 500 characters).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// The node's tokens with their state (administrators); never the tokens themselves.
    List,
}

pub(crate) fn run(connection: &Connection, output: &Output, args: Args) -> Result<ExitCode> {
    match args {
        Args::New => {
            let mut secret = [0u8; 32];
            SystemRandom::new()
                .fill(&mut secret)
                .map_err(|_| anyhow!("the system random generator failed"))?;
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
            let hash = hex::encode(digest(&SHA256, token.as_bytes()));
            println!("token:  {token}");
            println!("sha256: {hash}");
            eprintln!(
                "give the token to the system over a secure channel; the node's configuration keeps only \
                 the sha256 (client_api.tokens[].sha256)"
            );
        }
        Args::Revoke { name, reason } => runtime()?.block_on(async {
            let mut client = connection.connect_admin()?;
            let response =
                call(client.revoke_token(proto::RevokeTokenRequest { name, reason })).await?;
            if output.json {
                return print_json(&response);
            }
            let token = response.token.unwrap_or_default();
            let what = if response.newly_revoked {
                "revoked"
            } else {
                "was already revoked"
            };
            println!(
                "token {} {what} at {} by {} (ledger entry {}){}",
                token.name,
                time(&token.revoked_at),
                token.revoked_by,
                token.ledger_index,
                if token.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", token.reason)
                }
            );
            Ok(())
        })?,
        Args::List => runtime()?.block_on(async {
            let mut client = connection.connect_admin()?;
            let response = call(client.list_tokens(proto::ListTokensRequest {})).await?;
            if output.json {
                return print_json(&response);
            }
            println!(
                "{:<20} {:<12} {:<9} {:<8} units / revocation",
                "name", "role", "sha256", "state"
            );
            for token in &response.tokens {
                let (state, detail) = if token.revoked {
                    (
                        paint(&format!("{:<8}", "revoked"), Tone::Bad),
                        format!(
                            "at {} by {}{}",
                            time(&token.revoked_at),
                            token.revoked_by,
                            if token.reason.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", token.reason)
                            }
                        ),
                    )
                } else {
                    (
                        paint(&format!("{:<8}", "active"), Tone::Good),
                        token.units.join(", "),
                    )
                };
                let line = format!(
                    "{:<20} {:<12} {:<9} {state} {detail}",
                    token.name, token.role, token.sha256_prefix
                );
                println!("{}", line.trim_end());
            }
            Ok(())
        })?,
    }
    Ok(ExitCode::SUCCESS)
}
