//! Key layout of the node's state view. Every key starts with a one-letter prefix and a slash, so
//! that each kind of record can be scanned on its own; ids are stored as their 16 bytes, which sort by
//! time for UUIDv7, and numbers big-endian so that they sort numerically.

use tulpar_core::codes::CountryCode;

/// Alert records by alert id: `a/<16-byte id>`.
pub(crate) const ALERTS: &[u8] = b"a/";
/// Outbox items by partner and ledger index: `o/<CC><8-byte index>`.
pub(crate) const OUTBOX: &[u8] = b"o/";
/// No longer written: outbox items by object and partner (`x/<16-byte id><CC>`). An outbox key is
/// found from the alert record instead; leftovers are removed when their item is delivered.
pub(crate) const OUTBOX_BY_OBJECT: &[u8] = b"x/";
/// Client requests by principal and request id: `q/<principal>\0<request id>`.
pub(crate) const REQUESTS: &[u8] = b"q/";
/// Delivered alerts and responses by id: `r/<16-byte id>`.
pub(crate) const RECEIVED: &[u8] = b"r/";
/// Pending acknowledgement deadlines in time order: `d/<8-byte unix ms><16-byte alert id><CC>`.
pub(crate) const DEADLINES: &[u8] = b"d/";
/// No longer written: pending deadline keys by alert and country (`e/<16-byte alert id><CC>`). A
/// deadline key is found from the alert record instead; leftovers are removed with their deadline.
pub(crate) const DEADLINE_BY_ALERT: &[u8] = b"e/";
/// Currently overdue (alert, country) pairs: `v/<16-byte alert id><CC>`.
pub(crate) const OVERDUE: &[u8] = b"v/";
/// The latest checkpoint of a partner this node cosigned, by partner: `w/<CC>`.
pub(crate) const WITNESSED: &[u8] = b"w/";
/// The latest checkpoint of this node a partner cosigned (with the cosignature), by partner: `c/<CC>`.
pub(crate) const COSIGNED: &[u8] = b"c/";
/// When the latest cosignature of a partner was recorded, unix seconds (8 bytes), by partner: `k/<CC>`.
pub(crate) const COSIGNED_AT: &[u8] = b"k/";
/// The latest checkpoint of a log outside the federation this node cosigned, by origin: `l/<origin>`.
pub(crate) const WITNESSED_LOG: &[u8] = b"l/";
/// The latest checkpoint of this node an external witness cosigned (with the cosignature), by the
/// witness's name: `y/<name>`.
pub(crate) const COSIGNED_BY_WITNESS: &[u8] = b"y/";
/// Ledger indexes of entries that are alarms for focal points: `m/<8-byte index>`.
pub(crate) const ALARMS: &[u8] = b"m/";
/// Items a partner refused for good, counted with the last reason, by partner: `u/<CC>`.
pub(crate) const UNDELIVERABLE: &[u8] = b"u/";
/// Revoked bearer tokens by the token's SHA-256: `t/<32 bytes>`.
pub(crate) const REVOKED_TOKENS: &[u8] = b"t/";

/// Every prefix, so that a test can hold them distinct.
#[cfg(test)]
const PREFIXES: &[&[u8]] = &[
    ALERTS,
    OUTBOX,
    OUTBOX_BY_OBJECT,
    REQUESTS,
    RECEIVED,
    DEADLINES,
    DEADLINE_BY_ALERT,
    OVERDUE,
    WITNESSED,
    COSIGNED,
    COSIGNED_AT,
    WITNESSED_LOG,
    COSIGNED_BY_WITNESS,
    ALARMS,
    UNDELIVERABLE,
    REVOKED_TOKENS,
];

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

pub(crate) fn alert(id: &[u8; 16]) -> Vec<u8> {
    key(ALERTS, &[id])
}

pub(crate) fn outbox(country: CountryCode, index: u64) -> Vec<u8> {
    key(OUTBOX, &[country.as_str().as_bytes(), &index.to_be_bytes()])
}

