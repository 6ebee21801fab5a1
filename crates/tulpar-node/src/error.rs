//! The one place where the node's errors become gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tulpar_core::validation::Violations;

/// When a caller refused as UNAVAILABLE is told to try again (`google.rpc.RetryInfo`).
pub const RETRY_UNAVAILABLE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

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
    /// A witness holds a checkpoint of another size of the presenter's ledger than the request
    /// assumed; the size travels in a `google.rpc.ErrorInfo` (see [`witness_size`]).
    #[error("the witness holds a checkpoint of size {0}")]
    WitnessHolds(u64),
    /// Too much at once; retry later.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The node cannot serve this now (e.g. it is shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// What was asked for is recorded, but its bytes on the node's disk are damaged; the message names
    /// the ledger entry and where it is stored.
    #[error("{0}")]
    DataLoss(String),
    /// A fault inside the node; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// An internal fault from any error.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    /// The refusal of a read that needs ledger entry `index` (`None`: a frame's checkpoint note),
    /// stored at byte `offset` of segment `segment` (its file name), which is damaged for `reason`.
    pub(crate) fn damaged(index: Option<u64>, segment: &str, offset: u64, reason: &str) -> Self {
        let what = match index {
            Some(index) => format!("ledger entry {index}"),
            None => "a checkpoint of the ledger".to_owned(),
        };
        Self::DataLoss(format!(
            "{what} is damaged on this node's disk (segment {segment}, byte offset {offset}: \
             {reason}); the node's operator can restore it from a backup"
        ))
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

impl From<tulpar_ledger::LedgerError> for ApiError {
    fn from(error: tulpar_ledger::LedgerError) -> Self {
        match error {
            tulpar_ledger::LedgerError::Closed => {
                Self::Unavailable("the node is shutting down".into())
            }
            // The cause (path, OS error) is for the node's operator, not for callers.
            tulpar_ledger::LedgerError::Unwritable(why) => {
                tracing::error!(error = %why, "an append failed: the ledger cannot write");
                Self::Unavailable(
                    "the node cannot write to its ledger (its storage is full or failing); \
                     nothing was recorded, retry later"
                        .into(),
                )
            }
            tulpar_ledger::LedgerError::Held { size, published } => Self::Unavailable(format!(
                "this node's ledger lost entries {size}..{published} to a damaged disk and records \
                 nothing until its operator restores them; nothing was recorded, retry later"
            )),
            tulpar_ledger::LedgerError::Corrupt {
                path,
                offset,
                index,
                reason,
            } => {
                let segment = path
                    .file_name()
                    .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
                Self::damaged(index, &segment, offset, &reason)
            }
            other => Self::internal(other),
        }
    }
}

impl From<crate::state::StateError> for ApiError {
    fn from(error: crate::state::StateError) -> Self {
        Self::internal(error)
    }
}

/// An operation's own error becomes a status through its [`ApiError`]: each operation's error maps to
/// an `ApiError` next to its definition, and only [`From<ApiError> for Status`] picks codes.
macro_rules! status_through_api_error {
    ($($error:ty),+) => {$(
        impl From<$error> for ::tonic::Status {
            fn from(error: $error) -> Self {
                $crate::error::ApiError::from(error).into()
            }
        }
    )+};
}

pub(crate) use status_through_api_error;

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Invalid(violations) => tulpar_rpc::invalid_argument(&violations),
            ApiError::Unauthenticated(m) => Status::unauthenticated(m),
            ApiError::PermissionDenied(m) | ApiError::Refused(m) => Status::permission_denied(m),
            ApiError::NotFound(m) => Status::not_found(m),
            ApiError::FailedPrecondition(m) => Status::failed_precondition(m),
            ApiError::AlreadyExists(m) => Status::already_exists(m),
            ApiError::Aborted(m) => Status::aborted(m),
            ApiError::WitnessHolds(size) => Status::with_error_details(
                Code::FailedPrecondition,
                error.to_string(),
                ErrorDetails::with_error_info(
                    WITNESS_SIZE_REASON,
                    ERROR_DOMAIN,
                    [(WITNESS_SIZE_KEY.to_owned(), size.to_string())],
                ),
            ),
            ApiError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ApiError::Unavailable(m) => Status::with_error_details(
                Code::Unavailable,
                m,
                ErrorDetails::with_retry_info(Some(RETRY_UNAVAILABLE_AFTER)),
            ),
            ApiError::DataLoss(m) => Status::data_loss(m),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error; see the node's log")
            }
        }
    }
}

