//! The console: pages for people under `/console/` on the client listener, over the node's TLS.
//!
//! A person signs in with an account ([`Accounts`](crate::accounts::Accounts)) and gets a session
//! ([`sessions`]) held in an `HttpOnly; Secure; SameSite=Strict` cookie. Pages call the same service
//! methods as the APIs with the account's principal, so the authorization table applies unchanged;
//! this module only turns requests into calls and answers into pages of `tulpar-console`. Every state
//! change is a POST that must come from the console's own pages: same origin (`Sec-Fetch-Site`,
//! `Origin`) and, once signed in, the session's token.

mod alert;
mod compose;
mod drafts;
mod focal;
mod list;
mod sessions;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use anyhow::Result;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use tulpar_console::pages::{self, BASE, SignInNotice, Viewer};
use tulpar_console::{Catalogs, Messages};
use tulpar_core::proto;
use tulpar_core::validation::{LocalRule, Violation};

use crate::accounts::SignInError;
use crate::auth::Principal;
use crate::client_auth::ClientIdentity;
use crate::error::ApiError;
use crate::node::Node;
use crate::service::alerts::Alerts;
use crate::service::audit::Audit;
use crate::transport::Peer;
use sessions::{Session, Sessions};

/// The session cookie; `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
const SESSION_COOKIE: &str = "__Host-tulpar-session";
/// Most bytes of a form's text fields: an alert's longest texts in Cyrillic, percent-encoded.
const MAX_FORM_BYTES: usize = 256 * 1024;
/// Most bytes of a form with files: an alert's attachments with room for its fields; what exceeds the
/// contract below this is refused at its field by validation.
const MAX_UPLOAD_BYTES: usize = tulpar_core::limits::MAX_ALERT_BYTES + MAX_FORM_BYTES;
/// Alerts on the list page.
const LIST_SIZE: u32 = 100;
/// What pages may load: only the node's own files.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's pages over the node.
pub(crate) struct Console {
    node: Arc<Node>,
    alerts: Arc<Alerts>,
    audit: Arc<Audit>,
    catalogs: Catalogs,
    sessions: Arc<Sessions>,
    /// Officers' saved drafts.
    drafts: drafts::Drafts,
    /// The code lists of the compose form, by field.
    choices: std::collections::BTreeMap<&'static str, Vec<&'static str>>,
    /// The delivery states the list can be filtered by.
    states: Vec<&'static str>,
}

/// A signed-in request: its session and who it acts as.
struct SignedIn {
    id: String,
    session: Session,
    principal: Principal,
}

impl Console {
    /// The console over `node`, its pages in every language of the embedded catalogs.
    pub(crate) fn new(node: Arc<Node>, alerts: Arc<Alerts>, audit: Arc<Audit>) -> Result<Self> {
        let catalogs = Catalogs::load()?;
        let settings = &node.config.console;
        let sessions = Arc::new(Sessions::new(
            node.context.clock.clone(),
            settings.session_idle_timeout,
            settings.session_max_age,
        ));
        let drafts = drafts::Drafts::new(&node.config.data_dir);
        Ok(Self {
            node,
            alerts,
            audit,
            catalogs,
            sessions,
            drafts,
            choices: compose::choices(),
            states: (1..)
                .map_while(|n| proto::DeliveryState::try_from(n).ok())
                .map(|state| state.as_str_name())
                .collect(),
        })
    }

    /// `router` with the console's pages under [`BASE`].
    pub(crate) fn mount(self: Arc<Self>, router: axum::Router) -> axum::Router {
        // A wildcard matches at least one character, so the console's root needs its own routes.
        [
            BASE.to_owned(),
            format!("{BASE}/"),
            format!("{BASE}/{{*rest}}"),
        ]
        .into_iter()
        .fold(router, |router, path| {
            let console = self.clone();
            router.route(
                &path,
                axum::routing::any(move |request: Request<Body>| {
                    let console = console.clone();
                    async move { console.handle(request).await }
                }),
            )
        })
    }

