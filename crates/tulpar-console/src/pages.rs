//! The pages, as HTML. Each takes what the node decided to show and the viewer's messages; every
//! word comes from the catalogs, every value is escaped.

use maud::{DOCTYPE, Markup, html};

use crate::Messages;

mod alert;
mod compose;
mod focal;

pub use alert::{AlertView, AnswerView, AttachmentView, RecipientView, StepView, alert};
pub use compose::{ComposeView, DraftRow, TEMPLATES, compose};
pub use focal::{
    AccountRow, AlarmView, FindingRow, MonthRow, PartnerRow, ReconcileView, ReportRow, ReportView,
    accounts, partners, reconcile, report, verify,
};

/// Where the console is served.
pub const BASE: &str = "/console";

/// Who is looking, for the page frame.
pub struct Viewer<'a> {
    /// The person's name as shown.
    pub display_name: &'a str,
    /// "officer", "focal-point" or "admin".
    pub role: &'a str,
    /// The unit an officer acts for.
    pub unit: &'a str,
    /// The node's country.
    pub country: &'a str,
    /// The session's token against cross-site requests, sent back with every form.
    pub csrf: &'a str,
}

/// The frame every page shares: the bar with who is signed in, the language menu and signing out.
pub(crate) fn page(
    m: &Messages<'_>,
    title: &str,
    viewer: Option<&Viewer<'_>>,
    languages: &[(String, String)],
    content: Markup,
) -> String {
    let app = m.get("app-title");
    html! {
        (DOCTYPE)
        html lang=(m.language()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (app) }
                link rel="stylesheet" href={ (BASE) "/assets/console.css" };
                script src={ (BASE) "/assets/console.js" } defer {}
            }
            body {
                a class="skip" href="#content" { (m.get("skip-to-content")) }
                header class="bar" {
                    span class="brand" { (app) }
                    @if let Some(viewer) = viewer {
                        span class="who" {
                            (m.with("signed-in-as", &[("name", viewer.display_name)]))
                            " · "
                            (role_line(m, viewer))
                        }
                        form method="post" action={ (BASE) "/language" } {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            label for="language" { (m.get("language-menu")) }
                            select id="language" name="language" {
                                @for (code, name) in languages {
                                    option value=(code) selected[code == m.language()] { (name) }
                                }
                            }
                            button class="quiet" type="submit" { (m.get("language-apply")) }
                        }
                        form method="post" action={ (BASE) "/sign-out" } {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button class="quiet" type="submit" { (m.get("sign-out")) }
                        }
                    }
                }
                main id="content" { (content) }
            }
        }
    }
    .into_string()
}

fn role_line(m: &Messages<'_>, viewer: &Viewer<'_>) -> String {
    match viewer.role {
        "officer" => m.with("role-officer", &[("unit", viewer.unit)]),
        "focal-point" => m.with("role-focal-point", &[("country", viewer.country)]),
        _ => m.with("role-admin", &[("country", viewer.country)]),
    }
}

/// Why the sign-in page is shown again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInNotice {
    /// The name, password or code is wrong.
    Wrong,
    /// The account needs a TOTP code.
    CodeNeeded,
    /// The account is locked until this time (UTC).
    Locked(String),
    /// Too many sign-ins at once.
    Busy,
    /// Too many failed sign-ins from this address.
    Throttled,
    /// The node could not sign anyone in.
    Failed,
    /// The person signed out.
    SignedOut,
    /// The session ended (idle, too old, or the account disabled).
    SessionEnded,
    /// A form without a valid token against cross-site requests.
    Expired,
    /// No client certificate of a person came with the certificate sign-in.
    NoCertificate,
}

