//! UN/LOCODE: the United Nations code for trade and transport locations.
//!
//! A route in an alert is a list of places (loading, transit, discharge, destination) and the partner
//! must know exactly which ones: "Aktau" typed in Latin or Cyrillic, with or without "port", is ambiguous;
//! `KZAKX` is not. A UN/LOCODE is the ISO 3166-1 country code of the place followed by three characters,
//! letters or digits 2 to 9 (the digits 0 and 1 are left out because they read like O and I). Tulpar checks
//! the shape and that the country exists; it does not ship the whole UN/LOCODE directory (over 100,000
//! places, revised twice a year), so a well-formed code for a place that is not listed is accepted.
//! The pseudo-country `XZ` used by UN/LOCODE for installations in international waters is refused, as it
//! is not an ISO 3166-1 country.

use super::{CountryCode, InvalidCode};

/// The shape of a UN/LOCODE, in words, for the messages.
const SHAPE: &str = "is not a UN/LOCODE (country code then 3 letters or digits 2-9)";

/// A UN/LOCODE: an assigned ISO 3166-1 alpha-2 country code followed by three characters, each an
/// upper-case letter or a digit 2-9, without a space, e.g. `KZAKX` (Aktau), `UZTAS` (Tashkent), `CNSHA`
/// (Shanghai).
///
/// ```
/// use tulpar_core::codes::UnLocode;
///
/// let aktau = UnLocode::parse("KZAKX")?;
/// assert_eq!(aktau.country().as_str(), "KZ");
/// assert_eq!(aktau.location(), "AKX");
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnLocode([u8; 5]);

impl UnLocode {
    /// Accepts a 5-character UN/LOCODE in upper case, without the space some lists print after the
    /// country code.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let Ok(bytes) = <[u8; 5]>::try_from(s.as_bytes()) else {
            return Err(InvalidCode::new(s, SHAPE).local("locode-shape", &[]));
        };
        let well_formed = bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2..]
                .iter()
                .all(|&b| b.is_ascii_uppercase() || (b'2'..=b'9').contains(&b));
        if !well_formed {
            return Err(InvalidCode::new(s, SHAPE).local("locode-shape", &[]));
        }
        let prefix = &s[..2];
        if CountryCode::parse(prefix).is_err() {
            return Err(InvalidCode::new(
                s,
                format!(
                    "starts with \"{prefix}\", which is not an ISO 3166-1 alpha-2 country code"
                ),
            ));
        }
        Ok(Self(bytes))
    }

    /// The code, e.g. `"KZAKX"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an UnLocode holds ASCII letters and digits")
    }

    /// The country of the place: the code's first two letters.
    pub fn country(&self) -> CountryCode {
        CountryCode::parse(&self.as_str()[..2])
            .expect("an UnLocode starts with a checked country code")
    }

    /// The three characters that name the place within its country, e.g. `"AKX"`.
    pub fn location(&self) -> &str {
        &self.as_str()[2..]
    }
}

code_text_traits!(UnLocode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_locodes_are_accepted() {
        for (s, country) in [
            ("KZAKX", "KZ"),
            ("UZTAS", "UZ"),
            ("CNSHA", "CN"),
            ("TMKRW", "TM"),
            ("AZBAK", "AZ"),
            ("TJDYU", "TJ"),
            ("KZ2FA", "KZ"),
            ("DEHAM", "DE"),
            ("NL999", "NL"),
        ] {
            let l = UnLocode::parse(s).expect(s);
            assert_eq!(l.as_str(), s);
            assert_eq!(l.to_string(), s);
            assert_eq!(l.country().as_str(), country);
            assert_eq!(s.parse::<UnLocode>(), Ok(l));
        }
    }

    #[test]
    fn an_unknown_country_is_named() {
        assert_eq!(
            UnLocode::parse("XXAKX").map_err(|e| e.to_string()),
            Err(
                r#""XXAKX" starts with "XX", which is not an ISO 3166-1 alpha-2 country code"#
                    .to_owned()
            )
        );
        assert!(UnLocode::parse("XZAAA").is_err());
    }

    #[test]
    fn malformed_locodes_are_refused() {
        assert_eq!(
            UnLocode::parse("KZAK1").map_err(|e| e.to_string()),
            Err(
                r#""KZAK1" is not a UN/LOCODE (country code then 3 letters or digits 2-9)"#
                    .to_owned()
            )
        );
        for s in [
            "", "KZAK", "KZAKXX", "kzakx", "KZakx", "KZ AKX", "KZAK0", "K1AKX", "12AKX", "KZAK-",
            "KZАКХ",
        ] {
            let e = UnLocode::parse(s).expect_err(s);
            assert_eq!(e.rule, SHAPE, "{s:?}");
        }
    }
}