    /// Answers a request under `/console`.
    pub(crate) async fn handle(&self, request: Request<Body>) -> Response {
        let path = request.uri().path();
        let rest = path.strip_prefix(BASE).unwrap_or_default().to_owned();
        let method = request.method().clone();
        match (method, rest.as_str()) {
            (Method::GET, "" | "/") => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                self.home(request.headers(), &query).await
            }
            (Method::GET, "/sign-in") => self.sign_in_page(&request),
            (Method::POST, "/sign-in") => self.sign_in(request).await,
            (Method::POST, "/sign-in-certificate") => self.sign_in_with_certificate(request).await,
            (Method::POST, "/sign-out") => self.sign_out(request).await,
            (Method::POST, "/language") => self.change_language(request).await,
            (Method::GET, "/rows") => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                self.rows(request.headers(), &query).await
            }
            (Method::GET, "/report" | "/report.csv" | "/report-excel.csv") => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                let format = match rest.as_str() {
                    "/report.csv" => focal::ReportFormat::Csv,
                    "/report-excel.csv" => focal::ReportFormat::Excel,
                    _ => focal::ReportFormat::Page,
                };
                self.report(request.headers(), &query, format).await
            }
            (Method::GET, "/accounts") => self.accounts_page(request.headers()).await,
            (Method::GET, "/verify") => self.verify_page(request.headers()).await,
            (Method::GET, "/verify/events") => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                self.verify_events(request.headers(), &query).await
            }
            (Method::GET, "/reconcile") => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                self.reconcile_page(request.headers(), &query).await
            }
            (Method::POST, rest)
                if rest.starts_with("/accounts/") && rest.ends_with("/disable") =>
            {
                let name = rest
                    .trim_start_matches("/accounts/")
                    .trim_end_matches("/disable")
                    .to_owned();
                self.disable_account(request, &name).await
            }
            (Method::GET, "/compose") => {
                let query = request.uri().query().unwrap_or_default().to_owned();
                self.compose_page(request.headers(), &query).await
            }
            (Method::POST, "/compose") => self.compose(request).await,
            (Method::POST, rest) if rest.starts_with("/drafts/") && rest.ends_with("/delete") => {
                let id = rest
                    .trim_start_matches("/drafts/")
                    .trim_end_matches("/delete")
                    .to_owned();
                self.delete_draft(request, &id).await
            }
            (Method::GET, "/events") => self.events(request.headers()).await,
            (Method::GET, rest) if rest.starts_with("/alerts/") => {
                let rest = rest.trim_start_matches("/alerts/").to_owned();
                match rest.split_once("/attachments/") {
                    Some((id, index)) => self.attachment(request.headers(), id, index).await,
                    None => match rest.strip_suffix("/export.csv") {
                        Some(id) => self.alert_export(request.headers(), id).await,
                        None => self.alert_page(request.headers(), &rest, Vec::new()).await,
                    },
                }
            }
            (Method::POST, rest) if rest.starts_with("/alerts/") => {
                let rest = rest.trim_start_matches("/alerts/").to_owned();
                match rest.split_once('/') {
                    Some((id, what)) => self.answer(request, id, what).await,
                    None => self.not_found(request.headers()).await,
                }
            }
            (Method::GET, asset) if asset.starts_with("/assets/") => {
                self.asset(asset.trim_start_matches("/assets/"))
            }
            _ => self.not_found(request.headers()).await,
        }
    }

    async fn not_found(&self, headers: &HeaderMap) -> Response {
        let signed_in = self.signed_in(headers).await;
        let language = self.language_of(signed_in.as_ref(), headers, None);
        let m = self.catalogs.messages(&language);
        let viewer = signed_in.as_ref().map(|s| self.viewer(s));
        let body = pages::not_found(&m, viewer.as_ref(), &self.catalogs.languages());
        html(StatusCode::NOT_FOUND, body)
    }

    /// Only officers write alerts: anyone else gets the not-found page, as for what they may not see.
    fn forbidden(&self, signed_in: &SignedIn) -> Response {
        let m = self.catalogs.messages(&signed_in.session.language);
        let viewer = self.viewer(signed_in);
        let body = pages::not_found(&m, Some(&viewer), &self.catalogs.languages());
        html(StatusCode::FORBIDDEN, body)
    }

    fn asset(&self, name: &str) -> Response {
        match tulpar_console::assets::asset(name) {
            Some(asset) => {
                let mut response = Response::new(Body::from(asset.bytes));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                );
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                response
            }
            None => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NOT_FOUND;
                response
            }
        }
    }

    /// The session the request's cookie names, if it is alive and its account still enabled.
    async fn signed_in(&self, headers: &HeaderMap) -> Option<SignedIn> {
        let id = session_cookie(headers)?;
        let session = self.sessions.touch(&id)?;
        // An account disabled, or a certificate revoked, since sign-in ends its sessions at their next
        // use.
        let principal = match &session.certificate {
            Some(caller) => self
                .node
                .auth
                .check(caller)
                .ok()
                .map(|()| caller.principal.clone()),
            None => self.node.accounts.principal(&session.account).await,
        };
        let Some(principal) = principal else {
            self.sessions.end(&id);
            return None;
        };
        Some(SignedIn {
            id,
            session,
            principal,
        })
    }

    /// The partner countries' codes, for the pages' choices.
    fn partner_codes(&self) -> Vec<String> {
        self.node
            .context
            .partners()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn viewer<'a>(&'a self, signed_in: &'a SignedIn) -> Viewer<'a> {
        Viewer {
            display_name: &signed_in.session.display_name,
            role: signed_in.principal.role.as_str(),
            unit: signed_in
                .principal
                .units
                .first()
                .map_or("", |unit| unit.as_str()),
            country: self.node.context.country.as_str(),
            csrf: &signed_in.session.csrf,
        }
    }

    /// The session's language; else the one asked for, else the browser's first we have, else English.
    fn language_of(
        &self,
        signed_in: Option<&SignedIn>,
        headers: &HeaderMap,
        asked: Option<&str>,
    ) -> String {
        if let Some(signed_in) = signed_in {
            return signed_in.session.language.clone();
        }
        if let Some(asked) = asked.filter(|a| self.catalogs.has(a)) {
            return asked.to_owned();
        }
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        accepted
            .split(',')
            .filter_map(|tag| tag.split(';').next())
            .filter_map(|tag| tag.trim().split('-').next())
            .map(str::to_ascii_lowercase)
            .find(|language| self.catalogs.has(language))
            .unwrap_or_else(|| tulpar_console::catalogs::FALLBACK_LANGUAGE.to_owned())
    }

    fn sign_in_page(&self, request: &Request<Body>) -> Response {
        let query = form_fields(request.uri().query().unwrap_or_default());
        let language = self.language_of(
            None,
            request.headers(),
            query.get("language").map(String::as_str),
        );
        let notice = match query.get("notice").map(String::as_str) {
            Some("signed-out") => Some(SignInNotice::SignedOut),
            Some("session-ended") => Some(SignInNotice::SessionEnded),
            _ => None,
        };
        let m = self.catalogs.messages(&language);
        let certificate = certificate_of(request).map(|c| c.principal().name.clone());
        let body = pages::sign_in(
            &m,
            &self.catalogs.languages(),
            notice.as_ref(),
            "",
            certificate.as_deref(),
        );
        html(StatusCode::OK, body)
    }

    /// A sign-in with the client certificate the browser presented on this connection: a session for
    /// the person it names (officers, focal points, administrators), recorded in the ledger.
    async fn sign_in_with_certificate(&self, request: Request<Body>) -> Response {
        let addr = peer_address(&request);
        let headers = request.headers().clone();
        let authority = request.uri().authority().map(ToString::to_string);
        let (parts, body) = request.into_parts();
        let as_grpc = tonic::Request::from_parts(
            tonic::metadata::MetadataMap::new(),
            parts.extensions.clone(),
            (),
        );
        let form = read_form(Request::from_parts(parts, body)).await.ok();
        let language = self.language_of(
            None,
            &headers,
            form.as_ref()
                .and_then(|f| f.get("language"))
                .map(String::as_str),
        );
        let m = self.catalogs.messages(&language);
        let again = |status: StatusCode, notice: SignInNotice| {
            html(
                status,
                pages::sign_in(&m, &self.catalogs.languages(), Some(&notice), "", None),
            )
        };
        if !same_origin(&headers, authority.as_deref()) {
            return again(StatusCode::FORBIDDEN, SignInNotice::Expired);
        }
        let caller = match self.node.auth.authenticate_caller(&as_grpc) {
            Ok(caller) if caller.is_certificate() => caller,
            _ => return again(StatusCode::UNAUTHORIZED, SignInNotice::NoCertificate),
        };
        if caller.principal.role == tulpar_trust::tls::Role::Integrator {
            return again(StatusCode::FORBIDDEN, SignInNotice::NoCertificate);
        }
        let name = caller.principal.name.clone();
        if let Err(error) = self
            .node
            .accounts
            .record_certificate_sign_in(&caller.principal, addr)
            .await
        {
            return failure(error);
        }
        let Ok(id) = self.sessions.open(&name, &name, &language, Some(caller)) else {
            return again(StatusCode::SERVICE_UNAVAILABLE, SignInNotice::Failed);
        };
        tracing::info!(principal = %name, peer.addr = %addr, "signed in to the console with a certificate");
        session_started(&id)
    }

    async fn sign_in(&self, request: Request<Body>) -> Response {
        let addr = peer_address(&request);
        let headers = request.headers().clone();
        let authority = request.uri().authority().map(ToString::to_string);
        let Ok(form) = read_form(request).await else {
            return self.refuse_form(&headers, None);
        };
        let language = self.language_of(None, &headers, form.get("language").map(String::as_str));
        let m = self.catalogs.messages(&language);
        let name = form.get("name").map_or("", |n| n.trim());
        let again = |status: StatusCode, notice: SignInNotice| {
            html(
                status,
                pages::sign_in(&m, &self.catalogs.languages(), Some(&notice), name, None),
            )
        };
        if !same_origin(&headers, authority.as_deref()) {
            return again(StatusCode::FORBIDDEN, SignInNotice::Expired);
        }
        if self.node.auth.admit(addr).is_err() {
            return again(StatusCode::TOO_MANY_REQUESTS, SignInNotice::Throttled);
        }
        let password = form.get("password").map_or("", String::as_str);
        let code = form.get("code").map_or("", String::as_str);
        match self.node.accounts.sign_in(name, password, code, addr).await {
            Ok(person) => {
                let Ok(id) = self
                    .sessions
                    .open(name, &person.display_name, &person.language, None)
                else {
                    return again(StatusCode::SERVICE_UNAVAILABLE, SignInNotice::Failed);
                };
                tracing::info!(principal = %person.principal, peer.addr = %addr, "signed in to the console");
                session_started(&id)
            }
            Err(error) => {
                if matches!(error, SignInError::Wrong | SignInError::Locked(_)) {
                    let failed = ApiError::Unauthenticated("console sign-in failed".into());
                    self.node.auth.failed(addr, &failed);
                }
                match error {
                    SignInError::Wrong => again(StatusCode::UNAUTHORIZED, SignInNotice::Wrong),
                    SignInError::CodeNeeded => {
                        again(StatusCode::UNAUTHORIZED, SignInNotice::CodeNeeded)
                    }
                    SignInError::Locked(until) => {
                        again(StatusCode::TOO_MANY_REQUESTS, SignInNotice::Locked(until))
                    }
                    SignInError::Busy => again(StatusCode::SERVICE_UNAVAILABLE, SignInNotice::Busy),
                    SignInError::Failed => {
                        again(StatusCode::SERVICE_UNAVAILABLE, SignInNotice::Failed)
                    }
                }
            }
        }
    }

    /// A signed-in POST's form, once its origin and token are checked; otherwise the refusal.
    async fn checked_form(&self, request: Request<Body>) -> Result<(SignedIn, Form), Response> {
        let headers = request.headers().clone();
        let authority = request.uri().authority().map(ToString::to_string);
        let Some(signed_in) = self.signed_in(&headers).await else {
            return Err(see_other(&format!("{BASE}/sign-in?notice=session-ended")));
        };
        let form = match read_form(request).await {
            Ok(form) => form,
            Err(FormRefused::TooLarge) => {
                let m = self.catalogs.messages(&signed_in.session.language);
                let page = pages::notice(
                    &m,
                    Some(&self.viewer(&signed_in)),
                    &self.catalogs.languages(),
                    "page-too-large",
                );
                return Err(html(StatusCode::PAYLOAD_TOO_LARGE, page));
            }
            Err(FormRefused::Malformed) => return Err(self.refuse_form(&headers, Some(&signed_in))),
        };
        let token_holds = form
            .get("csrf")
            .is_some_and(|given| same_bytes(given.as_bytes(), signed_in.session.csrf.as_bytes()));
        if token_holds && same_origin(&headers, authority.as_deref()) {
            Ok((signed_in, form))
        } else {
            Err(self.refuse_form(&headers, Some(&signed_in)))
        }
    }

    /// 403 with the sign-in form and why, for a form that did not come from the console's own page.
    fn refuse_form(&self, headers: &HeaderMap, signed_in: Option<&SignedIn>) -> Response {
        tracing::warn!("console form refused: another origin, or no valid token");
        let language = self.language_of(signed_in, headers, None);
        let m: Messages<'_> = self.catalogs.messages(&language);
        let body = pages::sign_in(
            &m,
            &self.catalogs.languages(),
            Some(&SignInNotice::Expired),
            "",
            None,
        );
        html(StatusCode::FORBIDDEN, body)
    }

    async fn sign_out(&self, request: Request<Body>) -> Response {
        match self.checked_form(request).await {
            Ok((signed_in, _)) => {
                self.sessions.end(&signed_in.id);
                tracing::info!(account = %signed_in.session.account, "signed out of the console");
                let mut response = see_other(&format!("{BASE}/sign-in?notice=signed-out"));
                let cleared = format!(
                    "{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
                );
                if let Ok(value) = HeaderValue::from_str(&cleared) {
                    response.headers_mut().insert(header::SET_COOKIE, value);
                }
                response
            }
            Err(refused) => refused,
        }
    }

    async fn change_language(&self, request: Request<Body>) -> Response {
        match self.checked_form(request).await {
            Ok((signed_in, form)) => {
                if let Some(language) = form.get("language").filter(|l| self.catalogs.has(l)) {
                    self.sessions.set_language(&signed_in.id, language);
                }
                see_other(&format!("{BASE}/"))
            }
            Err(refused) => refused,
        }
    }
}

