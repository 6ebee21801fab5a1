//! A hand-computed fixture: a quarter of KZ's exchanges with UZ and TJ, and the figures worked out on
//! paper from the timelines below.

use std::time::{Duration, SystemTime};

use tulpar_core::codes::CountryCode;
use tulpar_core::proto::{
    self, AlertResponse, DeliveryState, Direction, Priority, ThreatCategory, alert_response,
    outcome::Result as OutcomeResult,
};
use tulpar_core::time::to_timestamp;

use super::{Period, exchange_figures, percentile};
use crate::state::StoredAlert;

/// Seconds since the Unix epoch of a UTC date and time.
fn at(date: &str) -> SystemTime {
    let parsed = time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
        .expect("fixture time");
    SystemTime::UNIX_EPOCH + Duration::from_secs(parsed.unix_timestamp() as u64)
}

/// A timeline step `seconds` after `created`.
fn step(created: SystemTime, seconds: u64, state: DeliveryState) -> proto::TimelineEvent {
    proto::TimelineEvent {
        state: state as i32,
        at: Some(to_timestamp(created + Duration::from_secs(seconds))),
        ..Default::default()
    }
}

fn outcome(created: SystemTime, seconds: u64, result: OutcomeResult) -> proto::TimelineEvent {
    proto::TimelineEvent {
        response: Some(AlertResponse {
            kind: Some(alert_response::Kind::Outcome(proto::Outcome {
                result: Some(result),
                ..Default::default()
            })),
            ..Default::default()
        }),
        ..step(created, seconds, DeliveryState::OutcomeRecorded)
    }
}

fn missed(created: SystemTime, seconds: u64) -> proto::TimelineEvent {
    proto::TimelineEvent {
        deadline_missed: true,
        ..step(created, seconds, DeliveryState::Delivered)
    }
}

fn alert(
    direction: Direction,
    origin_unit: &str,
    created: SystemTime,
    category: ThreatCategory,
    priority: Priority,
    recipients: Vec<(&str, Vec<proto::TimelineEvent>)>,
) -> StoredAlert {
    StoredAlert {
        ledger_index: 0,
        direction: direction as i32,
        origin_unit: origin_unit.into(),
        category: category as i32,
        priority: priority as i32,
        created_at: Some(to_timestamp(created)),
        recipients: recipients
            .into_iter()
            .map(|(country, timeline)| proto::RecipientStatus {
                country: country.into(),
                timeline,
                ..Default::default()
            })
            .collect(),
        search_terms: Vec::new(),
    }
}

fn fixture() -> Vec<StoredAlert> {
    use DeliveryState::{Acknowledged, Declined, Delivered, Queued};
    use Direction::{Received, Sent};
    use Priority::{High, Routine, Urgent};
    use ThreatCategory::{Cash, Cigarettes, DrugsAndPrecursors, FirearmsAndAmmunition};
    let a1 = at("2026-07-10T08:00:00Z");
    let a2 = at("2026-08-01T12:00:00Z");
    let a3 = at("2026-09-15T06:30:00Z");
    let a4 = at("2026-09-30T23:59:59Z");
    let r1 = at("2026-07-20T10:00:00Z");
    let early = at("2026-06-30T23:59:59Z");
    let late = at("2026-10-01T00:00:00Z");
    vec![
        // To UZ and TJ: delivered to both, acknowledged by UZ, a seizure.
        alert(
            Sent,
            "KZ-AKTAU-PCU",
            a1,
            DrugsAndPrecursors,
            Urgent,
            vec![
                (
                    "UZ",
                    vec![
                        step(a1, 0, Queued),
                        step(a1, 2, Delivered),
                        step(a1, 600, Acknowledged),
                        outcome(a1, 3600, OutcomeResult::Seizure(Default::default())),
                    ],
                ),
                ("TJ", vec![step(a1, 0, Queued), step(a1, 3, Delivered)]),
            ],
        ),
        // Declined by UZ.
        alert(
            Sent,
            "KZ-AKTAU-PCU",
            a2,
            FirearmsAndAmmunition,
            High,
            vec![("UZ", vec![step(a2, 4, Delivered), step(a2, 1200, Declined)])],
        ),
        // Overdue, then acknowledged late; nothing found.
        alert(
            Sent,
            "KZ-AKTAU-PCU",
            a3,
            DrugsAndPrecursors,
            Routine,
            vec![(
                "UZ",
                vec![
                    step(a3, 10, Delivered),
                    missed(a3, 86_400),
                    step(a3, 90_000, Acknowledged),
                    outcome(a3, 95_000, OutcomeResult::NothingFound(Default::default())),
                ],
            )],
        ),
        // The last second of the quarter; never delivered.
        alert(
            Sent,
            "KZ-AKTAU-PCU",
            a4,
            DrugsAndPrecursors,
            Urgent,
            vec![("UZ", vec![step(a4, 0, Queued)])],
        ),
        // Received from UZ: our receipt after 1 s, acknowledged after 30 s, did not arrive.
        alert(
            Received,
            "UZ-TASHKENT-PCU",
            r1,
            Cigarettes,
            Urgent,
            vec![(
                "KZ",
                vec![
                    step(r1, 1, Delivered),
                    step(r1, 30, Acknowledged),
                    outcome(r1, 7200, OutcomeResult::DidNotArrive(Default::default())),
                ],
            )],
        ),
        // Outside the quarter on either side.
        alert(
            Sent,
            "KZ-AKTAU-PCU",
            early,
            Cash,
            Urgent,
            vec![("UZ", vec![step(early, 1, Delivered)])],
        ),
        alert(
            Sent,
            "KZ-AKTAU-PCU",
            late,
            Cash,
            Urgent,
            vec![("UZ", vec![step(late, 1, Delivered)])],
        ),
    ]
}

