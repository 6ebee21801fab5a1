//! `tulpar token new`: a bearer token for a customs system, and the hash the node's configuration keeps.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use base64::Engine;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// Bearer tokens for system integrations.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Print a new random token (give it to the system, once) and its SHA-256 (put it in the node's
    /// `[[client_api.tokens]]`).
    New,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
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
            Ok(ExitCode::SUCCESS)
        }
    }
}