fn rfc3339(at: Option<tulpar_proto::pbjson_types::Timestamp>) -> String {
    serde_json::to_value(at.unwrap_or_default())
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Unix `seconds` in RFC 3339, as pages show times.
fn rfc3339_seconds(seconds: i64) -> String {
    rfc3339(Some(tulpar_proto::pbjson_types::Timestamp {
        seconds,
        nanos: 0,
    }))
}

/// A page, with the headers every console page carries.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not no-referrer: under it browsers send `Origin: null` with the page's own forms.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A CSV file to download, named `file_name`.
fn download(text: String, file_name: &str) -> Response {
    file_response(Body::from(text), "text/csv; charset=utf-8", Some(file_name))
}

/// A file of `media_type`, never cached or sniffed; a download named `download_as` when given.
fn file_response(body: Body, media_type: &str, download_as: Option<&str>) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Some(name) = download_as {
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}

/// A redirect to the home page that sets the session cookie.
fn session_started(id: &str) -> Response {
    let mut response = see_other(&format!("{BASE}/"));
    let cookie = format!("{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The client certificate the connection presented, if any.
fn certificate_of(request: &Request<Body>) -> Option<&crate::client_auth::ClientCertificate> {
    request
        .extensions()
        .get::<Peer<ClientIdentity>>()
        .and_then(|peer| peer.identity.as_ref())
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn see_other(location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A fault while building a page: the status the APIs would answer, with its message.
fn failure(error: ApiError) -> Response {
    tracing::warn!(%error, "console page failed");
    let status = tonic::Status::from(error);
    let mut response = Response::new(Body::from(status.message().to_owned()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Whether the browser says the request comes from the console's own pages: `Sec-Fetch-Site` (sent by
/// current browsers) is same-origin or none, and any `Origin` is this host's.
fn same_origin(headers: &HeaderMap, authority: Option<&str>) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let site_ok = text(header::HeaderName::from_static("sec-fetch-site"))
        .is_none_or(|site| matches!(site, "same-origin" | "none"));
    // HTTP/2 carries the host as the URI's authority, HTTP/1.1 in the Host header.
    let host = authority.or_else(|| text(header::HOST));
    let origin_ok = text(header::ORIGIN)
        .is_none_or(|origin| host.is_some_and(|host| origin == format!("https://{host}")));
    site_ok && origin_ok
}

/// A violation's rule in the viewer's language where the catalogs word it, else in English.
pub(crate) fn localized(m: &Messages<'_>, violation: &Violation) -> String {
    let Some(local) = &violation.local else {
        return violation.rule.clone();
    };
    let id = format!("violation-{}", local.id);
    if !m.has(&id) {
        return violation.rule.clone();
    }
    let args: Vec<(&str, &str)> = local.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    m.with(&id, &args)
}

/// What a form field that should hold a number holds instead.
pub(crate) fn not_a_number(field: &str, value: &str) -> Violation {
    Violation {
        field: field.to_owned(),
        rule: format!("{value:?} is not a number"),
        local: Some(LocalRule::new("number", &[("value", &value)])),
    }
}

/// Why a submitted form was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FormRefused {
    /// More bytes than [`MAX_FORM_BYTES`] of fields or [`MAX_UPLOAD_BYTES`] in all.
    TooLarge,
    /// Not a form, or not UTF-8 where text is expected.
    Malformed,
}

/// Reads a form: `application/x-www-form-urlencoded` of at most [`MAX_FORM_BYTES`], or
/// `multipart/form-data` (forms with files) of at most [`MAX_UPLOAD_BYTES`] in all.
async fn read_form(request: Request<Body>) -> Result<Form, FormRefused> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("multipart/form-data") {
        return read_multipart(request.into_body(), &content_type).await;
    }
    let bytes = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| FormRefused::TooLarge)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| FormRefused::Malformed)?;
    Ok(form_fields(text))
}

/// The fields and files of a `multipart/form-data` body; a file input left empty sends no file.
async fn read_multipart(body: Body, content_type: &str) -> Result<Form, FormRefused> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| FormRefused::Malformed)?;
    let limits = multer::SizeLimit::new().whole_stream(MAX_UPLOAD_BYTES as u64);
    let constraints = multer::Constraints::new().size_limit(limits);
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let refused = |error: multer::Error| match error {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            FormRefused::TooLarge
        }
        _ => FormRefused::Malformed,
    };
    let mut form = Form::default();
    let mut field_bytes = 0;
    while let Some(field) = multipart.next_field().await.map_err(refused)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let declared = field.content_type().map(ToString::to_string);
        let bytes = field.bytes().await.map_err(refused)?;
        match file_name {
            Some(file_name) if file_name.is_empty() && bytes.is_empty() => {}
            Some(file_name) => form.files.push((
                name,
                tulpar_core::alert::attachment_of(&file_name, declared.as_deref(), bytes.into()),
            )),
            None => {
                field_bytes += bytes.len();
                if field_bytes > MAX_FORM_BYTES {
                    return Err(FormRefused::TooLarge);
                }
                let value = String::from_utf8(bytes.into()).map_err(|_| FormRefused::Malformed)?;
                form.fields.push((name, value));
            }
        }
    }
    Ok(form)
}

