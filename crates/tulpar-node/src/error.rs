//! The one place where the node's errors become gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tulpar_core::validation::Violations;

/// Why an API call failed, in the caller's terms.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// No or unknown credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request breaks rules; every violation is listed.
    #[error("{0}")]
    Invalid(Violations),
    /// Nothing visible to the caller under that name.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but not now (e.g. an outcome before an acknowledgement).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The same id already names something else.
    #[error("{0}")]
    AlreadyExists(String),
    /// A signature, certificate or identity check failed: the object is forged, tampered or replayed.
    #[error("{0}")]
    Refused(String),
    /// Refused because it contradicts what was recorded before (e.g. an inconsistent checkpoint).
    #[error("{0}")]
    Aborted(String),
    /// Too much at once; retry later.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The node cannot serve this now (e.g. it is shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// A fault inside the node; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An internal fault from any error.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }
}

impl From<crate::units::SignError> for ApiError {
    fn from(error: crate::units::SignError) -> Self {
        match error {
            crate::units::SignError::NoKey(_) => Self::FailedPrecondition(error.to_string()),
            crate::units::SignError::Stopped => Self::Unavailable(error.to_string()),
        }
    }
}

impl From<crate::state::StateError> for ApiError {
    fn from(error: crate::state::StateError) -> Self {
        Self::internal(error)
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Invalid(violations) => {
                let mut details = ErrorDetails::new();
                for violation in violations.as_slice() {
                    details
                        .add_bad_request_violation(violation.field.clone(), violation.rule.clone());
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
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::PermissionDenied(m) | ApiError::Refused(m) => Status::permission_denied(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::Aborted(m) => Status::aborted(m),
            ApiError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ApiError::Unavailable(m) => Status::unavailable(m),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error; see the node's log")
            }
        }
    }
}

/// Field violations carried by a status, as "field: rule" lines (for clients and tests).
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
        let violations = tulpar_core::alert::validate_content(Default::default()).unwrap_err();
        let count = violations.len();
        let status = Status::from(ApiError::Invalid(violations));
        assert_eq!(status.code(), Code::InvalidArgument);
        let lines = violations_of(&status);
        assert_eq!(lines.len(), count);
        assert!(lines.iter().any(|l| l.starts_with("origin: ")), "{lines:?}");
    }

    #[test]
    fn internal_details_are_not_sent() {
        let status = Status::from(ApiError::internal("sled: disk on fire at /var/lib/x"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/var/lib"));
    }
}
