//! The focal point's pages: each partner's state at a glance, and the exchange report for a period with
//! a chart and its CSV.

use maud::{Markup, PreEscaped, html};

use super::{BASE, Viewer, column_heads, page, time};
use crate::Messages;

/// One partner's state.
pub struct PartnerRow {
    /// The partner country.
    pub country: String,
    /// Whether the last call reached it; `None` before any contact.
    pub reachable: Option<bool>,
    /// The last contact, RFC 3339 (empty if never).
    pub last_contact: String,
    /// Items waiting for it.
    pub outbox: u64,
    /// Items it refused for good.
    pub undeliverable: u64,
    /// Why the last call failed, if it did.
    pub last_error: String,
    /// The version of its directory this node holds.
    pub directory_version: u64,
    /// The last delivery to it, RFC 3339 (empty if none since the node started).
    pub last_delivery: String,
    /// The size of the latest checkpoint of this node it cosigned (0: none) and when, RFC 3339.
    pub cosigned: (u64, String),
    /// Whether that cosignature is older than a day (or missing while there is contact).
    pub cosignature_stale: bool,
}

/// What the focal point's home page raises an alarm about.
pub enum AlarmView {
    /// Evidence that a partner's ledger forked.
    Equivocation {
        /// When it was recorded, RFC 3339.
        recorded_at: String,
        /// The partner.
        country: String,
        /// Why the two checkpoints cannot both be true.
        reason: String,
        /// The checkpoint held before and the conflicting one (signed notes).
        checkpoints: [String; 2],
    },
    /// Damage to this node's own ledger segments.
    Damage {
        /// When the node found it, RFC 3339.
        found_at: String,
        /// The segment file.
        segment: String,
        /// Byte offset of the damaged frame.
        offset: u64,
        /// The damaged entries, first and one past the last (equal: none lost).
        entries: (u64, u64),
        /// What is wrong.
        reason: String,
    },
}

/// The partners' table of the focal point's home page, with any alarms above it.
pub fn partners(m: &Messages<'_>, rows: &[PartnerRow], alarms: &[AlarmView]) -> Markup {
    html! {
        @for alarm in alarms {
            section class="card alarm" role="alert" {
                @match alarm {
                    AlarmView::Equivocation { recorded_at, country, reason, checkpoints } => {
                        h2 class="overdue" { (m.with("alarm-title", &[("country", country)])) }
                        p { (time(m, recorded_at)) " · " (reason) }
                        details {
                            summary { (m.get("alarm-evidence")) }
                            pre { (checkpoints[0]) }
                            pre { (checkpoints[1]) }
                        }
                    }
                    AlarmView::Damage { found_at, segment, offset, entries, reason } => {
                        h2 class="overdue" { (m.get("alarm-damage-title")) }
                        p {
                            (time(m, found_at)) " · "
                            (m.with("alarm-damage-where", &[("segment", segment), ("offset", &offset.to_string())]))
                            " · " (damaged_entries(m, *entries)) " · " (reason)
                        }
                        p class="hint" { (m.get("alarm-damage-hint")) }
                    }
                }
            }
        }
        section class="card" {
            h2 { (m.get("partners-title")) }
            table {
                (column_heads(m, &[
                    "partners-country",
                    "partners-state",
                    "partners-last-contact",
                    "partners-last-delivery",
                    "partners-cosigned",
                    "partners-outbox",
                    "partners-undeliverable",
                    "partners-directory",
                ]))
                tbody {
                    @for row in rows {
                        tr class=[(row.reachable == Some(false)).then_some("alarm")] {
                            td { (row.country) }
                            td {
                                @match row.reachable {
                                    Some(true) => (m.get("partners-reachable")),
                                    Some(false) => strong class="overdue" { (m.get("partners-unreachable")) },
                                    None => (m.get("partners-no-contact")),
                                }
                                @if !row.last_error.is_empty() { br; span class="hint" { (row.last_error) } }
                            }
                            td {
                                @if row.last_contact.is_empty() { "—" } @else { (time(m, &row.last_contact)) }
                            }
                            td {
                                @if row.last_delivery.is_empty() { "—" } @else { (time(m, &row.last_delivery)) }
                            }
                            td class=[row.cosignature_stale.then_some("overdue")] {
                                @if row.cosigned.0 == 0 { (m.get("partners-never-cosigned")) } @else {
                                    (m.with("partners-cosigned-size", &[("size", &row.cosigned.0.to_string())]))
                                    br; (time(m, &row.cosigned.1))
                                }
                            }
                            td { (row.outbox) }
                            td class=[(row.undeliverable > 0).then_some("overdue")] { (row.undeliverable) }
                            td { (row.directory_version) }
                        }
                    }
                }
            }
            p {
                a class="button" href={ (BASE) "/report" } { (m.get("report-title")) } " "
                a class="button" href={ (BASE) "/reconcile" } { (m.get("reconcile-title")) } " "
                a class="button" href={ (BASE) "/verify" } { (m.get("verify-title")) } " "
                a class="button" href={ (BASE) "/accounts" } { (m.get("accounts-title")) }
            }
        }
    }
}

