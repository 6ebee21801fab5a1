//! Certificate verifiers that read the live trust store: a peer is accepted only if its certificate
//! names exactly one country, chains to *that* country's TLS CA as published in its directory, and its
//! key is not revoked.

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

use super::certs::{COUNTRY_URI_PREFIX, san_uris, sha256};
use super::{PeerError, provider};
use crate::directory::VerifiedDirectory;
use crate::store::TrustStore;

/// The country `end_entity` speaks for, checked against `store` at `now`; `expected` narrows it to
/// one partner (the one a client dialled).
pub(crate) fn peer_country_in(
    store: &TrustStore,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: SystemTime,
    expected: Option<CountryCode>,
) -> Result<CountryCode, PeerError> {
    let (country, directory) = identify(store, end_entity, expected)?;
    chain_verifier(&directory)?
        .verify_client_cert(end_entity, intermediates, unix_time(now))
        .map_err(|source| PeerError::Chain { country, source })?;
    check_revocation(&directory, end_entity, now)?;
    Ok(country)
}

/// The country `end_entity` names (and must name, if `expected`) with that country's directory.
fn identify(
    store: &TrustStore,
    end_entity: &CertificateDer<'_>,
    expected: Option<CountryCode>,
) -> Result<(CountryCode, Arc<VerifiedDirectory>), PeerError> {
    let country = claimed_country(end_entity)?;
    if let Some(expected) = expected
        && expected != country
    {
        return Err(PeerError::WrongCountry {
            expected,
            claimed: country,
        });
    }
    let entry = store
        .entry(country)
        .ok_or(PeerError::UnknownCountry(country))?;
    let directory = entry
        .directory()
        .cloned()
        .ok_or(PeerError::NoDirectory(country))?;
    Ok((country, directory))
}

fn claimed_country(cert: &CertificateDer<'_>) -> Result<CountryCode, PeerError> {
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

/// A WebPKI verifier trusting only the TLS CAs of one country's directory.
fn chain_verifier(directory: &VerifiedDirectory) -> Result<Arc<dyn ClientCertVerifier>, PeerError> {
    let mut roots = RootCertStore::empty();
    for ca in directory.tls_ca_certificates() {
        roots.add(ca.clone()).map_err(|source| PeerError::Chain {
            country: directory.country(),
            source,
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| PeerError::Malformed(format!("{}'s TLS CA: {e}", directory.country())))
}

fn check_revocation(
    directory: &VerifiedDirectory,
    cert: &CertificateDer<'_>,
    now: SystemTime,
) -> Result<(), PeerError> {
    let spki = super::certs::spki_sha256(cert).map_err(|e| PeerError::Malformed(e.to_string()))?;
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

fn unix_time(time: SystemTime) -> UnixTime {
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

/// Server side of federation: accepts client certificates of any partner in the store.
#[derive(Debug)]
pub(crate) struct PartnerClientVerifier {
    pub(crate) store: Arc<TrustStore>,
    pub(crate) provider: Arc<CryptoProvider>,
}

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
        peer_country_in(
            &self.store,
            end_entity,
            intermediates,
            system_time(now),
            None,
        )
        .map_err(to_rustls)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "Tulpar federation speaks TLS 1.3 only".into(),
        ))
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

/// Client side of federation: accepts only the dialled partner's node certificate.
#[derive(Debug)]
pub(crate) struct PartnerServerVerifier {
    pub(crate) store: Arc<TrustStore>,
    pub(crate) partner: CountryCode,
    pub(crate) provider: Arc<CryptoProvider>,
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
        let (country, directory) =
            identify(&self.store, end_entity, Some(self.partner)).map_err(to_rustls)?;
        // Chain to the partner's CA only, as a server certificate for the host dialled.
        let mut roots = RootCertStore::empty();
        for ca in directory.tls_ca_certificates() {
            roots.add(ca.clone())?;
        }
        let verified =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map_err(|source| to_rustls(PeerError::Chain { country, source }))?;
        check_revocation(&directory, end_entity, system_time(now)).map_err(to_rustls)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "Tulpar federation speaks TLS 1.3 only".into(),
        ))
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
