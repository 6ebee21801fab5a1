//! IMO ship identification numbers.
//!
//! A vessel changes name, flag and owner; its IMO number stays with the hull for life, which is why an
//! alert identifies a ship by it. The number is seven digits, the last a check digit: the first six are
//! multiplied by 7, 6, 5, 4, 3 and 2, and the last digit of the sum is the check digit.
//!
//! What the check catches: a change of the check digit itself, always; a change of the first or fifth
//! digit (weights 7 and 3, which share no factor with 10), always; a change of another digit only when
//! the change times its weight is not a multiple of 10 (with weight 5, a change by an odd amount; with
//! weights 6, 4 and 2, a change by other than 5).

use super::InvalidCode;

/// The shape of an IMO number, in words, for the messages.
const SHAPE: &str = "is not an IMO number (7 digits, optionally after \"IMO\")";

/// The weights of the first six digits.
const WEIGHTS: [u32; 6] = [7, 6, 5, 4, 3, 2];

/// An IMO ship identification number whose check digit verifies, e.g. `9074729`. Kept and printed as
/// its seven digits; [`parse`](Self::parse) also takes the `IMO` prefix usual on documents.
///
/// ```
/// use tulpar_core::codes::ImoNumber;
///
/// let imo = ImoNumber::parse("IMO 9074729")?;
/// assert_eq!(imo.as_str(), "9074729");
/// assert_eq!(imo, ImoNumber::parse("9074729")?);
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImoNumber([u8; 7]);

impl ImoNumber {
    /// Accepts seven digits whose check digit verifies, alone or after `IMO` or `IMO ` (upper case, one
    /// space at most).
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let digits = s
            .strip_prefix("IMO ")
            .or_else(|| s.strip_prefix("IMO"))
            .unwrap_or(s);
        let Ok(bytes) = <[u8; 7]>::try_from(digits.as_bytes()) else {
            return Err(InvalidCode::new(s, SHAPE).local("imo-shape", &[]));
        };
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(InvalidCode::new(s, SHAPE).local("imo-shape", &[]));
        }
        let expected = check_digit_of(&bytes[..6]);
        if bytes[6] - b'0' != expected {
            return Err(InvalidCode::new(
                s,
                format!("fails the IMO number check digit (expected {expected})"),
            )
            .local("check-digit", &[("expected", &expected)]));
        }
        Ok(Self(bytes))
    }

    /// The seven digits, e.g. `"9074729"`, without the `IMO` prefix.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an ImoNumber holds ASCII digits")
    }

    /// The check digit of the first six digits of an IMO number, or `None` when `first6` is not six
    /// digits.
    ///
    /// ```
    /// use tulpar_core::codes::ImoNumber;
    ///
    /// assert_eq!(ImoNumber::compute_check_digit("907472"), Some(9));
    /// ```
    pub fn compute_check_digit(first6: &str) -> Option<u8> {
        let bytes = first6.as_bytes();
        (bytes.len() == 6 && bytes.iter().all(u8::is_ascii_digit)).then(|| check_digit_of(bytes))
    }
}

code_text_traits!(ImoNumber);

/// The check digit of six ASCII digits.
fn check_digit_of(first6: &[u8]) -> u8 {
    let sum: u32 = first6
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, w)| u32::from(b - b'0') * w)
        .sum();
    (sum % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_imo_numbers_are_accepted_with_or_without_prefix() {
        for s in ["9074729", "IMO9074729", "IMO 9074729"] {
            let imo = ImoNumber::parse(s).expect(s);
            assert_eq!(imo.as_str(), "9074729");
            assert_eq!(imo.to_string(), "9074729");
            assert_eq!(s.parse::<ImoNumber>(), Ok(imo));
        }
        // 9*7 + 0*6 + 7*5 + 4*4 + 7*3 + 2*2 = 139: check digit 9.
        assert_eq!(ImoNumber::compute_check_digit("907472"), Some(9));
        for s in ["9321483", "9811000", "9176187"] {
            assert!(ImoNumber::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn a_wrong_check_digit_names_the_expected_one() {
        assert_eq!(
            ImoNumber::parse("IMO 9074728").map_err(|e| e.to_string()),
            Err(r#""IMO 9074728" fails the IMO number check digit (expected 9)"#.to_owned())
        );
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for s in [
            "",
            "907472",
            "90747290",
            "imo 9074729",
            "IMO  9074729",
            "IMO-9074729",
            "Imo9074729",
            " 9074729",
            "9074729 ",
            "907472A",
            "IMO",
            "IMO ",
            "IMO 907 4729",
        ] {
            let e = ImoNumber::parse(s).expect_err(s);
            assert_eq!(e.rule, SHAPE, "{s:?}");
        }
        assert_eq!(ImoNumber::compute_check_digit("90747"), None);
        assert_eq!(ImoNumber::compute_check_digit("90747a"), None);
    }

    proptest! {
        #[test]
        fn numbers_built_with_the_computed_check_digit_pass(first6 in "[0-9]{6}") {
            let d = ImoNumber::compute_check_digit(&first6).expect("six digits");
            let s = format!("{first6}{d}");
            prop_assert_eq!(ImoNumber::parse(&s).map(|n| n.to_string()), Ok(s.clone()));
            let prefixed = format!("IMO {s}");
            prop_assert!(ImoNumber::parse(&prefixed).is_ok());
        }

        #[test]
        fn any_other_check_digit_fails(first6 in "[0-9]{6}", wrong in 0u8..10) {
            let d = ImoNumber::compute_check_digit(&first6).expect("six digits");
            prop_assume!(wrong != d);
            let s = format!("{first6}{wrong}");
            prop_assert!(ImoNumber::parse(&s).is_err());
        }

        #[test]
        fn a_changed_digit_fails_exactly_when_change_times_weight_is_not_a_multiple_of_10(
            first6 in "[0-9]{6}",
            position in 0usize..6,
            digit in b'0'..=b'9',
        ) {
            let d = ImoNumber::compute_check_digit(&first6).expect("six digits");
            let mut changed = first6.clone().into_bytes();
            let old = changed[position];
            prop_assume!(old != digit);
            changed[position] = digit;
            let s = format!("{}{d}", String::from_utf8(changed).expect("ASCII"));
            let change = u32::from(digit.abs_diff(old));
            let detectable = (change * WEIGHTS[position]) % 10 != 0;
            prop_assert_eq!(ImoNumber::parse(&s).is_err(), detectable);
            if WEIGHTS[position] == 7 || WEIGHTS[position] == 3 {
                prop_assert!(detectable);
            }
        }
    }
}
