//! Structural checks of a directory's content, run after its signature verified.

use std::collections::HashSet;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::keys::{KeyId, PublicKey};
use tulpar_core::time::from_timestamp;
use tulpar_proto::pbjson_types::Timestamp;
use tulpar_proto::v1::{CountryDirectory, DirectoryKey, Envelope};

use super::{DirectoryError, KeyEntry, Purpose, RevocationEntry, UnitEntry, VerifiedDirectory};

/// Longest revocation reason accepted, in characters.
const MAX_REASON_CHARS: usize = 500;

pub(super) fn parse_content(
    directory: CountryDirectory,
    envelope: Envelope,
    country: CountryCode,
    roots: Vec<PublicKey>,
) -> Result<VerifiedDirectory, DirectoryError> {
    if directory.version == 0 {
        return Err(invalid("version", "must be 1 or more"));
    }
    let issued_at = parse_time("issued_at", directory.issued_at.as_ref())?;
    let expires_at = parse_time("expires_at", directory.expires_at.as_ref())?;
    if expires_at <= issued_at {
        return Err(invalid("expires_at", "must be after issued_at"));
    }
    for (i, endpoint) in directory.endpoints.iter().enumerate() {
        let ok = endpoint
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(invalid(&format!("endpoints[{i}]"), "is not host:port"));
        }
    }
    if directory.tls_ca_certificates.is_empty() {
        return Err(invalid("tls_ca_certificates", "at least one CA is needed"));
    }
    let mut tls_cas = Vec::new();
    for (i, der) in directory.tls_ca_certificates.iter().enumerate() {
        if x509_parser::parse_x509_certificate(der).is_err() {
            return Err(invalid(
                &format!("tls_ca_certificates[{i}]"),
                "is not a DER X.509 certificate",
            ));
        }
        tls_cas.push(CertificateDer::from(der.clone()).into_owned());
    }
    let mut seen = HashSet::new();
    let node_keys = directory
        .node_keys
        .iter()
        .enumerate()
        .map(|(i, k)| parse_key(&format!("node_keys[{i}]"), k, &mut seen))
        .collect::<Result<Vec<_>, _>>()?;
    let mut units = Vec::new();
    let mut unit_ids = HashSet::new();
    for (i, unit) in directory.units.iter().enumerate() {
        let field = format!("units[{i}]");
        let unit_id = UnitId::parse(&unit.unit_id)
            .map_err(|e| invalid(&format!("{field}.unit_id"), &e.to_string()))?;
        if unit_id.country() != country {
            return Err(DirectoryError::UnitOfOtherCountry {
                field: format!("{field}.unit_id"),
                unit: unit_id,
                country,
            });
        }
        if !unit_ids.insert(unit_id.clone()) {
            return Err(invalid(
                &format!("{field}.unit_id"),
                &format!("{unit_id} appears twice"),
            ));
        }
        let keys = unit
            .keys
            .iter()
            .enumerate()
            .map(|(j, k)| parse_key(&format!("{field}.keys[{j}]"), k, &mut seen))
            .collect::<Result<Vec<_>, _>>()?;
        let retired_at = unit
            .retired_at
            .as_ref()
            .map(|t| parse_time(&format!("{field}.retired_at"), Some(t)))
            .transpose()?;
        units.push(UnitEntry {
            unit_id,
            name: unit.name.clone(),
            keys,
            retired_at,
        });
    }
    let mut revocations = Vec::new();
    for (i, r) in directory.revocations.iter().enumerate() {
        let field = format!("revocations[{i}]");
        let key_id = r
            .key_id
            .parse::<KeyId>()
            .map_err(|e| invalid(&format!("{field}.key_id"), &e.to_string()))?;
        let effective_at = parse_time(&format!("{field}.effective_at"), r.effective_at.as_ref())?;
        if r.reason.chars().count() > MAX_REASON_CHARS {
            return Err(invalid(
                &format!("{field}.reason"),
                "is longer than 500 characters",
            ));
        }
        revocations.push(RevocationEntry {
            key_id,
            effective_at,
            reason: r.reason.clone(),
        });
    }
    Ok(VerifiedDirectory {
        country,
        directory,
        envelope,
        issued_at,
        expires_at,
        roots,
        tls_cas,
        node_keys,
        units,
        revocations,
    })
}

fn invalid(field: &str, reason: &str) -> DirectoryError {
    DirectoryError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

pub(super) fn parse_time(
    field: &str,
    ts: Option<&Timestamp>,
) -> Result<SystemTime, DirectoryError> {
    let ts = ts.ok_or_else(|| invalid(field, "is missing"))?;
    from_timestamp(ts).ok_or_else(|| invalid(field, "is out of range"))
}

pub(super) fn parse_public_key(
    field: &str,
    key_id: &str,
    raw: &[u8],
) -> Result<PublicKey, DirectoryError> {
    let key = PublicKey::from_bytes(raw)
        .map_err(|e| invalid(&format!("{field}.public_key"), &e.to_string()))?;
    if key_id != key.key_id().to_string() {
        return Err(invalid(
            &format!("{field}.key_id"),
            "is not the SHA-256 of public_key",
        ));
    }
    Ok(key)
}

fn parse_key(
    field: &str,
    key: &DirectoryKey,
    seen: &mut HashSet<KeyId>,
) -> Result<KeyEntry, DirectoryError> {
    let public_key = parse_public_key(field, &key.key_id, &key.public_key)?;
    if !seen.insert(public_key.key_id()) {
        return Err(invalid(
            &format!("{field}.key_id"),
            "the same key appears twice in the directory",
        ));
    }
    let valid_from = parse_time(&format!("{field}.valid_from"), key.valid_from.as_ref())?;
    let valid_until = key
        .valid_until
        .as_ref()
        .map(|t| parse_time(&format!("{field}.valid_until"), Some(t)))
        .transpose()?;
    let mut purposes = Vec::new();
    for (i, p) in key.purposes.iter().enumerate() {
        let purpose = Purpose::from_proto(*p)
            .ok_or_else(|| invalid(&format!("{field}.purposes[{i}]"), "unknown purpose"))?;
        purposes.push(purpose);
    }
    Ok(KeyEntry {
        key_id: public_key.key_id(),
        public_key,
        valid_from,
        valid_until,
        purposes,
    })
}
