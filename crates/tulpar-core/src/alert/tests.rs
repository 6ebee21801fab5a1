use super::*;
use crate::sample::alert_draft;

fn violations(content: proto::AlertContent) -> Vec<String> {
    validate_content(content)
        .expect_err("the draft should be refused")
        .as_slice()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_sample_draft_is_valid() {
    let valid = validate_content(alert_draft("KZ-AKTAU-PCU", "UZ")).unwrap();
    assert_eq!(valid.origin().as_str(), "KZ-AKTAU-PCU");
    assert_eq!(valid.priority(), Priority::Urgent);
    assert_eq!(valid.recipients()[0].country.as_str(), "UZ");
}

#[test]
fn every_violation_is_reported_at_once_with_its_path() {
    let mut draft = alert_draft("KZ-AKTAU-PCU", "UZ");
    let consignment = draft.consignment.as_mut().unwrap();
    consignment.containers = vec!["CSQU3054383".into(), "MSKU1234566".into()];
    consignment
        .route
        .as_mut()
        .unwrap()
        .loading
        .as_mut()
        .unwrap()
        .locode = "XXAKX".into();
    consignment.goods[0].hs_code = "7701".into();
    draft.priority = 0;
    draft.narrative = "x".repeat(20_001);
    let found = violations(draft);
    assert_eq!(
        found,
        vec![
            "priority: is required (one of the Priority values)".to_owned(),
            "consignment.containers[1]: \"MSKU1234566\" fails the ISO 6346 check digit (expected 5)"
                .to_owned(),
            found[2].clone(),
            found[3].clone(),
            "narrative: has 20001 characters; at most 20000 are allowed".to_owned(),
        ]
    );
    assert!(
        found[2].starts_with("consignment.route.loading.locode: \"XXAKX\""),
        "{}",
        found[2]
    );
    assert!(
        found[3].starts_with("consignment.goods[0].hs_code: \"7701\""),
        "{}",
        found[3]
    );
}

#[test]
fn origin_and_recipients_rules() {
    let mut draft = alert_draft("KZ-AKTAU-PCU", "KZ");
    draft.origin.as_mut().unwrap().country = "UZ".into();
    draft.recipients.push(proto::Recipient {
        country: "TJ".into(),
        units: vec!["UZ-TASHKENT-PCU".into()],
    });
    draft.recipients.push(proto::Recipient {
        country: "TJ".into(),
        units: vec![],
    });
    let found = violations(draft);
    assert_eq!(
        found,
        vec![
            "origin.unit: \"KZ-AKTAU-PCU\" is not a unit of UZ",
            "recipients[1].units[0]: \"UZ-TASHKENT-PCU\" is not a unit of TJ",
            "recipients[2].country: TJ appears more than once",
        ]
    );
    let own = violations(alert_draft("KZ-AKTAU-PCU", "KZ"));
    assert_eq!(
        own,
        vec![
            "recipients[0].country: KZ is the origin country; domestic warnings use national channels"
        ]
    );
}

#[test]
fn a_consignment_must_be_identified() {
    let mut draft = alert_draft("KZ-AKTAU-PCU", "UZ");
    let consignment = draft.consignment.as_mut().unwrap();
    consignment.containers.clear();
    consignment.transport_document = None;
    consignment.conveyance = None;
    assert_eq!(
        violations(draft),
        vec![
            "consignment: identify the consignment: at least one container, transport document or conveyance"
        ]
    );
}

#[test]
fn handling_risk_and_enums() {
    let mut draft = alert_draft("KZ-AKTAU-PCU", "UZ");
    draft.handling.as_mut().unwrap().code = proto::HandlingCode::H3.into();
    draft.risk.as_mut().unwrap().indicators = vec![
        proto::RiskIndicator::Other.into(),
        proto::RiskIndicator::Other.into(),
        99,
    ];
    draft.risk.as_mut().unwrap().notes.clear();
    draft.transport_mode = 42;
    let found = violations(draft);
    assert_eq!(
        found,
        vec![
            "transport_mode: 42 is not a known TransportMode value",
            "risk.indicators[0]: RISK_INDICATOR_OTHER requires an explanation in risk.notes",
            "risk.indicators[1]: RISK_INDICATOR_OTHER appears more than once",
            "risk.indicators[1]: RISK_INDICATOR_OTHER requires an explanation in risk.notes",
            "risk.indicators[2]: 99 is not a known RiskIndicator value",
            "handling.restrictions: is required with HANDLING_CODE_H3 (state the restrictions)",
        ]
    );
}

#[test]
fn goods_values_and_tariff_codes() {
    let mut draft = alert_draft("KZ-AKTAU-PCU", "UZ");
    let goods = &mut draft.consignment.as_mut().unwrap().goods[0];
    goods.national_tariff_code = "8504405500".into();
    goods.gross_weight_kg = f64::NAN;
    goods.declared_value.as_mut().unwrap().amount = "12500.001".into();
    let found = violations(draft);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(
        found[0],
        "consignment.goods[0].national_tariff_code: \"8504405500\" does not start with the HS code \"843390\""
    );
    assert!(
        found[1].starts_with("consignment.goods[0].gross_weight_kg: NaN"),
        "{}",
        found[1]
    );
    assert!(
        found[2].starts_with("consignment.goods[0].declared_value.amount: \"12500.001\""),
        "{}",
        found[2]
    );
}

#[test]
fn attachments_must_match_their_digest_and_size() {
    let mut draft = alert_draft("KZ-AKTAU-PCU", "UZ");
    let content = b"%PDF-1.7 scanned bill".to_vec();
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, &content));
    draft.attachments.push(proto::Attachment {
        file_name: "bill.pdf".into(),
        media_type: "application/pdf".into(),
        sha256: digest.clone(),
        size_bytes: content.len() as u64,
        content: content.clone(),
    });
    assert!(validate_content(draft.clone()).is_ok());
    draft.attachments[0].content.push(b'!');
    draft.attachments[0].file_name = "../bill.pdf".into();
    let found = violations(draft);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].starts_with("attachments[0].file_name"));
    assert!(found[1].starts_with("attachments[0].size_bytes: says 21"));
    assert!(found[2].starts_with("attachments[0].sha256"));
}

