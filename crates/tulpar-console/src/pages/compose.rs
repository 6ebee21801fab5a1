//! Writing an alert: a form for what an officer fills in, prefilled from a template per threat
//! category, sent to the node, which validates it and answers every violation at once; each is shown
//! at its field.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::{BASE, Viewer, page, time};
use crate::Messages;

/// The templates, by name: the catalogs hold each one's title as `template-<name>`.
pub const TEMPLATES: &[&str] = &["drugs", "cites", "strategic", "firearms"];

/// What the form offers and holds.
pub struct ComposeView<'a> {
    /// The partner countries an alert may go to.
    pub partners: Vec<String>,
    /// The code lists, by form field: the `…_UNSPECIFIED`-less value names of each enum.
    pub choices: BTreeMap<&'static str, &'a [&'static str]>,
    /// The values filled in, by form field (several for checkboxes).
    pub values: BTreeMap<String, Vec<String>>,
    /// What the node refused, by form field ("" for what belongs to no single field).
    pub refusal: BTreeMap<String, Vec<String>>,
    /// A fresh request id, so that sending the form twice raises one alert.
    pub request_id: String,
    /// The draft the form was resumed from or saved as; "" for none.
    pub draft_id: String,
    /// The person's saved drafts, the last saved first.
    pub drafts: Vec<DraftRow>,
    /// A message id to show above the form (saved, checked, files to attach again).
    pub notice: Option<&'static str>,
}

/// A saved draft in the list above the form.
pub struct DraftRow {
    /// Its id.
    pub id: String,
    /// When it was last saved, RFC 3339.
    pub saved_at: String,
    /// What tells it apart: recipients, a container or the goods.
    pub summary: String,
}

impl ComposeView<'_> {
    fn value(&self, field: &str) -> &str {
        self.values
            .get(field)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }

    fn chosen(&self, field: &str, value: &str) -> bool {
        self.values
            .get(field)
            .is_some_and(|v| v.iter().any(|c| c == value))
    }
}

/// A text input with its label (from `field-<label>`) and the refusals at it.
fn text(
    m: &Messages<'_>,
    form: &ComposeView<'_>,
    name: &str,
    label: &str,
    hint: Option<&str>,
) -> Markup {
    let refused = form.refusal.get(name);
    let error_id = format!("{name}-error");
    html! {
        div class={ "field" @if refused.is_some() { " refused" } } {
            label for=(name) { (m.get(&format!("field-{label}"))) }
            input type="text" id=(name) name=(name) value=(form.value(name))
                aria-invalid=[refused.map(|_| "true")] aria-describedby=[refused.map(|_| error_id.as_str())];
            @if let Some(hint) = hint { p class="hint" { (m.get(hint)) } }
            @if let Some(rules) = refused {
                p class="error" id=(error_id) { @for rule in rules { (rule) br; } }
            }
        }
    }
}

/// A select of a code list, names in the viewer's language.
fn select(m: &Messages<'_>, form: &ComposeView<'_>, name: &str, label: &str) -> Markup {
    let refused = form.refusal.get(name);
    let options = form.choices.get(name).copied().unwrap_or_default();
    html! {
        div class={ "field" @if refused.is_some() { " refused" } } {
            label for=(name) { (m.get(&format!("field-{label}"))) }
            select id=(name) name=(name) aria-invalid=[refused.map(|_| "true")] {
                option value="" { (m.get("compose-choose")) }
                @for option in options {
                    option value=(option) selected[form.chosen(name, option)] { (m.code(option)) }
                }
            }
            @if let Some(rules) = refused {
                p class="error" { @for rule in rules { (rule) br; } }
            }
        }
    }
}