/// One person's account, for the accounts page.
pub struct AccountRow {
    /// The sign-in name.
    pub name: String,
    /// The person's name.
    pub display_name: String,
    /// "officer", "focal-point" or "admin".
    pub role: String,
    /// The unit of an officer.
    pub unit: String,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Until when it is locked, RFC 3339, if it is.
    pub locked_until: String,
    /// The last sign-in, RFC 3339, if any.
    pub last_sign_in: String,
}

/// The country's accounts, each with a button to disable it.
pub fn accounts(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    rows: &[AccountRow],
) -> String {
    let title = m.get("accounts-title");
    let content = html! {
        p { a href={ (BASE) "/" } { (m.get("alert-back")) } }
        h1 { (title) }
        p class="hint" { (m.get("accounts-hint")) }
        table {
            thead {
                tr {
                    th scope="col" { (m.get("sign-in-name")) }
                    th scope="col" { (m.get("accounts-person")) }
                    th scope="col" { (m.get("accounts-role")) }
                    th scope="col" { (m.get("partners-state")) }
                    th scope="col" { (m.get("accounts-last-sign-in")) }
                    th scope="col" {}
                }
            }
            tbody {
                @for row in rows {
                    tr {
                        td { (row.name) }
                        td { (row.display_name) }
                        td {
                            (m.get(&format!("accounts-role-{}", row.role)))
                            @if !row.unit.is_empty() { " · " (row.unit) }
                        }
                        td {
                            @if row.disabled { strong class="overdue" { (m.get("accounts-disabled")) } }
                            @else if !row.locked_until.is_empty() {
                                strong class="overdue" { (m.get("accounts-locked")) } " " (time(m, &row.locked_until))
                            }
                            @else { (m.get("accounts-active")) }
                        }
                        td { @if row.last_sign_in.is_empty() { "—" } @else { (time(m, &row.last_sign_in)) } }
                        td {
                            @if !row.disabled {
                                form method="post" action={ (BASE) "/accounts/" (row.name) "/disable" } {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    button type="submit" class="secondary" { (m.get("accounts-disable")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}

/// One line of the report: a partner and a direction.
pub struct ReportRow {
    /// The partner.
    pub partner: String,
    /// `DIRECTION_…` name.
    pub direction: &'static str,
    /// Alerts in the period.
    pub alerts: u64,
    /// Of them delivered.
    pub delivered: u64,
    /// Delivery time, median and 90th percentile, in seconds.
    pub delivery: (f64, f64),
    /// Acknowledgement time, median and 90th percentile, in seconds.
    pub acknowledgement: (f64, f64),
    /// Accepted, declined.
    pub answered: (u64, u64),
    /// Outcomes: seizure, nothing found, not inspected, did not arrive.
    pub outcomes: [u64; 4],
    /// Overdue at some time.
    pub overdue: u64,
    /// Alerts per `THREAT_CATEGORY_…` name.
    pub by_category: Vec<(&'static str, u64)>,
}

/// The report page's contents.
pub struct ReportView {
    /// The first day, `YYYY-MM-DD`.
    pub from: String,
    /// The last day, `YYYY-MM-DD`.
    pub to: String,
    /// The rows.
    pub rows: Vec<ReportRow>,
    /// Alerts per calendar month, oldest first.
    pub months: Vec<MonthRow>,
    /// Why the period was refused, if it was.
    pub refused: Option<String>,
}

/// Alerts of one calendar month by direction and category.
pub struct MonthRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Sent alerts per `THREAT_CATEGORY_…` name.
    pub sent: Vec<(&'static str, u64)>,
    /// Received alerts per `THREAT_CATEGORY_…` name.
    pub received: Vec<(&'static str, u64)>,
}

impl MonthRow {
    fn total(counts: &[(&'static str, u64)]) -> u64 {
        counts.iter().map(|(_, n)| n).sum()
    }
}

fn seconds(m: &Messages<'_>, value: f64) -> String {
    let rounded = if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    m.with(
        "report-seconds",
        &[("value", &rounded.replace('.', &m.get("decimal-separator")))],
    )
}

/// Every category that has alerts in `months`, in a stable order, for colours and the legend.
fn month_categories(months: &[MonthRow]) -> Vec<&'static str> {
    let mut categories: Vec<&'static str> = Vec::new();
    for month in months {
        for (category, count) in month.sent.iter().chain(&month.received) {
            if *count > 0 && !categories.contains(category) {
                categories.push(category);
            }
        }
    }
    categories.sort_unstable();
    categories
}

/// The pieces of a bar stacked upwards from `base`: (top, height, category, count) of each category
/// with alerts.
fn stacked(
    counts: &[(&'static str, u64)],
    base: u64,
    scale: impl Fn(u64) -> u64,
) -> Vec<(u64, u64, &'static str, u64)> {
    let mut top = base;
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(category, n)| {
            let height = scale(*n).max(1);
            top = top.saturating_sub(height);
            (top, height, *category, *n)
        })
        .collect()
}

/// Alerts per month: for each month a bar of sent and one of received alerts, each stacked by
/// category, as inline SVG; every piece names its figures in its title, and a table follows.
fn month_chart(m: &Messages<'_>, months: &[MonthRow]) -> Markup {
    let categories = month_categories(months);
    let most = months
        .iter()
        .flat_map(|month| {
            [
                MonthRow::total(&month.sent),
                MonthRow::total(&month.received),
            ]
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, gap, top, chart_height) = (18u64, 22u64, 20u64, 200u64);
    let width = 60 + months.len() as u64 * (2 * bar + gap);
    let height = top + chart_height + 40;
    let scale = |n: u64| n * chart_height / most;
    let class_of = |category: &str| {
        let index = categories.iter().position(|c| *c == category).unwrap_or(0);
        format!("cat cat-{}", index % 12)
    };
    html! {
        h2 { (m.get("report-months")) }
        svg class="chart months" role="img" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height)
            aria-labelledby="months-title" {
            title id="months-title" { (m.get("report-months")) }
            text x="0" y=(top + 4) class="figure" { (most) }
            line x1="40" y1=(top + chart_height) x2=(width) y2=(top + chart_height) class="axis" {}
            @for (i, month) in months.iter().enumerate() {
                @let x = 50 + i as u64 * (2 * bar + gap);
                @for (j, (direction, counts)) in [("DIRECTION_SENT", &month.sent), ("DIRECTION_RECEIVED", &month.received)].into_iter().enumerate() {
                    @for (y, h, category, n) in stacked(counts, top + chart_height, scale) {
                        rect x=(x + j as u64 * bar) y=(y) width=(bar - 2) height=(h) class=(class_of(category)) {
                            title { (month.month) ", " (m.code(direction)) ", " (m.code(category)) ": " (n) }
                        }
                    }
                    text x=(x + j as u64 * bar + 3) y=(top + chart_height + 14) class="tick" {
                        (if j == 0 { "↑" } else { "↓" })
                    }
                }
                text x=(x) y=(top + chart_height + 32) class="label" { (month.month) }
            }
        }
        p class="legend" {
            "↑ " (m.code("DIRECTION_SENT")) " · ↓ " (m.code("DIRECTION_RECEIVED")) " · "
            @for category in &categories {
                span class={ "swatch " (class_of(category)) } {} (m.code(category)) " "
            }
        }
        table class="months" {
            thead {
                tr {
                    th scope="col" { (m.get("report-month")) }
                    th scope="col" { (m.code("DIRECTION_SENT")) }
                    th scope="col" { (m.code("DIRECTION_RECEIVED")) }
                }
            }
            tbody {
                @for month in months {
                    tr {
                        th scope="row" { (month.month) }
                        td { (MonthRow::total(&month.sent)) }
                        td { (MonthRow::total(&month.received)) }
                    }
                }
            }
        }
    }
}

/// Delivery and answer times per partner and direction, median and 90th percentile, as bars.
fn times_chart(m: &Messages<'_>, rows: &[ReportRow]) -> Markup {
    let most = rows
        .iter()
        .flat_map(|r| {
            [
                r.delivery.1,
                r.acknowledgement.1,
                r.delivery.0,
                r.acknowledgement.0,
            ]
        })
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let (bar, gap, width) = (12u64, 16u64, 640u64);
    let height = rows.len() as u64 * (4 * bar + gap) + 10;
    let scale = |seconds: f64| ((seconds / most) * (width - 330) as f64).round().max(1.0) as u64;
    html! {
        h2 { (m.get("report-times")) }
        svg class="chart times" role="img" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height)
            aria-labelledby="times-title" {
            title id="times-title" { (m.get("report-times")) }
            @for (i, row) in rows.iter().enumerate() {
                @let y = i as u64 * (4 * bar + gap);
                text x="0" y=(y + 2 * bar) class="label" { (row.partner) " · " (m.code(row.direction)) }
                @for (j, (what, class, value)) in [
                    ("report-delivery-median", "delivery", row.delivery.0),
                    ("report-delivery-p90", "delivery p90", row.delivery.1),
                    ("report-answer-median", "answer", row.acknowledgement.0),
                    ("report-answer-p90", "answer p90", row.acknowledgement.1),
                ].into_iter().enumerate() {
                    rect x="200" y=(y + j as u64 * bar) width=(scale(value)) height=(bar - 2) class=(class) {
                        title { (m.get(what)) ": " (seconds(m, value)) }
                    }
                    text x=(206 + scale(value)) y=(y + j as u64 * bar + bar - 3) class="figure" { (seconds(m, value)) }
                }
            }
        }
        p class="legend" {
            span class="swatch delivery" {} (m.get("report-delivery-median")) " "
            span class="swatch delivery p90" {} (m.get("report-delivery-p90")) " "
            span class="swatch answer" {} (m.get("report-answer-median")) " "
            span class="swatch answer p90" {} (m.get("report-answer-p90"))
        }
    }
}

/// The exchange report for a period.
pub fn report(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    view: &ReportView,
) -> String {
    let title = m.get("report-title");
    let query = format!("from={}&to={}", view.from, view.to);
    let content = html! {
        p { a href={ (BASE) "/" } { (m.get("alert-back")) } }
        h1 { (title) }
        form method="get" action={ (BASE) "/report" } class="period" {
            label for="from" { (m.get("report-from")) }
            input type="text" id="from" name="from" value=(view.from) inputmode="numeric";
            label for="to" { (m.get("report-to")) }
            input type="text" id="to" name="to" value=(view.to) inputmode="numeric";
            p class="hint" { (m.get("report-dates-hint")) }
            button type="submit" { (m.get("report-show")) }
        }
        @if let Some(refused) = &view.refused {
            div class="notice bad" role="alert" { (refused) }
        } @else if view.rows.is_empty() {
            p class="notice info" { (m.get("report-empty")) }
        } @else {
            (month_chart(m, &view.months))
            (times_chart(m, &view.rows))
            h2 { (m.get("report-partners")) }
            table {
                (column_heads(m, &[
                    "report-partner",
                    "alert-direction",
                    "report-alerts",
                    "report-delivered",
                    "report-delivery-time",
                    "report-answer-time",
                    "report-answered",
                    "report-outcomes",
                    "report-overdue",
                ]))
                tbody {
                    @for row in &view.rows {
                        tr {
                            td { (row.partner) }
                            td { (m.code(row.direction)) }
                            td { (row.alerts) }
                            td { (row.delivered) }
                            td { (seconds(m, row.delivery.0)) " / " (seconds(m, row.delivery.1)) }
                            td { (seconds(m, row.acknowledgement.0)) " / " (seconds(m, row.acknowledgement.1)) }
                            td { (m.code("DELIVERY_STATE_ACKNOWLEDGED")) " " (row.answered.0) ", "
                                 (m.code("DELIVERY_STATE_DECLINED")) " " (row.answered.1) }
                            td {
                                (m.get("field-seizure")) " " (row.outcomes[0]) ", "
                                (m.get("field-nothingFound")) " " (row.outcomes[1]) ", "
                                (m.get("field-notInspected")) " " (row.outcomes[2]) ", "
                                (m.get("field-didNotArrive")) " " (row.outcomes[3])
                            }
                            td class=[(row.overdue > 0).then_some("overdue")] { (row.overdue) }
                        }
                    }
                }
            }
            p class="hint" { (m.get("report-times-hint")) }
        }
        @if view.refused.is_none() {
            p {
                a class="button" href={ (BASE) "/report.csv?" (PreEscaped(&query)) } download { (m.get("report-csv")) }
                " "
                a class="button" href={ (BASE) "/report-excel.csv?" (PreEscaped(&query)) } download { (m.get("report-excel")) }
            }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}

/// The page that verifies the ledger now, its progress live from `events` (Server-Sent Events).
pub fn verify(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    events: &str,
) -> String {
    let title = m.get("verify-title");
    let content = html! {
        p { a href={ (BASE) "/" } { (m.get("alert-back")) } }
        h1 { (title) }
        p class="hint" { (m.get("verify-hint")) }
        section class="card" id="verify" data-events=(events) {
            button type="button" id="verify-start" { (m.get("verify-start")) }
            label for="verify-progress" { (m.get("verify-progress")) }
            progress id="verify-progress" value="0" max="1" {}
            p id="verify-count" aria-live="polite" data-template=(m.with("verify-count", &[("checked", "{checked}"), ("total", "{total}")])) {}
            div id="verify-result" role="status" {}
            noscript { p class="notice bad" { (m.get("verify-needs-script")) } }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}

/// One reconciliation finding as the page lists it.
pub struct FindingRow {
    /// `RECONCILE_FINDING_KIND_…` name.
    pub kind: &'static str,
    /// The alert concerned.
    pub alert_id: String,
    /// The entry in this node's ledger.
    pub ledger_index: u64,
    /// What is wrong, for people.
    pub detail: String,
}

/// The reconciliation page's contents.
pub struct ReconcileView {
    /// The partners to choose from.
    pub partners: Vec<String>,
    /// The partner chosen, or "".
    pub partner: String,
    /// The first day, as typed or `YYYY-MM-DD`.
    pub from: String,
    /// The last day, as typed or `YYYY-MM-DD`.
    pub to: String,
    /// Sent, of them receipted; received, of them receipted; when a reconciliation ran.
    pub counts: Option<[u64; 4]>,
    /// What did not match.
    pub findings: Vec<FindingRow>,
    /// Why the request was refused, if it was.
    pub refused: Option<String>,
}

/// Every alert and response exchanged with a partner in a period matched against receipts.
pub fn reconcile(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    view: &ReconcileView,
) -> String {
    let title = m.get("reconcile-title");
    let content = html! {
        p { a href={ (BASE) "/" } { (m.get("alert-back")) } }
        h1 { (title) }
        form method="get" action={ (BASE) "/reconcile" } class="period" {
            label for="partner" { (m.get("report-partner")) }
            select id="partner" name="partner" required {
                option value="" { (m.get("compose-choose")) }
                @for partner in &view.partners {
                    option value=(partner) selected[*partner == view.partner] { (partner) }
                }
            }
            label for="from" { (m.get("report-from")) }
            input type="text" id="from" name="from" value=(view.from) inputmode="numeric";
            label for="to" { (m.get("report-to")) }
            input type="text" id="to" name="to" value=(view.to) inputmode="numeric";
            p class="hint" { (m.get("report-dates-hint")) }
            button type="submit" { (m.get("reconcile-run")) }
        }
        @if let Some(refused) = &view.refused {
            div class="notice bad" role="alert" { (refused) }
        }
        @if let Some([sent, sent_receipted, received, received_receipted]) = view.counts {
            dl class="summary" {
                dt { (m.code("DIRECTION_SENT")) } dd { (m.with("reconcile-receipted", &[("count", &sent.to_string()), ("receipted", &sent_receipted.to_string())])) }
                dt { (m.code("DIRECTION_RECEIVED")) } dd { (m.with("reconcile-receipted", &[("count", &received.to_string()), ("receipted", &received_receipted.to_string())])) }
            }
            @if view.findings.is_empty() {
                p class="notice good" { (m.get("reconcile-clean")) }
            } @else {
                table {
                    (column_heads(m, &[
                        "reconcile-finding",
                        "reconcile-alert",
                        "reconcile-entry",
                        "reconcile-detail",
                    ]))
                    tbody {
                        @for finding in &view.findings {
                            tr {
                                td class="overdue" { (m.code(finding.kind)) }
                                td { a href={ (BASE) "/alerts/" (finding.alert_id) } { (finding.alert_id) } }
                                td { "#" (finding.ledger_index) }
                                td { (finding.detail) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}

/// Which entries damage took, in the viewer's language.
fn damaged_entries(m: &Messages<'_>, (first, end): (u64, u64)) -> String {
    match end.saturating_sub(first) {
        0 => m.get("alarm-damage-none"),
        1 => m.with("alarm-damage-entry", &[("index", &first.to_string())]),
        _ => m.with(
            "alarm-damage-entries",
            &[
                ("first", &first.to_string()),
                ("last", &(end - 1).to_string()),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogs;

    #[test]
    fn damage_to_the_nodes_ledger_is_an_alarm_naming_the_segment_and_entries() {
        let catalogs = Catalogs::load().expect("catalogs");
        let alarms = [AlarmView::Damage {
            found_at: "2026-11-29T09:00:00Z".into(),
            segment: "00000000000000000018.seg".into(),
            offset: 2776,
            entries: (31, 32),
            reason: "frame checksum mismatch".into(),
        }];
        let en = partners(&catalogs.messages("en"), &[], &alarms).into_string();
        for shown in [
            "this node's ledger is damaged",
            "segment 00000000000000000018.seg, byte offset 2776",
            "entry 31 cannot be read back",
            "frame checksum mismatch",
            "tulpar ledger repair",
        ] {
            assert!(en.contains(shown), "{shown} missing: {en}");
        }
        let ru = partners(&catalogs.messages("ru"), &[], &alarms).into_string();
        assert!(ru.contains("журнал этого узла повреждён"), "{ru}");
        assert!(ru.contains("запись 31 не читается"), "{ru}");
        assert_eq!(
            damaged_entries(&catalogs.messages("en"), (31, 34)),
            "entries 31 to 33 cannot be read back"
        );
    }
}
