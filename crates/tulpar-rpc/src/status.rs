//! The field violations of a refused request, as a gRPC status carries them: one
//! `google.rpc.BadRequest` field violation per broken rule, so a client lists them without parsing
//! the message. The node writes them with [`invalid_argument`]; clients read them with
//! [`violations_of`].

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tulpar_core::validation::Violations;

/// `INVALID_ARGUMENT` listing `violations`: each as a field violation (at most
/// [`MAX_VIOLATIONS_LISTED`](tulpar_core::limits::MAX_VIOLATIONS_LISTED), then one counting the rest),
/// and all of them in the message for clients that read only the message.
pub fn invalid_argument(violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    let (listed, more) = violations.listed();
    for violation in listed {
        details.add_bad_request_violation(violation.field.clone(), violation.rule.clone());
    }
    if more > 0 {
        details.add_bad_request_violation("", format!("… and {more} more"));
    }
    let message = match violations.len() {
        1 => violations.to_string(),
        n => format!(
            "{n} problems: {}",
            violations.to_string().replace('\n', "; ")
        ),
    };
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The field violations `status` carries, as "field: rule" lines (empty if it carries none).
pub fn violations_of(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_arguments_carry_every_violation_as_bad_request() {
        let violations = tulpar_core::alert::validate_content(Default::default())
            .expect_err("an empty draft breaks rules");
        let count = violations.len();
        let status = invalid_argument(&violations);
        assert_eq!(status.code(), Code::InvalidArgument);
        let lines = violations_of(&status);
        assert_eq!(lines.len(), count);
        assert!(lines.iter().any(|l| l.starts_with("origin: ")), "{lines:?}");
    }

    #[test]
    fn long_lists_of_violations_are_capped() {
        use tulpar_core::limits::MAX_VIOLATIONS_LISTED;
        let pairs = (0..MAX_VIOLATIONS_LISTED + 7)
            .map(|i| {
                (
                    format!("content.recipients[{i}].country"),
                    "is wrong".to_owned(),
                )
            })
            .collect();
        let violations = Violations::from_pairs(pairs).expect("violations");
        let (listed, more) = violations.listed();
        let (listed, more) = (listed.len(), more);
        assert!(more >= 7);
        let status = invalid_argument(&violations);
        let lines = violations_of(&status);
        assert_eq!(lines.len(), listed + 1);
        let last = format!("… and {more} more");
        assert_eq!(lines.last(), Some(&format!(": {last}")));
        assert!(status.message().ends_with(&last), "{}", status.message());
    }

    #[test]
    fn a_status_without_details_has_no_violations() {
        assert!(violations_of(&Status::invalid_argument("bad")).is_empty());
    }
}
