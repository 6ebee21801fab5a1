//! The focal point's pages: partners at a glance, and the exchange report for a period (page and CSV),
//! from the same figures as `AuditService` and `tulpar audit report`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tulpar_console::pages::{self, AccountRow, AlarmView, PartnerRow, ReportRow, ReportView};
use tulpar_core::proto;
use tulpar_core::time::to_timestamp;
use tulpar_trust::tls::Role;

use super::{BASE, Console, SignedIn, download, failure, form_fields, html, rfc3339, see_other};
use crate::error::ApiError;
use crate::node::Node;

/// How the report is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReportFormat {
    /// The page, with its chart.
    Page,
    /// The CSV of `tulpar audit report --csv`.
    Csv,
    /// CSV for spreadsheets in the viewer's language and regional settings.
    Excel,
}

/// Days shown when the page names no period.
const DEFAULT_DAYS: u64 = 30;
const DAY: u64 = 24 * 60 * 60;

/// The alarms of partners' forked ledgers, for the focal point's home page.
pub(super) fn alarms(node: &Node) -> Result<Vec<AlarmView>, ApiError> {
    Ok(node
        .auditor
        .alarms()?
        .alarms
        .into_iter()
        .map(|alarm| {
            let evidence = alarm.equivocation.unwrap_or_default();
            AlarmView {
                recorded_at: rfc3339(alarm.recorded_at),
                country: evidence.country,
                reason: evidence.reason,
                checkpoints: [evidence.known_checkpoint, evidence.conflicting_checkpoint],
            }
        })
        .collect())
}

/// Each partner's state, for the focal point's home page.
pub(super) fn partner_rows(node: &Node) -> Vec<PartnerRow> {
    node.peer_statuses()
        .into_iter()
        .map(|peer| PartnerRow {
            country: peer.country,
            reachable: (peer.last_contact.is_some() || !peer.last_error.is_empty())
                .then_some(peer.reachable),
            last_contact: peer
                .last_contact
                .map(|t| rfc3339(Some(t)))
                .unwrap_or_default(),
            outbox: peer.outbox_depth,
            undeliverable: peer.undeliverable,
            last_error: peer.last_error,
            directory_version: peer.directory_version,
        })
        .collect()
}

/// A day written as officers write it, `DD.MM.YYYY`, or as `YYYY-MM-DD`: its midnight (UTC).
fn day(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let shape = if text.contains('.') {
        "[day padding:none].[month padding:none].[year]"
    } else {
        "[year]-[month]-[day]"
    };
    let format = time::format_description::parse(shape).ok()?;
    let date = time::Date::parse(text, &format).ok()?;
    Some(date.midnight().assume_utc().into())
}

/// `YYYY-MM-DD` of a time (UTC).
fn date(at: SystemTime) -> String {
    time::OffsetDateTime::from(at).date().to_string()
}

