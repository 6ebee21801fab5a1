//! One alert: every field of its content, its attachments, each recipient's timeline with the
//! answers, the unit that signed it, and the forms to answer when the viewer may.

use maud::{Markup, html};
use serde_json::Value;

use super::{BASE, Viewer, page, time};
use crate::Messages;

/// An attachment, without its bytes (the page links to them).
pub struct AttachmentView {
    /// Its position in the alert, for the link.
    pub index: usize,
    /// Its file name.
    pub file_name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size_bytes: u64,
}

/// One step of a recipient's timeline.
pub struct StepView {
    /// `DELIVERY_STATE_…` name.
    pub state: &'static str,
    /// When, RFC 3339.
    pub at: String,
    /// Who signed it: a unit, or "node:<country>" for receipts.
    pub actor: String,
    /// The answer's response id, if it is an answer.
    pub response_id: String,
    /// The answer's own fields (acknowledgement or outcome) in proto3 JSON, if it is an answer.
    pub answer: Option<Value>,
    /// An outcome's photos and documents, without their bytes.
    pub attachments: Vec<AttachmentView>,
    /// Whether a later outcome corrects this one.
    pub superseded: bool,
}

/// A recipient country's state and timeline.
pub struct RecipientView {
    /// The country.
    pub country: String,
    /// The units addressed (none: the country as a whole).
    pub units: Vec<String>,
    /// `DELIVERY_STATE_…` name.
    pub state: &'static str,
    /// Whether the acknowledgement is overdue.
    pub overdue: bool,
    /// The acknowledgement deadline, RFC 3339.
    pub deadline: String,
    /// Every step, oldest first.
    pub steps: Vec<StepView>,
}

/// What the viewer may answer, as which unit.
pub struct AnswerView {
    /// The unit the answer is given as.
    pub unit: String,
    /// A fresh request id for the forms, so that sending one twice records one answer.
    pub request_id: String,
    /// Whether it is still to be acknowledged or declined.
    pub may_acknowledge: bool,
    /// Whether an outcome may be reported (or corrected, with `corrects`).
    pub may_report_outcome: bool,
    /// The response id of the outcome the viewer's unit gave and may correct.
    pub corrects: Option<String>,
}

/// The alert as the page shows it.
pub struct AlertView {
    /// Its id.
    pub alert_id: String,
    /// When it was created, RFC 3339.
    pub created: String,
    /// `DIRECTION_…` name.
    pub direction: &'static str,
    /// The unit whose key signed it.
    pub signed_by: String,
    /// The signing key's id.
    pub key_id: String,
    /// The content in proto3 JSON, attachments' bytes left out.
    pub content: Value,
    /// The attachments.
    pub attachments: Vec<AttachmentView>,
    /// Each recipient country.
    pub recipients: Vec<RecipientView>,
    /// The answer forms, when the viewer may answer.
    pub answer: Option<AnswerView>,
    /// What the node refused of the last answer, as (field, rule).
    pub refusal: Vec<(String, String)>,
}

/// A field's label in the viewer's language: first as a field of `parent` (a seized item's `unit` is a
/// unit of measure, not a customs unit), then on its own, else its JSON name.
fn label(m: &Messages<'_>, parent: &str, key: &str) -> String {
    [format!("field-{parent}-{key}"), format!("field-{key}")]
        .into_iter()
        .find(|id| m.has(id))
        .map_or_else(|| key.to_owned(), |id| m.get(&id))
}

/// A country by its name in the viewer's language with its code, or its code where no name is held.
pub(crate) fn country(m: &Messages<'_>, code: &str) -> String {
    let id = format!("country-{code}");
    if m.has(&id) {
        format!("{} ({code})", m.get(&id))
    } else {
        code.to_owned()
    }
}