/// The sign-in form, with `name` filled in again after a failure, and a button to sign in with the
/// client certificate the browser presented (`certificate` names whom it names).
pub fn sign_in(
    m: &Messages<'_>,
    languages: &[(String, String)],
    notice: Option<&SignInNotice>,
    name: &str,
    certificate: Option<&str>,
) -> String {
    let title = m.get("sign-in-title");
    let (class, text) = match notice {
        None => ("", String::new()),
        Some(SignInNotice::Wrong) => ("bad", m.get("sign-in-wrong")),
        Some(SignInNotice::CodeNeeded) => ("bad", m.get("sign-in-code-needed")),
        Some(SignInNotice::Locked(until)) => ("bad", m.with("sign-in-locked", &[("until", until)])),
        Some(SignInNotice::Busy) => ("bad", m.get("sign-in-busy")),
        Some(SignInNotice::Throttled) => ("bad", m.get("sign-in-throttled")),
        Some(SignInNotice::Failed) => ("bad", m.get("sign-in-failed")),
        Some(SignInNotice::SignedOut) => ("info", m.get("signed-out")),
        Some(SignInNotice::SessionEnded) => ("info", m.get("session-ended")),
        Some(SignInNotice::Expired) => ("bad", m.get("refused-csrf")),
        Some(SignInNotice::NoCertificate) => ("bad", m.get("sign-in-no-certificate")),
    };
    let content = html! {
        div class="card narrow" {
            h1 { (title) }
            p class="hint" { (m.get("app-tagline")) }
            @if notice.is_some() {
                div class={ "notice " (class) } role="alert" { (text) }
            }
            form method="post" action={ (BASE) "/sign-in" } {
                input type="hidden" name="language" value=(m.language());
                label for="name" { (m.get("sign-in-name")) }
                input type="text" id="name" name="name" value=(name) autocomplete="username"
                    autocapitalize="none" required autofocus[name.is_empty()];
                label for="password" { (m.get("sign-in-password")) }
                input type="password" id="password" name="password"
                    autocomplete="current-password" required autofocus[!name.is_empty()];
                label for="code" { (m.get("sign-in-code")) }
                input type="text" id="code" name="code" inputmode="numeric"
                    autocomplete="one-time-code" aria-describedby="code-hint";
                p class="hint" id="code-hint" { (m.get("sign-in-code-hint")) }
                div class="actions" {
                    button type="submit" { (m.get("sign-in-submit")) }
                }
            }
            @if let Some(holder) = certificate {
                form method="post" action={ (BASE) "/sign-in-certificate" } class="certificate" {
                    input type="hidden" name="language" value=(m.language());
                    button type="submit" class="secondary" {
                        (m.with("sign-in-certificate", &[("name", holder)]))
                    }
                }
            }
            p class="languages" {
                @for (code, language) in languages {
                    @if code != m.language() {
                        a href={ (BASE) "/sign-in?language=" (code) } lang=(code) { (language) }
                    }
                }
            }
        }
    };
    page(m, &title, None, languages, content)
}

/// One recipient's cell of an alert's row.
pub struct RecipientCell {
    /// The recipient country.
    pub country: String,
    /// Its state, as a `DELIVERY_STATE_…` name.
    pub state: &'static str,
    /// Whether its acknowledgement is overdue.
    pub overdue: bool,
    /// The acknowledgement deadline (RFC 3339) while an acknowledgement is still awaited, else empty.
    pub deadline: String,
}

/// One alert in a list.
pub struct AlertRow {
    /// Its id.
    pub alert_id: String,
    /// When it was created, RFC 3339 in UTC.
    pub created: String,
    /// `DIRECTION_…` name.
    pub direction: &'static str,
    /// `PRIORITY_…` name.
    pub priority: &'static str,
    /// `THREAT_CATEGORY_…` name.
    pub category: &'static str,
    /// The unit that raised it.
    pub origin: String,
    /// Each recipient country's state.
    pub recipients: Vec<RecipientCell>,
    /// The index of the ledger entry that recorded the alert, when it is damaged on the node's disk:
    /// the row then holds only what the node's state view keeps.
    pub damaged_entry: Option<u64>,
}

