//! Acknowledgements and outcomes: the rules of their bodies, and the order they may come in.

use crate::alert::check_attachments;
use crate::codes::HsCode;
use crate::ids::ResponseId;
use crate::limits::MAX_OUTCOME_CORRECTIONS;
use crate::proto::{self, DeliveryState, alert_response::Kind, outcome::Result as OutcomeResult};
use crate::validation::{Checker, Violations, quote};

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
            check_attachments(c, &outcome.attachments);
            if let Some(correction) = &outcome.correction {
                c.within("correction", |c| {
                    let corrects = &correction.corrects_response_id;
                    if corrects.is_empty() {
                        c.required("corrects_response_id");
                    } else if ResponseId::parse(corrects).is_err() {
                        c.fail(
                            "corrects_response_id",
                            format!("{} is not a response id", quote(corrects)),
                        );
                    }
                    c.required_text("reason", &correction.reason, 2_000, true);
                });
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
    /// A second outcome that does not say it corrects the first.
    #[error(
        "an outcome was already recorded; to change it, give outcome.correction with the earlier \
         outcome's response id and a reason"
    )]
    OutcomeGiven,
    /// A correction before any outcome.
    #[error("no outcome was recorded yet, so there is none to correct")]
    NothingToCorrect,
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
        (Kind::Outcome(o), S::Acknowledged) if o.correction.is_some() => Err(R::NothingToCorrect),
        (Kind::Outcome(_), S::Acknowledged) => Ok(()),
        (Kind::Outcome(o), S::OutcomeRecorded) if o.correction.is_some() => Ok(()),
        (Kind::Outcome(_), S::Queued | S::Delivered) => Err(R::NotAcknowledged),
        (Kind::Outcome(_), S::Declined) => Err(R::Declined),
        (Kind::Outcome(_), S::OutcomeRecorded) => Err(R::OutcomeGiven),
        // Only an origin's view of a recipient is ever undeliverable; a recipient never answers it.
        (_, S::Undeliverable) => Err(R::NeverDelivered),
        (_, S::Unspecified) => Err(R::UnknownState),
    }
}

/// Why a correction of an outcome is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorrectionRefused {
    /// It names an outcome that is not the latest.
    #[error(
        "outcome.correction.corrects_response_id names {named}, but the outcome to correct is the \
         latest one, {latest}"
    )]
    NotLatest {
        /// The response id given.
        named: String,
        /// The latest outcome's response id.
        latest: String,
    },
    /// Another unit gave the outcome.
    #[error("the outcome was given by {unit}; only that unit corrects it")]
    OtherUnit {
        /// The unit that gave the latest outcome.
        unit: String,
    },
    /// The limit of corrections is reached.
    #[error(
        "the outcome was corrected {MAX_OUTCOME_CORRECTIONS} times already; that is the most allowed"
    )]
    TooMany,
}

/// Whether `unit` may give `outcome` as the correction it says it is, given the recipient's `timeline`
/// so far; an outcome that corrects nothing always passes (its order is [`check_transition`]'s).
pub fn check_correction(
    timeline: &[proto::TimelineEvent],
    unit: &str,
    outcome: &proto::Outcome,
) -> Result<(), CorrectionRefused> {
    let Some(correction) = &outcome.correction else {
        return Ok(());
    };
    let outcomes: Vec<&proto::AlertResponse> = timeline
        .iter()
        .filter_map(|event| event.response.as_ref())
        .filter(|response| matches!(response.kind, Some(Kind::Outcome(_))))
        .collect();
    let Some(latest) = outcomes.last() else {
        // check_transition refuses a correction with nothing recorded before it looks here.
        return Ok(());
    };
    if outcomes.len() > MAX_OUTCOME_CORRECTIONS {
        return Err(CorrectionRefused::TooMany);
    }
    if latest.response_id != correction.corrects_response_id {
        return Err(CorrectionRefused::NotLatest {
            named: correction.corrects_response_id.clone(),
            latest: latest.response_id.clone(),
        });
    }
    let latest_unit = latest.responder.as_ref().map_or("", |r| r.unit.as_str());
    if latest_unit != unit {
        return Err(CorrectionRefused::OtherUnit {
            unit: latest_unit.to_owned(),
        });
    }
    Ok(())
}

