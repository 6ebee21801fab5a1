//! The alert model: validation of drafts and of delivered alerts, with every rule of the domain.
//!
//! Validation turns a protocol message into a [`ValidAlertContent`] or [`ValidAlert`], types that can only
//! be built here, so code deeper in the node never re-checks. The validated types keep the protocol
//! message (it is what gets signed and stored) and expose the fields the node's logic needs as domain
//! types.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use prost::Message;

use crate::codes::{
    AirWaybill, ContainerNumber, ControlListEntry, CountryCode, Currency, DocumentNumber,
    FlightNumber, HsCode, ImoNumber, NationalTariffCode, PermitNumber, TrainNumber, UnLocode,
    UnitId, VehiclePlate, parse_amount,
};
use crate::ids::AlertId;
use crate::proto;
use crate::time::from_timestamp;
use crate::validation::{Checker, Violations};

pub use crate::limits::{
    MAX_ALERT_BYTES, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, MAX_ATTACHMENTS_TOTAL_BYTES,
    MAX_RECIPIENT_UNITS, MAX_RECIPIENTS,
};

/// How urgently recipients must acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Default deadline 30 minutes.
    Urgent,
    /// Default deadline 4 hours.
    High,
    /// Default deadline 24 hours.
    Routine,
}

impl Priority {
    /// The acknowledgement deadline when the node's configuration does not set one.
    pub const fn default_deadline(self) -> Duration {
        match self {
            Self::Urgent => Duration::from_secs(30 * 60),
            Self::High => Duration::from_secs(4 * 3600),
            Self::Routine => Duration::from_secs(24 * 3600),
        }
    }

    /// The name people see: "URGENT", "HIGH", "ROUTINE".
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "URGENT",
            Self::High => "HIGH",
            Self::Routine => "ROUTINE",
        }
    }

    /// The domain priority for a protocol value; `None` for UNSPECIFIED.
    pub fn from_proto(priority: proto::Priority) -> Option<Self> {
        match priority {
            proto::Priority::Urgent => Some(Self::Urgent),
            proto::Priority::High => Some(Self::High),
            proto::Priority::Routine => Some(Self::Routine),
            proto::Priority::Unspecified => None,
        }
    }
}

/// A recipient country and the units it is narrowed to (empty: the whole country).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientSpec {
    /// The recipient country.
    pub country: CountryCode,
    /// Addressed units; empty means any unit of the country.
    pub units: Vec<UnitId>,
}

impl RecipientSpec {
    /// Whether `unit` may answer for this recipient.
    pub fn addresses(&self, unit: &UnitId) -> bool {
        unit.country() == self.country && (self.units.is_empty() || self.units.contains(unit))
    }
}

/// An alert draft that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidAlertContent {
    content: proto::AlertContent,
    origin: UnitId,
    recipients: Vec<RecipientSpec>,
    priority: Priority,
    category: proto::ThreatCategory,
}

impl ValidAlertContent {
    /// The validated message.
    pub fn content(&self) -> &proto::AlertContent {
        &self.content
    }

    /// The origin unit (its country is the origin country).
    pub fn origin(&self) -> &UnitId {
        &self.origin
    }

    /// The recipients, in the order given.
    pub fn recipients(&self) -> &[RecipientSpec] {
        &self.recipients
    }

    /// The recipient entry for `country`, if addressed.
    pub fn recipient(&self, country: CountryCode) -> Option<&RecipientSpec> {
        self.recipients.iter().find(|r| r.country == country)
    }

    /// The priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// The threat category.
    pub fn category(&self) -> proto::ThreatCategory {
        self.category
    }

    /// The message, by value.
    pub fn into_content(self) -> proto::AlertContent {
        self.content
    }
}

/// A complete alert (id, time, content) that passed every rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidAlert {
    alert: proto::Alert,
    id: AlertId,
    created_at: SystemTime,
    content: ValidAlertContent,
}

