//! Unit ids: the name of one Port Control Unit, Air Cargo Control Unit or customs office in the
//! federation, e.g. `KZ-AKTAU-PCU`.
//!
//! A unit id starts with the country code of the node that owns the unit, so any node can tell from the id
//! alone which country answers for the unit, and two countries can never name a unit alike. The rest is
//! free for each country to choose, in upper-case letters and digits joined by `-`, so that ids are easy to
//! read aloud, to type and to put in a file name.

use super::{CountryCode, InvalidCode};

/// The longest unit id accepted, in characters.
const MAX_LEN: usize = 64;

/// The shape of a unit id, in words, for the messages.
const SHAPE: &str = "is not a unit id (country code, then parts of upper-case letters and digits, each after \
                     a '-', e.g. KZ-AKTAU-PCU)";

/// The id of a customs unit: a country code, then one or more parts of upper-case letters and digits, each
/// after a `-` (`^[A-Z]{2}(-[A-Z0-9]+)+$`), at most 64 characters, e.g. `KZ-AKTAU-PCU`, `TJ-DUSHANBE2-PCU`.
///
/// ```
/// use tulpar_core::codes::UnitId;
///
/// let unit = UnitId::parse("KZ-AKTAU-PCU")?;
/// assert_eq!(unit.country().as_str(), "KZ");
/// assert!(UnitId::parse("kz-aktau-pcu").is_err());
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId {
    text: String,
    country: CountryCode,
}

impl UnitId {
    /// Accepts a unit id in canonical form (upper case, no spaces) whose prefix is an assigned country
    /// code.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        if s.len() > MAX_LEN {
            return Err(InvalidCode::new(
                s,
                format!("is too long for a unit id (at most {MAX_LEN} characters)"),
            ));
        }
        let (prefix, parts) = match (s.get(..2), s.get(2..)) {
            (Some(prefix), Some(parts)) => (prefix, parts),
            _ => return Err(InvalidCode::new(s, SHAPE)),
        };
        let well_formed = prefix.bytes().all(|b| b.is_ascii_uppercase())
            && parts
                .strip_prefix('-')
                .is_some_and(|parts| parts.split('-').all(is_part));
        if !well_formed {
            return Err(InvalidCode::new(s, SHAPE));
        }
        let country = CountryCode::parse(prefix).map_err(|_| {
            InvalidCode::new(
                s,
                format!(
                    "starts with \"{prefix}\", which is not an ISO 3166-1 alpha-2 country code"
                ),
            )
        })?;
        Ok(Self {
            text: s.to_owned(),
            country,
        })
    }

    /// The unit id, e.g. `"KZ-AKTAU-PCU"`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The country the unit belongs to: the id's first two letters.
    pub fn country(&self) -> CountryCode {
        self.country
    }
}

code_text_traits!(UnitId);

/// Whether `part` is one non-empty part of upper-case letters and digits.
fn is_part(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_unit_ids_are_accepted() {
        for (id, country) in [
            ("KZ-AKTAU-PCU", "KZ"),
            ("KZ-KURYK-PCU", "KZ"),
            ("KZ-ALTYNKOL-PCU", "KZ"),
            ("KZ-ALMATY-ACCU", "KZ"),
            ("TJ-DUSHANBE2-PCU", "TJ"),
            ("UZ-TASHKENT-PCU", "UZ"),
            ("TM-TURKMENBASHI-PCU", "TM"),
            ("AZ-ALYAT-PCU", "AZ"),
            ("KG-X", "KG"),
        ] {
            let unit = UnitId::parse(id).expect(id);
            assert_eq!(unit.as_str(), id);
            assert_eq!(unit.to_string(), id);
            assert_eq!(unit.country().as_str(), country);
            assert_eq!(id.parse::<UnitId>(), Ok(unit));
        }
    }

    #[test]
    fn malformed_unit_ids_are_refused() {
        for id in [
            "",
            "K",
            "KZ",
            "KZ-",
            "kz-aktau-pcu",
            "Kz-AKTAU-PCU",
            "KZ-aktau-PCU",
            "KZ--X",
            "KZ-AKTAU-",
            "-KZ-AKTAU",
            "KZAKTAU-PCU",
            "KZ-AKTAU PCU",
            "KZ_AKTAU_PCU",
            " KZ-AKTAU-PCU",
            "KZ-AKTAU-PCU ",
            "KZ-АКТАУ-PCU",
            "K1-AKTAU-PCU",
        ] {
            let e = UnitId::parse(id).expect_err(id);
            assert_eq!(e.rule, SHAPE, "{id:?}");
        }
    }

    #[test]
    fn the_prefix_must_be_an_assigned_country() {
        assert_eq!(
            UnitId::parse("XX-FOO-PCU").map_err(|e| e.to_string()),
            Err(
                r#""XX-FOO-PCU" starts with "XX", which is not an ISO 3166-1 alpha-2 country code"#
                    .to_owned()
            )
        );
        assert!(UnitId::parse("UK-DOVER-PCU").is_err());
    }

    #[test]
    fn at_most_64_characters() {
        let longest = format!("KZ-{}", "A".repeat(MAX_LEN - 3));
        assert!(UnitId::parse(&longest).is_ok());
        let too_long = format!("{longest}B");
        let e = UnitId::parse(&too_long).expect_err("65 characters");
        assert!(e.rule.contains("at most 64"), "{e}");
    }

    #[test]
    fn non_ascii_input_does_not_panic() {
        for id in ["Ж", "ЖЖ-A", "KЖ-A", "K\u{301}Z-A"] {
            assert!(UnitId::parse(id).is_err(), "{id:?}");
        }
    }
}
