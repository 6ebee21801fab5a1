//! The focal point's pages: partners at a glance, and the exchange report for a period (page and CSV),
//! from the same figures as `AuditService` and `tulpar audit report`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tulpar_console::pages::{
    self, AccountRow, AlarmView, FindingRow, MonthRow, PartnerRow, ReconcileView, ReportRow,
    ReportView,
};
use tulpar_core::proto;
use tulpar_core::time::to_timestamp;
use tulpar_trust::tls::Role;

use super::{
    BASE, Console, Form, SignedIn, download, empty, failure, form_fields, html, localized, rfc3339,
    same_bytes, see_other,
};
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

/// A partner's cosignature older than this is shown as stale (as the monitoring rule would alert).
const COSIGNATURE_STALE: Duration = Duration::from_secs(24 * 60 * 60);

/// Days shown when the page names no period.
const DEFAULT_DAYS: u64 = 30;
const DAY: u64 = 24 * 60 * 60;

/// The alarms of partners' forked ledgers and of damage to this node's own, for the focal point's
/// home page.
pub(super) fn alarms(node: &Node) -> Result<Vec<AlarmView>, ApiError> {
    Ok(node
        .auditor
        .alarms()?
        .alarms
        .into_iter()
        .map(|alarm| match alarm.damage {
            Some(damage) => AlarmView::Damage {
                found_at: rfc3339(damage.found_at),
                segment: damage.segment,
                offset: damage.offset,
                entries: (damage.first_index, damage.end_index),
                reason: damage.reason,
            },
            None => {
                let evidence = alarm.equivocation.unwrap_or_default();
                AlarmView::Equivocation {
                    recorded_at: rfc3339(alarm.recorded_at),
                    country: evidence.country,
                    reason: evidence.reason,
                    checkpoints: [evidence.known_checkpoint, evidence.conflicting_checkpoint],
                }
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
            last_delivery: peer
                .last_delivery
                .map(|t| rfc3339(Some(t)))
                .unwrap_or_default(),
            cosignature_stale: {
                let cosigned = peer
                    .cosigned_at
                    .as_ref()
                    .and_then(tulpar_core::time::from_timestamp);
                let now = node.context.clock.now();
                match cosigned {
                    Some(at) => now
                        .duration_since(at)
                        .is_ok_and(|age| age > COSIGNATURE_STALE),
                    None => peer.last_contact.is_some(),
                }
            },
            cosigned: (
                peer.cosigned_size,
                peer.cosigned_at
                    .map(|t| rfc3339(Some(t)))
                    .unwrap_or_default(),
            ),
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
    /// The first and last day (midnights, UTC) the query's `from` and `to` name, the last
    /// [`DEFAULT_DAYS`] to today when it names none; why not, naming the field, when one is no date.
    fn period(&self, query: &Form) -> Result<(SystemTime, SystemTime), String> {
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
        let from = given(
            "from",
            today - Duration::from_secs((DEFAULT_DAYS - 1) * DAY),
        )?;
        Ok((from, given("to", today)?))
    }

    /// The page that verifies the ledger now, for focal points.
    pub(super) async fn verify_page(&self, headers: &HeaderMap) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return see_other(&format!("{BASE}/sign-in?notice=session-ended"));
        };
        if signed_in.principal.role != Role::FocalPoint {
            return self.forbidden(&signed_in);
        }
        let m = self.catalogs.messages(&signed_in.session.language);
        let events = format!("{BASE}/verify/events?csrf={}", signed_in.session.csrf);
        let viewer = self.viewer(&signed_in);
        html(
            StatusCode::OK,
            pages::verify(&m, &viewer, &self.catalogs.languages(), &events),
        )
    }

    /// A verification of the whole ledger started now, its progress as Server-Sent Events; the last
    /// event says in the viewer's language what was found. The session's token must come with it, as
    /// with a form: it starts work a page of another site must not start.
    pub(super) async fn verify_events(&self, headers: &HeaderMap, query: &str) -> Response {
        use futures_util::StreamExt;
        let Some(signed_in) = self.signed_in(headers).await else {
            return empty(StatusCode::UNAUTHORIZED);
        };
        let token_holds = form_fields(query)
            .get("csrf")
            .is_some_and(|given| same_bytes(given.as_bytes(), signed_in.session.csrf.as_bytes()));
        if !token_holds || signed_in.principal.role != Role::FocalPoint {
            return empty(StatusCode::FORBIDDEN);
        }
        let m = self.catalogs.messages(&signed_in.session.language);
        let busy = m.get("verify-busy");
        let (ok_text, failed_text) = (m.get("verify-ok"), m.get("verify-failed"));
        let revoked_text = m.get("verify-revoked");
        let events = match self.audit.start_verification() {
            Ok(progress) => progress
                .map(move |item| {
                    item.map(|p| VerifyEvent::of(&p, &ok_text, &failed_text, &revoked_text))
                })
                .boxed(),
            Err(ApiError::ResourceExhausted(_)) => {
                let event = VerifyEvent {
                    done: true,
                    message: busy,
                    ..VerifyEvent::default()
                };
                futures_util::stream::iter([Ok::<_, tonic::Status>(event)]).boxed()
            }
            Err(error) => return failure(error),
        };
        let (sessions, id) = (self.sessions.clone(), signed_in.id.clone());
        let events = events.take_while(move |_| std::future::ready(sessions.is_open(&id)));
        let mut sse = HeaderMap::new();
        sse.insert(
            axum::http::header::ACCEPT,
            axum::http::HeaderValue::from_static("text/event-stream"),
        );
        crate::http_api::stream_response(&sse, events)
    }

    /// Every alert and response exchanged with a partner in a period, matched against receipts.
    pub(super) async fn reconcile_page(&self, headers: &HeaderMap, query: &str) -> Response {
        let Some(signed_in) = self.signed_in(headers).await else {
            return see_other(&format!("{BASE}/sign-in?notice=session-ended"));
        };
        if signed_in.principal.role != Role::FocalPoint {
            return self.forbidden(&signed_in);
        }
        let m = self.catalogs.messages(&signed_in.session.language);
        let query = form_fields(query);
        let partner = query.text("partner").to_owned();
        let mut view = ReconcileView {
            partners: self.partner_codes(),
            partner: partner.clone(),
            from: query.text("from").to_owned(),
            to: query.text("to").to_owned(),
            counts: None,
            findings: Vec::new(),
            refused: None,
        };
        let mut status = StatusCode::OK;
        match self.period(&query) {
            Err(refused) => {
                view.refused = Some(format!("{} {refused}", m.get("report-refused")));
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
            Ok((from, to)) => {
                (view.from, view.to) = (date(from), date(to));
                if !partner.is_empty() {
                    let request = proto::ReconcileRequest {
                        partner,
                        from: Some(to_timestamp(from)),
                        to: Some(to_timestamp(to + Duration::from_secs(DAY))),
                        late_after_seconds: 0,
                    };
                    match self.audit.reconcile_now(request).await {
                        Ok(report) => {
                            view.counts = Some([
                                report.sent,
                                report.sent_receipted,
                                report.received,
                                report.received_receipted,
                            ]);
                            view.findings = report
                                .findings
                                .iter()
                                .map(|f| FindingRow {
                                    kind: f.kind().as_str_name(),
                                    alert_id: f.alert_id.clone(),
                                    ledger_index: f.ledger_index,
                                    detail: f.detail.clone(),
                                })
                                .collect();
                        }
                        Err(ApiError::Invalid(violations)) => {
                            let rules: Vec<String> = violations
                                .as_slice()
                                .iter()
                                .map(|v| format!("{}: {}", v.field, localized(&m, v)))
                                .collect();
                            view.refused =
                                Some(format!("{} {}", m.get("report-refused"), rules.join("; ")));
                            status = StatusCode::UNPROCESSABLE_ENTITY;
                        }
                        Err(error) => return failure(error),
                    }
                }
            }
        }
        let viewer = self.viewer(&signed_in);
        html(
            status,
            pages::reconcile(&m, &viewer, &self.catalogs.languages(), &view),
        )
    }

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
        let period = self.period(&query);
        let m = self.catalogs.messages(&signed_in.session.language);
        let (from, to) = match period {
            Ok(period) => period,
            Err(refused) => {
                let view = ReportView {
                    from: query.text("from").to_owned(),
                    to: query.text("to").to_owned(),
                    rows: Vec::new(),
                    months: Vec::new(),
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
                    months: Vec::new(),
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
        let until = to + Duration::from_secs(DAY);
        let months = match self.node.auditor.monthly_figures(from, until) {
            Ok(months) => months
                .iter()
                .map(|(start, rows)| month_row(*start, rows))
                .collect(),
            Err(error) => return failure(error),
        };
        let view = ReportView {
            from: date(from),
            to: date(to),
            rows: report.rows.iter().map(report_row).collect(),
            months,
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

/// What the verify page hears of the verification.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct VerifyEvent {
    checked: u64,
    total: u64,
    done: bool,
    ok: bool,
    /// On the last event: what was found, in the viewer's language.
    message: String,
}

impl VerifyEvent {
    fn of(progress: &proto::VerifyLedgerProgress, ok: &str, failed: &str, revoked: &str) -> Self {
        let message = match (progress.done, progress.ok) {
            (false, _) => String::new(),
            (true, true) if progress.revoked_signatures.is_empty() => ok.to_owned(),
            (true, true) => format!("{ok} {revoked} {}", progress.revoked_signatures.len()),
            (true, false) => format!("{failed} {}", progress.error),
        };
        Self {
            checked: progress.checked,
            total: progress.total,
            done: progress.done,
            ok: progress.ok,
            message,
        }
    }
}

impl crate::http_api::StreamItem for VerifyEvent {
    fn event_id(&self) -> Option<u64> {
        None
    }
}

/// One month's alerts by direction and category, summed over partners.
fn month_row(start: SystemTime, rows: &[proto::ExchangeFigures]) -> MonthRow {
    let sum = |direction: proto::Direction| {
        let mut counts: Vec<(&'static str, u64)> = Vec::new();
        for count in rows
            .iter()
            .filter(|r| r.direction() == direction)
            .flat_map(|r| &r.by_category)
        {
            let name = count.category().as_str_name();
            match counts.iter_mut().find(|(c, _)| *c == name) {
                Some((_, n)) => *n += count.count,
                None => counts.push((name, count.count)),
            }
        }
        counts
    };
    MonthRow {
        month: date(start)[..7].to_owned(),
        sent: sum(proto::Direction::Sent),
        received: sum(proto::Direction::Received),
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
