//! Collecting every rule a message breaks, each with the path of the offending field.
//!
//! Validation never stops at the first problem: an officer fixing a draft wants the whole list at once,
//! and a customs system wants one `google.rpc.BadRequest` with every field violation.

use std::borrow::Cow;
use std::fmt;

use crate::codes::InvalidCode;
use crate::limits::{MAX_QUOTED_CHARS, MAX_REFUSAL_TEXT_BYTES, MAX_VIOLATIONS_LISTED};

/// `value` cut to [`MAX_QUOTED_CHARS`] characters, marked `…` when cut: what an error message may
/// repeat of a value a caller sent, so a pasted page (or a megabyte of id) never becomes the message.
pub fn shorten(value: &str) -> Cow<'_, str> {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &value[..cut])),
        None => Cow::Borrowed(value),
    }
}

/// `value` [shortened](shorten) and quoted as Rust debug-quotes strings (`"KZ-…"`), for messages.
pub fn quote(value: &str) -> String {
    format!("{:?}", shorten(value))
}

/// One broken rule: the field path (proto field names, e.g. `consignment.containers[1]`) and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, as proto field names with indexes.
    pub field: String,
    /// What is wrong with it, for people, in English.
    pub rule: String,
    /// The same rule as a message id and its arguments, for pages in other languages; `None` where
    /// only the English text exists.
    pub local: Option<LocalRule>,
}

/// A broken rule as a translator renders it: a message id (the catalogs hold it as `violation-<id>`)
/// and the values it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRule {
    /// The message id, without the `violation-` prefix.
    pub id: &'static str,
    /// Named values, e.g. `("max", "100")`.
    pub args: Vec<(&'static str, String)>,
}

impl LocalRule {
    /// Rule `id` naming `args`.
    pub fn new(id: &'static str, args: &[(&'static str, &dyn fmt::Display)]) -> Self {
        Self {
            id,
            args: args.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }
}

impl Violation {
    /// A violation of `field` worded only in English.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            local: None,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// Every rule a message breaks; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// A single violation.
    pub fn single(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self(vec![Violation::new(field, rule)])
    }

    /// The violations of `(field, rule)` pairs, or `None` when there are none.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Option<Self> {
        Self::from_vec(
            pairs
                .into_iter()
                .map(|(field, rule)| Violation::new(field, rule))
                .collect(),
        )
    }

    /// The violations found, or `None` when there are none.
    pub fn from_vec(found: Vec<Violation>) -> Option<Self> {
        (!found.is_empty()).then_some(Self(found))
    }

    /// The same violations with `parent.` before each field path, for a message checked inside a
    /// request (`origin` becomes `content.origin`).
    pub fn prefixed(self, parent: &str) -> Self {
        let join = |field: String| match field.as_str() {
            "" => parent.to_owned(),
            _ => format!("{parent}.{field}"),
        };
        Self(
            self.0
                .into_iter()
                .map(|v| Violation {
                    field: join(v.field),
                    ..v
                })
                .collect(),
        )
    }

    /// The violations, in the order the fields were checked.
    pub fn as_slice(&self) -> &[Violation] {
        &self.0
    }

    /// The violations, by value.
    pub fn into_vec(self) -> Vec<Violation> {
        self.0
    }

    /// How many rules were broken.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The violations a refusal lists (at most [`MAX_VIOLATIONS_LISTED`], in at most
    /// [`MAX_REFUSAL_TEXT_BYTES`], always the first) and how many more there are, so a message and
    /// its `BadRequest` details stay within clients' metadata limits.
    pub fn listed(&self) -> (&[Violation], usize) {
        let mut bytes = 0;
        let shown = self
            .0
            .iter()
            .take(MAX_VIOLATIONS_LISTED)
            .take_while(|v| {
                bytes += v.field.len() + v.rule.len() + 4;
                bytes <= MAX_REFUSAL_TEXT_BYTES
            })
            .count()
            .max(1)
            .min(self.0.len());
        (&self.0[..shown], self.0.len() - shown)
    }

    /// Always false: a `Violations` holds at least one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One line per violation, at most [`MAX_VIOLATIONS_LISTED`], then `… and N more`.
impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (listed, more) = self.listed();
        for (i, violation) in listed.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{violation}")?;
        }
        if more > 0 {
            write!(f, "\n… and {more} more")?;
        }
        Ok(())
    }
}

/// Walks a message, tracking the field path and collecting violations.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    path: Vec<String>,
    found: Vec<Violation>,
}

impl Checker {
    /// The path of `field` under the current position.
    fn path_of(&self, field: &str) -> String {
        let mut path = self.path.join(".");
        if !field.is_empty() {
            if !path.is_empty() && !field.starts_with('[') {
                path.push('.');
            }
            path.push_str(field);
        }
        path
    }

    /// Records a violation of `field` (relative to the current position; "" for the position itself).
    pub(crate) fn fail(&mut self, field: &str, rule: impl Into<String>) {
        self.fail_as(field, rule, None);
    }

    /// Records a violation as [`fail`](Self::fail) does, with its rule for translation.
    pub(crate) fn fail_as(
        &mut self,
        field: &str,
        rule: impl Into<String>,
        local: Option<LocalRule>,
    ) {
        let field = self.path_of(field);
        self.found.push(Violation {
            field,
            rule: rule.into(),
            local,
        });
    }

    /// Runs `check` with `field` appended to the path.
    pub(crate) fn within<T>(&mut self, field: &str, check: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(field.to_owned());
        let result = check(self);
        self.path.pop();
        result
    }

    /// Runs `check` for each item with `field[i]` as the path.
    pub(crate) fn each<'a, I>(
        &mut self,
        field: &str,
        items: &'a [I],
        mut check: impl FnMut(&mut Self, &'a I),
    ) {
        for (i, item) in items.iter().enumerate() {
            self.within(&format!("{field}[{i}]"), |c| check(c, item));
        }
    }