/// The `google.rpc.ErrorInfo` domain of the node's own reasons.
const ERROR_DOMAIN: &str = "tulpar";
/// The reason of [`ApiError::WitnessHolds`], and the metadata key of the size it names.
const WITNESS_SIZE_REASON: &str = "WITNESS_SIZE_MISMATCH";
const WITNESS_SIZE_KEY: &str = "size";

/// The reason a watch stream ends because the node stops, and the metadata key of where to resume.
const STOPPING_REASON: &str = "NODE_STOPPING";
const RESUME_FROM_KEY: &str = "resume_from";

/// How a watch stream ends when the node stops: UNAVAILABLE, with `resume_from` in a
/// `google.rpc.ErrorInfo` (reason `NODE_STOPPING`, domain `tulpar`) and a `google.rpc.RetryInfo`.
pub(crate) fn stopping(resume_from: u64) -> Status {
    let mut details = ErrorDetails::with_error_info(
        STOPPING_REASON,
        ERROR_DOMAIN,
        [(RESUME_FROM_KEY.to_owned(), resume_from.to_string())],
    );
    details.set_retry_info(Some(RETRY_UNAVAILABLE_AFTER));
    Status::with_error_details(
        Code::Unavailable,
        format!("the node is shutting down; resume with resume_from = {resume_from}"),
        details,
    )
}

/// The size a witness says it holds, when `status` is its refusal for that reason.
pub(crate) fn witness_size(status: &Status) -> Option<u64> {
    if status.code() != Code::FailedPrecondition {
        return None;
    }
    let info = status.get_details_error_info()?;
    if info.reason != WITNESS_SIZE_REASON || info.domain != ERROR_DOMAIN {
        return None;
    }
    info.metadata.get(WITNESS_SIZE_KEY)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_ended_by_shutdown_says_where_to_resume_in_its_details() {
        let status = stopping(172);
        assert_eq!(status.code(), Code::Unavailable);
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("NODE_STOPPING", "tulpar")
        );
        assert_eq!(
            info.metadata.get("resume_from").map(String::as_str),
            Some("172")
        );
        assert!(status.get_details_retry_info().is_some());
    }

    #[test]
    fn an_unwritable_ledger_is_unavailable_with_a_retry_hint() {
        let error = ApiError::from(tulpar_ledger::LedgerError::Unwritable(
            "/var/lib/tulpar/segments/x.seg: No space left on device".into(),
        ));
        let status = Status::from(error);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("cannot write"),
            "{}",
            status.message()
        );
        assert!(!status.message().contains("/var/lib"));
        let retry = status.get_details_retry_info().expect("a RetryInfo detail");
        assert_eq!(retry.retry_delay, Some(RETRY_UNAVAILABLE_AFTER));
    }

    #[test]
    fn a_witness_names_the_size_it_holds_in_a_structured_detail() {
        let status = Status::from(ApiError::WitnessHolds(42));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(witness_size(&status), Some(42));
        // Text alone is never read as a size.
        let look_alike = Status::failed_precondition("the witness holds a checkpoint of size 42");
        assert_eq!(witness_size(&look_alike), None);
    }

    #[test]
    fn a_damaged_entry_is_data_loss_naming_the_entry_and_its_segment() {
        let error = ApiError::from(tulpar_ledger::LedgerError::Corrupt {
            path: "/var/lib/tulpar/segments/00000000000000000018.seg".into(),
            offset: 2776,
            index: Some(31),
            reason: "frame checksum mismatch (record 1 of the frame is damaged)".into(),
        });
        let status = Status::from(error);
        assert_eq!(status.code(), Code::DataLoss);
        let message = status.message();
        assert!(
            message.starts_with("ledger entry 31 is damaged"),
            "{message}"
        );
        assert!(
            message.contains("segment 00000000000000000018.seg, byte offset 2776"),
            "{message}"
        );
        assert!(!message.contains("/var/lib"), "{message}");
    }

    #[test]
    fn a_held_ledger_is_unavailable_naming_the_lost_entries() {
        let status = Status::from(ApiError::from(tulpar_ledger::LedgerError::Held {
            size: 35,
            published: 50,
        }));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("entries 35..50"), "{status:?}");
        assert!(status.get_details_retry_info().is_some());
    }

    #[test]
    fn internal_details_are_not_sent() {
        let status = Status::from(ApiError::internal("sled: disk on fire at /var/lib/x"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/var/lib"));
    }
}
