//! Connecting to a national node's client API: where it is, how its certificate is checked, and who the
//! caller is (a bearer token, or a client certificate from the national CA).
//!
//! Settings come from flags, else environment variables, else a profile file (TOML with the same names:
//! `node`, `ca`, `token`, `cert`, `key`, or the variables' `TULPAR_NODE`, `TULPAR_CA`, …; relative paths
//! are read from the profile's folder).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tulpar_core::limits::MAX_MESSAGE_BYTES;
use tulpar_core::proto::admin_service_client::AdminServiceClient;
use tulpar_core::proto::alert_service_client::AlertServiceClient;
use tulpar_core::proto::audit_service_client::AuditServiceClient;

/// Connection settings shared by every command that talks to a node.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Connection {
    /// The node's client API, HOST:PORT.
    #[arg(long, env = "TULPAR_NODE", global = true)]
    node: Option<String>,
    /// The national TLS CA certificate (PEM) the node's certificate must chain to.
    #[arg(long, env = "TULPAR_CA", global = true)]
    ca: Option<PathBuf>,
    /// A bearer token (for customs systems; see `tulpar token new`).
    #[arg(long, env = "TULPAR_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// A client certificate from the national CA (PEM), with --key.
    #[arg(long, env = "TULPAR_CERT", global = true)]
    cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, mode 0600).
    #[arg(long, env = "TULPAR_KEY", global = true)]
    key: Option<PathBuf>,
    /// A profile file holding any of the settings above.
    #[arg(long, env = "TULPAR_PROFILE", global = true)]
    profile: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    // The environment variables' names are accepted too, as the README writes them.
    #[serde(alias = "TULPAR_NODE")]
    node: Option<String>,
    #[serde(alias = "TULPAR_CA")]
    ca: Option<PathBuf>,
    #[serde(alias = "TULPAR_TOKEN")]
    token: Option<String>,
    #[serde(alias = "TULPAR_CERT")]
    cert: Option<PathBuf>,
    #[serde(alias = "TULPAR_KEY")]
    key: Option<PathBuf>,
}