pub(crate) fn undeliverable(country: CountryCode) -> Vec<u8> {
    key(UNDELIVERABLE, &[country.as_str().as_bytes()])
}

pub(crate) fn outbox_prefix(country: CountryCode) -> Vec<u8> {
    key(OUTBOX, &[country.as_str().as_bytes()])
}

/// The ledger index in an outbox key.
pub(crate) fn outbox_index(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(OUTBOX.len() + 2..)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

pub(crate) fn outbox_by_object(id: &[u8; 16], country: CountryCode) -> Vec<u8> {
    key(OUTBOX_BY_OBJECT, &[id, country.as_str().as_bytes()])
}

pub(crate) fn request(principal: &str, request_id: &str) -> Vec<u8> {
    key(
        REQUESTS,
        &[principal.as_bytes(), b"\0", request_id.as_bytes()],
    )
}

pub(crate) fn received(id: &[u8; 16]) -> Vec<u8> {
    key(RECEIVED, &[id])
}

pub(crate) fn deadline(due_unix_ms: u64, alert: &[u8; 16], country: CountryCode) -> Vec<u8> {
    key(
        DEADLINES,
        &[
            &due_unix_ms.to_be_bytes(),
            alert,
            country.as_str().as_bytes(),
        ],
    )
}

/// The due time, alert id and country of a deadline key.
pub(crate) fn parse_deadline(key: &[u8]) -> Option<(u64, [u8; 16], CountryCode)> {
    let rest = key.strip_prefix(DEADLINES)?;
    let due = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let alert: [u8; 16] = rest.get(8..24)?.try_into().ok()?;
    let country = CountryCode::parse(std::str::from_utf8(rest.get(24..26)?).ok()?).ok()?;
    Some((due, alert, country))
}

pub(crate) fn deadline_by_alert(alert: &[u8; 16], country: CountryCode) -> Vec<u8> {
    key(DEADLINE_BY_ALERT, &[alert, country.as_str().as_bytes()])
}

pub(crate) fn overdue(alert: &[u8; 16], country: CountryCode) -> Vec<u8> {
    key(OVERDUE, &[alert, country.as_str().as_bytes()])
}

/// The alert id and country of an overdue key.
pub(crate) fn parse_overdue(key: &[u8]) -> Option<([u8; 16], CountryCode)> {
    let rest = key.strip_prefix(OVERDUE)?;
    let alert: [u8; 16] = rest.get(..16)?.try_into().ok()?;
    let country = CountryCode::parse(std::str::from_utf8(rest.get(16..18)?).ok()?).ok()?;
    Some((alert, country))
}

pub(crate) fn witnessed(country: CountryCode) -> Vec<u8> {
    key(WITNESSED, &[country.as_str().as_bytes()])
}

pub(crate) fn cosigned(country: CountryCode) -> Vec<u8> {
    key(COSIGNED, &[country.as_str().as_bytes()])
}

pub(crate) fn witnessed_log(origin: &str) -> Vec<u8> {
    key(WITNESSED_LOG, &[origin.as_bytes()])
}

pub(crate) fn cosigned_by_witness(name: &str) -> Vec<u8> {
    key(COSIGNED_BY_WITNESS, &[name.as_bytes()])
}

pub(crate) fn cosigned_at(country: CountryCode) -> Vec<u8> {
    key(COSIGNED_AT, &[country.as_str().as_bytes()])
}

pub(crate) fn alarm(index: u64) -> Vec<u8> {
    key(ALARMS, &[&index.to_be_bytes()])
}

pub(crate) fn revoked_token(sha256: &[u8; 32]) -> Vec<u8> {
    key(REVOKED_TOKENS, &[sha256])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_record_has_a_prefix_of_its_own() {
        let mut seen = std::collections::HashSet::new();
        for prefix in PREFIXES {
            assert!(
                seen.insert(*prefix),
                "{} is used twice",
                String::from_utf8_lossy(prefix)
            );
        }
    }
}
