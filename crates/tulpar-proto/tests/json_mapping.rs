//! What the OpenAPI document promises about JSON bodies holds for the generated (pbjson) serde
//! implementations the HTTP layer decodes and encodes with.

use tulpar_proto::v1;

#[test]
fn sixty_four_bit_integers_are_written_as_strings_and_read_from_either() {
    let written = serde_json::to_value(v1::GetEntriesResponse {
        entries: Vec::new(),
        tree_size: 42,
    })
    .expect("serialize");
    assert_eq!(written["treeSize"], "42");
    let read: v1::GetEntriesRequest =
        serde_json::from_str(r#"{"start": 1, "end": "2"}"#).expect("numbers and strings");
    assert_eq!((read.start, read.end), (1, 2));
    assert!(serde_json::from_str::<v1::GetEntriesRequest>(r#"{"start": "x"}"#).is_err());
}

#[test]
fn unknown_fields_are_refused_and_proto_names_accepted() {
    assert!(serde_json::from_str::<v1::GetEntriesRequest>(r#"{"start": 1, "stop": 2}"#).is_err());
    let read: v1::AcknowledgeRequest =
        serde_json::from_str(r#"{"request_id": "k-1", "alertId": "a"}"#).expect("both spellings");
    assert_eq!(
        (read.request_id.as_str(), read.alert_id.as_str()),
        ("k-1", "a")
    );
}

#[test]
fn enums_are_names_timestamps_rfc3339_and_bytes_base64() {
    let read: v1::ListAlertsRequest = serde_json::from_str(
        r#"{"direction": "DIRECTION_SENT", "createdAfter": "2026-11-24T10:00:00Z"}"#,
    )
    .expect("an enum name and a timestamp");
    assert_eq!(read.direction, v1::Direction::Sent as i32);
    assert_eq!(read.created_after.map(|t| t.seconds), Some(1_795_514_400));
    assert!(serde_json::from_str::<v1::ListAlertsRequest>(r#"{"direction": "SENT"}"#).is_err());

    let attachment: v1::Attachment =
        serde_json::from_str(r#"{"content": "AAEC"}"#).expect("base64");
    assert_eq!(attachment.content, [0, 1, 2]);
}
