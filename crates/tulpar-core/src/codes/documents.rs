//! References to documents: bills of lading, rail waybills, declarations, invoices, permits and licences.
//!
//! These numbers have no check digit and no common format: each carrier, railway and authority numbers
//! its documents its own way. What Tulpar can do is keep them to the characters such references use and
//! to a bounded length, so that a number is never a paragraph of text, never carries control characters
//! into a partner's system, and compares equal to the same number typed at the other end.

use super::{InvalidCode, check_reference};

/// Characters of a reference: ASCII letters, digits, `-`, `/` and `.`.
fn is_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.')
}

/// The characters of a reference, in words, for the messages.
const REFERENCE_CHARS: &str = "letters A-Z and a-z, digits, '-', '/' and '.'";

/// The number of a transport or customs document: bill of lading, rail waybill (CIM/SMGS), customs
/// declaration, invoice. 1 to 35 characters (the length of UN/EDIFACT document identifiers), each an
/// ASCII letter, digit, `-`, `/` or `.`, e.g. `MEDUAB123456`, `10204010/120324/0012345`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// The longest document number accepted, in characters.
    pub const MAX_LEN: usize = 35;

    /// Accepts 1 to 35 letters, digits, `-`, `/` or `.`, case kept as given.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        check_reference(
            s,
            1,
            Self::MAX_LEN,
            is_reference_char,
            "a document number",
            REFERENCE_CHARS,
        )?;
        Ok(Self(s.to_owned()))
    }

    /// The document number as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

code_text_traits!(DocumentNumber);

/// The number of a permit or licence: a CITES permit or certificate (unique per issuing Management
/// Authority), an export licence for strategic goods. 1 to 40 characters, each an ASCII letter, digit,
/// `-`, `/` or `.`, e.g. `24KZ000123`, `KZ/EXP/2024-0042`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermitNumber(String);

impl PermitNumber {
    /// The longest permit number accepted, in characters.
    pub const MAX_LEN: usize = 40;

    /// Accepts 1 to 40 letters, digits, `-`, `/` or `.`, case kept as given.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        check_reference(
            s,
            1,
            Self::MAX_LEN,
            is_reference_char,
            "a permit number",
            REFERENCE_CHARS,
        )?;
        Ok(Self(s.to_owned()))
    }

    /// The permit number as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

code_text_traits!(PermitNumber);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_numbers() {
        for s in [
            "MEDUAB123456",
            "10204010/120324/0012345",
            "SMGS-2024.001",
            "a",
            &"9".repeat(35),
        ] {
            let d = DocumentNumber::parse(s).expect(s);
            assert_eq!(d.as_str(), s);
            assert_eq!(s.parse::<DocumentNumber>(), Ok(d));
        }
        assert_eq!(
            DocumentNumber::parse("").map_err(|e| e.to_string()),
            Err(r#""" is empty; a document number has 1 to 35 characters"#.to_owned())
        );
        assert_eq!(
            DocumentNumber::parse("AB 12").map_err(|e| e.to_string()),
            Err(r#""AB 12" contains ' '; a document number allows only letters A-Z and a-z, digits, '-', '/' and '.'"#.to_owned())
        );
        let e = DocumentNumber::parse(&"9".repeat(36)).expect_err("36 characters");
        assert!(e.rule.contains("36 characters, at most 35"), "{e}");
        for s in ["AB#1", "№123", "AB\n12", " AB", "AB_12"] {
            assert!(DocumentNumber::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn permit_numbers() {
        for s in [
            "24KZ000123",
            "KZ/EXP/2024-0042",
            "E.24.0001",
            &"A".repeat(40),
        ] {
            let p = PermitNumber::parse(s).expect(s);
            assert_eq!(p.to_string(), s);
        }
        for s in ["", "KZ EXP 1", "KZ*1", &"A".repeat(41)] {
            let e = PermitNumber::parse(s).expect_err(s);
            assert!(e.rule.contains("a permit number"), "{e}");
        }
    }
}
