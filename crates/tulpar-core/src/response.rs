//! Acknowledgements and outcomes: the rules of their bodies, and the order they may come in.

use crate::codes::HsCode;
use crate::proto::{self, DeliveryState, alert_response::Kind, outcome::Result as OutcomeResult};
use crate::validation::{Checker, Violations};

/// Checks an acknowledgement or outcome body, reporting every violation with the field path used in
/// requests (`acknowledgement.note`, `outcome.seizure.items[0].quantity`).
pub fn validate_response_kind(kind: &Kind) -> Result<(), Violations> {
    let mut c = Checker::default();
    match kind {
        Kind::Acknowledgement(ack) => c.within("acknowledgement", |c| {
            let decision = c.enumeration::<proto::AcknowledgementDecision>(
                "decision",
                ack.decision,
                "AcknowledgementDecision",
            );
            if decision == Some(proto::AcknowledgementDecision::Declined) {
                c.required_text("note", &ack.note, 2_000, true);
            } else {
                c.text("note", &ack.note, 2_000, true);
            }
        }),
        Kind::Outcome(outcome) => c.within("outcome", |c| {
            c.text("note", &outcome.note, 5_000, true);
            match &outcome.result {
                None => c.fail(
                    "",
                    "exactly one result is required: seizure, nothing_found, not_inspected or did_not_arrive",
                ),
                Some(OutcomeResult::Seizure(seizure)) => c.within("seizure", |c| {
                    if seizure.items.is_empty() {
                        c.fail("items", "at least one seized item is required");
                    }
                    c.at_most("items", &seizure.items, 100);
                    c.each("items", &seizure.items, check_seized_item);
                    c.text("case_reference", &seizure.case_reference, 100, false);
                }),
                Some(OutcomeResult::NotInspected(not)) => c.within("not_inspected", |c| {
                    c.required_text("reason", &not.reason, 2_000, true);
                }),
                Some(OutcomeResult::NothingFound(_)) | Some(OutcomeResult::DidNotArrive(_)) => {}
            }
        }),
    }
    c.finish()
}

fn check_seized_item(c: &mut Checker, item: &proto::SeizedItem) {
    c.required_text("description", &item.description, 500, true);
    if !item.hs_code.is_empty() {
        c.code("hs_code", &item.hs_code, HsCode::parse);
    }
    if !item.quantity.is_finite() || item.quantity <= 0.0 {
        c.fail(
            "quantity",
            format!("{} is not a positive quantity", item.quantity),
        );
    }
    c.required_text("unit", &item.unit, 20, false);
}

/// The lifecycle state a response moves its recipient to.
pub fn state_after(kind: &Kind) -> DeliveryState {
    match kind {
        Kind::Acknowledgement(ack)
            if ack.decision == proto::AcknowledgementDecision::Declined as i32 =>
        {
            DeliveryState::Declined
        }
        Kind::Acknowledgement(_) => DeliveryState::Acknowledged,
        Kind::Outcome(_) => DeliveryState::OutcomeRecorded,
    }
}

/// Why a recipient may not give a response now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionRefused {
    /// An acknowledgement (or a decline) was given already.
    #[error("the alert was already acknowledged; an acknowledgement is given once")]
    AlreadyAcknowledged,
    /// An acknowledgement after the outcome.
    #[error("an outcome was already recorded for the alert")]
    AcknowledgedAfterOutcome,
    /// An outcome before the acknowledgement.
    #[error("acknowledge the alert before recording an outcome")]
    NotAcknowledged,
    /// An outcome after a decline.
    #[error("the alert was declined; no outcome follows a decline")]
    Declined,
    /// A second outcome.
    #[error("an outcome was already recorded; it is given once")]
    OutcomeGiven,
    /// The recipient's node refused the alert, so it was never delivered.
    #[error("the alert was refused by this country's node and never delivered")]
    NeverDelivered,
    /// The recipient's state is not known.
    #[error("the alert has no known state")]
    UnknownState,
}