/// The response without its attachments' bytes (their names, types, sizes and digests stay): what a
/// timeline or an event carries, so that their size stays bounded whatever was attached.
pub fn without_attachment_content(mut response: proto::AlertResponse) -> proto::AlertResponse {
    if let Some(Kind::Outcome(outcome)) = &mut response.kind {
        for attachment in &mut outcome.attachments {
            attachment.content = Vec::new();
        }
    }
    response
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
            ..Default::default()
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

    fn outcome_event(response_id: &str, unit: &str) -> proto::TimelineEvent {
        proto::TimelineEvent {
            state: DeliveryState::OutcomeRecorded as i32,
            response: Some(proto::AlertResponse {
                response_id: response_id.into(),
                responder: Some(proto::Origin {
                    country: "UZ".into(),
                    unit: unit.into(),
                }),
                kind: Some(outcome(Some(OutcomeResult::NothingFound(
                    proto::NothingFound {},
                )))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn correcting(response_id: &str, reason: &str) -> proto::Outcome {
        proto::Outcome {
            result: Some(OutcomeResult::DidNotArrive(proto::DidNotArrive {})),
            correction: Some(proto::OutcomeCorrection {
                corrects_response_id: response_id.into(),
                reason: reason.into(),
            }),
            ..Default::default()
        }
    }

    const FIRST: &str = "01900000-0000-7000-8000-000000000001";
    const SECOND: &str = "01900000-0000-7000-8000-000000000002";

    #[test]
    fn a_correction_names_the_latest_outcome_of_the_same_unit_and_a_reason() {
        let unit = "UZ-TASHKENT-PCU";
        let timeline = vec![outcome_event(FIRST, unit), outcome_event(SECOND, unit)];
        assert!(check_correction(&timeline, unit, &correcting(SECOND, "wrong container")).is_ok());
        assert_eq!(
            check_correction(&timeline, unit, &correcting(FIRST, "x")),
            Err(CorrectionRefused::NotLatest {
                named: FIRST.into(),
                latest: SECOND.into()
            })
        );
        assert_eq!(
            check_correction(&timeline, "UZ-ALAT-PCU", &correcting(SECOND, "x")),
            Err(CorrectionRefused::OtherUnit { unit: unit.into() })
        );
        let many: Vec<_> = (0..=MAX_OUTCOME_CORRECTIONS)
            .map(|_| outcome_event(SECOND, unit))
            .collect();
        assert_eq!(
            check_correction(&many, unit, &correcting(SECOND, "x")),
            Err(CorrectionRefused::TooMany)
        );
        let invalid = validate_response_kind(&Kind::Outcome(correcting("nope", "")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            invalid,
            "outcome.correction.corrects_response_id: \"nope\" is not a response id\n\
             outcome.correction.reason: is required"
        );
        let recorded = Kind::Outcome(correcting(SECOND, "x"));
        assert!(check_transition(DeliveryState::OutcomeRecorded, &recorded).is_ok());
        assert_eq!(
            check_transition(DeliveryState::Acknowledged, &recorded),
            Err(TransitionRefused::NothingToCorrect)
        );
    }

    #[test]
    fn an_outcome_carries_photos_checked_like_an_alerts_and_timelines_drop_their_bytes() {
        let photo = b"\xff\xd8\xff photo".to_vec();
        let mut found = proto::Outcome {
            result: Some(OutcomeResult::NothingFound(proto::NothingFound {})),
            attachments: vec![proto::Attachment {
                file_name: "seized.jpg".into(),
                media_type: "image/jpeg".into(),
                sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, &photo)),
                size_bytes: photo.len() as u64,
                content: photo,
            }],
            ..Default::default()
        };
        assert!(validate_response_kind(&Kind::Outcome(found.clone())).is_ok());
        found.attachments[0].size_bytes += 1;
        let errors = validate_response_kind(&Kind::Outcome(found.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            errors.starts_with("outcome.attachments[0].size_bytes: "),
            "{errors}"
        );
        let response = proto::AlertResponse {
            kind: Some(Kind::Outcome(found)),
            ..Default::default()
        };
        let Some(Kind::Outcome(stripped)) = without_attachment_content(response).kind else {
            panic!("an outcome stays an outcome");
        };
        assert!(stripped.attachments[0].content.is_empty());
        assert_eq!(stripped.attachments[0].file_name, "seized.jpg");
    }
}
