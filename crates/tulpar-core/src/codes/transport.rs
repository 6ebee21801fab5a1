//! Identifiers of the conveyance that carries a consignment by air, rail or road: flight numbers, train
//! numbers and vehicle registration plates. (Vessels are identified by their [`ImoNumber`].)
//!
//! None of them has a check digit. A flight number has a fixed IATA shape and is checked against it; train
//! numbers and plates differ by railway and by country, so they are only kept to the characters they use
//! and to a bounded length.
//!
//! [`ImoNumber`]: super::ImoNumber

use super::{InvalidCode, check_reference};

/// The shape of a flight number, in words, for the messages.
const FLIGHT_SHAPE: &str = "is not a flight number (2-character IATA airline designator, 1 to 4 \
                            digits, optional letter, no space, e.g. KC0921)";

/// A flight number: the 2-character IATA airline designator (letters or digits, not two digits), then 1
/// to 4 digits, then an optional operational suffix letter, without spaces, e.g. `KC0921`, `KC921`,
/// `HY55A`. Leading zeros are kept as given: `KC0921` and `KC921` are different texts.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlightNumber(String);

impl FlightNumber {
    /// Accepts a flight number in upper case without spaces.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let bytes = s.as_bytes();
        if bytes.len() < 3 {
            return Err(InvalidCode::new(s, FLIGHT_SHAPE));
        }
        let (designator, rest) = bytes.split_at(2);
        let designator_ok = designator
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && !designator.iter().all(u8::is_ascii_digit);
        let digits = match rest.last() {
            Some(b) if b.is_ascii_uppercase() => &rest[..rest.len() - 1],
            _ => rest,
        };
        let number_ok = (1..=4).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
        if !designator_ok || !number_ok {
            return Err(InvalidCode::new(s, FLIGHT_SHAPE));
        }
        Ok(Self(s.to_owned()))
    }

    /// The flight number, e.g. `"KC0921"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The IATA airline designator, e.g. `"KC"`.
    pub fn airline(&self) -> &str {
        &self.0[..2]
    }
}

code_text_traits!(FlightNumber);

/// A train number as the railway gives it: 1 to 20 characters, each an ASCII letter, digit, `-` or `/`,
/// e.g. `1083`, `KZ-CN/2024-17`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrainNumber(String);

impl TrainNumber {
    /// The longest train number accepted, in characters.
    pub const MAX_LEN: usize = 20;

    /// Accepts 1 to 20 letters, digits, `-` or `/`, case kept as given.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        check_reference(
            s,
            1,
            Self::MAX_LEN,
            |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/'),
            "a train number",
            "letters A-Z and a-z, digits, '-' and '/'",
        )?;
        Ok(Self(s.to_owned()))
    }

    /// The train number as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

code_text_traits!(TrainNumber);

/// A vehicle registration plate (truck, trailer): 2 to 15 characters, each an upper-case ASCII letter, a
/// digit, a space or `-`, with at least one letter or digit, and no space at either end or two in a row,
/// e.g. `123ABC02`, `01 KZ 777`, `AB-1234`. Plates in other scripts are entered in their Latin
/// transliteration, as on international documents (CMR, TIR carnet).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehiclePlate(String);

impl VehiclePlate {
    /// The longest plate accepted, in characters.
    pub const MAX_LEN: usize = 15;

    /// Accepts a plate in upper case, spaces only single and inside.
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        check_reference(
            s,
            2,
            Self::MAX_LEN,
            |c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, ' ' | '-'),
            "a vehicle plate",
            "upper-case letters A-Z, digits, spaces and '-'",
        )?;
        if !s.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(InvalidCode::new(
                s,
                "is not a vehicle plate (no letter or digit)",
            ));
        }
        if s.starts_with(' ') || s.ends_with(' ') || s.contains("  ") {
            return Err(InvalidCode::new(
                s,
                "has a space at an end or two in a row; a vehicle plate has single spaces inside only",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The plate, e.g. `"123ABC02"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

code_text_traits!(VehiclePlate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flight_numbers() {
        for (s, airline) in [
            ("KC0921", "KC"),
            ("KC921", "KC"),
            ("HY55A", "HY"),
            ("HY5", "HY"),
            ("U6123", "U6"),
            ("7R1234", "7R"),
            ("KC1234Z", "KC"),
        ] {
            let f = FlightNumber::parse(s).expect(s);
            assert_eq!(f.as_str(), s);
            assert_eq!(f.airline(), airline);
            assert_eq!(s.parse::<FlightNumber>(), Ok(f));
        }
        for s in [
            "", "KC", "KC 921", "kc921", "12345", "KC12345", "KC921AB", "KCA", "KC-921", "K",
            "KZR921", "KC921a", "KC92Ж",
        ] {
            let e = FlightNumber::parse(s).expect_err(s);
            assert_eq!(e.rule, FLIGHT_SHAPE, "{s:?}");
        }
    }

    #[test]
    fn train_numbers() {
        for s in ["1083", "KZ-CN/2024-17", "t7", &"1".repeat(20)] {
            assert_eq!(TrainNumber::parse(s).expect(s).as_str(), s);
        }
        for s in ["", "10 83", "1083.", &"1".repeat(21)] {
            assert!(TrainNumber::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn vehicle_plates() {
        for s in ["123ABC02", "01 KZ 777", "AB-1234", "A1", "777 AAA 02"] {
            assert_eq!(VehiclePlate::parse(s).expect(s).as_str(), s);
        }
        for s in [
            "",
            "A",
            "--",
            "  ",
            " 01 KZ",
            "01 KZ ",
            "01  KZ",
            "ab 123",
            "А123ВС",
            "0123456789ABCDEF",
        ] {
            assert!(VehiclePlate::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            VehiclePlate::parse("--").map_err(|e| e.to_string()),
            Err(r#""--" is not a vehicle plate (no letter or digit)"#.to_owned())
        );
    }
}
