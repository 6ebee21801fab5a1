//! ISO 6346 container numbers.
//!
//! The container number is what an inspection team at the receiving port looks for on the box, so a
//! mistyped digit sends them to the wrong container while the right one leaves the port. ISO 6346 puts a
//! check digit on every number for this reason, and Tulpar refuses a number whose check digit does not
//! verify rather than forwarding it.
//!
//! The check digit: each of the first ten characters gets a value (digits their own value, letters 10 to
//! 38 skipping the multiples of 11: A=10, B=12, ... K=21, L=23, ... U=32, V=34, ... Z=38), multiplied by
//! 2 to the power of its position (0 to 9); the sum is taken modulo 11, then modulo 10 (a remainder of 10
//! gives check digit 0).
//!
//! What the check catches: a change of the check digit itself, always; a change of one serial digit,
//! always changes the remainder modulo 11, which is caught unless the remainder goes from 0 to 10 or from
//! 10 to 0 (both give check digit 0, which is why ISO 6346 advises owners not to issue serial numbers
//! whose remainder is 10). A change of an owner-code letter can go unnoticed when the two letters' values
//! differ by 11 or 22 (A and K, for example).

use super::InvalidCode;

/// The shape of a container number, in words, for the messages.
const SHAPE: &str =
    "is not an ISO 6346 container number (owner code, U/J/Z, 6 digits, check digit)";

/// An ISO 6346 container number whose check digit verifies, e.g. `CSQU3054383`: a 3-letter owner code,
/// the equipment category letter (`U` freight container, `J` detachable freight container-related
/// equipment, `Z` trailer or chassis), a 6-digit serial number and the check digit.
///
/// ```
/// use tulpar_core::codes::ContainerNumber;
///
/// let c = ContainerNumber::parse("MSKU1234565")?;
/// assert_eq!(c.owner_code(), "MSK");
/// assert_eq!(
///     ContainerNumber::parse("MSKU1234566").unwrap_err().to_string(),
///     r#""MSKU1234566" fails the ISO 6346 check digit (expected 5)"#
/// );
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerNumber([u8; 11]);

impl ContainerNumber {
    /// Accepts an 11-character container number in upper case, without spaces, whose category letter is
    /// `U`, `J` or `Z` and whose check digit verifies.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let Ok(bytes) = <[u8; 11]>::try_from(s.as_bytes()) else {
            return Err(InvalidCode::new(s, SHAPE).local("container-shape", &[]));
        };
        let well_formed = bytes[..4].iter().all(u8::is_ascii_uppercase)
            && bytes[4..].iter().all(u8::is_ascii_digit);
        if !well_formed {
            return Err(InvalidCode::new(s, SHAPE).local("container-shape", &[]));
        }
        let category = bytes[3];
        if !matches!(category, b'U' | b'J' | b'Z') {
            return Err(InvalidCode::new(
                s,
                format!(
                    "has equipment category '{}'; ISO 6346 allows U (freight container), J \
                     (detachable freight container-related equipment) or Z (trailer or chassis)",
                    category as char
                ),
            ));
        }
        let expected = check_digit_of(&bytes[..10]);
        if bytes[10] - b'0' != expected {
            return Err(InvalidCode::new(
                s,
                format!("fails the ISO 6346 check digit (expected {expected})"),
            )
            .local("check-digit", &[("expected", &expected)]));
        }
        Ok(Self(bytes))
    }

    /// The container number, e.g. `"CSQU3054383"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a ContainerNumber holds ASCII letters and digits")
    }

    /// The owner code: the first three letters, e.g. `"CSQ"`.
    pub fn owner_code(&self) -> &str {
        &self.as_str()[..3]
    }

    /// The equipment category letter: `'U'`, `'J'` or `'Z'`.
    pub fn category(&self) -> char {
        self.0[3] as char
    }

    /// The six-digit serial number, e.g. `"305438"`.
    pub fn serial(&self) -> &str {
        &self.as_str()[4..10]
    }

    /// The check digit, e.g. `3` for `CSQU3054383`.
    pub fn check_digit(&self) -> u8 {
        self.0[10] - b'0'
    }

    /// The ISO 6346 check digit of the first ten characters of a container number (four upper-case
    /// letters, then six digits), or `None` when `first10` does not have that shape. The category letter is
    /// not checked here.
    ///
    /// ```
    /// use tulpar_core::codes::ContainerNumber;
    ///
    /// assert_eq!(ContainerNumber::compute_check_digit("CSQU305438"), Some(3));
    /// assert_eq!(ContainerNumber::compute_check_digit("CSQU30543"), None);
    /// ```
    pub fn compute_check_digit(first10: &str) -> Option<u8> {
        let bytes = first10.as_bytes();
        let well_formed = bytes.len() == 10
            && bytes[..4].iter().all(u8::is_ascii_uppercase)
            && bytes[4..].iter().all(u8::is_ascii_digit);
        well_formed.then(|| check_digit_of(bytes))
    }
}

