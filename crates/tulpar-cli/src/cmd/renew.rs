//! `tulpar cert renew`: a new node TLS certificate with a fresh key, signed by the national TLS CA
//! whose key is kept offline, before the current one expires or when the node gets new names. A
//! running node takes it without a restart.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use tulpar_config::Config;
use tulpar_trust::directory::fmt_time;
use tulpar_trust::node_cert::{install_node_certificate, node_hosts};
use tulpar_trust::tls::{
    CertificateSummary, IssuedCert, NODE_VALIDITY, NodeIdentity, TlsCa, cert_from_pem,
    check_issued_by, named_country, not_after,
};

use super::layout::Layout;

/// Renew the node's TLS certificate.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("renewed").required(true).args(["dir", "config"])))]
pub(crate) struct Args {
    /// The folder made by `tulpar init`: renews DIR/node/node.crt and node.key, with the CA key
    /// from DIR/offline unless --offline says otherwise.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// A node's configuration instead of DIR: renews its tls.certificate and tls.private_key, under
    /// its tls.ca_certificate (needs --offline).
    #[arg(long, requires = "offline")]
    config: Option<PathBuf>,
    /// The folder holding the offline keys (tls-ca.key, the national TLS CA's key), e.g. on a
    /// removable drive.
    #[arg(long, value_name = "FOLDER")]
    offline: Option<PathBuf>,
    /// Days the new certificate is valid; it may not outlive the national CA.
    #[arg(long, default_value_t = NODE_VALIDITY.as_secs() / 86_400)]
    days: u64,
    /// A further host name or IP address the node is dialled at (e.g. a new name of the client
    /// API), named beside those of the current certificate; repeat for several.
    #[arg(long = "host")]
    hosts: Vec<String>,
}

/// The files a renewal reads and writes.
struct Paths {
    certificate: PathBuf,
    private_key: PathBuf,
    ca_certificate: PathBuf,
    ca_key: PathBuf,
    /// The federation endpoints of the country's directory, with --dir: the new certificate names
    /// them, so a node that moved is named where partners now dial it.
    endpoints: Vec<String>,
}

impl Paths {
    fn of(args: &Args) -> Result<Self> {
        if let Some(config) = &args.config {
            let config = Config::load(config)?;
            let ca_key = args
                .offline
                .as_deref()
                .map(|offline| offline.join("tls-ca.key"))
                .context("--offline: required with --config")?;
            return Ok(Self {
                certificate: config.tls.certificate,
                private_key: config.tls.private_key,
                ca_certificate: config.tls.ca_certificate,
                ca_key,
                endpoints: Vec::new(),
            });
        }
        let dir = args.dir.as_deref().context("give --dir or --config")?;
        let layout = Layout::with_offline(dir, args.offline.as_deref());
        Ok(Self {
            certificate: layout.node.join("node.crt"),
            private_key: layout.node.join("node.key"),
            ca_certificate: layout.node.join("tls-ca.crt"),
            ca_key: layout.tls_ca_key(),
            endpoints: layout.load_directory()?.endpoints().to_vec(),
        })
    }
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Reads the offline CA key, saying how to point at the offline folder when it is not there.
fn read_ca_key(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (give --offline FOLDER: the folder holding the offline keys, e.g. on a removable drive)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot read {}: {e}{hint}", path.display())
    })
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    if args.days == 0 || args.days > 3650 {
        bail!("--days: must be between 1 and 3650");
    }
    let paths = Paths::of(&args)?;
    let now = SystemTime::now();
    let (renewed, summary) = renew(&paths, &args, now)?;
    // The key first: a node that looks between the two writes sees a certificate without its key,
    // refuses the pair and takes it at its next look.
    install_node_certificate(&paths.certificate, &paths.private_key, &renewed)?;
    println!("{}", paths.certificate.display());
    eprintln!(
        "node certificate renewed: serial {}, valid until {}, for {}; key in {} (mode 0600)",
        summary.serial,
        fmt_time(summary.not_after),
        summary.hosts.join(", "),
        paths.private_key.display()
    );
    eprintln!(
        "a running node presents it from its next handshake on, within trust.reload_interval \
         (or at once on SIGHUP); no restart is needed"
    );
    Ok(ExitCode::SUCCESS)
}

/// The new certificate and key (PEM), checked, before anything is written.
fn renew(paths: &Paths, args: &Args, now: SystemTime) -> Result<(IssuedCert, CertificateSummary)> {
    let ca_pem = read(&paths.ca_certificate)?;
    let ca_key = read_ca_key(&paths.ca_key)?;
    let ca = TlsCa::from_pem(&ca_pem, &ca_key).with_context(|| {
        format!(
            "{} with {}",
            paths.ca_certificate.display(),
            paths.ca_key.display()
        )
    })?;
    let current = cert_from_pem(&read(&paths.certificate)?)
        .with_context(|| format!("{}", paths.certificate.display()))?;
    let current_country = named_country(&current)
        .with_context(|| format!("{}: not a node certificate", paths.certificate.display()))?;
    if current_country != ca.country() {
        bail!(
            "{}: a certificate of {current_country}, but {} is the TLS CA of {}",
            paths.certificate.display(),
            paths.ca_certificate.display(),
            ca.country()
        );
    }
    let old = CertificateSummary::of(&current)
        .with_context(|| format!("{}", paths.certificate.display()))?;
    // Judged inside its own validity, so that an expired certificate can be renewed too.
    let when = now
        .min(old.not_after - Duration::from_secs(1))
        .max(old.not_before);
    check_issued_by(ca.certificate(), std::slice::from_ref(&current), when).with_context(|| {
        format!(
            "{}: not issued by the CA in {}",
            paths.certificate.display(),
            paths.ca_certificate.display()
        )
    })?;
    let mut hosts = old.hosts.clone();
    hosts.extend(args.hosts.iter().cloned());
    let hosts = node_hosts(&paths.endpoints, &hosts).context("--host")?;
    let until = now + Duration::from_secs(args.days * 86_400);
    let ca_until = not_after(ca.certificate())?;
    if until > ca_until {
        bail!(
            "--days: the certificate would outlive the national TLS CA in {} (it expires {}); \
             choose fewer days or renew the CA first",
            paths.ca_certificate.display(),
            fmt_time(ca_until)
        );
    }
    let issued = ca.issue_node(&hosts, now, until)?;
    // The same checks the running node makes before taking it.
    let identity = NodeIdentity::from_pem(&issued.pem, &issued.key_pem)?;
    check_issued_by(ca.certificate(), &identity.chain(), now)?;
    let summary = CertificateSummary::of(&issued.der)?;
    Ok((issued, summary))
}
