//! IATA air waybill numbers.
//!
//! An air cargo consignment is found by its air waybill (AWB) number: the 3-digit prefix of the airline
//! that issued it, then an 8-digit serial whose last digit is a check digit, the first seven digits of the
//! serial taken as a number, modulo 7. The check is weak by design (IATA chose it in the age of manual
//! entry): it catches a change of the check digit itself, and a change of one of the first seven serial
//! digits unless the change is by exactly 7 (0 and 7, 1 and 8, 2 and 9 look alike to it). The airline
//! prefix is not covered by the check at all.

use super::InvalidCode;

/// The shape of an air waybill number, in words, for the messages.
const SHAPE: &str = "is not an air waybill number (3-digit airline prefix, then 8 digits, optionally \
                     after one '-' or space)";

/// An IATA air waybill number whose check digit verifies, e.g. `020-12345675`. Kept and printed in the
/// form `PPP-SSSSSSSS`; [`parse`](Self::parse) also takes the 11 digits without a separator, or with a
/// space after the prefix.
///
/// ```
/// use tulpar_core::codes::AirWaybill;
///
/// let awb = AirWaybill::parse("02012345675")?;
/// assert_eq!(awb.as_str(), "020-12345675");
/// assert_eq!(awb.airline_prefix(), "020");
/// # Ok::<(), tulpar_core::codes::InvalidCode>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AirWaybill([u8; 12]);

impl AirWaybill {
    /// Accepts 11 digits, optionally with one `-` or space between the 3-digit prefix and the 8-digit
    /// serial, whose check digit verifies.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let bytes = s.as_bytes();
        let (prefix, serial) = match bytes.len() {
            11 => bytes.split_at(3),
            12 if matches!(bytes[3], b'-' | b' ') => (&bytes[..3], &bytes[4..]),
            _ => return Err(InvalidCode::new(s, SHAPE).local("awb-shape", &[])),
        };
        if !prefix.iter().chain(serial).all(u8::is_ascii_digit) {
            return Err(InvalidCode::new(s, SHAPE).local("awb-shape", &[]));
        }
        let expected = check_digit_of(&serial[..7]);
        if serial[7] - b'0' != expected {
            return Err(InvalidCode::new(
                s,
                format!("fails the air waybill check digit (expected {expected})"),
            )
            .local("check-digit", &[("expected", &expected)]));
        }
        let mut canonical = [b'-'; 12];
        canonical[..3].copy_from_slice(prefix);
        canonical[4..].copy_from_slice(serial);
        Ok(Self(canonical))
    }

    /// The number in the form `PPP-SSSSSSSS`, e.g. `"020-12345675"`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an AirWaybill holds ASCII digits and a '-'")
    }

    /// The airline prefix, e.g. `"020"`.
    pub fn airline_prefix(&self) -> &str {
        &self.as_str()[..3]
    }

    /// The 8-digit serial number, check digit included, e.g. `"12345675"`.
    pub fn serial(&self) -> &str {
        &self.as_str()[4..]
    }

    /// The check digit of the first seven digits of an air waybill serial, or `None` when `first7` is not
    /// seven digits.
    ///
    /// ```
    /// use tulpar_core::codes::AirWaybill;
    ///
    /// assert_eq!(AirWaybill::compute_check_digit("1234567"), Some(5));
    /// ```
    pub fn compute_check_digit(first7: &str) -> Option<u8> {
        let bytes = first7.as_bytes();
        (bytes.len() == 7 && bytes.iter().all(u8::is_ascii_digit)).then(|| check_digit_of(bytes))
    }
}

code_text_traits!(AirWaybill);

/// The check digit of seven ASCII digits: their number modulo 7.
fn check_digit_of(first7: &[u8]) -> u8 {
    let n = first7
        .iter()
        .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'));
    (n % 7) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn air_waybills_are_accepted_in_every_written_form() {
        for s in ["020-12345675", "02012345675", "020 12345675"] {
            let awb = AirWaybill::parse(s).expect(s);
            assert_eq!(awb.as_str(), "020-12345675");
            assert_eq!(awb.to_string(), "020-12345675");
            assert_eq!(awb.airline_prefix(), "020");
            assert_eq!(awb.serial(), "12345675");
            assert_eq!(s.parse::<AirWaybill>(), Ok(awb));
        }
        // 1234567 = 7 * 176366 + 5.
        assert_eq!(AirWaybill::compute_check_digit("1234567"), Some(5));
        for s in ["176-00000000", "057-99999992", "465-10000001"] {
            assert!(AirWaybill::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn a_wrong_check_digit_names_the_expected_one() {
        assert_eq!(
            AirWaybill::parse("020-12345674").map_err(|e| e.to_string()),
            Err(r#""020-12345674" fails the air waybill check digit (expected 5)"#.to_owned())
        );
        // A check digit of 7, 8 or 9 can never verify.
        assert!(AirWaybill::parse("176-00000007").is_err());
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for s in [
            "",
            "0201234567",
            "020123456755",
            "020--12345675",
            "020-1234-5675",
            "02-012345675",
            "020_12345675",
            "020-1234567X",
            "AB0-12345675",
            " 02012345675",
            "020\t12345675",
            "020–12345675",
        ] {
            let e = AirWaybill::parse(s).expect_err(s);
            assert_eq!(e.rule, SHAPE, "{s:?}");
        }
        assert_eq!(AirWaybill::compute_check_digit("123456"), None);
    }

    proptest! {
        #[test]
        fn numbers_built_with_the_computed_check_digit_pass(prefix in "[0-9]{3}", first7 in "[0-9]{7}") {
            let d = AirWaybill::compute_check_digit(&first7).expect("seven digits");
            let s = format!("{prefix}-{first7}{d}");
            prop_assert_eq!(AirWaybill::parse(&s).map(|a| a.to_string()), Ok(s));
        }

        #[test]
        fn any_other_check_digit_fails(first7 in "[0-9]{7}", wrong in 0u8..10) {
            let d = AirWaybill::compute_check_digit(&first7).expect("seven digits");
            prop_assume!(wrong != d);
            let s = format!("020-{first7}{wrong}");
            prop_assert!(AirWaybill::parse(&s).is_err());
        }

        #[test]
        fn a_changed_serial_digit_fails_unless_it_changed_by_7(
            first7 in "[0-9]{7}",
            position in 0usize..7,
            digit in b'0'..=b'9',
        ) {
            let d = AirWaybill::compute_check_digit(&first7).expect("seven digits");
            let mut changed = first7.clone().into_bytes();
            let old = changed[position];
            prop_assume!(old != digit);
            changed[position] = digit;
            let s = format!("020-{}{d}", String::from_utf8(changed).expect("ASCII"));
            prop_assert_eq!(AirWaybill::parse(&s).is_err(), digit.abs_diff(old) != 7);
        }
    }
}