#[test]
fn delivered_alerts_need_a_v7_id_and_a_time() {
    let content = alert_draft("KZ-AKTAU-PCU", "UZ");
    let alert = proto::Alert {
        alert_id: "nope".into(),
        created_at: None,
        content: Some(content.clone()),
    };
    let found: Vec<String> = validate_alert(alert)
        .unwrap_err()
        .as_slice()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        found,
        vec![
            "alert_id: \"nope\" is not a UUID",
            "created_at: is required"
        ]
    );

    let valid = validate_content(content).unwrap();
    let now = SystemTime::now();
    let made = ValidAlert::new(AlertId::new_at(now), now, valid);
    let again = validate_alert(made.message().clone()).unwrap();
    assert_eq!(again.id(), made.id());
    assert_eq!(again.content().origin().as_str(), "KZ-AKTAU-PCU");
}

#[test]
fn an_alert_id_is_dated_as_its_alert() {
    let now = SystemTime::now();
    // Made together, they agree to the millisecond, whatever the sub-millisecond part of `now`.
    for k in 0..50 {
        let at = now + std::time::Duration::from_micros(k * 137);
        let made = ValidAlert::new(
            AlertId::new_at(at),
            at,
            validate_content(alert_draft("KZ-AKTAU-PCU", "UZ")).unwrap(),
        );
        validate_alert(made.message().clone()).unwrap();
    }
    // An id minted at another time than the alert's created_at is refused.
    let alert = proto::Alert {
        alert_id: AlertId::new_at(now - std::time::Duration::from_secs(3600)).to_string(),
        created_at: Some(crate::time::to_timestamp(now)),
        content: Some(alert_draft("KZ-AKTAU-PCU", "UZ")),
    };
    let found = validate_alert(alert).unwrap_err().to_string();
    assert!(found.starts_with("alert_id: its UUIDv7 time"), "{found}");
}

#[test]
fn a_recipient_names_a_bounded_number_of_units() {
    let mut content = alert_draft("KZ-AKTAU-PCU", "UZ");
    content.recipients[0].units = (0..10_000).map(|i| format!("UZ-U{i}-PCU")).collect();
    assert_eq!(
        violations(content),
        vec![format!(
            "recipients[0].units: has 10000 items; at most {MAX_RECIPIENT_UNITS} are allowed"
        )]
    );
}

#[test]
fn drafts_in_proto3_json_parse() {
    let json = serde_json::to_string(&alert_draft("KZ-AKTAU-PCU", "UZ")).unwrap();
    assert!(json.contains("\"priority\":\"PRIORITY_URGENT\""), "{json}");
    assert!(
        json.contains("\"transportMode\":\"TRANSPORT_MODE_RAIL\""),
        "{json}"
    );
    let parsed: proto::AlertContent = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, alert_draft("KZ-AKTAU-PCU", "UZ"));
}
