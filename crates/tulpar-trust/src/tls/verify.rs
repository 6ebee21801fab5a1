//! Certificate verifiers that read the partners' directories live: a peer is accepted only if its
//! certificate names exactly one country, chains (through the intermediates it sent) to *that*
//! country's TLS CA as published in its directory, and its key is not revoked.
//!
//! One core, [`PeerVerifier`], makes every decision; the client-side and server-side rustls verifiers
//! only say which usage the chain must be valid for. The verifiers learn about partners through
//! [`Partners`], so TLS depends on directories, not on the store that keeps them.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::KeyId;

use super::PeerError;
use super::certs::{COUNTRY_URI_PREFIX, san_uris, sha256, spki_sha256};
use crate::directory::VerifiedDirectory;

/// The partners a node trusts, as the TLS verifiers need them: read at every handshake, so a partner
/// added or a key revoked applies to the next connection.
pub trait Partners: Send + Sync + fmt::Debug {
    /// The directory of `country` accepted now, or why there is none
    /// ([`PeerError::UnknownCountry`], [`PeerError::NoDirectory`]).
    fn partner_directory(&self, country: CountryCode) -> Result<Arc<VerifiedDirectory>, PeerError>;
}

/// The country a certificate names: its one `tulpar://country/<CC>` URI, nothing verified.
pub(crate) fn named_country(cert: &CertificateDer<'_>) -> Result<CountryCode, PeerError> {
    let uris = san_uris(cert).map_err(PeerError::Malformed)?;
    let mut countries = uris
        .iter()
        .filter_map(|u| u.strip_prefix(COUNTRY_URI_PREFIX));
    let first = countries.next().ok_or(PeerError::NoCountry)?;
    if countries.next().is_some() {
        return Err(PeerError::SeveralCountries);
    }
    CountryCode::parse(first).map_err(|e| PeerError::Malformed(e.to_string()))
}

/// What a peer's chain must be valid for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Usage<'a> {
    /// A client certificate (the federation server's side).
    Client,
    /// A server certificate for the host dialled (the federation client's side).
    Server {
        /// The host dialled.
        name: &'a ServerName<'a>,
        /// A stapled OCSP response, as rustls hands it over.
        ocsp: &'a [u8],
    },
}

/// The one place a partner's certificate is judged.
#[derive(Debug, Clone)]
pub(crate) struct PeerVerifier {
    partners: Arc<dyn Partners>,
    provider: Arc<CryptoProvider>,
}

impl PeerVerifier {
    pub(crate) fn new(partners: Arc<dyn Partners>, provider: Arc<CryptoProvider>) -> Self {
        Self { partners, provider }
    }

    /// See [`check_peer`].
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        usage: Usage<'_>,
        expected: Option<CountryCode>,
        now: UnixTime,
    ) -> Result<CountryCode, PeerError> {
        check_peer(
            self.partners.as_ref(),
            &self.provider,
            end_entity,
            intermediates,
            usage,
            expected,
            now,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The country `end_entity` speaks for: the one it names (which must be `expected`, if given),
/// whose directory's TLS CAs it chains to through `intermediates` for `usage` at `now`, and which
/// has not revoked its key.
pub(crate) fn check_peer(
    partners: &dyn Partners,
    provider: &Arc<CryptoProvider>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    usage: Usage<'_>,
    expected: Option<CountryCode>,
    now: UnixTime,
) -> Result<CountryCode, PeerError> {
    let country = named_country(end_entity)?;
    if let Some(expected) = expected
        && expected != country
    {
        return Err(PeerError::WrongCountry {
            expected,
            claimed: country,
        });
    }
    let directory = partners.partner_directory(country)?;
    let chain = |source| PeerError::Chain { country, source };
    let mut roots = RootCertStore::empty();
    for ca in directory.tls_ca_certificates() {
        roots.add(ca.clone()).map_err(chain)?;
    }
    let roots = Arc::new(roots);
    let unusable = |e: rustls::client::VerifierBuilderError| {
        PeerError::Malformed(format!("{country}'s TLS CA: {e}"))
    };
    match usage {
        Usage::Client => {
            WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(unusable)?
                .verify_client_cert(end_entity, intermediates, now)
                .map_err(chain)?;
        }
        Usage::Server { name, ocsp } => {
            WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(unusable)?
                .verify_server_cert(end_entity, intermediates, name, ocsp, now)
                .map_err(chain)?;
        }
    }
    check_revocation(&directory, end_entity, system_time(now))?;
    Ok(country)
}

/// Every configuration is TLS 1.3 only, so a TLS 1.2 signature never reaches a verifier.
fn refuse_tls12() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::General(
        "Tulpar federation speaks TLS 1.3 only".into(),
    ))
}

fn check_revocation(
    directory: &VerifiedDirectory,
    cert: &CertificateDer<'_>,
    now: SystemTime,
) -> Result<(), PeerError> {
    let spki = spki_sha256(cert).map_err(|e| PeerError::Malformed(e.to_string()))?;
    for id in [spki, sha256(cert)] {
        let key_id = KeyId::from_digest(id);
        if let Some(r) = directory.revocation_at(&key_id, now) {
            return Err(PeerError::Revoked {
                country: directory.country(),
                key_id,
                reason: r.reason.clone(),
            });
        }
    }
    Ok(())
}

pub(crate) fn unix_time(time: SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn system_time(time: UnixTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(time.as_secs())
}

fn to_rustls(error: PeerError) -> rustls::Error {
    match error {
        // Keep rustls' own certificate errors so the peer gets the matching TLS alert.
        PeerError::Chain { source, .. } => source,
        other => rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(Arc::new(other)),
        )),
    }
}

/// Server side of federation: accepts client certificates of any partner.
#[derive(Debug)]
pub(crate) struct PartnerClientVerifier(pub(crate) PeerVerifier);

impl ClientCertVerifier for PartnerClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Partners present their one node certificate whatever the hints say.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .verify(end_entity, intermediates, Usage::Client, None, now)
            .map_err(to_rustls)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Client side of federation: accepts only the dialled partner's node certificate, for the host
/// dialled.
#[derive(Debug)]
pub(crate) struct PartnerServerVerifier {
    pub(crate) core: PeerVerifier,
    pub(crate) partner: CountryCode,
}

impl ServerCertVerifier for PartnerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let usage = Usage::Server {
            name: server_name,
            ocsp: ocsp_response,
        };
        self.core
            .verify(end_entity, intermediates, usage, Some(self.partner), now)
            .map_err(to_rustls)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.core.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.core.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