/// A time for people: the viewer's local time (filled in by the page's script) above UTC.
pub(crate) fn time(m: &Messages<'_>, rfc3339: &str) -> Markup {
    let utc = rfc3339
        .get(..16)
        .map_or_else(|| rfc3339.to_owned(), |t| t.replace('T', " "));
    html! {
        time datetime=(rfc3339) {
            span class="utc" { (m.with("time-utc", &[("time", &utc)])) }
        }
    }
}

/// The list's filters: what is chosen, and what may be.
pub struct Filters<'a> {
    /// The query string of the chosen filters, for the list's live refresh.
    pub query: String,
    /// The chosen `DIRECTION_…`, `THREAT_CATEGORY_…` and `DELIVERY_STATE_…` names and partner, or "".
    pub direction: String,
    /// See `direction`.
    pub category: String,
    /// See `direction`.
    pub state: String,
    /// See `direction`.
    pub country: String,
    /// The chosen `PRIORITY_…` name, or "".
    pub priority: String,
    /// A container, document, vessel, flight, train or plate number to search for, as typed.
    pub search: String,
    /// Only alerts with an overdue recipient.
    pub overdue: bool,
    /// What the node refused of the filters, in the viewer's language.
    pub problem: Option<String>,
    /// The categories to choose from.
    pub categories: &'a [&'static str],
    /// The priorities to choose from.
    pub priorities: &'a [&'static str],
    /// The states to choose from.
    pub states: &'a [&'static str],
    /// The partner countries to choose from.
    pub countries: Vec<String>,
}

/// What the home page lists.
pub struct ListView<'a> {
    /// The alerts, newest first.
    pub rows: Vec<AlertRow>,
    /// How many are shown when there are more.
    pub shown_at_most: Option<usize>,
    /// For a focal point, each partner's state and any alarms.
    pub partners: Option<(Vec<PartnerRow>, Vec<AlarmView>)>,
    /// The filters.
    pub filters: Filters<'a>,
}

fn filters(m: &Messages<'_>, filters: &Filters<'_>) -> Markup {
    let select = |name: &str, label: &str, chosen: &str, options: &[&str]| {
        html! {
            div {
                label for={ "filter-" (name) } { (m.get(label)) }
                select id={ "filter-" (name) } name=(name) {
                    option value="" { (m.get("filter-any")) }
                    @for option in options {
                        option value=(option) selected[*option == chosen] { (m.code(option)) }
                    }
                }
            }
        }
    };
    html! {
        form method="get" action={ (BASE) "/" } class="filters" role="search" {
            div class="search" {
                label for="filter-search" { (m.get("filter-search")) }
                input type="search" id="filter-search" name="search" value=(filters.search)
                    placeholder=(m.get("filter-search-hint"))
                    aria-invalid=[filters.problem.as_ref().map(|_| "true")]
                    aria-describedby=[filters.problem.as_ref().map(|_| "filter-problem")];
            }
            (select("direction", "alert-direction", &filters.direction, &["DIRECTION_SENT", "DIRECTION_RECEIVED"]))
            (select("category", "field-category", &filters.category, filters.categories))
            (select("priority", "field-priority", &filters.priority, filters.priorities))
            (select("state", "alert-state", &filters.state, filters.states))
            div {
                label for="filter-country" { (m.get("field-country")) }
                select id="filter-country" name="country" {
                    option value="" { (m.get("filter-any")) }
                    @for country in &filters.countries {
                        option value=(country) selected[*country == filters.country] { (alert::country(m, country)) }
                    }
                }
            }
            label class="choice" {
                input type="checkbox" name="overdue" value="true" checked[filters.overdue];
                " " (m.get("filter-overdue"))
            }
            button type="submit" { (m.get("filter-apply")) }
            @if let Some(problem) = &filters.problem {
                p class="error" id="filter-problem" role="alert" { (problem) }
            }
        }
    }
}