impl ValidAlert {
    /// Assembles a new alert from validated content: the origin node's side.
    pub fn new(id: AlertId, created_at: SystemTime, content: ValidAlertContent) -> Self {
        let alert = proto::Alert {
            alert_id: id.to_string(),
            created_at: Some(crate::time::to_timestamp(created_at)),
            content: Some(content.content.clone()),
        };
        Self {
            alert,
            id,
            created_at,
            content,
        }
    }

    /// The alert id.
    pub fn id(&self) -> AlertId {
        self.id
    }

    /// When the origin node accepted it.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// The validated content.
    pub fn content(&self) -> &ValidAlertContent {
        &self.content
    }

    /// The protocol message.
    pub fn message(&self) -> &proto::Alert {
        &self.alert
    }
}

/// Validates a draft, once its codes are normalised ([`crate::normalise`]): every rule of the
/// domain, every violation reported.
pub fn validate_content(mut content: proto::AlertContent) -> Result<ValidAlertContent, Violations> {
    crate::normalise::alert_content(&mut content);
    let mut checker = Checker::default();
    let parts = check_content(&mut checker, &content);
    checker.finish()?;
    let (origin, recipients, priority, category) =
        parts.ok_or_else(|| Violations::single("", "incomplete alert"))?;
    Ok(ValidAlertContent {
        content,
        origin,
        recipients,
        priority,
        category,
    })
}

/// Validates a complete alert, as a recipient does with a delivered one.
pub fn validate_alert(alert: proto::Alert) -> Result<ValidAlert, Violations> {
    let mut checker = Checker::default();
    let id = checker.code("alert_id", &alert.alert_id, AlertId::parse);
    let created_at = match &alert.created_at {
        None => {
            checker.required("created_at");
            None
        }
        Some(ts) => {
            let time = from_timestamp(ts);
            if time.is_none() {
                checker.fail("created_at", "is not a valid timestamp");
            }
            time
        }
    };
    // The origin node makes both from one reading of its clock (`AlertId::new_at(now)`), so an id
    // dated otherwise was not made with its alert.
    if let (Some(id), Some(created_at)) = (&id, created_at) {
        let millis = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        };
        if millis(id.time()) != millis(created_at) {
            checker.fail(
                "alert_id",
                format!(
                    "its UUIDv7 time ({} ms since 1970) is not the alert's created_at ({} ms); \
                     the origin node makes both from the same instant",
                    millis(id.time()),
                    millis(created_at)
                ),
            );
        }
    }
    let parts = match &alert.content {
        Some(content) => checker.within("content", |c| check_content(c, content)),
        None => {
            checker.required("content");
            None
        }
    };
    let size = alert.encoded_len();
    if size > MAX_ALERT_BYTES {
        checker.fail(
            "",
            format!("the alert is {size} bytes; at most {MAX_ALERT_BYTES} are allowed"),
        );
    }
    checker.finish()?;
    match (id, created_at, parts, alert.content.clone()) {
        (
            Some(id),
            Some(created_at),
            Some((origin, recipients, priority, category)),
            Some(content),
        ) => {
            let content = ValidAlertContent {
                content,
                origin,
                recipients,
                priority,
                category,
            };
            Ok(ValidAlert {
                alert,
                id,
                created_at,
                content,
            })
        }
        _ => Err(Violations::single("", "incomplete alert")),
    }
}

type ContentParts = (UnitId, Vec<RecipientSpec>, Priority, proto::ThreatCategory);