    /// Parses a code, recording the violation on failure.
    pub(crate) fn code<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, InvalidCode>,
    ) -> Option<T> {
        match parse(value) {
            Ok(code) => Some(code),
            Err(invalid) => {
                let local = invalid.local.clone();
                self.fail_as(field, invalid.to_string(), local);
                None
            }
        }
    }

    /// Checks free text: at most `max_chars` characters and no control characters (newlines and tabs
    /// are allowed where `multiline`).
    pub(crate) fn text(&mut self, field: &str, value: &str, max_chars: usize, multiline: bool) {
        let chars = value.chars().count();
        if chars > max_chars {
            self.fail_as(
                field,
                format!("has {chars} characters; at most {max_chars} are allowed"),
                Some(LocalRule::new(
                    "too-long",
                    &[("chars", &chars), ("max", &max_chars)],
                )),
            );
        }
        let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
        if let Some(bad) = value.chars().find(|c| c.is_control() && !allowed(*c)) {
            let code = format!("U+{:04X}", u32::from(bad));
            self.fail_as(
                field,
                format!("contains the control character {code}"),
                Some(LocalRule::new("control-character", &[("code", &code)])),
            );
        }
    }

    /// Checks required free text.
    pub(crate) fn required_text(
        &mut self,
        field: &str,
        value: &str,
        max_chars: usize,
        multiline: bool,
    ) {
        if value.trim().is_empty() {
            self.required(field);
        } else {
            self.text(field, value, max_chars, multiline);
        }
    }

    /// Records that `field` is required and missing.
    pub(crate) fn required(&mut self, field: &str) {
        self.fail_as(field, "is required", Some(LocalRule::new("required", &[])));
    }

    /// Checks a list is at most `max` long.
    pub(crate) fn at_most<I>(&mut self, field: &str, items: &[I], max: usize) {
        if items.len() > max {
            self.fail_as(
                field,
                format!("has {} items; at most {max} are allowed", items.len()),
                Some(LocalRule::new(
                    "too-many",
                    &[("count", &items.len()), ("max", &max)],
                )),
            );
        }
    }

    /// Checks a proto enum value is known and not the UNSPECIFIED zero.
    pub(crate) fn enumeration<E: TryFrom<i32>>(
        &mut self,
        field: &str,
        raw: i32,
        name: &str,
    ) -> Option<E> {
        if raw == 0 {
            self.fail_as(
                field,
                format!("is required (one of the {name} values)"),
                Some(LocalRule::new("choose", &[])),
            );
            return None;
        }
        match E::try_from(raw) {
            Ok(value) => Some(value),
            Err(_) => {
                self.fail(field, format!("{raw} is not a known {name} value"));
                None
            }
        }
    }

    /// The violations found, if any.
    pub(crate) fn finish(self) -> Result<(), Violations> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(Violations(self.found))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_short() {
        let long = "x".repeat(1 << 20);
        let quoted = quote(&long);
        assert_eq!(quoted.chars().count(), MAX_QUOTED_CHARS + 3);
        assert!(quoted.ends_with("…\""));
        assert_eq!(quote("KZ-AKTAU-PCU"), "\"KZ-AKTAU-PCU\"");
    }

    #[test]
    fn long_lists_of_violations_are_capped_and_counted() {
        let pairs = (0..MAX_VIOLATIONS_LISTED + 10)
            .map(|i| (format!("recipients[{i}]"), "is wrong".to_owned()))
            .collect();
        let violations = Violations::from_pairs(pairs).unwrap();
        let (listed, more) = violations.listed();
        assert_eq!((listed.len(), more), (MAX_VIOLATIONS_LISTED, 10));
        let text = violations.to_string();
        assert_eq!(text.lines().count(), MAX_VIOLATIONS_LISTED + 1);
        assert!(text.ends_with("… and 10 more"), "{text}");

        // Long rules are listed up to the byte budget, short lists in full.
        let long = (0..60)
            .map(|i| (format!("recipients[{i}].country"), quote(&"Z".repeat(500))))
            .collect();
        let violations = Violations::from_pairs(long).unwrap();
        let (listed, more) = violations.listed();
        assert!(listed.len() < MAX_VIOLATIONS_LISTED && listed.len() + more == 60);
        assert!(violations.to_string().len() <= MAX_REFUSAL_TEXT_BYTES + 40);
        let one = Violations::single("x", "y".repeat(MAX_REFUSAL_TEXT_BYTES * 2));
        assert_eq!(one.listed().0.len(), 1);
    }

    #[test]
    fn paths_nest_with_dots_and_indexes() {
        let mut checker = Checker::default();
        checker.within("consignment", |c| {
            c.each("containers", &["a", "b"], |c, _| c.fail("", "bad"));
            c.within("route", |c| c.fail("loading.locode", "bad"));
        });
        checker.fail("narrative", "too long");
        let found = checker.finish().unwrap_err().to_string();
        assert_eq!(
            found,
            "consignment.containers[0]: bad\nconsignment.containers[1]: bad\n\
             consignment.route.loading.locode: bad\nnarrative: too long"
        );
    }

    #[test]
    fn prefixing_nests_paths_under_the_request_field() {
        let violations = Violations::from_pairs(vec![
            ("origin.unit".into(), "bad".into()),
            (String::new(), "missing".into()),
        ])
        .unwrap()
        .prefixed("content");
        assert_eq!(
            violations.to_string(),
            "content.origin.unit: bad\ncontent: missing"
        );
        assert!(Violations::from_pairs(Vec::new()).is_none());
    }

    #[test]
    fn text_limits_count_characters_not_bytes() {
        let mut checker = Checker::default();
        checker.text("narrative", "контейнер", 9, false);
        assert!(checker.finish().is_ok());
        let mut checker = Checker::default();
        checker.text("name", "a\u{7}b", 10, false);
        checker.text("narrative", "line\nline", 10, true);
        let found = checker.finish().unwrap_err();
        assert_eq!(
            found.to_string(),
            "name: contains the control character U+0007"
        );
    }
}
