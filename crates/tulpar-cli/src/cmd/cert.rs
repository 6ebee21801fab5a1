//! `tulpar cert issue` and `tulpar cert node`: certificates signed by the country TLS CA: client
//! certificates for the national API, and the node's own certificate when the names it is dialled at
//! change.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use tulpar_trust::node_cert::{install_node_certificate, issue_node_certificate, node_hosts};
use tulpar_trust::tls::{Role, TlsCa, cert_from_pem, host_names};

use super::layout::{Layout, create, must_not_exist};

/// Issue certificates.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Issue a client certificate for an officer, focal point, integrator or admin.
    Issue(IssueArgs),
    /// Issue the node's TLS certificate anew, for new names, replacing DIR/node/node.crt and
    /// node.key. It names the directory's federation endpoints, every name of the current
    /// certificate, and each --host.
    Node(NodeArgs),
    /// Renew the node's TLS certificate (same names, fresh key); a running node takes it at once.
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

/// Issue the node's certificate.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    #[command(flatten)]
    folders: Folders,
    /// A further host name or IP address the node is dialled at (e.g. a new name of the client
    /// API); repeat for several.
    #[arg(long = "host")]
    hosts: Vec<String>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?}: use officer, focal-point, integrator or admin"))
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let args = match args {
        Args::Issue(args) => args,
        Args::Node(args) => {
            let (layout, ca) = args.folders.open()?;
            return node(&layout, &ca, &args.hosts);
        }
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

/// Re-issues the node certificate for the names it has, the directory's endpoints and `hosts`.
fn node(layout: &Layout, ca: &TlsCa, hosts: &[String]) -> Result<ExitCode> {
    let directory = layout.load_directory()?;
    let (cert_path, key_path) = (layout.node_cert(), layout.node_key());
    let current = match fs::read_to_string(&cert_path) {
        Ok(pem) => {
            host_names(&cert_from_pem(&pem)?).with_context(|| format!("{}", cert_path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => bail!("cannot read {}: {e}", cert_path.display()),
    };
    let mut names = current.clone();
    names.extend(hosts.iter().cloned());
    let names = node_hosts(directory.endpoints(), &names).context("--host")?;
    let issued = issue_node_certificate(ca, &names, SystemTime::now())?;
    install_node_certificate(&cert_path, &key_path, &issued)?;
    println!("{}", cert_path.display());
    eprintln!(
        "node certificate of {} issued for {} (before: {}); key in {} (mode 0600). Install both on \
         the node and restart it.",
        ca.country(),
        names.join(", "),
        if current.is_empty() {
            "none".to_owned()
        } else {
            current.join(", ")
        },
        key_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