fn check_content(c: &mut Checker, content: &proto::AlertContent) -> Option<ContentParts> {
    let origin = check_origin(c, content.origin.as_ref());
    let recipients = check_recipients(c, &content.recipients, origin.as_ref().map(UnitId::country));
    let priority = c
        .enumeration::<proto::Priority>("priority", content.priority, "Priority")
        .and_then(Priority::from_proto);
    let category =
        c.enumeration::<proto::ThreatCategory>("category", content.category, "ThreatCategory");
    c.enumeration::<proto::TransportMode>(
        "transport_mode",
        content.transport_mode,
        "TransportMode",
    );
    match &content.consignment {
        Some(consignment) => c.within("consignment", |c| check_consignment(c, consignment)),
        None => c.required("consignment"),
    }
    match &content.risk {
        Some(risk) => c.within("risk", |c| check_risk(c, risk)),
        None => c.fail("risk", "is required (at least one risk indicator)"),
    }
    c.enumeration::<proto::RequestedAction>(
        "requested_action",
        content.requested_action,
        "RequestedAction",
    );
    match &content.handling {
        Some(handling) => c.within("handling", |c| check_handling(c, handling)),
        None => c.required("handling"),
    }
    c.text("narrative", &content.narrative, 20_000, true);
    if !content.narrative_language.is_empty() && !is_language_tag(&content.narrative_language) {
        c.fail(
            "narrative_language",
            format!(
                "{:?} is not a BCP 47 language tag such as \"ru\" or \"uz-Latn\"",
                content.narrative_language
            ),
        );
    }
    check_attachments(c, &content.attachments);
    Some((origin?, recipients?, priority?, category?))
}

fn check_origin(c: &mut Checker, origin: Option<&proto::Origin>) -> Option<UnitId> {
    let Some(origin) = origin else {
        c.required("origin");
        return None;
    };
    c.within("origin", |c| {
        let country = c.code("country", &origin.country, CountryCode::parse);
        let unit = c.code("unit", &origin.unit, UnitId::parse)?;
        let country = country?;
        if unit.country() != country {
            c.fail(
                "unit",
                format!("{:?} is not a unit of {country}", origin.unit),
            );
            return None;
        }
        Some(unit)
    })
}

fn check_recipients(
    c: &mut Checker,
    recipients: &[proto::Recipient],
    origin_country: Option<CountryCode>,
) -> Option<Vec<RecipientSpec>> {
    if recipients.is_empty() {
        c.fail("recipients", "at least one recipient country is required");
        return None;
    }
    c.at_most("recipients", recipients, MAX_RECIPIENTS);
    let mut seen = HashSet::new();
    let mut specs = Vec::new();
    let mut complete = true;
    c.each("recipients", recipients, |c, recipient| {
        let Some(country) = c.code("country", &recipient.country, CountryCode::parse) else {
            complete = false;
            return;
        };
        if Some(country) == origin_country {
            c.fail(
                "country",
                format!("{country} is the origin country; domestic warnings use national channels"),
            );
            complete = false;
        }
        if !seen.insert(country) {
            c.fail("country", format!("{country} appears more than once"));
            complete = false;
        }
        let mut units = Vec::new();
        if recipient.units.len() > MAX_RECIPIENT_UNITS {
            // Checked no further: each of thousands of units would be a violation of its own.
            c.at_most("units", &recipient.units, MAX_RECIPIENT_UNITS);
            complete = false;
            return;
        }
        c.each("units", &recipient.units, |c, unit| {
            match c.code("", unit, UnitId::parse) {
                Some(unit) if unit.country() != country => {
                    c.fail(
                        "",
                        format!("{:?} is not a unit of {country}", unit.as_str()),
                    );
                    complete = false;
                }
                Some(unit) if units.contains(&unit) => {
                    c.fail("", format!("{:?} appears more than once", unit.as_str()));
                    complete = false;
                }
                Some(unit) => units.push(unit),
                None => complete = false,
            }
        });
        specs.push(RecipientSpec { country, units });
    });
    complete.then_some(specs)
}

