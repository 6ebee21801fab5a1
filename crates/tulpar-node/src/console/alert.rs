//! One alert's page, its attachments, and the answers given on it.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use tulpar_console::pages::{self, BASE};
use tulpar_core::proto;

use super::{
    Console, Form, download, empty, failure, file_response, html, localized, not_a_number, rfc3339,
    see_other,
};
use crate::auth::Principal;
use crate::error::ApiError;
use tulpar_core::validation::Violation;

impl Console {
    /// The page of one alert, with what the node refused of the last answer, if anything.
    pub(super) async fn alert_page(
        &self,
        headers: &HeaderMap,
        alert_id: &str,
        refusal: Vec<Violation>,
    ) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return see_other(&format!("{BASE}/sign-in?notice=session-ended"));
        };
        let record = match self.alerts.get_alert_for(&signed_in.principal, alert_id) {
            Ok(record) => record,
            Err(ApiError::NotFound(_) | ApiError::Invalid(_) | ApiError::PermissionDenied(_)) => {
                return self.not_found(headers).await;
            }
            Err(error) => return failure(error),
        };
        let m = self.catalogs.messages(&signed_in.session.language);
        let mut view = alert_view(&record);
        view.refusal = refusal
            .iter()
            .map(|v| (v.field.clone(), localized(&m, v)))
            .collect();
        view.answer = answer_view(&signed_in.principal, &record);
        let page = pages::alert(
            &m,
            &self.viewer(&signed_in),
            &self.catalogs.languages(),
            &view,
        );
        html(StatusCode::OK, page)
    }

    /// One alert, every field on a line, as CSV for a spreadsheet in the viewer's language.
    pub(super) async fn alert_export(&self, headers: &HeaderMap, alert_id: &str) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        let Ok(record) = self.alerts.get_alert_for(&signed_in.principal, alert_id) else {
            return empty(StatusCode::NOT_FOUND);
        };
        let m = self.catalogs.messages(&signed_in.session.language);
        let view = alert_view(&record);
        let name = format!("tulpar-alert-{}.csv", view.alert_id);
        download(tulpar_console::excel::alert(&m, &view), &name)
    }

    /// An attachment's bytes: images shown in the page, anything else downloaded. `owner` is the
    /// alert's id for its own attachments, or `<alert id>/responses/<response id>` for an answer's.
    pub(super) async fn attachment(
        &self,
        headers: &HeaderMap,
        owner: &str,
        index: &str,
    ) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        let Ok(index) = index.parse::<u32>() else {
            return empty(StatusCode::NOT_FOUND);
        };
        let principal = &signed_in.principal;
        let attachment = match owner.split_once("/responses/") {
            Some((alert_id, response_id)) => self
                .alerts
                .response_attachment_for(principal, alert_id, response_id, index)
                .ok(),
            None => self
                .alerts
                .get_alert_for(principal, owner)
                .ok()
                .and_then(|record| {
                    record
                        .alert
                        .and_then(|a| a.content)
                        .and_then(|c| c.attachments.into_iter().nth(index as usize))
                }),
        };
        let Some(attachment) = attachment else {
            return empty(StatusCode::NOT_FOUND);
        };
        // Only images the browser can show are served as themselves; everything else is a download.
        let shown = matches!(
            attachment.media_type.as_str(),
            "image/jpeg" | "image/png" | "image/gif" | "image/webp"
        );
        if shown {
            return file_response(Body::from(attachment.content), &attachment.media_type, None);
        }
        let name: String = attachment
            .file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect();
        file_response(
            Body::from(attachment.content),
            "application/octet-stream",
            Some(&name),
        )
    }

    /// An answer from the alert page's forms: acknowledge, decline or report the outcome.
    pub(super) async fn answer(
        &self,
        request: Request<Body>,
        alert_id: &str,
        what: &str,
    ) -> Response {
        let headers = request.headers().clone();
        let (signed_in, form) = match self.checked_form(request).await {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        let field = |name: &str| form.get(name).map_or("", |v| v.trim()).to_owned();
        let kind = match what {
            "acknowledge" | "decline" => {
                let decision = if what == "acknowledge" {
                    proto::AcknowledgementDecision::Accepted
                } else {
                    proto::AcknowledgementDecision::Declined
                };
                proto::alert_response::Kind::Acknowledgement(proto::Acknowledgement {
                    decision: decision as i32,
                    note: field("note"),
                })
            }
            "outcome" => match outcome_of(&form) {
                Ok(outcome) => proto::alert_response::Kind::Outcome(outcome),
                Err(refusal) => return self.alert_page(&headers, alert_id, refusal).await,
            },
            _ => return self.not_found(&headers).await,
        };
        let answered = self
            .node
            .submission
            .respond(
                &signed_in.principal,
                &field("request_id"),
                alert_id,
                &field("unit"),
                kind,
            )
            .await;
        match answered.map_err(ApiError::from) {
            Ok(_) => see_other(&format!("{BASE}/alerts/{alert_id}")),
            Err(ApiError::Invalid(violations)) => {
                self.alert_page(&headers, alert_id, violations.into_vec())
                    .await
            }
            Err(error) => {
                let refusal = vec![Violation::new("", error.to_string())];
                self.alert_page(&headers, alert_id, refusal).await
            }
        }
    }
}