/// Any value of the content, laid out as nested definition lists.
fn value(m: &Messages<'_>, key: &str, value_of: &Value) -> Markup {
    match value_of {
        Value::Object(fields) if fields.is_empty() => html! { (label(m, "", key)) },
        Value::Object(fields) => html! {
            dl {
                @for (name, inner) in fields {
                    // An empty part (no parties, no conveyance) says nothing, but an empty outcome
                    // result is the result.
                    @let empty = inner.as_object().is_some_and(serde_json::Map::is_empty);
                    @if name != "attachments" && (!empty || matches!(name.as_str(), "nothingFound" | "didNotArrive")) {
                        dt { (label(m, key, name)) }
                        // An empty message says all by being there (nothing found, did not arrive).
                        dd { @if inner.as_object().is_none_or(|o| !o.is_empty()) { (value(m, name, inner)) } }
                    }
                }
            }
        },
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => html! {
            @for (n, item) in items.iter().enumerate() {
                @if n > 0 { ", " }
                (value(m, key, item))
            }
        },
        Value::Array(items) => html! {
            ol { @for item in items { li { (value(m, key, item)) } } }
        },
        Value::String(text) if m.has(&format!("enum-{text}")) => html! { (m.code(text)) },
        Value::String(text)
            if key == "country" || key.ends_with("Country") || key == "transitCountries" =>
        {
            html! { (country(m, text)) }
        }
        Value::String(text) if key == "locode" => match m.has(&format!("place-{text}")) {
            true => html! { (text) " — " (m.get(&format!("place-{text}"))) },
            false => html! { (text) },
        },
        Value::String(text) if key == "hsCode" && text.len() >= 2 => {
            let id = format!("hs-chapter-{}", &text[..2]);
            match m.has(&id) {
                true => html! {
                    (text) " · "
                    span class="hint" { (m.with("hs-chapter", &[("chapter", &text[..2]), ("name", &m.get(&id))])) }
                },
                false => html! { (text) },
            }
        }
        Value::String(text) if key.ends_with("At") || key == "expectedArrival" => time(m, text),
        Value::String(text) => html! { (text) },
        Value::Bool(yes) => html! { (m.get(if *yes { "yes" } else { "no" })) },
        other => html! { (other.to_string()) },
    }
}