/// The fields of a form or query string, in order.
fn form_fields(text: &str) -> Form {
    Form {
        fields: crate::http_api::form_pairs(text).unwrap_or_default(),
        files: Vec::new(),
    }
}

/// A submitted form's fields, in the order sent; a name may come several times (checkboxes).
#[derive(Default)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
    /// Files sent by file inputs, with the input's name.
    files: Vec<(String, proto::Attachment)>,
}

impl Form {
    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&String> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v)
    }

    /// The first value of `name`, trimmed, or "".
    pub(crate) fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", |v| v.trim())
    }

    /// The value of `name` read as a proto enum's value name (`PRIORITY_URGENT`) by `from_name`; 0
    /// (unset, which validation names) for none or an unknown name.
    pub(crate) fn code<E: Into<i32>>(&self, name: &str, from_name: fn(&str) -> Option<E>) -> i32 {
        from_name(self.text(name)).map_or(0, Into::into)
    }

    /// Every non-empty value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// Every value of `name`, empty ones too, trimmed: the columns of a table of inputs line up.
    pub(crate) fn column(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The files sent under `name`, as attachments.
    pub(crate) fn files(&self, name: &str) -> Vec<proto::Attachment> {
        self.files
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, file)| file.clone())
            .collect()
    }

    /// Every field, for filling a form in again.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.fields
    }
}

fn peer_address(request: &Request<Body>) -> IpAddr {
    request
        .extensions()
        .get::<Peer<ClientIdentity>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.addr.ip())
}

/// Compares two tokens in time that does not depend on where they differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}
