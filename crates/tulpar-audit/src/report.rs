//! The exchange report's shared forms: its CSV, and the names its columns give categories,
//! priorities and directions, the same in the CLI and in the console.

use tulpar_core::proto::{self, Direction, Priority, ThreatCategory};

/// `sent` or `received`, as the report's CSV and tables name a direction.
pub fn direction_name(direction: i32) -> &'static str {
    match Direction::try_from(direction) {
        Ok(Direction::Sent) => "sent",
        Ok(Direction::Received) => "received",
        _ => "-",
    }
}

/// A threat category as a report column names it, e.g. `cash`.
pub fn category_name(category: ThreatCategory) -> String {
    category
        .as_str_name()
        .trim_start_matches("THREAT_CATEGORY_")
        .to_lowercase()
}

/// A priority as a report column names it, e.g. `urgent`.
pub fn priority_name(priority: Priority) -> String {
    priority
        .as_str_name()
        .trim_start_matches("PRIORITY_")
        .to_lowercase()
}

/// The categories and priorities a report has columns for, in enum order.
pub fn categories() -> Vec<ThreatCategory> {
    (1..)
        .map_while(|n| ThreatCategory::try_from(n).ok())
        .collect()
}

/// The priorities a report has columns for, in enum order.
pub fn priorities() -> Vec<Priority> {
    (1..).map_while(|n| Priority::try_from(n).ok()).collect()
}

/// The CSV export: a fixed header, one line per partner and direction. `tulpar audit report --csv`
/// and the console's download are this text.
pub fn report_csv(report: &proto::ExchangeReport) -> String {
    let mut header = vec![
        "partner",
        "direction",
        "alerts",
        "delivered",
        "delivery_median_s",
        "delivery_p90_s",
        "acknowledged",
        "declined",
        "acknowledgement_median_s",
        "acknowledgement_p90_s",
        "seizure",
        "nothing_found",
        "not_inspected",
        "did_not_arrive",
        "overdue",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    header.extend(
        categories()
            .into_iter()
            .map(|c| format!("category_{}", category_name(c))),
    );
    header.extend(
        priorities()
            .into_iter()
            .map(|p| format!("priority_{}", priority_name(p))),
    );
    let mut out = header.join(",");
    out.push('\n');
    for row in &report.rows {
        let mut fields = vec![
            row.partner.clone(),
            direction_name(row.direction).to_owned(),
            row.alerts.to_string(),
            row.delivered.to_string(),
            format!("{:.3}", row.delivery_seconds_median),
            format!("{:.3}", row.delivery_seconds_p90),
            row.acknowledged.to_string(),
            row.declined.to_string(),
            format!("{:.3}", row.acknowledgement_seconds_median),
            format!("{:.3}", row.acknowledgement_seconds_p90),
            row.outcomes_seizure.to_string(),
            row.outcomes_nothing_found.to_string(),
            row.outcomes_not_inspected.to_string(),
            row.outcomes_did_not_arrive.to_string(),
            row.overdue.to_string(),
        ];
        fields.extend(categories().into_iter().map(|c| {
            row.by_category
                .iter()
                .find(|n| n.category == c as i32)
                .map_or(0, |n| n.count)
                .to_string()
        }));
        fields.extend(priorities().into_iter().map(|p| {
            row.by_priority
                .iter()
                .find(|n| n.priority == p as i32)
                .map_or(0, |n| n.count)
                .to_string()
        }));
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_one_line_per_row_with_every_category_and_priority() {
        let report = proto::ExchangeReport {
            rows: vec![proto::ExchangeFigures {
                partner: "UZ".into(),
                direction: Direction::Sent as i32,
                alerts: 3,
                by_category: vec![proto::CategoryCount {
                    category: ThreatCategory::Cash as i32,
                    count: 3,
                }],
                by_priority: vec![proto::PriorityCount {
                    priority: Priority::High as i32,
                    count: 3,
                }],
                delivery_seconds_median: 1.5,
                ..Default::default()
            }],
            ..Default::default()
        };
        let csv = report_csv(&report);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        let header: Vec<&str> = lines[0].split(',').collect();
        let row: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(header.len(), row.len());
        let field = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(field("partner"), "UZ");
        assert_eq!(field("direction"), "sent");
        assert_eq!(field("delivery_median_s"), "1.500");
        assert_eq!(field("category_cash"), "3");
        assert_eq!(field("category_cigarettes"), "0");
        assert_eq!(field("priority_high"), "3");
        assert_eq!(field("priority_urgent"), "0");
    }
}