/// Whether a recipient in `state` may give a response of `kind` now; the reason when not.
pub fn check_transition(state: DeliveryState, kind: &Kind) -> Result<(), TransitionRefused> {
    use DeliveryState as S;
    use TransitionRefused as R;
    match (kind, state) {
        (Kind::Acknowledgement(_), S::Queued | S::Delivered) => Ok(()),
        (Kind::Acknowledgement(_), S::Acknowledged | S::Declined) => Err(R::AlreadyAcknowledged),
        (Kind::Acknowledgement(_), S::OutcomeRecorded) => Err(R::AcknowledgedAfterOutcome),
        (Kind::Outcome(_), S::Acknowledged) => Ok(()),
        (Kind::Outcome(_), S::Queued | S::Delivered) => Err(R::NotAcknowledged),
        (Kind::Outcome(_), S::Declined) => Err(R::Declined),
        (Kind::Outcome(_), S::OutcomeRecorded) => Err(R::OutcomeGiven),
        // Only an origin's view of a recipient is ever undeliverable; a recipient never answers it.
        (_, S::Undeliverable) => Err(R::NeverDelivered),
        (_, S::Unspecified) => Err(R::UnknownState),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(decision: proto::AcknowledgementDecision, note: &str) -> Kind {
        Kind::Acknowledgement(proto::Acknowledgement {
            decision: decision as i32,
            note: note.into(),
        })
    }

    fn outcome(result: Option<OutcomeResult>) -> Kind {
        Kind::Outcome(proto::Outcome {
            result,
            note: String::new(),
        })
    }

    #[test]
    fn a_decline_needs_its_reason() {
        let errors = validate_response_kind(&ack(proto::AcknowledgementDecision::Declined, ""))
            .unwrap_err()
            .to_string();
        assert_eq!(errors, "acknowledgement.note: is required");
        assert!(validate_response_kind(&ack(proto::AcknowledgementDecision::Accepted, "")).is_ok());
        let unset = validate_response_kind(&ack(proto::AcknowledgementDecision::Unspecified, ""));
        assert!(
            unset
                .unwrap_err()
                .to_string()
                .starts_with("acknowledgement.decision: is required")
        );
    }

    #[test]
    fn a_seizure_lists_valid_items() {
        let seizure = outcome(Some(OutcomeResult::Seizure(proto::Seizure {
            items: vec![
                proto::SeizedItem {
                    description: "Heroin".into(),
                    hs_code: "293911".into(),
                    quantity: 12.5,
                    unit: "kg".into(),
                },
                proto::SeizedItem {
                    description: String::new(),
                    hs_code: "29391".into(),
                    quantity: -1.0,
                    unit: String::new(),
                },
            ],
            case_reference: "KZ-2026-001".into(),
        })));
        let errors = validate_response_kind(&seizure).unwrap_err().to_string();
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines.len(), 4, "{errors}");
        assert!(lines[0].starts_with("outcome.seizure.items[1].description: "));
        assert!(lines[1].starts_with("outcome.seizure.items[1].hs_code: "));
        assert!(lines[2].starts_with("outcome.seizure.items[1].quantity: "));
        assert!(lines[3].starts_with("outcome.seizure.items[1].unit: "));
        let empty = validate_response_kind(&outcome(None))
            .unwrap_err()
            .to_string();
        assert!(empty.starts_with("outcome: exactly one result is required"));
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        use DeliveryState as S;
        let accept = ack(proto::AcknowledgementDecision::Accepted, "");
        let found = outcome(Some(OutcomeResult::NothingFound(proto::NothingFound {})));
        assert!(check_transition(S::Delivered, &accept).is_ok());
        assert_eq!(
            check_transition(S::Acknowledged, &accept),
            Err(TransitionRefused::AlreadyAcknowledged)
        );
        assert_eq!(
            check_transition(S::Declined, &accept),
            Err(TransitionRefused::AlreadyAcknowledged)
        );
        assert_eq!(
            check_transition(S::Delivered, &found),
            Err(TransitionRefused::NotAcknowledged)
        );
        assert!(check_transition(S::Acknowledged, &found).is_ok());
        assert_eq!(
            check_transition(S::Declined, &found),
            Err(TransitionRefused::Declined)
        );
        assert_eq!(
            check_transition(S::OutcomeRecorded, &found),
            Err(TransitionRefused::OutcomeGiven)
        );
        assert_eq!(state_after(&found), S::OutcomeRecorded);
        assert_eq!(
            state_after(&ack(proto::AcknowledgementDecision::Declined, "x")),
            S::Declined
        );
    }
}
