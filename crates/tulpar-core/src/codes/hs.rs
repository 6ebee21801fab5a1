//! Commodity codes: the 6-digit Harmonized System subheading and the national tariff lines that extend it.
//!
//! The World Customs Organization's Harmonized System (HS) is the one commodity classification every
//! partner shares, down to 6 digits. Below that each country or customs union adds its own digits: the
//! EAEU's 10-digit TN VED used by Kazakhstan and Kyrgyzstan, the EU's 8-digit CN, China's 10-digit codes.
//! An alert keeps the two apart, so that a partner on another national tariff still reads the part it
//! understands; the alert validator checks that a national code really extends the HS code given with it
//! ([`NationalTariffCode::extends`]).
//!
//! The HS has chapters 01 to 97; chapter 77 is reserved for possible future use, and chapters 98 and 99
//! are left to national use, so a 6-digit code in them is not an HS subheading.

use super::InvalidCode;

/// Checks the chapter (first two digits) of a code already known to be all digits and at least 2 long.
fn check_chapter(s: &str) -> Result<(), InvalidCode> {
    let chapter = &s[..2];
    let refused = match chapter {
        "00" => Err(InvalidCode::new(
            s,
            "is in chapter 00, which does not exist (the Harmonized System has chapters 01 to 97)",
        )),
        "77" => Err(InvalidCode::new(
            s,
            "is in HS chapter 77, which is reserved for future use",
        )),
        "98" | "99" => Err(InvalidCode::new(
            s,
            format!(
                "is in chapter {chapter}, which is left to national use (the Harmonized System has \
                 chapters 01 to 97)"
            ),
        )),
        _ => Ok(()),
    };
    refused.map_err(|e| e.local("hs-chapter", &[("chapter", &chapter)]))
}

/// A 6-digit Harmonized System subheading, e.g. `847130` (portable computers), in chapters 01 to 97 except
/// 77. Written without dots.
///
/// ```
/// use tulpar_core::codes::{HsCode, NationalTariffCode};
///
/// let hs = HsCode::parse("847130")?;
/// assert_eq!(hs.chapter(), 84);
/// assert!(NationalTariffCode::parse("8471300000")?.extends(&hs));
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsCode([u8; 6]);

impl HsCode {
    /// Accepts exactly 6 digits, without dots or spaces, in an HS chapter.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let Ok(bytes) = <[u8; 6]>::try_from(s.as_bytes()) else {
            return Err(InvalidCode::new(s, HS_SHAPE).local("hs-shape", &[]));
        };
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(InvalidCode::new(s, HS_SHAPE).local("hs-shape", &[]));
        }
        check_chapter(s)?;
        Ok(Self(bytes))
    }

    /// The six digits, e.g. `"847130"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an HsCode holds ASCII digits")
    }

    /// The chapter: the first two digits as a number, 1 to 97.
    pub fn chapter(&self) -> u8 {
        (self.0[0] - b'0') * 10 + (self.0[1] - b'0')
    }

    /// The heading: the first four digits, e.g. `"8471"`.
    pub fn heading(&self) -> &str {
        &self.as_str()[..4]
    }
}

code_text_traits!(HsCode);

/// The shape of an HS code, in words, for the messages.
const HS_SHAPE: &str = "is not an HS subheading (exactly 6 digits, no dots or spaces)";

/// The shape of a national tariff code, in words, for the messages.
const NATIONAL_SHAPE: &str = "is not a national tariff code (8 to 12 digits, no dots or spaces)";

/// A national tariff line extending an HS subheading: 8 to 12 digits whose first six are an HS subheading,
/// e.g. `8471300000` in the EAEU's TN VED. Written without dots or spaces.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NationalTariffCode(String);

impl NationalTariffCode {
    /// Accepts 8 to 12 digits, without dots or spaces, in an HS chapter.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        if !(8..=12).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidCode::new(s, NATIONAL_SHAPE));
        }
        check_chapter(s)?;
        Ok(Self(s.to_owned()))
    }

    /// The digits, e.g. `"8471300000"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HS subheading this code extends: its first six digits.
    pub fn hs_code(&self) -> HsCode {
        HsCode::parse(&self.0[..6])
            .expect("a NationalTariffCode starts with a checked HS subheading")
    }

    /// Whether this code extends `hs`, i.e. starts with its six digits.
    pub fn extends(&self, hs: &HsCode) -> bool {
        self.0.starts_with(hs.as_str())
    }
}

code_text_traits!(NationalTariffCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs_codes() {
        for (s, chapter) in [
            ("847130", 84),
            ("010121", 1),
            ("293971", 29),
            ("930110", 93),
            ("970200", 97),
            ("240220", 24),
        ] {
            let hs = HsCode::parse(s).expect(s);
            assert_eq!(hs.as_str(), s);
            assert_eq!(hs.chapter(), chapter);
            assert_eq!(s.parse::<HsCode>(), Ok(hs));
        }
        assert_eq!(HsCode::parse("847130").expect("valid").heading(), "8471");
    }

    #[test]
    fn malformed_hs_codes_and_chapters_outside_the_hs_are_refused() {
        for s in [
            "",
            "84713",
            "8471300",
            "8471.30",
            "84713a",
            " 847130",
            "８４７１３０",
        ] {
            let e = HsCode::parse(s).expect_err(s);
            assert_eq!(e.rule, HS_SHAPE, "{s:?}");
        }
        assert_eq!(
            HsCode::parse("770100").map_err(|e| e.to_string()),
            Err(r#""770100" is in HS chapter 77, which is reserved for future use"#.to_owned())
        );
        for s in ["000100", "980100", "990100"] {
            let e = HsCode::parse(s).expect_err(s);
            assert!(e.rule.contains("chapters 01 to 97"), "{e}");
        }
    }

    #[test]
    fn national_tariff_codes_extend_hs_codes() {
        let hs = HsCode::parse("847130").expect("valid");
        let other = HsCode::parse("847141").expect("valid");
        for s in ["84713000", "8471300000", "847130000012"] {
            let n = NationalTariffCode::parse(s).expect(s);
            assert_eq!(n.as_str(), s);
            assert!(n.extends(&hs));
            assert!(!n.extends(&other));
            assert_eq!(n.hs_code(), hs);
        }
        for s in [
            "",
            "847130",
            "8471300",
            "8471300000123",
            "8471.30.00",
            "847130000a",
        ] {
            let e = NationalTariffCode::parse(s).expect_err(s);
            assert_eq!(e.rule, NATIONAL_SHAPE, "{s:?}");
        }
        assert!(NationalTariffCode::parse("7701000000").is_err());
        assert!(NationalTariffCode::parse("9801000000").is_err());
    }
}
