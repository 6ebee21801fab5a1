//! The key ceremony of a new country: root key, TLS CA, node certificate, node ledger key, one key per
//! unit and the first signed directory, generated together in memory. Writing them out (and keeping
//! the root and CA keys offline) is the caller's job; `tulpar init` does it.

use std::time::SystemTime;

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::keys::{KeyError, SigningKey};
use tulpar_proto::v1::Envelope;

use crate::draft::{DEFAULT_VALIDITY, DirectoryDraft, EditError};
use crate::node_cert::{issue_node_certificate, node_hosts};
use crate::tls::{CA_VALIDITY, IssuedCert, TlsCa, TlsError};

/// What went wrong in the ceremony.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CeremonyError {
    /// The endpoint is not `host:port`.
    #[error("endpoint {0:?} is not host:port")]
    Endpoint(String),
    /// Key generation failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Certificate generation failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The directory could not be built.
    #[error(transparent)]
    Directory(#[from] EditError),
}

/// What a new country is made of.
#[derive(Debug, Clone)]
pub struct CountryPlan {
    /// The country.
    pub country: CountryCode,
    /// Its units.
    pub units: Vec<UnitId>,
    /// The federation endpoint of its node, `host:port`.
    pub endpoint: String,
    /// More host names or IP addresses for the node certificate (the endpoint's host is always in).
    pub extra_hosts: Vec<String>,
    /// When the ceremony takes place.
    pub now: SystemTime,
}

/// The keys, certificates and first directory of a new country.
#[derive(Debug)]
pub struct NewCountry {
    /// The country root key: signs directories. Keep it offline.
    pub root: SigningKey,
    /// The country TLS CA. Its key belongs offline.
    pub tls_ca: TlsCa,
    /// The node TLS certificate and key.
    pub node_cert: IssuedCert,
    /// The node ledger key.
    pub ledger: SigningKey,
    /// One signing key per unit.
    pub units: Vec<(UnitId, SigningKey)>,
    /// Directory version 1, signed by the root.
    pub directory: Envelope,
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn endpoint_host(endpoint: &str) -> Option<&str> {
    let (host, port) = endpoint.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// Generates everything a new country needs.
pub fn create_country(plan: &CountryPlan) -> Result<NewCountry, CeremonyError> {
    endpoint_host(&plan.endpoint).ok_or_else(|| CeremonyError::Endpoint(plan.endpoint.clone()))?;
    let hosts = node_hosts(std::slice::from_ref(&plan.endpoint), &plan.extra_hosts)?;
    let root = SigningKey::generate()?;
    let tls_ca = TlsCa::generate(plan.country, plan.now, CA_VALIDITY)?;
    let node_cert = issue_node_certificate(&tls_ca, &hosts, plan.now)?;
    let ledger = SigningKey::generate()?;
    let mut draft = DirectoryDraft::new(
        plan.country,
        &root.public_key(),
        tls_ca.certificate(),
        &ledger.public_key(),
        vec![plan.endpoint.clone()],
        plan.now,
    );
    let mut units = Vec::new();
    for unit in &plan.units {
        let key = SigningKey::generate()?;
        draft.add_unit(unit, unit.as_str(), &key.public_key(), plan.now)?;
        units.push((unit.clone(), key));
    }
    let directory = draft.sign(&root, plan.now, DEFAULT_VALIDITY)?;
    Ok(NewCountry {
        root,
        tls_ca,
        node_cert,
        ledger,
        units,
        directory,
    })
}