/// The alerts the viewer may see, newest first.
pub fn alerts(
    m: &Messages<'_>,
    viewer: &Viewer<'_>,
    languages: &[(String, String)],
    view: &ListView<'_>,
) -> String {
    let title = m.get("alerts-title");
    let rows_url = if view.filters.query.is_empty() {
        format!("{BASE}/rows")
    } else {
        format!("{BASE}/rows?{}", view.filters.query)
    };
    let content = html! {
        @if let Some((partner_rows, alarms)) = &view.partners {
            (partners(m, partner_rows, alarms))
        }
        h1 { (title) }
        @if viewer.role == "admin" {
            p class="notice info" { (m.get("admin-no-alerts")) }
        } @else {
            @if viewer.role == "officer" {
                p { a class="button" href={ (BASE) "/compose" } { (m.get("compose-title")) } }
            }
            p class="signals" {
                button type="button" id="enable-signals" hidden
                    data-urgent-title=(m.get("signal-urgent-title"))
                    data-enabled=(m.get("signals-enabled")) {
                    (m.get("signals-enable"))
                }
            }
            (filters(m, &view.filters))
            div id="alert-list" aria-live="polite"
                data-live={ (BASE) "/events" } data-rows=(rows_url)
                data-left=(m.with("alerts-left", &[("left", "{left}")]))
                data-overdue=(m.get("alerts-overdue")) {
                (alert_list(m, &view.rows, view.shown_at_most))
            }
        }
    };
    page(m, &title, Some(viewer), languages, content)
}

