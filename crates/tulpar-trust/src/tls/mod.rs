//! Mutual TLS between national nodes, and client certificates for the national API.
//!
//! Every configuration is TLS 1.3 only and uses the ring provider explicitly; nothing depends on a
//! process-wide default provider. A node's federation server accepts any partner of its trust store;
//! its federation client accepts only the partner it dialled. Both verify the peer's certificate once,
//! in the handshake, against the live [`Partners`]; afterwards [`named_country`] reads who the verified
//! peer is.

mod certs;
mod identity;
mod verify;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::KeyId;

pub use certs::{
    CA_VALIDITY, CLIENT_VALIDITY, COUNTRY_URI_PREFIX, IssuedCert, NODE_VALIDITY, ROLE_URI_PREFIX,
    Role, TlsCa, cert_from_pem, host_names, not_after, pem_cert, spki_sha256,
};
pub use identity::{CertificateSummary, NodeIdentity, check_issued_by};
pub use verify::Partners;

use verify::{PartnerClientVerifier, PartnerServerVerifier, PeerVerifier, Usage};

/// ALPN protocol of gRPC over HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

/// What went wrong building TLS material or configurations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// PEM text could not be read.
    #[error("PEM: {0}")]
    Pem(String),
    /// A certificate is not what it should be.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Why a peer's certificate does not identify a partner country.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The certificate could not be read.
    #[error("rule certificate: {0}")]
    Malformed(String),
    /// No `tulpar://country/<CC>` URI in the certificate.
    #[error(
        "rule country-name: the certificate names no country (no {COUNTRY_URI_PREFIX}<CC> URI)"
    )]
    NoCountry,
    /// More than one country URI.
    #[error("rule country-name: the certificate names more than one country")]
    SeveralCountries,
    /// The country is not a partner.
    #[error("rule known-country: {0} is not a partner in the trust store")]
    UnknownCountry(CountryCode),
    /// The partner has no accepted directory, so no TLS CA is known.
    #[error("rule directory: no directory of {0} has been accepted, so its TLS CA is unknown")]
    NoDirectory(CountryCode),
    /// The dialled partner answered with another country's certificate.
    #[error("rule country-match: dialled {expected}, but the certificate names {claimed}")]
    WrongCountry {
        /// The country dialled.
        expected: CountryCode,
        /// The country the certificate names.
        claimed: CountryCode,
    },
    /// The certificate does not chain to the claimed country's TLS CA, or is expired.
    #[error("rule country-ca: the certificate is not valid under {country}'s TLS CA: {source}")]
    Chain {
        /// The country the certificate claims.
        country: CountryCode,
        /// What the chain verifier found.
        source: rustls::Error,
    },
    /// The certificate's key is revoked in the country's directory.
    #[error("rule revocation: {country}'s TLS key {key_id} is revoked ({reason})")]
    Revoked {
        /// The country.
        country: CountryCode,
        /// SHA-256 of the SubjectPublicKeyInfo (or of the certificate).
        key_id: KeyId,
        /// Why.
        reason: String,
    },
    /// The certificate is not an API client certificate.
    #[error("rule role: the certificate names no valid {ROLE_URI_PREFIX}<role>/<subject> URI")]
    NoRole,
}

/// The ring crypto provider all Tulpar TLS configurations use.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The federation server configuration: TLS 1.3, a client certificate required from a partner in
/// `partners` (read live at each handshake), ALPN `h2`.
pub fn federation_server_config(
    identity: &NodeIdentity,
    partners: Arc<dyn Partners>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(PartnerClientVerifier(PeerVerifier::new(
        partners,
        provider.clone(),
    )));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(identity.server_resolver());
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// The federation client configuration for dialling `partner`: TLS 1.3, the server must present a
/// certificate for `partner` under `partner`'s TLS CA, valid for the host dialled; this node presents
/// its own certificate.
pub fn federation_client_config(
    identity: &NodeIdentity,
    partners: Arc<dyn Partners>,
    partner: CountryCode,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = Arc::new(PartnerServerVerifier {
        core: PeerVerifier::new(partners, provider.clone()),
        partner,
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(identity.client_resolver());
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// The national API server configuration: TLS 1.3; a client certificate, when presented, must come from
/// the country's own TLS CA (map it to a role with [`client_identity`]). Connections without one are
/// accepted so that customs systems can authenticate with a bearer token instead; the node refuses
/// their calls unless they carry one.
pub fn api_server_config(
    identity: &NodeIdentity,
    national_ca: &CertificateDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    roots.add(national_ca.clone())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(identity.server_resolver());
    // HTTP/1.1 too: the client API also answers JSON over HTTP/1.1 (customs systems behind proxies).
    config.alpn_protocols = vec![ALPN_H2.to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The configuration of a national API client (an officer's CLI, a customs system): TLS 1.3, the node
/// must present a certificate from the country's TLS CA valid for the host dialled; the client presents
/// `client_certificate` (chain and PKCS#8 key) if given.
pub fn api_client_config(
    national_ca: &CertificateDer<'static>,
    client_certificate: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(national_ca.clone())?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots);
    let mut config = match client_certificate {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// The partner country a node certificate `chain` (end entity first, then any intermediates) speaks
/// for at `now`: the check the federation server makes in the handshake, for a certificate met
/// elsewhere. Its one `tulpar://country/<CC>` URI, checked to chain to that country's TLS CA and not
/// to be revoked; a certificate from one country's CA naming another country is refused.
pub fn peer_country(
    partners: &dyn Partners,
    chain: &[CertificateDer<'_>],
    now: std::time::SystemTime,
) -> Result<CountryCode, PeerError> {
    let (end_entity, intermediates) = chain
        .split_first()
        .ok_or_else(|| PeerError::Malformed("no certificate".into()))?;
    verify::check_peer(
        partners,
        &provider(),
        end_entity,
        intermediates,
        Usage::Client,
        None,
        verify::unix_time(now),
    )
}

/// The country a node certificate names. After a handshake under [`federation_server_config`] or
/// [`federation_client_config`] this is the verified partner: the handshake already checked this
/// certificate, with its intermediates, against that very country's CA and revocations, so nothing is
/// verified a second time.
pub fn named_country(cert: &CertificateDer<'_>) -> Result<CountryCode, PeerError> {
    verify::named_country(cert)
}

/// Who an API client certificate names. Only meaningful for a certificate verified by
/// [`api_server_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The role.
    pub role: Role,
    /// A unit id or a country code, as issued.
    pub subject: String,
}

/// The role and subject in a client certificate's `tulpar://role/<role>/<subject>` URI.
pub fn client_identity(cert: &CertificateDer<'_>) -> Result<ClientIdentity, PeerError> {
    let uris = certs::san_uris(cert).map_err(PeerError::Malformed)?;
    let mut found = uris.iter().filter_map(|u| {
        let (role, subject) = u.strip_prefix(ROLE_URI_PREFIX)?.split_once('/')?;
        Some(ClientIdentity {
            role: Role::parse(role)?,
            subject: subject.to_owned(),
        })
    });
    match (found.next(), found.next()) {
        (Some(identity), None) => Ok(identity),
        _ => Err(PeerError::NoRole),
    }
}