fn check_consignment(c: &mut Checker, consignment: &proto::Consignment) {
    let has_document = consignment
        .transport_document
        .as_ref()
        .is_some_and(|d| !d.number.is_empty());
    let has_conveyance = consignment.conveyance.as_ref().is_some_and(|v| {
        v.vessel.is_some()
            || !v.flight_number.is_empty()
            || !v.train_number.is_empty()
            || !v.vehicle_plates.is_empty()
    });
    if consignment.containers.is_empty() && !has_document && !has_conveyance {
        c.fail(
            "",
            "identify the consignment: at least one container, transport document or conveyance",
        );
    }
    c.at_most("containers", &consignment.containers, 100);
    let mut seen = HashSet::new();
    c.each("containers", &consignment.containers, |c, number| {
        if c.code("", number, ContainerNumber::parse).is_some() && !seen.insert(number.as_str()) {
            c.fail("", format!("{number:?} appears more than once"));
        }
    });
    if let Some(document) = &consignment.transport_document {
        c.within("transport_document", |c| check_document(c, document));
    }
    if let Some(conveyance) = &consignment.conveyance {
        c.within("conveyance", |c| check_conveyance(c, conveyance));
    }
    if let Some(route) = &consignment.route {
        c.within("route", |c| check_route(c, route));
    }
    if let Some(parties) = &consignment.parties {
        c.within("parties", |c| {
            let named = [
                ("shipper", &parties.shipper),
                ("consignee", &parties.consignee),
                ("notify_party", &parties.notify_party),
                ("declarant", &parties.declarant),
            ];
            for (field, party) in named {
                if let Some(party) = party {
                    c.within(field, |c| check_party(c, party));
                }
            }
        });
    }
    c.at_most("goods", &consignment.goods, 100);
    c.each("goods", &consignment.goods, check_goods);
    if let Some(permits) = &consignment.permits {
        c.within("permits", |c| check_permits(c, permits));
    }
}

fn check_document(c: &mut Checker, document: &proto::TransportDocument) {
    if document.number.is_empty() {
        c.fail("number", "is required when a transport document is given");
        return;
    }
    let kind = c.enumeration::<proto::TransportDocumentKind>(
        "kind",
        document.kind,
        "TransportDocumentKind",
    );
    if kind == Some(proto::TransportDocumentKind::AirWaybill) {
        c.code("number", &document.number, AirWaybill::parse);
    } else {
        c.code("number", &document.number, DocumentNumber::parse);
    }
}

fn check_conveyance(c: &mut Checker, conveyance: &proto::Conveyance) {
    if let Some(vessel) = &conveyance.vessel {
        c.within("vessel", |c| {
            if vessel.name.is_empty() && vessel.imo_number.is_empty() {
                c.fail("", "give at least the vessel's name or IMO number");
            }
            c.text("name", &vessel.name, 100, false);
            if !vessel.imo_number.is_empty() {
                c.code("imo_number", &vessel.imo_number, ImoNumber::parse);
            }
            c.text("voyage", &vessel.voyage, 20, false);
        });
    }
    if !conveyance.flight_number.is_empty() {
        c.code(
            "flight_number",
            &conveyance.flight_number,
            FlightNumber::parse,
        );
    }
    if !conveyance.train_number.is_empty() {
        c.code("train_number", &conveyance.train_number, TrainNumber::parse);
    }
    c.at_most("vehicle_plates", &conveyance.vehicle_plates, 10);
    c.each("vehicle_plates", &conveyance.vehicle_plates, |c, plate| {
        c.code("", plate, VehiclePlate::parse);
    });
}

fn check_place(c: &mut Checker, place: &proto::RoutePlace) {
    c.code("locode", &place.locode, UnLocode::parse);
    if place
        .expected_arrival
        .as_ref()
        .is_some_and(|ts| from_timestamp(ts).is_none())
    {
        c.fail("expected_arrival", "is not a valid timestamp");
    }
}

fn check_route(c: &mut Checker, route: &proto::Route) {
    let ends = [
        ("loading", &route.loading),
        ("discharge", &route.discharge),
        ("final_destination", &route.final_destination),
    ];
    for (field, place) in ends {
        if let Some(place) = place {
            c.within(field, |c| check_place(c, place));
        }
    }
    c.at_most("transit", &route.transit, 20);
    c.each("transit", &route.transit, check_place);
    c.at_most("transit_countries", &route.transit_countries, 20);
    c.each(
        "transit_countries",
        &route.transit_countries,
        |c, country| {
            c.code("", country, CountryCode::parse);
        },
    );
}

