//! Identifiers of alerts and responses (UUIDv7) and client idempotency keys.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::{Uuid, Version};

use crate::codes::InvalidCode;

fn invalid(value: &str, rule: &str) -> InvalidCode {
    InvalidCode::new(value, rule)
}

/// Parses a canonical (lowercase, hyphenated) UUIDv7.
fn parse_v7(s: &str) -> Result<Uuid, InvalidCode> {
    let uuid = Uuid::try_parse(s).map_err(|_| invalid(s, "is not a UUID"))?;
    if uuid.get_version() != Some(Version::SortRand) {
        return Err(invalid(s, "is not a UUIDv7 (time-ordered UUID)"));
    }
    if uuid.hyphenated().to_string() != s {
        return Err(invalid(
            s,
            "is not in canonical form (lowercase, hyphenated)",
        ));
    }
    Ok(uuid)
}

/// Milliseconds since the epoch encoded in a UUIDv7.
fn v7_time(uuid: &Uuid) -> SystemTime {
    let bytes = uuid.as_bytes();
    let millis = bytes[..6]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    UNIX_EPOCH + Duration::from_millis(millis)
}

macro_rules! uuid_v7_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id for something created at `at`.
            pub fn new_at(at: SystemTime) -> Self {
                let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    since.as_secs(),
                    since.subsec_nanos(),
                );
                Self(Uuid::new_v7(ts))
            }

            /// Parses the canonical lowercase hyphenated form of a UUIDv7.
            pub fn parse(s: &str) -> Result<Self, InvalidCode> {
                parse_v7(s).map(Self)
            }

            /// The 16 bytes, which sort by creation time.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// The id from its 16 bytes, if they hold a UUIDv7.
            pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
                let uuid = Uuid::from_bytes(bytes);
                (uuid.get_version() == Some(Version::SortRand)).then_some(Self(uuid))
            }

            /// The creation time encoded in the id (millisecond precision).
            pub fn time(&self) -> SystemTime {
                v7_time(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = InvalidCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

uuid_v7_id!(
    /// The id of an alert: a UUIDv7 assigned by the origin node, unique across the federation.
    AlertId
);

uuid_v7_id!(
    /// The id of an acknowledgement or outcome: a UUIDv7 assigned by the responding node.
    ResponseId
);

/// A client's idempotency key: 1-128 characters of letters, digits, `-`, `_`, `.`, `:`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct RequestId(String);

impl RequestId {
    /// Parses a request id.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if s.is_empty() || s.len() > 128 || !s.chars().all(allowed) {
            return Err(invalid(
                s,
                "is not a request id (1-128 letters, digits, '-', '_', '.', ':')",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_round_trip_and_carry_their_time() {
        let at = UNIX_EPOCH + Duration::from_millis(1_790_000_000_123);
        let id = AlertId::new_at(at);
        assert_eq!(id.time(), at);
        assert_eq!(AlertId::parse(&id.to_string()).unwrap(), id);
        assert_eq!(AlertId::from_bytes(*id.as_bytes()), Some(id));
    }

    #[test]
    fn ids_sort_by_time() {
        let early = AlertId::new_at(UNIX_EPOCH + Duration::from_secs(100));
        let late = AlertId::new_at(UNIX_EPOCH + Duration::from_secs(200));
        assert!(early < late);
        assert!(early.as_bytes() < late.as_bytes());
    }

    #[test]
    fn non_v7_and_non_canonical_are_refused() {
        let v4 = "9f1c6a0e-2b7d-4c1e-8a3b-5d6e7f809a1b";
        assert!(
            AlertId::parse(v4)
                .unwrap_err()
                .to_string()
                .contains("UUIDv7")
        );
        let id = AlertId::new_at(SystemTime::now())
            .to_string()
            .to_uppercase();
        assert!(
            AlertId::parse(&id)
                .unwrap_err()
                .to_string()
                .contains("canonical")
        );
        assert!(AlertId::parse("nope").is_err());
    }

    #[test]
    fn request_ids() {
        assert!(RequestId::parse("3f6c-submit:1").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("has space").is_err());
        assert!(RequestId::parse(&"a".repeat(129)).is_err());
    }
}