fn quarter(partner: Option<&str>) -> Period {
    Period {
        partner: partner.map(|p| CountryCode::parse(p).unwrap()),
        from: at("2026-07-01T00:00:00Z"),
        to: at("2026-10-01T00:00:00Z"),
    }
}

fn categories(pairs: &[(ThreatCategory, u64)]) -> Vec<proto::CategoryCount> {
    pairs
        .iter()
        .map(|(category, count)| proto::CategoryCount {
            category: *category as i32,
            count: *count,
        })
        .collect()
}

fn priorities(pairs: &[(Priority, u64)]) -> Vec<proto::PriorityCount> {
    pairs
        .iter()
        .map(|(priority, count)| proto::PriorityCount {
            priority: *priority as i32,
            count: *count,
        })
        .collect()
}

#[test]
fn quarter_report_matches_the_hand_computed_figures() {
    let alerts = fixture();
    let rows = exchange_figures(&quarter(None), &alerts);
    let expected = vec![
        proto::ExchangeFigures {
            partner: "TJ".into(),
            direction: Direction::Sent as i32,
            alerts: 1,
            by_category: categories(&[(ThreatCategory::DrugsAndPrecursors, 1)]),
            by_priority: priorities(&[(Priority::Urgent, 1)]),
            delivered: 1,
            delivery_seconds_median: 3.0,
            delivery_seconds_p90: 3.0,
            ..Default::default()
        },
        proto::ExchangeFigures {
            partner: "UZ".into(),
            direction: Direction::Sent as i32,
            alerts: 4,
            by_category: categories(&[
                (ThreatCategory::DrugsAndPrecursors, 3),
                (ThreatCategory::FirearmsAndAmmunition, 1),
            ]),
            by_priority: priorities(&[
                (Priority::Urgent, 2),
                (Priority::High, 1),
                (Priority::Routine, 1),
            ]),
            delivered: 3,
            // Deliveries after 2, 4 and 10 s: median 4; p90 at rank 1.8 = 4 + 0.8 × 6.
            delivery_seconds_median: 4.0,
            delivery_seconds_p90: 8.8,
            // Answers after 600, 1200 and 90000 s: median 1200; p90 = 1200 + 0.8 × 88800.
            acknowledgement_seconds_median: 1200.0,
            acknowledgement_seconds_p90: 72_240.0,
            acknowledged: 2,
            declined: 1,
            outcomes_seizure: 1,
            outcomes_nothing_found: 1,
            overdue: 1,
            ..Default::default()
        },
        proto::ExchangeFigures {
            partner: "UZ".into(),
            direction: Direction::Received as i32,
            alerts: 1,
            by_category: categories(&[(ThreatCategory::Cigarettes, 1)]),
            by_priority: priorities(&[(Priority::Urgent, 1)]),
            delivered: 1,
            delivery_seconds_median: 1.0,
            delivery_seconds_p90: 1.0,
            acknowledgement_seconds_median: 30.0,
            acknowledgement_seconds_p90: 30.0,
            acknowledged: 1,
            outcomes_did_not_arrive: 1,
            ..Default::default()
        },
    ];
    assert_eq!(rows.len(), expected.len(), "{rows:#?}");
    for (mut row, expected) in rows.into_iter().zip(expected) {
        // Interpolated percentiles are compared to the microsecond.
        for value in [
            &mut row.delivery_seconds_median,
            &mut row.delivery_seconds_p90,
            &mut row.acknowledgement_seconds_median,
            &mut row.acknowledgement_seconds_p90,
        ] {
            *value = (*value * 1e6).round() / 1e6;
        }
        assert_eq!(row, expected);
    }
}

#[test]
fn a_partner_filter_keeps_only_that_partners_rows() {
    let alerts = fixture();
    let rows = exchange_figures(&quarter(Some("TJ")), &alerts);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].partner, "TJ");
    assert!(exchange_figures(&quarter(Some("TM")), &alerts).is_empty());
}

#[test]
fn percentiles_interpolate_between_ranks() {
    assert_eq!(percentile(&mut [], 50.0), 0.0);
    assert_eq!(percentile(&mut [4.0, 1.0, 3.0, 2.0], 50.0), 2.5);
    let mut ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert!((percentile(&mut ten, 90.0) - 9.1).abs() < 1e-9);
    assert_eq!(percentile(&mut [7.0], 90.0), 7.0);
}