/// Adds the bearer token, if any, to every call.
#[derive(Clone)]
pub(crate) struct Auth(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Auth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A connected client of the node's `AlertService`.
pub(crate) type Client = AlertServiceClient<InterceptedService<Channel, Auth>>;

/// A connected client of the node's `AuditService` (focal points).
pub(crate) type AuditClient = AuditServiceClient<InterceptedService<Channel, Auth>>;

/// A connected client of the node's `AdminService` (administrators).
pub(crate) type AdminClient = AdminServiceClient<InterceptedService<Channel, Auth>>;

impl Connection {
    fn settled(&self) -> Result<Profile> {
        let profile = match &self.profile {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--profile: cannot read {}", path.display()))?;
                let mut profile: Profile = toml::from_str(&text)
                    .with_context(|| format!("--profile: {}", path.display()))?;
                let base = path.parent().unwrap_or(Path::new("."));
                for file in [&mut profile.ca, &mut profile.cert, &mut profile.key]
                    .into_iter()
                    .flatten()
                {
                    if file.is_relative() {
                        *file = base.join(&*file);
                    }
                }
                profile
            }
            None => Profile::default(),
        };
        Ok(Profile {
            node: self.node.clone().or(profile.node),
            ca: self.ca.clone().or(profile.ca),
            token: self.token.clone().or(profile.token),
            cert: self.cert.clone().or(profile.cert),
            key: self.key.clone().or(profile.key),
        })
    }

    /// A client of the alert API (connects lazily: the first call dials). Both clients send and accept
    /// messages up to the node's own limit, so a record the node serves is never refused here.
    pub(crate) fn connect(&self) -> Result<Client> {
        let (channel, auth) = self.channel()?;
        Ok(AlertServiceClient::with_interceptor(channel, auth)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// A client of the audit API (connects lazily).
    pub(crate) fn connect_audit(&self) -> Result<AuditClient> {
        let (channel, auth) = self.channel()?;
        Ok(AuditServiceClient::with_interceptor(channel, auth)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// A client of the admin API (connects lazily).
    pub(crate) fn connect_admin(&self) -> Result<AdminClient> {
        let (channel, auth) = self.channel()?;
        Ok(AdminServiceClient::with_interceptor(channel, auth)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    fn channel(&self) -> Result<(Channel, Auth)> {
        let settings = self.settled()?;
        let node = settings.node.context(
            "which node? give --node HOST:PORT (or TULPAR_NODE, or node in a --profile)",
        )?;
        let ca_path = settings.ca.context(
            "give --ca FILE: the national TLS CA certificate (or TULPAR_CA, or ca in a --profile)",
        )?;
        let ca_pem = std::fs::read_to_string(&ca_path)
            .with_context(|| format!("--ca: cannot read {}", ca_path.display()))?;
        let ca = tulpar_trust::tls::cert_from_pem(&ca_pem).context("--ca")?;
        let client_certificate = match (&settings.cert, &settings.key) {
            (Some(cert), Some(key)) => {
                tulpar_trust::keyfile::check_private_permissions(key).context("--key")?;
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .with_context(|| format!("--cert: {}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .with_context(|| format!("--key: {}", key.display()))?;
                Some((chain, key))
            }
            (None, None) => None,
            _ => bail!("--cert and --key go together"),
        };
        if client_certificate.is_none() && settings.token.is_none() {
            bail!(
                "who are you? give --token (TULPAR_TOKEN) or --cert and --key (TULPAR_CERT, TULPAR_KEY)"
            );
        }
        let config = tulpar_trust::tls::api_client_config(&ca, client_certificate)?;
        let channel = tulpar_rpc::tls_channel(
            &node,
            config,
            Duration::from_secs(5),
            Duration::from_secs(30),
        )
        .map_err(|e| anyhow::anyhow!("--node: {e}"))?;
        let token = match settings.token {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--token: not a valid header value"))?,
            ),
            None => None,
        };
        Ok((channel, Auth(token)))
    }
}

/// A gRPC failure as the command reports it: the status, then every field violation on its own line.
pub(crate) fn describe(status: &tonic::Status) -> String {
    let violations = tulpar_rpc::violations_of(status);
    if violations.is_empty() {
        let hint = if status.message().contains("not valid for name") {
            "\n  the node's certificate does not name the address dialled: dial a name it has, or \
             issue the node a certificate that names it (tulpar cert renew --host HOST)"
        } else {
            ""
        };
        return format!("{:?}: {}{hint}", status.code(), status.message());
    }
    format!(
        "the node refused the request:\n  {}",
        violations.join("\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::{Profile, describe};

    #[test]
    fn a_certificate_for_other_names_is_explained() {
        let status = tonic::Status::unavailable(
            "TLS with 127.0.0.1:7400: invalid peer certificate: certificate not valid for name \
             \"127.0.0.1\"; certificate is only valid for IpAddress(10.10.0.2)",
        );
        let shown = describe(&status);
        assert!(shown.contains("127.0.0.1:7400"), "{shown}");
        assert!(shown.contains("tulpar cert renew --host"), "{shown}");
        let other = describe(&tonic::Status::unavailable(
            "cannot connect to 127.0.0.1:7400",
        ));
        assert!(!other.contains("tulpar cert renew"), "{other}");
    }

    #[test]
    fn a_profile_takes_the_settings_by_their_names_or_their_variables_names() {
        let short: Profile =
            toml::from_str("node = \"127.0.0.1:7400\"\nca = \"kz/ca.crt\"").unwrap();
        let long: Profile = toml::from_str(
            "TULPAR_NODE = \"127.0.0.1:7400\"\nTULPAR_CA = \"kz/ca.crt\"\nTULPAR_TOKEN = \"t\"",
        )
        .unwrap();
        assert_eq!(short.node, long.node);
        assert_eq!(short.ca, long.ca);
        assert_eq!(long.token.as_deref(), Some("t"));
        assert!(
            toml::from_str::<Profile>("TULPAR_CAA = \"x\"").is_err(),
            "a typo is refused"
        );
    }
}
