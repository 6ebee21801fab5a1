//! Entries of the export-control lists of strategic goods and dual-use items.
//!
//! An alert about a consignment that may fall under UN Security Council Resolution 1540 names the goods by
//! their entry in a control list, so that the partner's licensing experts know at once what is at stake.
//! The lists most used share one numbering: the Wassenaar Arrangement's dual-use list (taken over by the EU
//! and most national lists) numbers an entry by category (0-9), product group (A-E) and three digits,
//! e.g. `1C350` (chemicals that can be used to make chemical weapons); the Munitions List numbers its
//! entries `ML1` to `ML22`. Both may be narrowed to a sub-item such as `2B350.d` or `ML8.a`.

use super::InvalidCode;

/// The shape of an entry, in words, for the messages.
const SHAPE: &str = "is not a control-list entry (digit, letter A-E, 3 digits, e.g. 1C350, or ML1 to \
                     ML22; optionally '.' and a sub-item such as .d or .a.1)";

/// The longest sub-item accepted after the first `.`, in characters.
const MAX_SUB_ITEM_LEN: usize = 10;

/// An entry of a dual-use or munitions control list: either a dual-use entry (category digit 0-9, product
/// group letter A-E, three digits, e.g. `1C350`) or a Munitions List entry `ML1` to `ML22`, either one
/// optionally followed by `.` and a sub-item of lower-case letters and digits separated by single dots,
/// at most 10 characters, e.g. `2B350.d`, `5A002.a.1`, `ML8.a`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControlListEntry(String);

impl ControlListEntry {
    /// Accepts an entry in its canonical form (upper-case entry, lower-case sub-item, no spaces).
    pub fn parse(s: &str) -> Result<Self, InvalidCode> {
        let (entry, sub_item) = match s.split_once('.') {
            Some((entry, sub_item)) => (entry, Some(sub_item)),
            None => (s, None),
        };
        let entry_ok = is_dual_use_entry(entry) || is_munitions_entry(entry);
        let sub_item_ok = sub_item.is_none_or(is_sub_item);
        if !entry_ok || !sub_item_ok {
            return Err(InvalidCode::new(s, SHAPE));
        }
        Ok(Self(s.to_owned()))
    }

    /// The entry, e.g. `"2B350.d"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the entry is on the Munitions List (`ML1` to `ML22`) rather than the dual-use list.
    pub fn is_munitions(&self) -> bool {
        self.0.starts_with("ML")
    }
}

code_text_traits!(ControlListEntry);

/// `1C350`: a category digit, a product group A-E, three digits.
fn is_dual_use_entry(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[0].is_ascii_digit()
        && (b'A'..=b'E').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// `ML1` to `ML22`, without leading zeros.
fn is_munitions_entry(s: &str) -> bool {
    let Some(number) = s.strip_prefix("ML") else {
        return false;
    };
    !number.starts_with('0')
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && number.parse::<u8>().is_ok_and(|n| (1..=22).contains(&n))
}

/// `d`, `a.1`: lower-case letters and digits in parts separated by single dots, at most 10 characters.
fn is_sub_item(s: &str) -> bool {
    s.len() <= MAX_SUB_ITEM_LEN
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_entries_are_accepted() {
        for (s, munitions) in [
            ("1C350", false),
            ("2B350.d", false),
            ("5A002.a.1", false),
            ("0A001", false),
            ("9E003.a.2.b", false),
            ("1C351.d.10", false),
            ("ML1", true),
            ("ML8.a", true),
            ("ML22", true),
            ("ML10.b.1", true),
        ] {
            let e = ControlListEntry::parse(s).expect(s);
            assert_eq!(e.as_str(), s);
            assert_eq!(e.is_munitions(), munitions, "{s}");
            assert_eq!(s.parse::<ControlListEntry>(), Ok(e));
        }
    }

    #[test]
    fn malformed_entries_are_refused() {
        for s in [
            "",
            "1C35",
            "1C3500",
            "1F350",
            "1c350",
            "AC350",
            "1C350.",
            "1C350.D",
            "1C350..d",
            "1C350.d.",
            "1C350.abcdefghijk",
            "1C350 d",
            "ML0",
            "ML01",
            "ML23",
            "ML",
            "ml8",
            "ML8.A",
            "ML+8",
            ".d",
        ] {
            let e = ControlListEntry::parse(s).expect_err(s);
            assert_eq!(e.rule, SHAPE, "{s:?}");
        }
        assert!(ControlListEntry::parse("1C350.abcdefghij").is_ok());
    }
}
