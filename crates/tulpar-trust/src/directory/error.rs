//! Why a directory or a key was refused: each variant names its rule, so logs and operators can tell
//! a forgery from a stale copy from a misconfiguration.

use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::EnvelopeError;
use tulpar_core::keys::KeyId;

use super::Purpose;

/// RFC 3339 in UTC, to the second, for messages.
pub fn fmt_time(time: SystemTime) -> String {
    let seconds = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        // Beyond the years RFC 3339 can write (0 to 9999): still say when.
        .unwrap_or_else(|| format!("{seconds} s after 1970-01-01T00:00:00Z"))
}

/// Why a directory was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The envelope's signature does not verify against the country's current root key.
    #[error(
        "rule signature: the directory is not signed by {country}'s current root key: {source}"
    )]
    Signature {
        /// The country.
        country: CountryCode,
        /// What the envelope verifier found.
        source: EnvelopeError,
    },
    /// The pinned root key does not appear in the directory's root chain.
    #[error(
        "rule pinned-root: the pinned root key {pinned} of {country} is not in the directory's root \
         chain: it was signed by another authority"
    )]
    PinnedRootNotInChain {
        /// The country.
        country: CountryCode,
        /// The pinned key.
        pinned: KeyId,
    },
    /// A rotated root key is not endorsed by its predecessor.
    #[error(
        "rule root-endorsement: root_keys[{index}] ({key_id}) is not endorsed by the root key before it"
    )]
    BadEndorsement {
        /// Position in `root_keys`.
        index: usize,
        /// The unendorsed key.
        key_id: KeyId,
    },
    /// The root chain held earlier is not a prefix of the offered one.
    #[error("rule root-history: the offered directory rewrites {country}'s root key history")]
    RootHistoryRewritten {
        /// The country.
        country: CountryCode,
    },
    /// The directory speaks for another country than expected.
    #[error("rule country: the directory is for {found:?}, expected {expected}")]
    WrongCountry {
        /// The country the directory was expected for.
        expected: CountryCode,
        /// What it says.
        found: String,
    },
    /// The version does not go forward.
    #[error(
        "rule version: version {offered} of {country}'s directory is not newer than the held version \
         {held}; rollback refused"
    )]
    Rollback {
        /// The country.
        country: CountryCode,
        /// Version already held.
        held: u64,
        /// Version offered.
        offered: u64,
    },
    /// The directory has expired.
    #[error(
        "rule expiry: {country}'s directory version {version} expired at {}; ask the focal point to \
         publish a new one", fmt_time(*.expires_at)
    )]
    Expired {
        /// The country.
        country: CountryCode,
        /// Its version.
        version: u64,
        /// When it expired.
        expires_at: SystemTime,
    },
    /// The directory claims to be issued in the future.
    #[error("rule issue-time: the directory claims to be issued at {}, in the future", fmt_time(*.issued_at))]
    IssuedInFuture {
        /// The claimed issue time.
        issued_at: SystemTime,
    },
    /// A key present in the held directory is missing from the new one.
    #[error(
        "rule key-history: key {key_id} of the held directory is missing; keys are never removed"
    )]
    KeyRemoved {
        /// The missing key.
        key_id: KeyId,
    },
    /// A unit whose id names another country.
    #[error("rule unit-country: {field}: unit {unit} belongs to {}, not to {country}", .unit.country())]
    UnitOfOtherCountry {
        /// Where in the directory.
        field: String,
        /// The unit.
        unit: UnitId,
        /// The directory's country.
        country: CountryCode,
    },
    /// A field breaks a structural rule.
    #[error("rule well-formed: {field}: {reason}")]
    Invalid {
        /// Where in the directory, e.g. `units[2].keys[0].key_id`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a key is not valid for what it signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRuleError {
    /// The country is not in the trust store.
    #[error("rule known-country: {0} is not a partner in the trust store")]
    UnknownCountry(CountryCode),
    /// The country is pinned but no directory has been accepted yet.
    #[error("rule directory: no directory of {0} has been accepted yet")]
    NoDirectory(CountryCode),
    /// The unit id names another country than the one whose key is asked for.
    #[error("rule unit-country: unit {unit} belongs to {}, not to {country}", .unit.country())]
    UnitOfOtherCountry {
        /// The unit.
        unit: UnitId,
        /// The country asked about.
        country: CountryCode,
    },
    /// The unit is not in its country's directory.
    #[error("rule known-unit: {unit} is not in {country}'s directory")]
    UnknownUnit {
        /// The country.
        country: CountryCode,
        /// The unit.
        unit: UnitId,
    },
    /// The key is not one of the unit's (or node's) keys.
    #[error(
        "rule key-owner: key {key_id} is not a key of {holder}{}",
        .owner.as_ref().map(|o| format!(" (it belongs to {o})")).unwrap_or_default()
    )]
    NotHolderKey {
        /// The unit or node asked about, e.g. `KZ-AKTAU-PCU` or `the KZ node`.
        holder: String,
        /// The key.
        key_id: KeyId,
        /// Who the key belongs to, if the store knows it.
        owner: Option<String>,
    },
    /// The key may not sign this kind of object.
    #[error("rule purpose: key {key_id} may not sign {purpose} (it may sign: {allowed})")]
    WrongPurpose {
        /// The key.
        key_id: KeyId,
        /// What it was used for.
        purpose: Purpose,
        /// What it may sign.
        allowed: String,
    },
    /// The signature time is before the key's validity.
    #[error("rule validity: key {key_id} is valid from {}, not at {}", fmt_time(*.valid_from), fmt_time(*.at))]
    NotYetValid {
        /// The key.
        key_id: KeyId,
        /// Start of validity.
        valid_from: SystemTime,
        /// The signature time.
        at: SystemTime,
    },
    /// The key was rotated out before the signature time.
    #[error(
        "rule validity: key {key_id} was rotated out at {}, before {}",
        fmt_time(*.valid_until), fmt_time(*.at)
    )]
    RotatedOut {
        /// The key.
        key_id: KeyId,
        /// End of validity.
        valid_until: SystemTime,
        /// The signature time.
        at: SystemTime,
    },
    /// The unit was retired before the signature time.
    #[error("rule retired: unit {unit} was retired at {}, before {}", fmt_time(*.retired_at), fmt_time(*.at))]
    UnitRetired {
        /// The unit.
        unit: UnitId,
        /// When it was retired.
        retired_at: SystemTime,
        /// The signature time.
        at: SystemTime,
    },
    /// The key is revoked from a time at or before the signature time.
    #[error("rule revocation: key {key_id} is revoked from {} ({reason})", fmt_time(*.effective_at))]
    Revoked {
        /// The key.
        key_id: KeyId,
        /// From when.
        effective_at: SystemTime,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::fmt_time;

    #[test]
    fn times_are_written_in_utc_to_the_second() {
        let at = UNIX_EPOCH + Duration::from_millis(1_777_636_800_750);
        assert_eq!(fmt_time(at), "2026-05-01T12:00:00Z");
        assert_eq!(fmt_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(fmt_time(far), "400000000000 s after 1970-01-01T00:00:00Z");
    }
}
