//! The focal point's pages: each partner's state at a glance, and the exchange report for a period with
//! a chart and its CSV.

use maud::{Markup, PreEscaped, html};

use super::{BASE, Viewer, page, time};
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
}

/// Evidence that a partner's ledger forked, as the focal point's home page shows it.
pub struct AlarmView {
    /// When it was recorded, RFC 3339.
    pub recorded_at: String,
    /// The partner.
    pub country: String,
    /// Why the two checkpoints cannot both be true.
    pub reason: String,
    /// The checkpoint held before and the conflicting one (signed notes).
    pub checkpoints: [String; 2],
}

/// The partners' table of the focal point's home page, with any alarms above it.
pub fn partners(m: &Messages<'_>, rows: &[PartnerRow], alarms: &[AlarmView]) -> Markup {
    html! {
        @for alarm in alarms {
            section class="card alarm" role="alert" {
                h2 class="overdue" { (m.with("alarm-title", &[("country", &alarm.country)])) }
                p { (time(m, &alarm.recorded_at)) " · " (alarm.reason) }
                details {
                    summary { (m.get("alarm-evidence")) }
                    pre { (alarm.checkpoints[0]) }
                    pre { (alarm.checkpoints[1]) }
                }
            }
        }
        section class="card" {
            h2 { (m.get("partners-title")) }
            table {
                thead {
                    tr {
                        th scope="col" { (m.get("partners-country")) }
                        th scope="col" { (m.get("partners-state")) }
                        th scope="col" { (m.get("partners-last-contact")) }
                        th scope="col" { (m.get("partners-outbox")) }
                        th scope="col" { (m.get("partners-undeliverable")) }
                        th scope="col" { (m.get("partners-directory")) }
                    }
                }
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
                            td { (row.outbox) }
                            td class=[(row.undeliverable > 0).then_some("overdue")] { (row.undeliverable) }
                            td { (row.directory_version) }
                        }
                    }
                }
            }
            p {
                a class="button" href={ (BASE) "/report" } { (m.get("report-title")) } " "
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
    /// Why the period was refused, if it was.
    pub refused: Option<String>,
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

/// Bars of alerts per category, one per direction, as inline SVG with the figures in its title.
fn chart(m: &Messages<'_>, rows: &[ReportRow]) -> Markup {
    let mut categories: Vec<&'static str> = Vec::new();
    for row in rows {
        for (category, count) in &row.by_category {
            if *count > 0 && !categories.contains(category) {
                categories.push(category);
            }
        }
    }
    let count = |category: &str, direction: &str| -> u64 {
        rows.iter()
            .filter(|r| r.direction == direction)
            .flat_map(|r| r.by_category.iter())
            .filter(|(c, _)| *c == category)
            .map(|(_, n)| n)
            .sum()
    };
    let most = categories
        .iter()
        .flat_map(|c| [count(c, "DIRECTION_SENT"), count(c, "DIRECTION_RECEIVED")])
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, gap, width) = (22u64, 18u64, 640u64);
    let height = categories.len() as u64 * (2 * bar + gap) + 10;
    // Room is left at the right for the figure beside the longest bar.
    let scale = |n: u64| n * (width - 300) / most;
    html! {
        svg class="chart" role="img" viewBox={ "0 0 " (width) " " (height) } width=(width) height=(height)
            aria-labelledby="chart-title" {
            title id="chart-title" { (m.get("report-chart")) }
            @for (i, category) in categories.iter().enumerate() {
                @let y = i as u64 * (2 * bar + gap);
                text x="0" y=(y + bar + 4) class="label" { (m.code(category)) }
                @for (j, direction) in ["DIRECTION_SENT", "DIRECTION_RECEIVED"].iter().enumerate() {
                    @let n = count(category, direction);
                    rect x="250" y=(y + j as u64 * bar) width=(scale(n).max(1)) height=(bar - 4)
                        class=(if j == 0 { "sent" } else { "received" }) {
                        title { (m.code(direction)) ": " (n) }
                    }
                    text x=(256 + scale(n)) y=(y + j as u64 * bar + bar - 8) class="figure" { (n) }
                }
            }
        }
        p class="legend" {
            span class="swatch sent" {} (m.code("DIRECTION_SENT")) " "
            span class="swatch received" {} (m.code("DIRECTION_RECEIVED"))
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
            (chart(m, &view.rows))
            table {
                thead {
                    tr {
                        th scope="col" { (m.get("report-partner")) }
                        th scope="col" { (m.get("alert-direction")) }
                        th scope="col" { (m.get("report-alerts")) }
                        th scope="col" { (m.get("report-delivered")) }
                        th scope="col" { (m.get("report-delivery-time")) }
                        th scope="col" { (m.get("report-answer-time")) }
                        th scope="col" { (m.get("report-answered")) }
                        th scope="col" { (m.get("report-outcomes")) }
                        th scope="col" { (m.get("report-overdue")) }
                    }
                }
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