/// The outcome the form describes; what is missing or malformed, named by field. Seized items are rows
/// of inputs; a row left empty is skipped.
fn outcome_of(form: &Form) -> Result<proto::Outcome, Vec<Violation>> {
    use proto::outcome::Result as Found;
    let field = |name: &str| form.text(name).to_owned();
    let result = match field("result").as_str() {
        "nothing-found" => Found::NothingFound(proto::NothingFound {}),
        "did-not-arrive" => Found::DidNotArrive(proto::DidNotArrive {}),
        "not-inspected" => Found::NotInspected(proto::NotInspected {
            reason: field("reason"),
        }),
        "seizure" => Found::Seizure(proto::Seizure {
            items: seized_items(form)?,
            case_reference: field("case_reference"),
        }),
        other => {
            return Err(vec![Violation::new(
                "outcome.result",
                format!("{other:?} is not one of the choices"),
            )]);
        }
    };
    let correction = form
        .get("corrects")
        .map(|corrects| proto::OutcomeCorrection {
            corrects_response_id: corrects.trim().to_owned(),
            reason: field("correction_reason"),
        });
    Ok(proto::Outcome {
        result: Some(result),
        note: field("note"),
        attachments: form.files("attachments"),
        correction,
    })
}

/// The rows of seized goods the form fills in, in order, without the empty ones.
fn seized_items(form: &Form) -> Result<Vec<proto::SeizedItem>, Vec<Violation>> {
    let columns = [
        form.column("seized_description"),
        form.column("seized_hs_code"),
        form.column("seized_quantity"),
        form.column("seized_unit"),
    ];
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
    let cell = |column: usize, row: usize| columns[column].get(row).copied().unwrap_or("");
    let mut items = Vec::new();
    let mut refused = Vec::new();
    for row in 0..rows {
        if (0..columns.len()).all(|column| cell(column, row).is_empty()) {
            continue;
        }
        let quantity_text = tulpar_core::normalise::decimal(cell(2, row));
        let quantity = match quantity_text.parse::<f64>() {
            Ok(quantity) => quantity,
            Err(_) => {
                let field = format!("outcome.seizure.items[{}].quantity", items.len());
                refused.push(not_a_number(&field, cell(2, row)));
                0.0
            }
        };
        items.push(proto::SeizedItem {
            description: cell(0, row).to_owned(),
            hs_code: cell(1, row).to_owned(),
            quantity,
            unit: cell(3, row).to_owned(),
        });
    }
    if refused.is_empty() {
        Ok(items)
    } else {
        Err(refused)
    }
}

