//! CSV for spreadsheets set to Russian (or any comma-decimal) regional settings: a UTF-8 byte order mark
//! so Excel reads Cyrillic, `;` between cells, decimal commas, CRLF line ends, and quotes where a cell
//! needs them. Headers and code-list names are in the viewer's language.

use serde_json::Value;

use crate::Messages;
use crate::pages::{AlertView, ReportRow};

/// The rows as a CSV document.
pub fn document(rows: &[Vec<String>]) -> String {
    let mut out = String::from("\u{feff}");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|cell| quoted(cell)).collect();
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    }
    out
}

fn quoted(cell: &str) -> String {
    if cell.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// A number with the viewer's decimal separator.
fn decimal(m: &Messages<'_>, value: f64) -> String {
    format!("{value:.1}").replace('.', &m.get("decimal-separator"))
}

/// The exchange report: one line per partner and direction, counts per category at the end.
pub fn report(m: &Messages<'_>, rows: &[ReportRow], categories: &[&'static str]) -> String {
    let mut header: Vec<String> = [
        "report-partner",
        "alert-direction",
        "report-alerts",
        "report-delivered",
        "excel-delivery-median",
        "excel-delivery-p90",
        "excel-answer-median",
        "excel-answer-p90",
        "enum-DELIVERY_STATE_ACKNOWLEDGED",
        "enum-DELIVERY_STATE_DECLINED",
        "field-seizure",
        "field-nothingFound",
        "field-notInspected",
        "field-didNotArrive",
        "report-overdue",
    ]
    .iter()
    .map(|id| m.get(id))
    .collect();
    header.extend(categories.iter().map(|c| m.code(c)));
    let mut lines = vec![header];
    for row in rows {
        let mut line = vec![
            row.partner.clone(),
            m.code(row.direction),
            row.alerts.to_string(),
            row.delivered.to_string(),
            decimal(m, row.delivery.0),
            decimal(m, row.delivery.1),
            decimal(m, row.acknowledgement.0),
            decimal(m, row.acknowledgement.1),
            row.answered.0.to_string(),
            row.answered.1.to_string(),
        ];
        line.extend(row.outcomes.iter().map(ToString::to_string));
        line.push(row.overdue.to_string());
        line.extend(categories.iter().map(|category| {
            row.by_category
                .iter()
                .find(|(c, _)| c == category)
                .map_or(0, |(_, n)| *n)
                .to_string()
        }));
        lines.push(line);
    }
    document(&lines)
}

/// One alert, every field on a line of its own (`field › field: value`), then each recipient's steps
/// with their answers.
pub fn alert(m: &Messages<'_>, alert: &AlertView) -> String {
    let mut lines = vec![
        vec![m.get("excel-field"), m.get("excel-value")],
        vec!["alert_id".to_owned(), alert.alert_id.clone()],
        vec![m.get("alert-created"), alert.created.clone()],
        vec![m.get("alert-direction"), m.code(alert.direction)],
        vec![m.get("excel-signed-by"), alert.signed_by.clone()],
    ];
    flatten(m, "", &alert.content, &mut lines);
    for attachment in &alert.attachments {
        lines.push(vec![
            m.get("alert-attachments"),
            format!(
                "{} ({}, {})",
                attachment.file_name, attachment.media_type, attachment.size_bytes
            ),
        ]);
    }
    for recipient in &alert.recipients {
        let who = format!("{} › {}", m.get("field-recipients"), recipient.country);
        lines.push(vec![who.clone(), m.code(recipient.state)]);
        for step in &recipient.steps {
            let label = format!("{who} › {} {}", m.code(step.state), step.at);
            lines.push(vec![label.clone(), step.actor.clone()]);
            if let Some(answer) = &step.answer {
                flatten(m, &label, answer, &mut lines);
            }
        }
    }
    document(&lines)
}

fn flatten(m: &Messages<'_>, path: &str, value: &Value, lines: &mut Vec<Vec<String>>) {
    let join = |key: &str| {
        let id = format!("field-{key}");
        let label = if m.has(&id) {
            m.get(&id)
        } else {
            key.to_owned()
        };
        if path.is_empty() {
            label
        } else {
            format!("{path} › {label}")
        }
    };
    match value {
        Value::Object(fields) => {
            for (key, inner) in fields {
                flatten(m, &join(key), inner, lines);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let texts: Vec<String> = items.iter().map(|i| scalar(m, i)).collect();
            lines.push(vec![path.to_owned(), texts.join(", ")]);
        }
        Value::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                flatten(m, &format!("{path} {}", n + 1), item, lines);
            }
        }
        scalar_value => lines.push(vec![path.to_owned(), scalar(m, scalar_value)]),
    }
}

fn scalar(m: &Messages<'_>, value: &Value) -> String {
    match value {
        Value::String(text) if m.has(&format!("enum-{text}")) => m.code(text),
        Value::String(text) => text.clone(),
        Value::Number(number) => number.as_f64().filter(|f| f.fract() != 0.0).map_or_else(
            || number.to_string(),
            |f| f.to_string().replace('.', &m.get("decimal-separator")),
        ),
        Value::Bool(yes) => m.get(if *yes { "yes" } else { "no" }),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogs;

    #[test]
    fn cells_are_quoted_only_where_needed_and_excel_reads_the_bom() {
        let csv = document(&[vec!["a;b".into(), "say \"hi\"".into(), "plain".into()]]);
        assert_eq!(csv, "\u{feff}\"a;b\";\"say \"\"hi\"\"\";plain\r\n");
    }

    #[test]
    fn the_report_is_in_the_viewers_language_with_decimal_commas() {
        let catalogs = Catalogs::load().unwrap();
        let ru = catalogs.messages("ru");
        let row = ReportRow {
            partner: "UZ".into(),
            direction: "DIRECTION_SENT",
            alerts: 2,
            delivered: 2,
            delivery: (0.5, 1.25),
            acknowledgement: (60.0, 90.0),
            answered: (2, 0),
            outcomes: [1, 1, 0, 0],
            overdue: 0,
            by_category: vec![("THREAT_CATEGORY_CASH", 2)],
        };
        let csv = report(
            &ru,
            &[row],
            &["THREAT_CATEGORY_CASH", "THREAT_CATEGORY_CIGARETTES"],
        );
        let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
        assert!(
            lines[0].starts_with("Партнёр;Направление;Оповещения"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with("Наличные деньги;Сигареты"),
            "{}",
            lines[0]
        );
        assert_eq!(
            lines[1],
            "UZ;Отправлено;2;2;0,5;1,2;60,0;90,0;2;0;1;1;0;0;0;2;0"
        );
    }
}