fn check_party(c: &mut Checker, party: &proto::Party) {
    c.required_text("name", &party.name, 200, false);
    c.text("address", &party.address, 500, true);
    if !party.country.is_empty() {
        c.code("country", &party.country, CountryCode::parse);
    }
    c.text("identifier", &party.identifier, 50, false);
}

fn check_goods(c: &mut Checker, goods: &proto::GoodsItem) {
    c.required_text("description", &goods.description, 2_000, true);
    let hs = if goods.hs_code.is_empty() {
        None
    } else {
        c.code("hs_code", &goods.hs_code, HsCode::parse)
    };
    if !goods.national_tariff_code.is_empty() {
        if let Some(national) = c.code(
            "national_tariff_code",
            &goods.national_tariff_code,
            NationalTariffCode::parse,
        ) {
            match &hs {
                Some(hs) if !national.extends(hs) => c.fail(
                    "national_tariff_code",
                    format!(
                        "{:?} does not start with the HS code {:?}",
                        national.as_str(),
                        hs.as_str()
                    ),
                ),
                None if goods.hs_code.is_empty() => {
                    c.fail(
                        "hs_code",
                        "is required when a national tariff code is given",
                    );
                }
                _ => {}
            }
        }
    }
    c.text("package_kind", &goods.package_kind, 50, false);
    let weight = goods.gross_weight_kg;
    if !weight.is_finite() || !(0.0..=100_000_000.0).contains(&weight) {
        c.fail(
            "gross_weight_kg",
            format!("{weight} is not a weight in kg between 0 and 100,000,000"),
        );
    }
    if let Some(value) = &goods.declared_value {
        c.within("declared_value", |c| {
            if let Some(currency) = c.code("currency", &value.currency, Currency::parse) {
                if value.amount.is_empty() {
                    c.required("amount");
                } else if let Err(invalid) = parse_amount(&currency, &value.amount) {
                    c.fail("amount", invalid.to_string());
                }
            }
        });
    }
}

fn check_permits(c: &mut Checker, permits: &proto::Permits) {
    c.at_most("cites_permits", &permits.cites_permits, 50);
    c.each("cites_permits", &permits.cites_permits, |c, permit| {
        c.code("permit_number", &permit.permit_number, PermitNumber::parse);
        c.code(
            "issuing_country",
            &permit.issuing_country,
            CountryCode::parse,
        );
        c.text("species", &permit.species, 200, false);
        c.text("quantity", &permit.quantity, 100, false);
    });
    c.at_most("export_licences", &permits.export_licences, 50);
    c.each("export_licences", &permits.export_licences, |c, licence| {
        c.code(
            "licence_number",
            &licence.licence_number,
            PermitNumber::parse,
        );
        c.code(
            "issuing_country",
            &licence.issuing_country,
            CountryCode::parse,
        );
    });
    c.at_most("control_list_entries", &permits.control_list_entries, 50);
    c.each(
        "control_list_entries",
        &permits.control_list_entries,
        |c, entry| {
            c.code("", entry, ControlListEntry::parse);
        },
    );
}

fn check_risk(c: &mut Checker, risk: &proto::RiskAssessment) {
    if risk.indicators.is_empty() {
        c.fail("indicators", "at least one risk indicator is required");
    }
    let mut seen = HashSet::new();
    c.each("indicators", &risk.indicators, |c, raw| {
        let Some(indicator) = c.enumeration::<proto::RiskIndicator>("", *raw, "RiskIndicator")
        else {
            return;
        };
        if !seen.insert(*raw) {
            c.fail(
                "",
                format!("{} appears more than once", indicator.as_str_name()),
            );
        }
        if indicator == proto::RiskIndicator::Other && risk.notes.trim().is_empty() {
            c.fail(
                "",
                "RISK_INDICATOR_OTHER requires an explanation in risk.notes",
            );
        }
    });
    c.text("notes", &risk.notes, 5_000, true);
}

