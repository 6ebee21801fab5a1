//! `tulpar keygen`: a new Ed25519 key pair in PKCS#8 / SPKI PEM files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tulpar_core::keys::SigningKey;
use tulpar_trust::keyfile;

/// Create a new Ed25519 key pair.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to write `<NAME>.key` (private, mode 0600) and `<NAME>.pub` into; created if missing.
    #[arg(long)]
    out: PathBuf,
    /// Base name of the files.
    #[arg(long, default_value = "signing")]
    name: String,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    if args.name.is_empty() || args.name.contains('/') || args.name.starts_with('.') {
        anyhow::bail!(
            "--name: {:?} must be a plain file name (no '/', not starting with '.')",
            args.name
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out: cannot create {}", args.out.display()))?;
    let private_path = args.out.join(format!("{}.key", args.name));
    let public_path = args.out.join(format!("{}.pub", args.name));
    if public_path.exists() {
        anyhow::bail!(
            "{}: already exists; refusing to overwrite a key",
            public_path.display()
        );
    }
    let key = SigningKey::generate()?;
    keyfile::write_private_key(&private_path, &key)?;
    keyfile::write_public_key(&public_path, &key.public_key())?;
    println!("{}", key.key_id());
    eprintln!(
        "private key: {} (mode 0600, keep it secret)",
        private_path.display()
    );
    eprintln!("public key:  {}", public_path.display());
    Ok(ExitCode::SUCCESS)
}