/// The list of alerts alone, which the page fetches again when an event comes.
pub fn alert_list(m: &Messages<'_>, rows: &[AlertRow], shown_at_most: Option<usize>) -> Markup {
    html! {
        @if rows.is_empty() {
            p class="notice info" { (m.get("alerts-empty")) }
        } @else {
            table {
                (column_heads(m, &[
                    "alerts-column-created",
                    "alerts-column-direction",
                    "alerts-column-priority",
                    "alerts-column-category",
                    "alerts-column-origin",
                    "alerts-column-recipients",
                ]))
                tbody {
                    @for row in rows {
                        tr id={ "alert-" (row.alert_id) }
                            class=[row.recipients.iter().any(|r| r.overdue).then_some("alarm")] {
                            td {
                                a href={ (BASE) "/alerts/" (row.alert_id) } {
                                    @if let Some(index) = row.damaged_entry {
                                        span class="overdue" {
                                            (m.with("alerts-damaged", &[("index", &index.to_string())]))
                                        }
                                    } @else {
                                        (time(m, &row.created))
                                    }
                                }
                            }
                            td { (m.code(row.direction)) }
                            td class=[(row.priority == "PRIORITY_URGENT").then_some("urgent")] {
                                (m.code(row.priority))
                            }
                            td { (m.code(row.category)) }
                            td { (row.origin) }
                            td {
                                @for recipient in &row.recipients {
                                    div class="state" {
                                        (recipient.country) ": " (m.code(recipient.state))
                                        @if recipient.overdue {
                                            " · " span class="overdue" { (m.get("alerts-overdue")) }
                                        } @else if !recipient.deadline.is_empty() {
                                            " · " span class="countdown" data-deadline=(recipient.deadline) {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(count) = shown_at_most {
                p class="hint" { (m.with("alerts-more", &[("count", &count.to_string())])) }
            }
        }
    }
}

/// A table's head: one column header per message id, in the viewer's language.
pub(crate) fn column_heads(m: &Messages<'_>, ids: &[&str]) -> Markup {
    html! {
        thead { tr { @for id in ids { th scope="col" { (m.get(id)) } } } }
    }
}

/// A page that does not exist.
pub fn not_found(
    m: &Messages<'_>,
    viewer: Option<&Viewer<'_>>,
    languages: &[(String, String)],
) -> String {
    notice(m, viewer, languages, "page-not-found")
}

/// A page that says one thing, message `id`, with the way back to the alerts.
pub fn notice(
    m: &Messages<'_>,
    viewer: Option<&Viewer<'_>>,
    languages: &[(String, String)],
    id: &str,
) -> String {
    let text = m.get(id);
    let content = html! { h1 { (text) } p { a href={ (BASE) "/" } { (m.get("alerts-title")) } } };
    page(m, &text, viewer, languages, content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalogs;

    fn viewer() -> Viewer<'static> {
        Viewer {
            display_name: "Айгерим <Сейтова>",
            role: "officer",
            unit: "KZ-AKTAU-PCU",
            country: "KZ",
            csrf: "token-1",
        }
    }

    #[test]
    fn pages_speak_the_viewers_language_and_escape_what_they_show() {
        let catalogs = Catalogs::load().expect("catalogs");
        let languages = catalogs.languages();
        let ru = catalogs.messages("ru");
        let rows = [
            AlertRow {
                alert_id: "01a2".into(),
                created: "2026-11-29T09:00:00Z".into(),
                direction: "DIRECTION_SENT",
                priority: "PRIORITY_URGENT",
                category: "THREAT_CATEGORY_DRUGS_AND_PRECURSORS",
                origin: "KZ-AKTAU-PCU".into(),
                recipients: vec![RecipientCell {
                    country: "UZ".into(),
                    state: "DELIVERY_STATE_DELIVERED",
                    overdue: true,
                    deadline: String::new(),
                }],
                damaged_entry: None,
            },
            AlertRow {
                alert_id: "01a3".into(),
                created: String::new(),
                direction: "DIRECTION_SENT",
                priority: "PRIORITY_UNSPECIFIED",
                category: "THREAT_CATEGORY_UNSPECIFIED",
                origin: String::new(),
                recipients: Vec::new(),
                damaged_entry: Some(31),
            },
        ];
        let view = ListView {
            rows: rows.into(),
            shown_at_most: None,
            partners: None,
            filters: Filters {
                query: "category=THREAT_CATEGORY_CASH".into(),
                direction: String::new(),
                category: "THREAT_CATEGORY_CASH".into(),
                state: String::new(),
                country: String::new(),
                priority: String::new(),
                search: String::new(),
                overdue: false,
                problem: None,
                categories: &["THREAT_CATEGORY_CASH"],
                priorities: &[],
                states: &[],
                countries: vec!["UZ".into()],
            },
        };
        let html = alerts(&ru, &viewer(), &languages, &view);
        assert!(html.contains("data-rows=\"/console/rows?category=THREAT_CATEGORY_CASH\""));
        assert!(html.contains("value=\"THREAT_CATEGORY_CASH\" selected"));
        assert!(html.contains("<html lang=\"ru\">"));
        for russian in [
            "Оповещения",
            "Срочный",
            "Наркотики и прекурсоры",
            "Доставлено",
            "просрочено",
            "Повреждено на диске (запись журнала 31)",
        ] {
            assert!(html.contains(russian), "{russian} missing");
        }
        assert!(html.contains("Айгерим &lt;Сейтова&gt;"), "escaped");
        assert!(html.contains("name=\"csrf\" value=\"token-1\""));
        assert!(html.contains("2026-11-29 09:00 UTC"));
        let signing_in = sign_in(
            &catalogs.messages("en"),
            &languages,
            Some(&SignInNotice::Locked("2026-11-29 10:00".into())),
            "a.seitova",
            Some("cert:officer/KZ-AKTAU-PCU"),
        );
        assert!(signing_in.contains("Sign in with your certificate (cert:officer/KZ-AKTAU-PCU)"));
        assert!(signing_in.contains("locked until 2026-11-29 10:00"));
        assert!(signing_in.contains("value=\"a.seitova\""));
        assert!(
            signing_in.contains("lang=\"ru\""),
            "a link to the Russian page"
        );
    }
}