fn check_handling(c: &mut Checker, handling: &proto::Handling) {
    let code = c.enumeration::<proto::HandlingCode>("code", handling.code, "HandlingCode");
    if code == Some(proto::HandlingCode::H3) && handling.restrictions.trim().is_empty() {
        c.fail(
            "restrictions",
            "is required with HANDLING_CODE_H3 (state the restrictions)",
        );
    }
    c.text("restrictions", &handling.restrictions, 1_000, true);
    c.enumeration::<proto::SourceReliability>(
        "source_reliability",
        handling.source_reliability,
        "SourceReliability",
    );
    c.enumeration::<proto::InformationAccuracy>(
        "information_accuracy",
        handling.information_accuracy,
        "InformationAccuracy",
    );
}

/// Checks attachments (of an alert or an outcome) against the contract's limits, and each one's
/// name, media type, size and digest.
pub(crate) fn check_attachments(c: &mut Checker, attachments: &[proto::Attachment]) {
    c.at_most("attachments", attachments, MAX_ATTACHMENTS);
    let total: usize = attachments.iter().map(|a| a.content.len()).sum();
    if total > MAX_ATTACHMENTS_TOTAL_BYTES {
        c.fail(
            "attachments",
            format!(
                "attachments total {total} bytes; at most {MAX_ATTACHMENTS_TOTAL_BYTES} are allowed"
            ),
        );
    }
    c.each("attachments", attachments, |c, attachment| {
        let name = &attachment.file_name;
        if name.trim().is_empty() {
            c.required("file_name");
        } else if name.contains(['/', '\\']) {
            c.fail(
                "file_name",
                format!("{name:?} must be a plain file name (no '/' or '\\')"),
            );
        }
        c.text("file_name", name, 255, false);
        if !is_media_type(&attachment.media_type) {
            c.fail(
                "media_type",
                format!(
                    "{:?} is not a media type such as \"application/pdf\"",
                    attachment.media_type
                ),
            );
        }
        let size = attachment.content.len();
        if size == 0 {
            c.fail("content", "is empty");
        }
        if size > MAX_ATTACHMENT_BYTES {
            c.fail(
                "content",
                format!("is {size} bytes; at most {MAX_ATTACHMENT_BYTES} are allowed"),
            );
        }
        if attachment.size_bytes != size as u64 {
            c.fail(
                "size_bytes",
                format!(
                    "says {} but the content has {size} bytes",
                    attachment.size_bytes
                ),
            );
        }
        let digest = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            &attachment.content,
        ));
        if attachment.sha256 != digest {
            c.fail(
                "sha256",
                format!(
                    "{:?} does not match the content (SHA-256 {digest})",
                    attachment.sha256
                ),
            );
        }
    });
}

fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && tag.len() <= 35
}

/// A file as an attachment: its size and SHA-256 computed, and its media type the one `declared` (by a
/// browser, say) when that is specific, else guessed from the file name's extension.
pub fn attachment_of(
    file_name: &str,
    declared: Option<&str>,
    content: Vec<u8>,
) -> proto::Attachment {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default();
    let guessed = match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "xml" => "application/xml",
        "json" => "application/json",
        _ => "application/octet-stream",
    };
    let media_type = declared
        .filter(|d| is_media_type(d) && *d != "application/octet-stream")
        .unwrap_or(guessed);
    let digest = ring::digest::digest(&ring::digest::SHA256, &content);
    proto::Attachment {
        file_name: file_name.to_owned(),
        media_type: media_type.to_owned(),
        sha256: hex::encode(digest),
        size_bytes: content.len() as u64,
        content,
    }
}

fn is_media_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    value.len() <= 127
        && value
            .split_once('/')
            .is_some_and(|(t, s)| token(t) && token(s))
}

#[cfg(test)]
mod tests;
