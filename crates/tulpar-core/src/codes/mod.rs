//! Identifiers and codes of the customs domain, each a type that can only hold a valid value.
//!
//! An alert crosses borders and is read by software and officers who never saw the form it was typed
//! into. A container number with a wrong check digit sends a partner's team to inspect the wrong box; a
//! country code that is not in ISO 3166-1 routes an alert nowhere. So every code is checked once, where it
//! enters the system, and from then on it travels as a type ([`ContainerNumber`], [`CountryCode`], ...)
//! whose private field can only hold a valid value: code deeper in takes the type and never re-checks.
//!
//! Every type has the same shape: a fallible `parse(&str)` (also reachable through [`FromStr`]),
//! `as_str()` for the canonical text, and [`Display`] printing that text. Parsing does not trim or change
//! case behind the caller's back: the input must already be in canonical form (upper case, no spaces),
//! except where a type documents an accepted variant (an `IMO` prefix on an IMO number, a separator in an
//! air waybill number). A refused value comes back as an [`InvalidCode`] whose message names the value and
//! the rule it breaks, ready to be shown to an officer after the name of the field.
//!
//! [`FromStr`]: std::str::FromStr
//! [`Display`]: std::fmt::Display

/// Implements `Debug`, `Display`, `FromStr` and `AsRef<str>` for a code type through its `parse` and
/// `as_str`, so that every code behaves the same way.
macro_rules! code_text_traits {
    ($ty:ident) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.as_str())
                    .finish()
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::codes::InvalidCode;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

mod awb;
mod container;
mod control_list;
mod country;
mod currency;
mod documents;
mod hs;
mod imo;
mod locode;
mod transport;
mod unit;

use crate::validation::LocalRule;
pub use awb::AirWaybill;
pub use container::ContainerNumber;
pub use control_list::ControlListEntry;
pub use country::CountryCode;
pub use currency::{Currency, parse_amount};

pub use documents::{DocumentNumber, PermitNumber};
pub use hs::{HsCode, NationalTariffCode};
pub use imo::ImoNumber;
pub use locode::UnLocode;
pub use transport::{FlightNumber, TrainNumber, VehiclePlate};
pub use unit::UnitId;

/// Why a code was refused: the value as given and the rule it breaks.
///
/// It displays as the quoted value followed by the rule, e.g.
/// `"MSKU1234566" fails the ISO 6346 check digit (expected 5)`, so a validator can put the field path in
/// front: `consignment.containers[1]: "MSKU1234566" fails ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} {rule}")]
pub struct InvalidCode {
    /// The value as given (cut to about 60 characters, marked `…` when cut).
    pub value: String,
    /// The rule the value breaks, worded to read after the quoted value.
    pub rule: String,
    /// The rule for translation, where the catalogs word it; its arguments include `value`.
    pub local: Option<LocalRule>,
}

impl InvalidCode {
    /// A refusal of `value` for breaking `rule`; keeps only the first
    /// [`MAX_QUOTED_CHARS`](crate::limits::MAX_QUOTED_CHARS) characters of the value.
    pub(crate) fn new(value: &str, rule: impl Into<String>) -> Self {
        Self {
            value: crate::validation::shorten(value).into_owned(),
            rule: rule.into(),
            local: None,
        }
    }

    /// The same refusal, worded for translation as `violation-<id>` with `args` and the value.
    pub(crate) fn local(
        mut self,
        id: &'static str,
        args: &[(&'static str, &dyn std::fmt::Display)],
    ) -> Self {
        let mut rule = LocalRule::new(id, args);
        rule.args.push(("value", self.value.clone()));
        self.local = Some(rule);
        self
    }
}

/// Checks a free-form reference (document, permit, train number): `min..=max` characters, each accepted
/// by `allowed`. `what` names the kind of value ("a document number") and `allowed_text` lists the
/// characters in words, for the messages.
pub(crate) fn check_reference(
    s: &str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    what: &str,
    allowed_text: &str,
) -> Result<(), InvalidCode> {
    if let Some(bad) = s.chars().find(|&c| !allowed(c)) {
        return Err(InvalidCode::new(
            s,
            format!("contains {bad:?}; {what} allows only {allowed_text}"),
        )
        .local("character", &[("character", &bad)]));
    }
    let len = s.chars().count();
    if len < min {
        let rule = if len == 0 {
            format!("is empty; {what} has {min} to {max} characters")
        } else {
            format!("is too short for {what} ({min} to {max} characters)")
        };
        return Err(InvalidCode::new(s, rule));
    }
    if len > max {
        return Err(InvalidCode::new(
            s,
            format!("is too long for {what} ({len} characters, at most {max})"),
        )
        .local("too-long", &[("chars", &len), ("max", &max)]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_quotes_the_value_then_states_the_rule() {
        let e = InvalidCode::new("MSKU1234566", "fails the ISO 6346 check digit (expected 5)");
        assert_eq!(
            e.to_string(),
            r#""MSKU1234566" fails the ISO 6346 check digit (expected 5)"#
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "Ж".repeat(500);
        let e = InvalidCode::new(&long, "is too long");
        assert_eq!(e.value.chars().count(), crate::limits::MAX_QUOTED_CHARS + 1);
        assert!(e.value.ends_with('…'));
        let exact = "A".repeat(crate::limits::MAX_QUOTED_CHARS);
        assert_eq!(InvalidCode::new(&exact, "x").value, exact);
    }
}
