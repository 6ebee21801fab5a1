//! `tulpar init`: the key ceremony of a country's node.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{Context, Result};
use prost::Message;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_trust::ceremony::{CountryPlan, create_country, endpoint_host};
use tulpar_trust::keyfile;
use tulpar_trust::tls::pem_cert;

use super::layout::{Layout, create, must_not_exist};
use super::node_config::{self, NodeSettings};

/// Create a country's root key, TLS CA, node certificate, ledger and unit keys, and first directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// ISO 3166-1 alpha-2 code of the country, e.g. KZ.
    #[arg(long)]
    country: String,
    /// The country's units, comma-separated, e.g. KZ-AKTAU-PCU,KZ-ALTYNKOL-PCU.
    #[arg(long, value_delimiter = ',')]
    units: Vec<String>,
    /// Federation endpoint of the node, HOST:PORT, as partners dial it: it goes into the directory,
    /// the node certificate and node.toml's federation.listen.
    #[arg(long)]
    endpoint: String,
    /// The node's client API, HOST:PORT, as officers and customs systems dial it: it goes into the
    /// node certificate and node.toml's client_api.listen.
    #[arg(long, default_value = "127.0.0.1:7400")]
    client_api: String,
    /// More host names or IP addresses for the node certificate; repeat for several.
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// The federation's name agreed by all its members (node.toml's federation.name; a ledger keeps
    /// it for life). Unset, the node uses "tulpar".
    #[arg(long)]
    federation: Option<String>,
    /// Folder to create the country's files in (see `offline/`, `public/`, `node/`).
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let country = CountryCode::parse(&args.country).context("--country")?;
    let units = args
        .units
        .iter()
        .map(|u| UnitId::parse(u).with_context(|| format!("--units: {u}")))
        .collect::<Result<Vec<_>>>()?;
    let layout = Layout::new(&args.out);
    let config_path = args.out.join("node.toml");
    let config = node_config::render(
        &NodeSettings {
            country,
            federation_name: args.federation.as_deref(),
            federation_listen: node_config::listen_address("--endpoint", &args.endpoint)?,
            client_listen: node_config::listen_address("--client-api", &args.client_api)?,
        },
        &config_path,
    )?;
    // The certificate names every address the node is dialled at.
    let client_host = endpoint_host(&args.client_api)
        .with_context(|| format!("--client-api: {:?} is not HOST:PORT", args.client_api))?;
    let mut extra_hosts = vec![client_host.to_owned()];
    extra_hosts.extend(args.hosts.iter().cloned());
    let unit_paths: Vec<PathBuf> = units.iter().map(|u| layout.unit_key(u.as_str())).collect();
    let mut outputs = vec![
        layout.root_key(),
        layout.tls_ca_key(),
        layout.root_pub(),
        layout.public_directory(),
        layout.public_tls_ca(),
        layout.node_cert(),
        layout.node_key(),
        layout.node.join("tls-ca.crt"),
        layout.node.join("ledger.key"),
        layout.node_directory(),
        layout.public_ledger_key(),
        config_path.clone(),
    ];
    outputs.extend(unit_paths.iter().cloned());
    // Refuse before writing anything, so a mistaken --out never leaves a half-made country.
    for path in &outputs {
        must_not_exist(path)?;
    }

    let made = create_country(&CountryPlan {
        country,
        units,
        endpoint: args.endpoint.clone(),
        extra_hosts,
        now: SystemTime::now(),
    })?;

    for (dir, mode) in [
        (&layout.offline, 0o700),
        (&layout.public, 0o755),
        (&layout.node, 0o700),
        (&layout.units(), 0o700),
        (&layout.node.join("trust"), 0o700),
    ] {
        DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .with_context(|| format!("{}", dir.display()))?;
    }
    keyfile::write_private_key(&layout.root_key(), &made.root)?;
    create(
        &layout.tls_ca_key(),
        made.tls_ca.key_pem().as_bytes(),
        0o600,
    )?;
    keyfile::write_public_key(&layout.root_pub(), &made.root.public_key())?;
    let ca_pem = pem_cert(made.tls_ca.certificate());
    create(&layout.public_tls_ca(), ca_pem.as_bytes(), 0o644)?;
    let directory = made.directory.encode_to_vec();
    create(&layout.public_directory(), &directory, 0o644)?;
    create(&layout.node_cert(), made.node_cert.pem.as_bytes(), 0o644)?;
    create(&layout.node_key(), made.node_cert.key_pem.as_bytes(), 0o600)?;
    create(&layout.node.join("tls-ca.crt"), ca_pem.as_bytes(), 0o644)?;
    keyfile::write_private_key(&layout.node.join("ledger.key"), &made.ledger)?;
    // Partners and auditors check the ledger's checkpoints with it from before the first start.
    keyfile::write_public_key(&layout.public_ledger_key(), &made.ledger.public_key())?;
    create(&layout.node_directory(), &directory, 0o644)?;
    for ((_, key), path) in made.units.iter().zip(&unit_paths) {
        keyfile::write_private_key(path, key)?;
    }
    create(&config_path, config.as_bytes(), 0o644)?;

    let fingerprint = made.root.key_id();
    println!("{fingerprint}");
    let dir = fs::canonicalize(&args.out).unwrap_or(args.out.clone());
    eprintln!("country {country} initialised in {}", dir.display());
    eprintln!(
        "  offline/  root.key, tls-ca.key: MOVE OFFLINE now (e.g. to an encrypted USB key in a safe);\n\
         \x20           needed only to sign directories and issue certificates"
    );
    eprintln!(
        "  public/   root.pub, directory.env, tls-ca.crt, ledger.pub: give to partner focal points,\n\
         \x20           with the root fingerprint read out over a separate channel"
    );
    eprintln!(
        "  node/     node.crt, node.key, tls-ca.crt, ledger.key, directory.env, units/ (keys of {} units),\n\
         \x20           trust/ (partners): install on the national node",
        made.units.len()
    );
    eprintln!(
        "  node.toml the node's configuration: federation.listen {}, client_api.listen {}",
        node_config::listen_address("--endpoint", &args.endpoint)?,
        node_config::listen_address("--client-api", &args.client_api)?,
    );
    eprintln!(
        "node certificate names: {}",
        tulpar_trust::tls::host_names(&made.node_cert.der)?.join(", ")
    );
    eprintln!("root key fingerprint (key id): {fingerprint}");
    Ok(ExitCode::SUCCESS)
}
