//! Writing an alert: the compose page, the form's fields as an alert draft, the node's refusals placed
//! back at those fields, the code lists the form offers, and the templates per threat category.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use tulpar_console::pages::{self, BASE};
use tulpar_core::codes::UnitId;
use tulpar_core::proto;
use tulpar_core::validation::{Violation, Violations};

use super::drafts::{Draft, SaveRefused};
use super::{
    Console, Form, SignedIn, failure, form_fields, html, localized, not_a_number, rfc3339_seconds,
    see_other,
};
use crate::error::ApiError;

/// The code lists of the form's selects and checkboxes: every value but `…_UNSPECIFIED`, by field.
pub(super) fn choices() -> BTreeMap<&'static str, Vec<&'static str>> {
    fn names<E>(name: impl Fn(&E) -> &'static str) -> Vec<&'static str>
    where
        E: TryFrom<i32>,
    {
        (1..)
            .map_while(|n| E::try_from(n).ok())
            .map(|value| name(&value))
            .collect()
    }
    BTreeMap::from([
        ("priority", names(proto::Priority::as_str_name)),
        ("category", names(proto::ThreatCategory::as_str_name)),
        ("transport_mode", names(proto::TransportMode::as_str_name)),
        (
            "requested_action",
            names(proto::RequestedAction::as_str_name),
        ),
        (
            "document_kind",
            names(proto::TransportDocumentKind::as_str_name),
        ),
        ("indicator", names(proto::RiskIndicator::as_str_name)),
        ("handling_code", names(proto::HandlingCode::as_str_name)),
        (
            "source_reliability",
            names(proto::SourceReliability::as_str_name),
        ),
        (
            "information_accuracy",
            names(proto::InformationAccuracy::as_str_name),
        ),
    ])
}

/// What a template fills in, by form field; `None` for a name that is not a template.
pub(super) fn template(name: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let (category, action, handling, indicators): (&str, &str, &str, &[&str]) = match name {
        "drugs" => (
            "THREAT_CATEGORY_DRUGS_AND_PRECURSORS",
            "REQUESTED_ACTION_INSPECT_ON_ARRIVAL",
            "HANDLING_CODE_H1",
            &[
                "RISK_INDICATOR_ROUTE_INCONSISTENT_WITH_GOODS",
                "RISK_INDICATOR_CONCEALMENT_METHOD",
            ],
        ),
        "cites" => (
            "THREAT_CATEGORY_CITES_WILDLIFE_AND_TIMBER",
            "REQUESTED_ACTION_HOLD",
            "HANDLING_CODE_H1",
            &[
                "RISK_INDICATOR_DOCUMENT_ANOMALY",
                "RISK_INDICATOR_HIGH_RISK_ORIGIN",
            ],
        ),
        "strategic" => (
            "THREAT_CATEGORY_STRATEGIC_GOODS_AND_DUAL_USE",
            "REQUESTED_ACTION_HOLD",
            "HANDLING_CODE_H2",
            &[
                "RISK_INDICATOR_HS_CODE_INCONSISTENT",
                "RISK_INDICATOR_VAGUE_GOODS_DESCRIPTION",
            ],
        ),
        "firearms" => (
            "THREAT_CATEGORY_FIREARMS_AND_AMMUNITION",
            "REQUESTED_ACTION_INSPECT_ON_ARRIVAL",
            "HANDLING_CODE_H1",
            &[
                "RISK_INDICATOR_CONCEALMENT_METHOD",
                "RISK_INDICATOR_KNOWN_SUSPECT_PARTY",
            ],
        ),
        _ => return None,
    };
    let one = |value: &str| vec![value.to_owned()];
    Some(BTreeMap::from([
        ("category".to_owned(), one(category)),
        ("requested_action".to_owned(), one(action)),
        ("handling_code".to_owned(), one(handling)),
        ("priority".to_owned(), one("PRIORITY_HIGH")),
        ("source_reliability".to_owned(), one("SOURCE_RELIABILITY_B")),
        (
            "information_accuracy".to_owned(),
            one("INFORMATION_ACCURACY_2"),
        ),
        (
            "indicator".to_owned(),
            indicators.iter().map(|i| (*i).to_owned()).collect(),
        ),
    ]))
}

/// The form's values by field, to fill it in again after a refusal.
pub(super) fn values(form: &Form) -> BTreeMap<String, Vec<String>> {
    values_of(form.pairs())
}

/// The alert draft the form describes, raised by `unit` in the account's `language`. Numbers are read
/// as officers write them (`18 400,5`); what does not read as a number is refused by field.
pub(super) fn draft(
    form: &Form,
    unit: &UnitId,
    language: &str,
) -> Result<proto::AlertContent, Refusal> {
    let mut refused = Refusal::new();
    let mut number = |field: &str| -> f64 {
        let text = tulpar_core::normalise::decimal(form.text(field));
        if text.is_empty() {
            return 0.0;
        }
        text.parse().unwrap_or_else(|_| {
            refused
                .entry(field.to_owned())
                .or_default()
                .push(not_a_number(field, form.text(field)));
            0.0
        })
    };
    let weight = number("goods_weight");
    let packages = number("goods_packages");
    let party = |name: &str, country: &str| {
        (!form.text(name).is_empty() || !form.text(country).is_empty()).then(|| proto::Party {
            name: form.text(name).to_owned(),
            country: form.text(country).to_owned(),
            ..Default::default()
        })
    };
    let place = |field: &str| {
        (!form.text(field).is_empty()).then(|| proto::RoutePlace {
            locode: form.text(field).to_owned(),
            expected_arrival: None,
        })
    };
    let vessel = (!form.text("vessel_name").is_empty() || !form.text("vessel_imo").is_empty())
        .then(|| proto::Vessel {
            name: form.text("vessel_name").to_owned(),
            imo_number: form.text("vessel_imo").to_owned(),
            voyage: String::new(),
        });
    let document = (!form.text("document_number").is_empty()).then(|| proto::TransportDocument {
        kind: form.code("document_kind", proto::TransportDocumentKind::from_str_name),
        number: form.text("document_number").to_owned(),
    });
    let goods = (!form.text("goods_description").is_empty()).then(|| proto::GoodsItem {
        description: form.text("goods_description").to_owned(),
        hs_code: form.text("goods_hs_code").to_owned(),
        packages: packages as u32,
        gross_weight_kg: weight,
        ..Default::default()
    });
    let content = proto::AlertContent {
        origin: Some(proto::Origin {
            country: unit.country().to_string(),
            unit: unit.to_string(),
        }),
        recipients: form
            .all("recipient")
            .into_iter()
            .map(|country| proto::Recipient {
                country: country.to_owned(),
                units: Vec::new(),
            })
            .collect(),
        priority: form.code("priority", proto::Priority::from_str_name),
        category: form.code("category", proto::ThreatCategory::from_str_name),
        transport_mode: form.code("transport_mode", proto::TransportMode::from_str_name),
        consignment: Some(proto::Consignment {
            containers: form
                .text("containers")
                .split([',', ';', '\n'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            transport_document: document,
            conveyance: Some(proto::Conveyance {
                vessel,
                flight_number: form.text("flight_number").to_owned(),
                train_number: form.text("train_number").to_owned(),
                vehicle_plates: Vec::new(),
            }),
            route: Some(proto::Route {
                loading: place("loading"),
                discharge: place("discharge"),
                ..Default::default()
            }),
            parties: Some(proto::Parties {
                shipper: party("shipper_name", "shipper_country"),
                consignee: party("consignee_name", "consignee_country"),
                ..Default::default()
            }),
            goods: goods.into_iter().collect(),
            permits: None,
        }),
        risk: Some(proto::RiskAssessment {
            indicators: form
                .all("indicator")
                .into_iter()
                .filter_map(proto::RiskIndicator::from_str_name)
                .map(|i| i as i32)
                .collect(),
            notes: form.text("risk_notes").to_owned(),
        }),
        requested_action: form.code("requested_action", proto::RequestedAction::from_str_name),
        handling: Some(proto::Handling {
            code: form.code("handling_code", proto::HandlingCode::from_str_name),
            restrictions: String::new(),
            source_reliability: form.code(
                "source_reliability",
                proto::SourceReliability::from_str_name,
            ),
            information_accuracy: form.code(
                "information_accuracy",
                proto::InformationAccuracy::from_str_name,
            ),
        }),
        narrative: form.text("narrative").to_owned(),
        narrative_language: language.to_owned(),
        attachments: form.files("attachments"),
    };
    if refused.is_empty() {
        Ok(content)
    } else {
        Err(refused)
    }
}

/// Where each part of the draft is on the form; the longest matching path wins.
const FIELDS: &[(&str, &str)] = &[
    ("content.recipients", "recipient"),
    ("content.priority", "priority"),
    ("content.category", "category"),
    ("content.transport_mode", "transport_mode"),
    ("content.requested_action", "requested_action"),
    ("content.consignment.containers", "containers"),
    (
        "content.consignment.transport_document.kind",
        "document_kind",
    ),
    ("content.consignment.transport_document", "document_number"),
    (
        "content.consignment.conveyance.vessel.imo_number",
        "vessel_imo",
    ),
    ("content.consignment.conveyance.vessel", "vessel_name"),
    (
        "content.consignment.conveyance.train_number",
        "train_number",
    ),
    (
        "content.consignment.conveyance.flight_number",
        "flight_number",
    ),
    ("content.consignment.route.loading", "loading"),
    ("content.consignment.route.discharge", "discharge"),
    (
        "content.consignment.goods[0].description",
        "goods_description",
    ),
    ("content.consignment.goods[0].hs_code", "goods_hs_code"),
    ("content.consignment.goods[0].packages", "goods_packages"),
    (
        "content.consignment.goods[0].gross_weight_kg",
        "goods_weight",
    ),
    (
        "content.consignment.parties.shipper.country",
        "shipper_country",
    ),
    ("content.consignment.parties.shipper", "shipper_name"),
    (
        "content.consignment.parties.consignee.country",
        "consignee_country",
    ),
    ("content.consignment.parties.consignee", "consignee_name"),
    ("content.consignment", "containers"),
    ("content.risk.indicators", "indicator"),
    ("content.risk", "risk_notes"),
    ("content.handling.code", "handling_code"),
    ("content.handling.source_reliability", "source_reliability"),
    (
        "content.handling.information_accuracy",
        "information_accuracy",
    ),
    ("content.narrative", "narrative"),
    ("content.attachments", "attachments"),
];

/// Violations by the form field they concern ("" for what concerns none).
pub(super) type Refusal = BTreeMap<String, Vec<Violation>>;

/// The node's violations, each at the form field it concerns ("" when none matches).
pub(super) fn refusal(violations: Violations) -> Refusal {
    let mut placed = Refusal::new();
    for violation in violations.into_vec() {
        let field = FIELDS
            .iter()
            .filter(|(path, _)| {
                violation.field == *path
                    || violation.field.starts_with(&format!("{path}."))
                    || violation.field.starts_with(&format!("{path}["))
            })
            .max_by_key(|(path, _)| path.len())
            .map_or("", |(_, field)| field);
        placed.entry(field.to_owned()).or_default().push(violation);
    }
    placed
}

/// What the compose page says above the form besides refusals: a message id.
type Notice = Option<&'static str>;

/// Form fields that are the form's machinery, not the alert's.
const MACHINERY: &[&str] = &["csrf", "request_id", "action", "draft"];

impl Console {
    /// The form to write an alert: empty, filled in from a template, or a saved draft resumed.
    pub(super) async fn compose_page(&self, headers: &HeaderMap, query: &str) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return see_other(&format!("{BASE}/sign-in?notice=session-ended"));
        };
        let query = form_fields(query);
        let draft_id = query.text("draft");
        if !draft_id.is_empty() {
            let person = &signed_in.principal.name;
            return match self.drafts.get(person, draft_id) {
                Ok(Some(draft)) => {
                    let values = values_of(&draft.fields);
                    self.compose_form(&signed_in, values, Refusal::new(), &draft.id, None)
                }
                Ok(None) => self.not_found(headers).await,
                Err(error) => failure(ApiError::internal(error)),
            };
        }
        let values = template(query.text("template")).unwrap_or_default();
        self.compose_form(&signed_in, values, Refusal::new(), "", None)
    }

    pub(super) fn compose_form(
        &self,
        signed_in: &SignedIn,
        values: BTreeMap<String, Vec<String>>,
        refusal: Refusal,
        draft_id: &str,
        notice: Notice,
    ) -> Response {
        if signed_in.principal.role != tulpar_trust::tls::Role::Officer {
            return self.forbidden(signed_in);
        }
        let m = self.catalogs.messages(&signed_in.session.language);
        let status = if refusal.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let drafts = match self.drafts.list(&signed_in.principal.name) {
            Ok(drafts) => drafts,
            Err(error) => return failure(ApiError::internal(error)),
        };
        let view = pages::ComposeView {
            partners: self.partner_codes(),
            choices: self
                .choices
                .iter()
                .map(|(field, names)| (*field, names.as_slice()))
                .collect(),
            values,
            refusal: refusal
                .into_iter()
                .map(|(field, violations)| {
                    let rules = violations
                        .iter()
                        .map(|v| match field.as_str() {
                            "" => format!("{}: {}", v.field, localized(&m, v)),
                            _ => localized(&m, v),
                        })
                        .collect();
                    (field, rules)
                })
                .collect(),
            request_id: uuid::Uuid::now_v7().to_string(),
            draft_id: draft_id.to_owned(),
            drafts: drafts
                .iter()
                .map(|draft| pages::DraftRow {
                    id: draft.id.clone(),
                    saved_at: rfc3339_seconds(draft.saved_at),
                    summary: summary(&draft.fields),
                })
                .collect(),
            notice,
        };
        let body = pages::compose(
            &m,
            &self.viewer(signed_in),
            &self.catalogs.languages(),
            &view,
        );
        html(status, body)
    }

    /// The compose form sent: saved as a draft, checked, or sent, by the button pressed. Sent, the
    /// alert is raised as the officer's unit; refused, the form comes again with every refusal at
    /// its field.
    pub(super) async fn compose(&self, request: Request<Body>) -> Response {
        let (signed_in, form) = match self.checked_form(request).await {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        let Some(unit) = signed_in.principal.units.first().cloned() else {
            return self.forbidden(&signed_in);
        };
        let draft_id = form.text("draft").to_owned();
        // Browsers never fill a file input in again: a form shown again says so.
        let files_dropped: Notice =
            (!form.files("attachments").is_empty()).then_some("compose-attach-again");
        let again = |refusal: Refusal, notice: Notice| {
            self.compose_form(&signed_in, values(&form), refusal, &draft_id, notice)
        };
        match form.text("action") {
            "save" => return self.save_draft(&signed_in, &form, &draft_id),
            "check" => {
                return match draft(&form, &unit, &signed_in.session.language) {
                    Err(refusal) => again(refusal, files_dropped),
                    Ok(content) => match tulpar_core::alert::validate_content(content) {
                        Ok(_) => again(Refusal::new(), files_dropped.or(Some("compose-checked"))),
                        Err(violations) => {
                            again(refusal(violations.prefixed("content")), files_dropped)
                        }
                    },
                };
            }
            _ => {}
        }
        let draft = match draft(&form, &unit, &signed_in.session.language) {
            Ok(draft) => draft,
            Err(refusal) => return again(refusal, files_dropped),
        };
        let request = proto::SubmitAlertRequest {
            request_id: form.text("request_id").to_owned(),
            content: Some(draft),
        };
        match self
            .node
            .submission
            .submit_alert(&signed_in.principal, request)
            .await
            .map_err(ApiError::from)
        {
            Ok(raised) => {
                if !draft_id.is_empty() {
                    // The alert is raised whatever happens to the draft; a draft left over is harmless.
                    if let Err(error) = self.drafts.delete(&signed_in.principal.name, &draft_id) {
                        tracing::warn!(%error, "a sent draft was not deleted");
                    }
                }
                see_other(&format!("{BASE}/alerts/{}", raised.alert_id))
            }
            Err(ApiError::Invalid(violations)) => again(refusal(violations), files_dropped),
            Err(error) => {
                let refusal =
                    Refusal::from([(String::new(), vec![Violation::new("", error.to_string())])]);
                again(refusal, files_dropped)
            }
        }
    }

    /// The form's text fields kept as a draft of the person's, to resume later.
    fn save_draft(&self, signed_in: &SignedIn, form: &Form, draft_id: &str) -> Response {
        let id = match uuid::Uuid::parse_str(draft_id) {
            Ok(id) => id.to_string(),
            Err(_) => uuid::Uuid::now_v7().to_string(),
        };
        let fields = form
            .pairs()
            .iter()
            .filter(|(name, _)| !MACHINERY.contains(&name.as_str()))
            .cloned()
            .collect();
        let draft = Draft {
            id: id.clone(),
            saved_at: tulpar_core::time::unix_seconds(self.node.context.clock.now()),
            fields,
        };
        let values = values(form);
        let files_dropped = !form.files("attachments").is_empty();
        match self.drafts.save(&signed_in.principal.name, draft) {
            Ok(()) => {
                let notice = if files_dropped {
                    "compose-saved-without-files"
                } else {
                    "compose-saved"
                };
                self.compose_form(signed_in, values, Refusal::new(), &id, Some(notice))
            }
            Err(SaveRefused::Full) => self.compose_form(
                signed_in,
                values,
                Refusal::new(),
                draft_id,
                Some("compose-drafts-full"),
            ),
            Err(SaveRefused::Storage(error)) => failure(ApiError::internal(error)),
        }
    }

    /// Deletes one of the person's drafts, then shows the compose page.
    pub(super) async fn delete_draft(&self, request: Request<Body>, id: &str) -> Response {
        let (signed_in, _) = match self.checked_form(request).await {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        match self.drafts.delete(&signed_in.principal.name, id) {
            Ok(_) => see_other(&format!("{BASE}/compose")),
            Err(error) => failure(ApiError::internal(error)),
        }
    }
}

/// A draft's fields by name, to fill the form in.
fn values_of(fields: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in fields {
        if !MACHINERY.contains(&name.as_str()) {
            values.entry(name.clone()).or_default().push(value.clone());
        }
    }
    values
}

/// A line that tells drafts apart: recipients, then the first containers or goods written.
fn summary(fields: &[(String, String)]) -> String {
    let all = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(n, v)| n == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    };
    let mut parts = Vec::new();
    let recipients = all("recipient");
    if !recipients.is_empty() {
        parts.push(format!("→ {}", recipients.join(", ")));
    }
    for name in [
        "containers",
        "goods_description",
        "vessel_name",
        "document_number",
    ] {
        if let Some(value) = all(name).first() {
            parts.push(value.chars().take(60).collect());
            break;
        }
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form {
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            files: Vec::new(),
        }
    }

    #[test]
    fn a_filled_in_form_is_a_valid_draft_and_a_broken_one_is_refused_at_its_fields() {
        let unit = UnitId::parse("KZ-AKTAU-PCU").unwrap();
        let mut fields = vec![
            ("recipient", "UZ"),
            ("priority", "PRIORITY_URGENT"),
            ("category", "THREAT_CATEGORY_DRUGS_AND_PRECURSORS"),
            ("transport_mode", "TRANSPORT_MODE_RAIL"),
            ("requested_action", "REQUESTED_ACTION_INSPECT_ON_ARRIVAL"),
            ("containers", "csqu 305438 3, MSKU-123456-5"),
            ("goods_description", "Spare parts"),
            ("goods_hs_code", "8433.90"),
            ("goods_weight", "18 400,5"),
            ("indicator", "RISK_INDICATOR_FIRST_TIME_CONSIGNEE"),
            ("handling_code", "HANDLING_CODE_H1"),
            ("source_reliability", "SOURCE_RELIABILITY_B"),
            ("information_accuracy", "INFORMATION_ACCURACY_2"),
            ("narrative", "Consignee registered three weeks ago."),
        ];
        let filled = draft(&form(&fields), &unit, "ru").expect("a draft");
        assert_eq!(
            filled.consignment.as_ref().unwrap().goods[0].gross_weight_kg,
            18400.5
        );
        tulpar_core::alert::validate_content(filled).expect("valid once normalised");

        fields.retain(|(k, _)| *k != "recipient" && *k != "priority");
        for field in &mut fields {
            if field.0 == "containers" {
                field.1 = "MSCU1234567";
            }
        }
        let broken = draft(&form(&fields), &unit, "ru").expect("a draft");
        let Err(violations) = tulpar_core::alert::validate_content(broken) else {
            panic!("a broken draft is refused");
        };
        let violations = violations.prefixed("content");
        let placed = refusal(violations);
        assert!(placed.contains_key("recipient"), "{placed:?}");
        assert!(placed.contains_key("priority"), "{placed:?}");
        assert!(
            placed["containers"][0].rule.contains("check digit"),
            "{placed:?}"
        );

        let unreadable = draft(&form(&[("goods_weight", "много")]), &unit, "ru").unwrap_err();
        assert!(unreadable["goods_weight"][0].rule.contains("not a number"));
    }

    #[test]
    fn every_template_fills_in_known_codes() {
        let choices = choices();
        for name in tulpar_console::pages::TEMPLATES {
            let values = template(name).expect("a template");
            for (field, chosen) in values {
                for value in chosen {
                    assert!(
                        choices[field.as_str()].contains(&value.as_str()),
                        "{name}: {field} {value}"
                    );
                }
            }
        }
        assert!(template("unknown").is_none());
    }
}
