//! `tulpar cert issue` and `tulpar cert renew`: certificates signed by the country TLS CA: client
//! certificates for the national API (here), and the node's own certificate (`renew.rs`).

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
    /// Issue the node's TLS certificate anew (a fresh key; the current names, the directory's
    /// endpoints and each --host), before it expires or for new names; a running node takes it at
    /// once.
    Renew(super::renew::Args),
}

/// The folder made by `tulpar init`, and where its offline keys are.
#[derive(Debug, clap::Args)]
pub(crate) struct Folders {
    /// The folder made by `tulpar init`.
    #[arg(long)]
    dir: PathBuf,
    /// The folder holding the offline keys (root.key, tls-ca.key), if not DIR/offline (e.g. on a
    /// removable drive).
    #[arg(long, value_name = "FOLDER")]
    offline: Option<PathBuf>,
}

impl Folders {
    /// The layout, and the country's TLS CA with its key from the offline folder.
    fn open(&self) -> Result<(Layout, TlsCa)> {
        let layout = Layout::with_offline(&self.dir, self.offline.as_deref());
        let ca_cert = fs::read_to_string(layout.public_tls_ca())
            .with_context(|| format!("cannot read {}", layout.public_tls_ca().display()))?;
        let ca = TlsCa::from_pem(&ca_cert, &layout.read_offline(&layout.tls_ca_key())?)
            .with_context(|| format!("{}", layout.tls_ca_key().display()))?;
        Ok((layout, ca))
    }
}

/// Issue a client certificate.
#[derive(Debug, clap::Args)]
pub(crate) struct IssueArgs {
    #[command(flatten)]
    folders: Folders,
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
    let (_, ca) = args.folders.open()?;
    let (role, subject, out) = (args.role, &args.subject, &args.out);
    let cert_path = out.join(format!("{subject}.{role}.crt"));
    let key_path = out.join(format!("{subject}.{role}.key"));
    must_not_exist(&cert_path)?;
    must_not_exist(&key_path)?;
    let now = SystemTime::now();
    let issued = ca.issue_client(
        role,
        subject,
        now,
        now + Duration::from_secs(args.days * 24 * 3600),
    )?;
    fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    create(&key_path, issued.key_pem.as_bytes(), 0o600)?;
    create(&cert_path, issued.pem.as_bytes(), 0o644)?;
    println!("{}", cert_path.display());
    eprintln!(
        "{role} certificate for {subject} issued by {}'s TLS CA, valid {} days; key in {} (mode 0600)",
        ca.country(),
        args.days,
        key_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