/// The page of one alert.
pub fn alert(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    alert: &AlertView,
) -> String {
    let title = m.with("alert-title", &[("id", &alert.alert_id)]);
    let content = html! {
        p { a href={ (BASE) "/" } { (m.get("alert-back")) } }
        h1 { (title) }
        dl class="summary" {
            dt { (m.get("alert-created")) } dd { (time(m, &alert.created)) }
            dt { (m.get("alert-direction")) } dd { (m.code(alert.direction)) }
        }
        p class="hint" {
            (m.with("alert-signed-by", &[("unit", &alert.signed_by), ("key", &alert.key_id)]))
        }
        p { a href={ (BASE) "/alerts/" (alert.alert_id) "/export.csv" } download { (m.get("alert-export")) } }
        @if let Some(answer) = &alert.answer {
            (answer_forms(m, viewer, alert, answer))
        }
        section class="card" id="recipients" data-live={ (BASE) "/events" } data-alert=(alert.alert_id) {
            h2 { (m.get("alert-recipients")) }
            @for recipient in &alert.recipients {
                h3 {
                    (country(m, &recipient.country))
                    @if !recipient.units.is_empty() { " (" (recipient.units.join(", ")) ")" }
                    ": " (m.code(recipient.state))
                    @if recipient.overdue { " · " span class="overdue" { (m.get("alerts-overdue")) } }
                }
                // The deadline matters only while an acknowledgement is awaited.
                @if matches!(recipient.state, "DELIVERY_STATE_QUEUED" | "DELIVERY_STATE_DELIVERED") {
                    p { (m.get("alert-deadline")) " " (time(m, &recipient.deadline)) }
                }
                ol class="timeline" {
                    @for step in &recipient.steps {
                        li class=[step.superseded.then_some("superseded")] {
                            strong { (m.code(step.state)) }
                            " · " (time(m, &step.at)) " · "
                            (m.with("alert-step-by", &[("actor", &step.actor)]))
                            @if step.superseded { " · " em { (m.get("alert-step-superseded")) } }
                            @if let Some(answer) = &step.answer { (value(m, "answer", answer)) }
                            @if !step.attachments.is_empty() {
                                (attachment_list(m, &format!(
                                    "{BASE}/alerts/{}/responses/{}/attachments",
                                    alert.alert_id, step.response_id
                                ), &step.attachments))
                            }
                        }
                    }
                }
            }
        }
        section class="card" {
            h2 { (m.get("alert-content")) }
            (value(m, "content", &alert.content))
            @if !alert.attachments.is_empty() {
                h3 { (m.get("alert-attachments")) }
                (attachment_list(m, &format!("{BASE}/alerts/{}/attachments", alert.alert_id), &alert.attachments))
            }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}

/// Attachments as a list: images shown, each one a link to its bytes under `base`.
fn attachment_list(m: &Messages<'_>, base: &str, attachments: &[AttachmentView]) -> Markup {
    html! {
        ul class="attachments" {
            @for attachment in attachments {
                @let href = format!("{base}/{}", attachment.index);
                li {
                    @if attachment.media_type.starts_with("image/") {
                        img src=(href) alt=(attachment.file_name) loading="lazy";
                    }
                    a href=(href) download=(attachment.file_name) { (attachment.file_name) }
                    " (" (attachment.media_type) ", "
                    (m.with("alert-attachment-size", &[("size", &attachment.size_bytes.to_string())])) ")"
                }
            }
        }
    }
}

/// Rows of seized goods offered in the outcome form; rows left empty are skipped.
const SEIZED_ROWS: usize = 3;

fn answer_forms(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    alert: &AlertView,
    answer: &AnswerView,
) -> Markup {
    let action = |what: &str| format!("{BASE}/alerts/{}/{what}", alert.alert_id);
    html! {
        section class="card answer" {
            h2 { (m.with("answer-title", &[("unit", &answer.unit)])) }
            @if !alert.refusal.is_empty() {
                div class="notice bad" role="alert" {
                    (m.get("answer-refused"))
                    ul { @for (field, rule) in &alert.refusal { li { (field) ": " (rule) } } }
                }
            }
            @if answer.may_acknowledge {
                form method="post" action=(action("acknowledge")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="unit" value=(answer.unit);
                    input type="hidden" name="request_id" value=(answer.request_id);
                    label for="accept-note" { (m.get("answer-note")) }
                    input type="text" id="accept-note" name="note";
                    div class="actions" { button type="submit" { (m.get("answer-accept")) } }
                }
                form method="post" action=(action("decline")) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="unit" value=(answer.unit);
                    input type="hidden" name="request_id" value=(answer.request_id);
                    label for="decline-note" { (m.get("answer-decline-reason")) }
                    input type="text" id="decline-note" name="note" required;
                    div class="actions" { button type="submit" class="secondary" { (m.get("answer-decline")) } }
                }
            }
            @if answer.may_report_outcome {
                form method="post" action=(action("outcome")) enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="unit" value=(answer.unit);
                    input type="hidden" name="request_id" value=(answer.request_id);
                    @if let Some(corrects) = &answer.corrects {
                        h3 { (m.get("answer-correct-title")) }
                        p class="hint" { (m.get("answer-correct-hint")) }
                        input type="hidden" name="corrects" value=(corrects);
                        label for="correction-reason" { (m.get("answer-correct-reason")) }
                        input type="text" id="correction-reason" name="correction_reason" required;
                    }
                    fieldset {
                        legend { (m.get("answer-outcome-kind")) }
                        @for (kind, id) in [
                            ("nothing-found", "answer-outcome-nothing-found"),
                            ("seizure", "answer-outcome-seizure"),
                            ("not-inspected", "answer-outcome-not-inspected"),
                            ("did-not-arrive", "answer-outcome-did-not-arrive"),
                        ] {
                            label class="choice" {
                                input type="radio" name="result" value=(kind) required;
                                " " (m.get(id))
                            }
                        }
                    }
                    fieldset class="seized" {
                        legend { (m.get("answer-seized-items")) }
                        @for row in 0..SEIZED_ROWS {
                            div class="row" {
                                @let n = row + 1;
                                label {
                                    span { (m.get("answer-seized-description")) " " (n) }
                                    input type="text" name="seized_description";
                                }
                                label {
                                    span { (m.get("answer-seized-hs")) }
                                    input type="text" name="seized_hs_code" inputmode="numeric";
                                }
                                label {
                                    span { (m.get("answer-seized-quantity")) }
                                    input type="text" name="seized_quantity" inputmode="decimal";
                                }
                                label {
                                    span { (m.get("answer-seized-unit")) }
                                    input type="text" name="seized_unit";
                                }
                            }
                        }
                        label for="case-reference" { (m.get("answer-case-reference")) }
                        input type="text" id="case-reference" name="case_reference";
                    }
                    label for="not-inspected-reason" { (m.get("answer-not-inspected-reason")) }
                    input type="text" id="not-inspected-reason" name="reason";
                    label for="outcome-note" { (m.get("answer-note")) }
                    input type="text" id="outcome-note" name="note";
                    label for="outcome-attachments" { (m.get("answer-attachments")) }
                    input type="file" id="outcome-attachments" name="attachments" multiple
                        accept="image/*,application/pdf";
                    p class="hint" { (m.get("answer-attachments-hint")) }
                    div class="actions" {
                        button type="submit" {
                            (m.get(if answer.corrects.is_some() { "answer-correct" } else { "answer-outcome" }))
                        }
                    }
                }
            }
        }
    }
}