code_text_traits!(ContainerNumber);

/// The values ISO 6346 gives the letters A to Z: 10 to 38, skipping the multiples of 11 (11, 22, 33).
const LETTER_VALUES: [u8; 26] = [
    10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36,
    37, 38,
];

/// The value ISO 6346 gives a well-formed character: a digit its own value, a letter its
/// [`LETTER_VALUES`] entry.
fn char_value(b: u8) -> u32 {
    if b.is_ascii_digit() {
        u32::from(b - b'0')
    } else {
        u32::from(LETTER_VALUES[usize::from(b - b'A')])
    }
}

/// The remainder modulo 11 of the weighted sum of ten well-formed characters.
fn remainder(first10: &[u8]) -> u32 {
    first10
        .iter()
        .enumerate()
        .map(|(i, &b)| char_value(b) << i)
        .sum::<u32>()
        % 11
}

/// The check digit of ten well-formed characters.
fn check_digit_of(first10: &[u8]) -> u8 {
    (remainder(first10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn letter_values_count_from_10_skipping_multiples_of_eleven() {
        let expected: Vec<u32> = (10..=38).filter(|v| v % 11 != 0).collect();
        let values: Vec<u32> = (b'A'..=b'Z').map(char_value).collect();
        assert_eq!(values, expected);
        assert_eq!(
            (char_value(b'A'), char_value(b'K'), char_value(b'L')),
            (10, 21, 23)
        );
        assert_eq!(
            (char_value(b'U'), char_value(b'V'), char_value(b'Z')),
            (32, 34, 38)
        );
    }

    #[test]
    fn real_container_numbers_are_accepted() {
        for s in ["CSQU3054383", "MSKU1234565", "TOLU4734787", "BICU1234565"] {
            let c = ContainerNumber::parse(s).expect(s);
            assert_eq!(c.as_str(), s);
            assert_eq!(c.to_string(), s);
            assert_eq!(s.parse::<ContainerNumber>(), Ok(c));
        }
        let c = ContainerNumber::parse("CSQU3054383").expect("valid");
        assert_eq!(c.owner_code(), "CSQ");
        assert_eq!(c.category(), 'U');
        assert_eq!(c.serial(), "305438");
        assert_eq!(c.check_digit(), 3);
        assert_eq!(format!("{c:?}"), r#"ContainerNumber("CSQU3054383")"#);
    }

    #[test]
    fn a_wrong_check_digit_names_the_expected_one() {
        assert_eq!(
            ContainerNumber::parse("MSKU1234566").map_err(|e| e.to_string()),
            Err(r#""MSKU1234566" fails the ISO 6346 check digit (expected 5)"#.to_owned())
        );
    }

    #[test]
    fn every_one_digit_change_of_the_known_numbers_fails() {
        // Both numbers have a check remainder other than 0 and 10, so every single-digit change of a
        // serial digit or of the check digit changes the check digit they need.
        for s in ["CSQU3054383", "MSKU1234565"] {
            for i in 4..11 {
                for d in b'0'..=b'9' {
                    let mut changed = s.as_bytes().to_vec();
                    if changed[i] == d {
                        continue;
                    }
                    changed[i] = d;
                    let changed = String::from_utf8(changed).expect("ASCII");
                    let e = ContainerNumber::parse(&changed).expect_err(&changed);
                    assert!(e.rule.starts_with("fails the ISO 6346 check digit"), "{e}");
                }
            }
        }
    }

    #[test]
    fn a_remainder_of_10_gives_check_digit_0_and_hides_a_swap_to_0() {
        // ABCJ000001 sums to 10 modulo 11, so its check digit is 0 ...
        assert_eq!(remainder(b"ABCJ000001"), 10);
        assert!(ContainerNumber::parse("ABCJ0000010").is_ok());
        // ... and so is that of ABCJ000003, which sums to 0: this one-digit change goes unnoticed.
        assert_eq!(remainder(b"ABCJ000003"), 0);
        assert!(ContainerNumber::parse("ABCJ0000030").is_ok());
    }

    #[test]
    fn other_categories_are_refused_with_their_own_message() {
        let e = ContainerNumber::parse("MSKX1234565").expect_err("X is no category");
        assert!(e.rule.starts_with("has equipment category 'X'"), "{e}");
        // J and Z are categories; the check digit then decides.
        let first10 = "ABCJ000001";
        let d = ContainerNumber::compute_check_digit(first10).expect("well formed");
        assert!(ContainerNumber::parse(&format!("{first10}{d}")).is_ok());
    }

    #[test]
    fn malformed_numbers_are_refused_with_the_shape_message() {
        for s in [
            "",
            "MSKU123456",
            "MSKU12345655",
            "msku1234565",
            "MSKU 1234565",
            "MSK U1234565",
            "MSKU-123456-5",
            "MSK01234565",
            "MSKUA234565",
            "1SKU1234565",
            "MSKU12345Ж",
            "MSKU1234565\n",
        ] {
            let e = ContainerNumber::parse(s).expect_err(s);
            assert_eq!(e.rule, SHAPE, "{s:?}");
        }
    }

    #[test]
    fn compute_check_digit_needs_the_ten_character_shape() {
        assert_eq!(ContainerNumber::compute_check_digit("MSKU123456"), Some(5));
        assert_eq!(ContainerNumber::compute_check_digit("MSKU12345"), None);
        assert_eq!(ContainerNumber::compute_check_digit("msku123456"), None);
        assert_eq!(ContainerNumber::compute_check_digit("MSKU12345X"), None);
    }

    /// The first ten characters of a container number: owner code, category, serial.
    fn first10() -> impl Strategy<Value = String> {
        "[A-Z]{3}[UJZ][0-9]{6}"
    }

    proptest! {
        #[test]
        fn numbers_built_with_the_computed_check_digit_pass(first10 in first10()) {
            let d = ContainerNumber::compute_check_digit(&first10).expect("well formed");
            let s = format!("{first10}{d}");
            let c = ContainerNumber::parse(&s).expect("valid by construction");
            prop_assert_eq!(c.as_str(), s.as_str());
        }

        #[test]
        fn any_other_check_digit_fails(first10 in first10(), wrong in 0u8..10) {
            let d = ContainerNumber::compute_check_digit(&first10).expect("well formed");
            prop_assume!(wrong != d);
            let e = ContainerNumber::parse(&format!("{first10}{wrong}")).expect_err("wrong digit");
            prop_assert_eq!(e.rule, format!("fails the ISO 6346 check digit (expected {d})"));
        }

        #[test]
        fn a_changed_serial_digit_fails_unless_the_remainder_swaps_between_0_and_10(
            first10 in first10(),
            position in 4usize..10,
            digit in b'0'..=b'9',
        ) {
            let d = ContainerNumber::compute_check_digit(&first10).expect("well formed");
            let mut changed = first10.clone().into_bytes();
            prop_assume!(changed[position] != digit);
            changed[position] = digit;
            let before = remainder(first10.as_bytes());
            let after = remainder(&changed);
            // Weights are powers of 2, never a multiple of the prime 11: the remainder always moves.
            prop_assert_ne!(before, after);
            let changed = format!("{}{d}", String::from_utf8(changed).expect("ASCII"));
            let passes = ContainerNumber::parse(&changed).is_ok();
            let swapped_0_and_10 = before.min(after) == 0 && before.max(after) == 10;
            prop_assert_eq!(passes, swapped_0_and_10);
        }
    }
}