/// The alert as its page shows it.
fn alert_view(record: &proto::AlertRecord) -> pages::AlertView {
    let alert = record.alert.clone().unwrap_or_default();
    let mut content = alert.content.clone().unwrap_or_default();
    let attachments = attachment_views(&content.attachments);
    content.attachments.clear();
    let signer = record
        .signed_alert
        .as_ref()
        .and_then(|e| e.signatures.first())
        .map(|s| s.key_id.clone())
        .unwrap_or_default();
    pages::AlertView {
        alert_id: alert.alert_id.clone(),
        created: rfc3339(alert.created_at),
        direction: proto::Direction::try_from(record.direction)
            .unwrap_or_default()
            .as_str_name(),
        signed_by: content.origin.clone().unwrap_or_default().unit,
        key_id: signer,
        content: serde_json::to_value(&content).unwrap_or_default(),
        attachments,
        recipients: record
            .recipients
            .iter()
            .map(|recipient| pages::RecipientView {
                country: recipient.country.clone(),
                units: recipient.units.clone(),
                state: recipient.state().as_str_name(),
                overdue: recipient.overdue,
                deadline: rfc3339(recipient.acknowledgement_deadline),
                steps: recipient
                    .timeline
                    .iter()
                    .map(|step| pages::StepView {
                        state: step.state().as_str_name(),
                        at: rfc3339(step.at),
                        actor: step.actor.clone(),
                        response_id: step
                            .response
                            .as_ref()
                            .map_or_else(String::new, |r| r.response_id.clone()),
                        attachments: outcome(step)
                            .map(|o| attachment_views(&o.attachments))
                            .unwrap_or_default(),
                        superseded: outcome(step).is_some_and(|_| {
                            let id = step.response.as_ref().map(|r| r.response_id.as_str());
                            recipient.timeline.iter().filter_map(outcome).any(|later| {
                                later
                                    .correction
                                    .as_ref()
                                    .map(|c| c.corrects_response_id.as_str())
                                    == id
                            })
                        }),
                        answer: step
                            .response
                            .as_ref()
                            .and_then(|r| r.kind.as_ref())
                            .and_then(|kind| match kind {
                                proto::alert_response::Kind::Acknowledgement(a) => {
                                    serde_json::to_value(a).ok()
                                }
                                proto::alert_response::Kind::Outcome(o) => {
                                    serde_json::to_value(o).ok()
                                }
                            }),
                    })
                    .collect(),
            })
            .collect(),
        answer: None,
        refusal: Vec::new(),
    }
}

/// The outcome a step records, if it records one.
fn outcome(step: &proto::TimelineEvent) -> Option<&proto::Outcome> {
    match step.response.as_ref()?.kind.as_ref()? {
        proto::alert_response::Kind::Outcome(outcome) => Some(outcome),
        proto::alert_response::Kind::Acknowledgement(_) => None,
    }
}

fn attachment_views(attachments: &[proto::Attachment]) -> Vec<pages::AttachmentView> {
    attachments
        .iter()
        .enumerate()
        .map(|(index, a)| pages::AttachmentView {
            index,
            file_name: a.file_name.clone(),
            media_type: a.media_type.clone(),
            size_bytes: a.size_bytes,
        })
        .collect()
}

/// What `principal` may answer on a received alert, as which unit; `None` when nothing is left.
fn answer_view(principal: &Principal, record: &proto::AlertRecord) -> Option<pages::AnswerView> {
    if record.direction() != proto::Direction::Received {
        return None;
    }
    let recipient = record.recipients.first()?;
    let unit = principal.units.iter().find(|unit| {
        recipient.units.is_empty() || recipient.units.iter().any(|u| u == unit.as_str())
    })?;
    let state = recipient.state();
    let may_acknowledge = matches!(
        state,
        proto::DeliveryState::Queued | proto::DeliveryState::Delivered
    );
    // The outcome recorded is corrected by the unit that gave it, and only while corrections are left.
    let latest = recipient
        .timeline
        .iter()
        .rev()
        .find(|step| outcome(step).is_some())
        .and_then(|step| step.response.as_ref());
    let corrects = latest
        .filter(|_| state == proto::DeliveryState::OutcomeRecorded)
        .filter(|response| {
            response
                .responder
                .as_ref()
                .is_some_and(|r| r.unit == unit.as_str())
        })
        .filter(|_| {
            let outcomes = recipient.timeline.iter().filter(|s| outcome(s).is_some());
            outcomes.count() <= tulpar_core::limits::MAX_OUTCOME_CORRECTIONS
        })
        .map(|response| response.response_id.clone());
    let may_report_outcome = state == proto::DeliveryState::Acknowledged || corrects.is_some();
    if !may_acknowledge && !may_report_outcome {
        return None;
    }
    Some(pages::AnswerView {
        unit: unit.to_string(),
        request_id: uuid::Uuid::now_v7().to_string(),
        may_acknowledge,
        may_report_outcome,
        corrects,
    })
}
