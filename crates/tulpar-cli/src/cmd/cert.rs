//! `tulpar cert issue`: client certificates for the national API, signed by the country TLS CA.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use tulpar_trust::tls::{Role, TlsCa};

use super::layout::{Layout, create, must_not_exist};

/// Issue certificates.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Issue a client certificate for an officer, focal point, integrator or admin.
    Issue(IssueArgs),
    /// Renew the node's TLS certificate (same names, fresh key); a running node takes it at once.
    Renew(super::renew::Args),
}

/// Issue a client certificate.
#[derive(Debug, clap::Args)]
pub(crate) struct IssueArgs {
    /// The folder made by `tulpar init` (needs offline/tls-ca.key).
    #[arg(long)]
    dir: PathBuf,
    /// officer, focal-point, integrator or admin.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// A unit id (officer, integrator) or the country code (focal-point, admin, integrator).
    #[arg(long)]
    subject: String,
    /// Days the certificate is valid.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Folder to write `<subject>.<role>.crt` and `.key` into; created if missing.
    #[arg(long)]
    out: PathBuf,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?}: use officer, focal-point, integrator or admin"))
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let args = match args {
        Args::Issue(args) => args,
        Args::Renew(args) => return super::renew::run(args),
    };
    if args.days == 0 || args.days > 3650 {
        bail!("--days: must be between 1 and 3650");
    }
    let layout = Layout::new(&args.dir);
    let read =
        |path: PathBuf| fs::read_to_string(&path).with_context(|| format!("{}", path.display()));
    let ca = TlsCa::from_pem(&read(layout.public_tls_ca())?, &read(layout.tls_ca_key())?)?;
    let cert_path = args.out.join(format!("{}.{}.crt", args.subject, args.role));
    let key_path = args.out.join(format!("{}.{}.key", args.subject, args.role));
    must_not_exist(&cert_path)?;
    must_not_exist(&key_path)?;
    let now = SystemTime::now();
    let issued = ca.issue_client(
        args.role,
        &args.subject,
        now,
        now + Duration::from_secs(args.days * 24 * 3600),
    )?;
    fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    create(&key_path, issued.key_pem.as_bytes(), 0o600)?;
    create(&cert_path, issued.pem.as_bytes(), 0o644)?;
    println!("{}", cert_path.display());
    eprintln!(
        "{} certificate for {} issued by {}'s TLS CA, valid {} days; key in {} (mode 0600)",
        args.role,
        args.subject,
        ca.country(),
        args.days,
        key_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