/// The page to write an alert.
pub fn compose(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    form: &ComposeView<'_>,
) -> String {
    let title = m.get("compose-title");
    let indicators = form.choices.get("indicator").copied().unwrap_or_default();
    let content = html! {
        p { a href={ (BASE) "/" } { (m.get("alert-back")) } }
        h1 { (title) }
        p class="templates" {
            (m.get("compose-template")) " "
            @for name in TEMPLATES {
                a href={ (BASE) "/compose?template=" (name) } { (m.get(&format!("template-{name}"))) }
                " "
            }
        }
        @if !form.drafts.is_empty() {
            section class="card drafts" {
                h2 { (m.get("compose-drafts")) }
                ul {
                    @for draft in &form.drafts {
                        li {
                            a href={ (BASE) "/compose?draft=" (draft.id) } {
                                @if draft.summary.is_empty() { (m.get("compose-draft-empty")) } @else { (draft.summary) }
                            }
                            " · " (time(m, &draft.saved_at))
                            form method="post" action={ (BASE) "/drafts/" (draft.id) "/delete" } class="inline" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button type="submit" class="quiet" { (m.get("compose-draft-delete")) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(notice) = form.notice {
            div class="notice" role="status" { (m.get(notice)) }
        }
        @if !form.refusal.is_empty() {
            div class="notice bad" role="alert" {
                (m.get("compose-refused"))
                @if let Some(general) = form.refusal.get("") {
                    ul { @for rule in general { li { (rule) } } }
                }
            }
        }
        form method="post" action={ (BASE) "/compose" } class="card compose" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            input type="hidden" name="request_id" value=(form.request_id);
            input type="hidden" name="draft" value=(form.draft_id);
            fieldset {
                legend { (m.get("field-recipients")) }
                @for country in &form.partners {
                    label class="choice" {
                        input type="checkbox" name="recipient" value=(country)
                            checked[form.chosen("recipient", country)];
                        " " (super::alert::country(m, country))
                    }
                }
                @if let Some(rules) = form.refusal.get("recipient") {
                    p class="error" { @for rule in rules { (rule) br; } }
                }
            }
            div class="grid" {
                (select(m, form, "priority", "priority"))
                (select(m, form, "category", "category"))
                (select(m, form, "transport_mode", "transportMode"))
                (select(m, form, "requested_action", "requestedAction"))
            }
            h2 { (m.get("field-consignment")) }
            (text(m, form, "containers", "containers", Some("compose-containers-hint")))
            div class="grid" {
                (select(m, form, "document_kind", "transportDocument"))
                (text(m, form, "document_number", "number", None))
                (text(m, form, "vessel_name", "vessel", None))
                (text(m, form, "vessel_imo", "imoNumber", None))
                (text(m, form, "train_number", "trainNumber", None))
                (text(m, form, "flight_number", "flightNumber", None))
                (text(m, form, "loading", "loading", Some("compose-locode-hint")))
                (text(m, form, "discharge", "discharge", Some("compose-locode-hint")))
            }
            h2 { (m.get("field-goods")) }
            div class="grid" {
                (text(m, form, "goods_description", "description", None))
                (text(m, form, "goods_hs_code", "hsCode", None))
                (text(m, form, "goods_packages", "packages", None))
                (text(m, form, "goods_weight", "grossWeightKg", None))
                (text(m, form, "shipper_name", "shipper", None))
                (text(m, form, "shipper_country", "country", None))
                (text(m, form, "consignee_name", "consignee", None))
                (text(m, form, "consignee_country", "country", None))
            }
            h2 { (m.get("field-risk")) }
            fieldset {
                legend { (m.get("field-indicators")) }
                @for indicator in indicators {
                    label class="choice" {
                        input type="checkbox" name="indicator" value=(indicator)
                            checked[form.chosen("indicator", indicator)];
                        " " (m.code(indicator))
                    }
                }
                @if let Some(rules) = form.refusal.get("indicator") {
                    p class="error" { @for rule in rules { (rule) br; } }
                }
            }
            (text(m, form, "risk_notes", "notes", None))
            h2 { (m.get("field-handling")) }
            div class="grid" {
                (select(m, form, "handling_code", "code"))
                (select(m, form, "source_reliability", "sourceReliability"))
                (select(m, form, "information_accuracy", "informationAccuracy"))
            }
            div class={ "field" @if form.refusal.contains_key("narrative") { " refused" } } {
                label for="narrative" { (m.get("field-narrative")) }
                textarea id="narrative" name="narrative" rows="5" { (form.value("narrative")) }
                @if let Some(rules) = form.refusal.get("narrative") {
                    p class="error" { @for rule in rules { (rule) br; } }
                }
            }
            div class={ "field" @if form.refusal.contains_key("attachments") { " refused" } } {
                label for="attachments" { (m.get("compose-attachments")) }
                input type="file" id="attachments" name="attachments" multiple;
                p class="hint" { (m.get("answer-attachments-hint")) " " (m.get("compose-attachments-hint")) }
                @if let Some(rules) = form.refusal.get("attachments") {
                    p class="error" id="attachments-error" { @for rule in rules { (rule) br; } }
                }
            }
            div class="actions" {
                button type="submit" { (m.get("compose-submit")) }
                button type="submit" name="action" value="check" class="secondary" { (m.get("compose-check")) }
                button type="submit" name="action" value="save" class="secondary" { (m.get("compose-save")) }
            }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}