impl Console {
    /// The exchange report for the period the query names, as a page or a CSV.
    pub(super) async fn report(
        &self,
        headers: &HeaderMap,
        query: &str,
        format: ReportFormat,
    ) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return see_other(&format!("{BASE}/sign-in?notice=session-ended"));
        };
        if signed_in.principal.role != Role::FocalPoint {
            return self.forbidden(&signed_in);
        }
        let query = form_fields(query);
        let today = {
            let now = self.node.context.clock.now();
            let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            UNIX_EPOCH + Duration::from_secs(secs - secs % DAY)
        };
        let given = |name: &str, default: SystemTime| match query.text(name) {
            "" => Ok(default),
            text => day(text)
                .ok_or_else(|| format!("{name}: {text:?} is not a date such as 29.11.2026")),
        };
        let period = given(
            "from",
            today - Duration::from_secs((DEFAULT_DAYS - 1) * DAY),
        )
        .and_then(|from| Ok((from, given("to", today)?)));
        let m = self.catalogs.messages(&signed_in.session.language);
        let (from, to) = match period {
            Ok(period) => period,
            Err(refused) => {
                let view = ReportView {
                    from: query.text("from").to_owned(),
                    to: query.text("to").to_owned(),
                    rows: Vec::new(),
                    refused: Some(format!("{} {refused}", m.get("report-refused"))),
                };
                return self.report_page(&signed_in, &view, StatusCode::UNPROCESSABLE_ENTITY);
            }
        };
        let request = proto::ExchangeReportRequest {
            partner: String::new(),
            from: Some(to_timestamp(from)),
            // The last day is included: the period ends at the next midnight.
            to: Some(to_timestamp(to + Duration::from_secs(DAY))),
        };
        let report = match self.node.auditor.exchange_report(request) {
            Ok(report) => report,
            Err(ApiError::Invalid(violations)) => {
                let rules: Vec<String> = violations
                    .into_vec()
                    .into_iter()
                    .map(|v| format!("{}: {}", v.field, v.rule))
                    .collect();
                let view = ReportView {
                    from: date(from),
                    to: date(to),
                    rows: Vec::new(),
                    refused: Some(format!("{} {}", m.get("report-refused"), rules.join("; "))),
                };
                return self.report_page(&signed_in, &view, StatusCode::UNPROCESSABLE_ENTITY);
            }
            Err(error) => return failure(error),
        };
        let name = format!(
            "tulpar-{}-report-{}-{}.csv",
            self.node.context.country,
            date(from),
            date(to)
        );
        match format {
            ReportFormat::Csv => {
                return download(tulpar_audit::report::report_csv(&report), &name);
            }
            ReportFormat::Excel => {
                let rows: Vec<ReportRow> = report.rows.iter().map(report_row).collect();
                let categories = self.choices.get("category").map_or(&[][..], Vec::as_slice);
                return download(tulpar_console::excel::report(&m, &rows, categories), &name);
            }
            ReportFormat::Page => {}
        }
        let view = ReportView {
            from: date(from),
            to: date(to),
            rows: report.rows.iter().map(report_row).collect(),
            refused: None,
        };
        self.report_page(&signed_in, &view, StatusCode::OK)
    }

    /// The country's accounts (focal points and administrators).
    pub(super) async fn accounts_page(&self, headers: &HeaderMap) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return see_other(&format!("{BASE}/sign-in?notice=session-ended"));
        };
        if !matches!(signed_in.principal.role, Role::FocalPoint | Role::Admin) {
            return self.forbidden(&signed_in);
        }
        let rows: Vec<AccountRow> = self
            .node
            .accounts
            .list()
            .await
            .into_iter()
            .map(|user| AccountRow {
                name: user.name,
                display_name: user.display_name,
                role: user.role,
                unit: user.unit,
                disabled: user.disabled,
                locked_until: user
                    .locked_until
                    .map(|t| rfc3339(Some(t)))
                    .unwrap_or_default(),
                last_sign_in: user
                    .last_sign_in_at
                    .map(|t| rfc3339(Some(t)))
                    .unwrap_or_default(),
            })
            .collect();
        let m = self.catalogs.messages(&signed_in.session.language);
        let body = pages::accounts(
            &m,
            &self.viewer(&signed_in),
            &self.catalogs.languages(),
            &rows,
        );
        html(StatusCode::OK, body)
    }

    /// Disables an account from the accounts page; recorded in the ledger as done by the viewer.
    pub(super) async fn disable_account(
        &self,
        request: axum::http::Request<Body>,
        name: &str,
    ) -> Response {
        let (signed_in, _) = match self.checked_form(request).await {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        if !matches!(signed_in.principal.role, Role::FocalPoint | Role::Admin) {
            return self.forbidden(&signed_in);
        }
        match self.node.accounts.disable(&signed_in.principal, name).await {
            Ok(_) => see_other(&format!("{BASE}/accounts")),
            Err(ApiError::NotFound(_)) => self.forbidden(&signed_in),
            Err(error) => failure(error),
        }
    }

    fn report_page(&self, signed_in: &SignedIn, view: &ReportView, status: StatusCode) -> Response {
        let m = self.catalogs.messages(&signed_in.session.language);
        let body = pages::report(
            &m,
            &self.viewer(signed_in),
            &self.catalogs.languages(),
            view,
        );
        html(status, body)
    }
}

fn report_row(figures: &proto::ExchangeFigures) -> ReportRow {
    ReportRow {
        partner: figures.partner.clone(),
        direction: figures.direction().as_str_name(),
        alerts: figures.alerts,
        delivered: figures.delivered,
        delivery: (
            figures.delivery_seconds_median,
            figures.delivery_seconds_p90,
        ),
        acknowledgement: (
            figures.acknowledgement_seconds_median,
            figures.acknowledgement_seconds_p90,
        ),
        answered: (figures.acknowledged, figures.declined),
        outcomes: [
            figures.outcomes_seizure,
            figures.outcomes_nothing_found,
            figures.outcomes_not_inspected,
            figures.outcomes_did_not_arrive,
        ],
        overdue: figures.overdue,
        by_category: figures
            .by_category
            .iter()
            .map(|count| (count.category().as_str_name(), count.count))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_as_officers_write_them_and_back() {
        let day_of = |text: &str| day(text).map(date);
        assert_eq!(day_of("29.11.2026").as_deref(), Some("2026-11-29"));
        assert_eq!(day_of("2026-11-29").as_deref(), Some("2026-11-29"));
        assert_eq!(day_of("1.3.2024").as_deref(), Some("2024-03-01"));
        assert_eq!(day_of("29.02.2024").as_deref(), Some("2024-02-29"));
        assert_eq!(day_of("29.02.2026"), None);
        assert_eq!(day_of("31.04.2026"), None);
        assert_eq!(day_of("yesterday"), None);
        assert_eq!(day(" 1970-01-01 "), Some(UNIX_EPOCH));
    }
}
