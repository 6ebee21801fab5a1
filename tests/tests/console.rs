//! The console over HTTPS as a browser uses it: accounts made with `tulpar user`, signing in with a
//! password (and a TOTP code for a focal point), the lock after five failures, a session cookie a page
//! of another site cannot use, the alert list in Russian, signing out, and a disabled account's
//! session ending.

use std::process::Command;

use anyhow::{Context, Result, bail};
use std::time::Duration;
use tulpar_core::proto;

use tulpar_tests::http::{HttpAnswer, HttpClient, read_lines_until};
use tulpar_tests::{Country, Federation};

const PASSWORD: &str = "correct horse battery";

fn admin(country: &Country) -> Result<Command> {
    let mut command = country.tulpar()?;
    command.env("TULPAR_TOKEN", &country.tokens["admin"]);
    Ok(command)
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| {
            let encode = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            format!("{}={}", encode(k), encode(v))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A page as a signed-in browser asks for it: with the session `cookie`.
async fn get(browser: &HttpClient, cookie: &str, path: &str) -> Result<HttpAnswer> {
    browser
        .call("GET", path, &[("cookie", cookie)], Vec::new())
        .await
}

/// A `multipart/form-data` body of `fields` and one file (input name, file name, bytes), as a browser
/// sends a form with a file input; with its content type.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "----tulpar-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let (input, file_name, bytes) = file;
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{input}\"; \
             filename=\"{file_name}\"\r\ncontent-type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

async fn sign_in(http: &HttpClient, name: &str, password: &str, code: &str) -> Result<HttpAnswer> {
    let body = form(&[
        ("name", name),
        ("password", password),
        ("code", code),
        ("language", "en"),
    ]);
    http.call(
        "POST",
        "/console/sign-in",
        &[FORM, ("sec-fetch-site", "same-origin")],
        body,
    )
    .await
}

/// The session cookie a sign-in set, as a `cookie` header value.
fn session(answer: &HttpAnswer) -> Result<String> {
    let set = answer
        .headers
        .get("set-cookie")
        .context("no cookie set")?
        .to_str()?;
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    assert!(set.starts_with("__Host-tulpar-session="), "{set}");
    Ok(set.split(';').next().context("cookie")?.to_owned())
}

/// The token the page's forms carry.
fn csrf(page: &str) -> Result<String> {
    let at = page
        .find("name=\"csrf\" value=\"")
        .context("no csrf field")?;
    let rest = &page[at + 19..];
    Ok(rest[..rest.find('"').context("end of value")?].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_signs_in_sees_alerts_in_russian_and_signs_out() -> Result<()> {
    let mut federation = Federation::new(&[
        ("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
        ("UZ", &["UZ-TASHKENT-PCU"]),
    ])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let added = kz.add_user(
        "a.seitova",
        "officer",
        "KZ-AKTAU-PCU",
        "Айгерим Сейтова",
        PASSWORD,
    )?;
    assert!(
        added.contains("a.seitova (Айгерим Сейтова, officer of KZ-AKTAU-PCU): recorded"),
        "{added}"
    );
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let raised = officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: String::new(),
            content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
        })
        .await?
        .into_inner();
    let mut other = kz.client("KZ-ALTYNKOL-PCU").await?;
    let not_hers = other
        .submit_alert(proto::SubmitAlertRequest {
            request_id: String::new(),
            content: Some(tulpar_core::sample::alert_draft("KZ-ALTYNKOL-PCU", "UZ")),
        })
        .await?
        .into_inner();

    let browser = kz.http(None)?;
    let first = browser.get("/console/").await?;
    assert_eq!(first.status, 303);
    assert_eq!(first.headers["location"], "/console/sign-in");
    let page = browser
        .call(
            "GET",
            "/console/sign-in",
            &[("accept-language", "ru-RU,ru;q=0.9,en;q=0.5")],
            Vec::new(),
        )
        .await?;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<html lang=\"ru\">") && page.body.contains("Вход"),
        "{}",
        page.body
    );
    assert!(
        page.headers["content-security-policy"]
            .to_str()?
            .contains("default-src 'none'")
    );

    let signed_in = sign_in(&browser, "a.seitova", PASSWORD, "").await?;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = session(&signed_in)?;
    let alerts = get(&browser, &cookie, "/console/").await?;
    assert_eq!(alerts.status, 200);
    let html = &alerts.body;
    assert!(
        html.contains("<html lang=\"ru\">"),
        "the account's language"
    );
    assert!(html.contains("Вы вошли как Айгерим Сейтова"));
    assert!(html.contains(&format!("id=\"alert-{}\"", raised.alert_id)));
    assert!(!html.contains(&not_hers.alert_id), "another unit's alert");
    assert!(html.contains("Наркотики и прекурсоры"));
    let token = csrf(html)?;

    // The page's live stream hears an alert from UZ as it arrives, and its list then shows it.
    let live = browser
        .send(
            "GET",
            "/console/events",
            &[("cookie", &cookie), ("accept", "text/event-stream")],
            Vec::new(),
        )
        .await?;
    assert_eq!(live.status(), 200);
    let uz = &federation.countries["UZ"];
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    let incoming = uz_officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: String::new(),
            content: Some(tulpar_core::sample::alert_draft("UZ-TASHKENT-PCU", "KZ")),
        })
        .await?
        .into_inner();
    let heard = read_lines_until(live, Duration::from_secs(30), |line| {
        line.contains(&incoming.alert_id) && line.contains("ALERT_EVENT_KIND_ALERT_RECEIVED")
    })
    .await?;
    assert!(
        heard.contains("\"priority\":\"PRIORITY_URGENT\""),
        "{heard}"
    );
    let rows = get(&browser, &cookie, "/console/rows").await?;
    assert!(
        rows.body
            .contains(&format!("id=\"alert-{}\"", incoming.alert_id))
    );
    assert!(!rows.body.contains("<html"), "a fragment, not a page");
    assert!(
        rows.body.contains("class=\"countdown\" data-deadline="),
        "awaiting acknowledgement"
    );

    // Filtered to received alerts, the list and its live refresh show only those.
    let received = get(&browser, &cookie, "/console/?direction=DIRECTION_RECEIVED").await?;
    assert!(
        received
            .body
            .contains(&format!("id=\"alert-{}\"", incoming.alert_id))
    );
    assert!(
        !received
            .body
            .contains(&format!("id=\"alert-{}\"", raised.alert_id))
    );
    assert!(
        received
            .body
            .contains("data-rows=\"/console/rows?direction=DIRECTION_RECEIVED\"")
    );

    // A change of language without the page's token, or from another site, is refused.
    let without = browser
        .call(
            "POST",
            "/console/language",
            &[FORM, ("cookie", &cookie)],
            form(&[("language", "en")]),
        )
        .await?;
    assert_eq!(without.status, 403);
    let cross_site = browser
        .call(
            "POST",
            "/console/language",
            &[
                FORM,
                ("cookie", &cookie),
                ("origin", "https://elsewhere.example"),
            ],
            form(&[("language", "en"), ("csrf", &token)]),
        )
        .await?;
    assert_eq!(cross_site.status, 403);
    let changed = browser
        .call(
            "POST",
            "/console/language",
            &[FORM, ("cookie", &cookie), ("sec-fetch-site", "same-origin")],
            form(&[("language", "en"), ("csrf", &token)]),
        )
        .await?;
    assert_eq!(changed.status, 303);
    let english = get(&browser, &cookie, "/console/").await?;
    assert!(
        english.body.contains("Signed in as Айгерим Сейтова"),
        "{}",
        english.body
    );

    let out = browser
        .call(
            "POST",
            "/console/sign-out",
            &[FORM, ("cookie", &cookie)],
            form(&[("csrf", &token)]),
        )
        .await?;
    assert_eq!(out.status, 303);
    assert_eq!(
        out.headers["location"],
        "/console/sign-in?notice=signed-out"
    );
    let after = get(&browser, &cookie, "/console/").await?;
    assert_eq!(after.status, 303, "the session is gone");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_passwords_lock_an_account_and_a_disabled_account_loses_its_session()
-> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    for name in ["a.seitova", "b.nurlanov"] {
        kz.add_user(name, "officer", "KZ-AKTAU-PCU", name, PASSWORD)?;
    }
    let focal = kz.add_user("focal", "focal-point", "", "Focal", PASSWORD)?;
    assert!(
        focal.contains("otpauth://totp/Tulpar%20KZ:focal?secret="),
        "{focal}"
    );
    let browser = kz.http(None)?;

    for attempt in 1..=5 {
        let refused = sign_in(&browser, "a.seitova", "not the password", "").await?;
        if attempt < 5 {
            assert_eq!(refused.status, 401, "attempt {attempt}");
            assert!(
                refused
                    .body
                    .contains("The name, password or code is wrong.")
            );
        } else {
            assert_eq!(refused.status, 429);
            assert!(
                refused.body.contains("the account is locked until"),
                "{}",
                refused.body
            );
        }
    }
    let still = sign_in(&browser, "a.seitova", PASSWORD, "").await?;
    assert_eq!(still.status, 429, "locked even with the right password");
    let list = admin(kz)?.args(["user", "list"]).output()?;
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("a.seitova") && l.contains("locked")),
        "{list}"
    );

    // A focal point without the code from the authenticator is asked for it.
    let no_code = sign_in(&browser, "focal", PASSWORD, "").await?;
    assert_eq!(no_code.status, 401);
    assert!(
        no_code
            .body
            .contains("needs the code from its authenticator app")
    );

    let signed_in = sign_in(&browser, "b.nurlanov", PASSWORD, "").await?;
    let cookie = session(&signed_in)?;
    let page = get(&browser, &cookie, "/console/").await?;
    assert_eq!(page.status, 200);
    let disabled = admin(kz)?
        .args(["user", "disable", "b.nurlanov"])
        .output()?;
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    let ended = get(&browser, &cookie, "/console/").await?;
    assert_eq!(ended.status, 303);
    assert_eq!(
        ended.headers["location"],
        "/console/sign-in?notice=session-ended"
    );

    // Every step is in the ledger, without a secret.
    let mut audit = kz.audit_client("focal-point").await?;
    let size = audit
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest::default())
        .await?
        .into_inner()
        .checkpoint
        .context("checkpoint")?
        .size;
    let entries = audit
        .get_entries(proto::GetEntriesRequest {
            start: 0,
            end: size,
        })
        .await?
        .into_inner();
    let events: Vec<String> = entries
        .entries
        .iter()
        .filter_map(|e| match &e.entry.as_ref()?.kind {
            Some(proto::ledger_entry::Kind::AccountEvent(event)) => {
                Some(format!("{} {}", event.account, event.kind().as_str_name()))
            }
            _ => None,
        })
        .collect();
    for expected in [
        "a.seitova ACCOUNT_EVENT_KIND_ADDED",
        "a.seitova ACCOUNT_EVENT_KIND_SIGN_IN_FAILED",
        "a.seitova ACCOUNT_EVENT_KIND_LOCKED",
        "b.nurlanov ACCOUNT_EVENT_KIND_SIGNED_IN",
        "b.nurlanov ACCOUNT_EVENT_KIND_DISABLED",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
    let stored: Vec<u8> = entries.entries.iter().flat_map(|e| e.raw.clone()).collect();
    assert!(
        !stored
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_addressed_officer_answers_in_the_console_as_officers_write() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    uz.add_user(
        "b.karimov",
        "officer",
        "UZ-TASHKENT-PCU",
        "Бахтиёр Каримов",
        PASSWORD,
    )?;
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let alert_id = kz_officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: String::new(),
            content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
        })
        .await?
        .into_inner()
        .alert_id;
    let browser = uz.http(None)?;
    let cookie = session(&sign_in(&browser, "b.karimov", PASSWORD, "").await?)?;
    let page_path = format!("/console/alerts/{alert_id}");
    let page = tulpar_tests::eventually(Duration::from_secs(30), "the alert reaches UZ", || {
        let (browser, cookie, path) = (&browser, cookie.clone(), page_path.clone());
        async move {
            let page = get(browser, &cookie, &path).await?;
            Ok((page.status == 200).then_some(page))
        }
    })
    .await?;
    assert!(
        page.body.contains("Ответ от имени UZ-TASHKENT-PCU"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Подтвердить до"),
        "the deadline, awaited"
    );
    assert!(
        page.body.contains("CSQU3054383"),
        "every field of the content"
    );
    // Codes with their names in the officer's language: the country, the place, the HS chapter.
    for named in [
        "Казахстан (KZ)",
        "KZAKX — Актау",
        "группа 84: Машины и оборудование",
    ] {
        assert!(page.body.contains(named), "{named}: {}", page.body);
    }
    // The list finds it by a container number as officers type it, and names a search too short.
    let found = get(&browser, &cookie, "/console/?search=csqu+305438").await?;
    assert!(found.body.contains(&alert_id), "{}", found.body);
    let none = get(&browser, &cookie, "/console/?search=TGHU9999").await?;
    assert!(!none.body.contains(&alert_id));
    let short = get(&browser, &cookie, "/console/?search=cs").await?;
    assert_eq!(short.status, 200);
    assert!(
        short.body.contains("от 3 до 100 символов"),
        "{}",
        short.body
    );
    let token = csrf(&page.body)?;
    let post = |what: &str, fields: Vec<(&str, &str)>| {
        let mut fields = fields;
        fields.extend([("csrf", token.as_str()), ("unit", "UZ-TASHKENT-PCU")]);
        let body = form(&fields);
        let path = format!("/console/alerts/{alert_id}/{what}");
        let (browser, cookie) = (&browser, cookie.clone());
        async move {
            browser
                .call(
                    "POST",
                    &path,
                    &[FORM, ("cookie", &cookie), ("sec-fetch-site", "same-origin")],
                    body,
                )
                .await
        }
    };
    let acknowledged = post("acknowledge", vec![("note", "берём в работу")]).await?;
    assert_eq!(acknowledged.status, 303, "{}", acknowledged.body);

    // A quantity that is no number is named, and nothing is recorded.
    let refused = post(
        "outcome",
        vec![
            ("result", "seizure"),
            ("seized_description", "героин"),
            ("seized_quantity", "много"),
        ],
    )
    .await?;
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("outcome.seizure.items[0].quantity"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("«много» — не число"),
        "the rule in the officer's language: {}",
        refused.body
    );

    // The outcome form sends files: multipart, rows of seized goods, a photo.
    let photo = include_bytes!("../fixtures/seized.png");
    let post_files = |fields: Vec<(&str, &str)>, file: &[u8]| {
        let mut fields = fields;
        fields.extend([("csrf", token.as_str()), ("unit", "UZ-TASHKENT-PCU")]);
        let (content_type, body) = multipart(&fields, ("attachments", "seized.png", file));
        let path = format!("/console/alerts/{alert_id}/outcome");
        let (browser, cookie) = (&browser, cookie.clone());
        async move {
            let headers = [
                ("content-type", content_type.as_str()),
                ("cookie", &cookie),
                ("sec-fetch-site", "same-origin"),
            ];
            browser.call("POST", &path, &headers, body).await
        }
    };
    let seizure = vec![
        ("result", "seizure"),
        ("seized_description", "героин в фальшстенке"),
        ("seized_hs_code", "2939.11"),
        ("seized_quantity", "120,5"),
        ("seized_unit", "kg"),
        ("seized_description", ""),
        ("seized_hs_code", ""),
        ("seized_quantity", ""),
        ("seized_unit", ""),
    ];
    // More than a form may carry is refused before anything is read into an answer.
    let oversized = vec![0u8; tulpar_core::limits::MAX_ALERT_BYTES + 300 * 1024];
    let refused = post_files(seizure.clone(), &oversized).await?;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(refused.body.contains("не более 4 МиБ"), "{}", refused.body);
    let reported = post_files(seizure, photo).await?;
    assert_eq!(reported.status, 303, "{}", reported.body);
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    let record = uz_officer
        .get_alert(proto::GetAlertRequest {
            alert_id: alert_id.clone(),
        })
        .await?
        .into_inner();
    let outcome = record.recipients[0]
        .timeline
        .iter()
        .find_map(|step| match step.response.as_ref()?.kind.as_ref()? {
            proto::alert_response::Kind::Outcome(outcome) => Some(outcome.clone()),
            _ => None,
        })
        .context("the outcome")?;
    assert_eq!(outcome.attachments[0].file_name, "seized.png");
    assert_eq!(outcome.attachments[0].media_type, "image/png");
    let Some(proto::outcome::Result::Seizure(seizure)) = outcome.result else {
        bail!("not a seizure: {outcome:?}");
    };
    assert_eq!(seizure.items.len(), 1, "the empty row is skipped");
    assert_eq!(seizure.items[0].hs_code, "293911");
    assert_eq!(seizure.items[0].quantity, 120.5);
    let page = get(&browser, &cookie, &page_path).await?;
    assert!(
        !page.body.contains("Подтвердить до"),
        "no deadline once answered: {}",
        page.body
    );
    let response_id = record.recipients[0]
        .timeline
        .iter()
        .rev()
        .find_map(|step| step.response.as_ref())
        .map(|r| r.response_id.clone())
        .context("the outcome's response")?;
    let shown = format!("/console/alerts/{alert_id}/responses/{response_id}/attachments/0");
    assert!(page.body.contains(&shown), "the photo on the timeline");
    let image = get(&browser, &cookie, &shown).await?;
    assert_eq!(image.status, 200);
    assert_eq!(image.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(image.bytes, photo);

    // The unit corrects its outcome with a reason, from the form the page now offers.
    assert!(
        page.body
            .contains(&format!("name=\"corrects\" value=\"{response_id}\""))
    );
    let corrected = post(
        "outcome",
        vec![
            ("result", "nothing-found"),
            ("corrects", &response_id),
            ("correction_reason", "экспертиза: сахар"),
        ],
    )
    .await?;
    assert_eq!(corrected.status, 303, "{}", corrected.body);
    let page = get(&browser, &cookie, &page_path).await?;
    assert!(page.body.contains("class=\"superseded\""), "{}", page.body);
    assert!(page.body.contains("экспертиза: сахар"));
    // The alert for a spreadsheet: every field in the officer's language, decimal commas.
    let export = get(
        &browser,
        &cookie,
        &format!("/console/alerts/{alert_id}/export.csv"),
    )
    .await?;
    assert_eq!(export.status, 200);
    assert!(
        export.body.starts_with('\u{feff}'),
        "a byte order mark for Excel"
    );
    assert!(
        export
            .body
            .contains("Груз › Контейнеры;CSQU3054383, MSKU1234565"),
        "{}",
        export.body
    );
    assert!(export.body.contains("Количество;120,5"), "{}", export.body);
    assert!(export.body.contains("Код ТН ВЭД;293911"), "{}", export.body);
    let answered_by = record.recipients[0]
        .timeline
        .iter()
        .filter_map(|s| s.response.as_ref())
        .count();
    assert_eq!(answered_by, 2, "one acknowledgement, one outcome");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_writes_an_alert_from_a_template_and_sees_refusals_at_their_fields() -> Result<()>
{
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    kz.add_user(
        "a.seitova",
        "officer",
        "KZ-AKTAU-PCU",
        "Айгерим Сейтова",
        PASSWORD,
    )?;
    let browser = kz.http(None)?;
    let cookie = session(&sign_in(&browser, "a.seitova", PASSWORD, "").await?)?;
    let page = get(&browser, &cookie, "/console/compose?template=drugs").await?;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("value=\"THREAT_CATEGORY_DRUGS_AND_PRECURSORS\" selected"),
        "the template chose the category"
    );
    let token = csrf(&page.body)?;
    let mut fields = vec![
        ("csrf", token.as_str()),
        ("request_id", "01a226b7-d10c-7396-95f5-b6dcd2082368"),
        ("recipient", "UZ"),
        ("priority", "PRIORITY_URGENT"),
        ("category", "THREAT_CATEGORY_DRUGS_AND_PRECURSORS"),
        ("transport_mode", "TRANSPORT_MODE_RAIL"),
        ("requested_action", "REQUESTED_ACTION_INSPECT_ON_ARRIVAL"),
        ("containers", "csqu 305438 4"),
        ("goods_description", "Spare parts"),
        ("goods_hs_code", "8433.90"),
        ("handling_code", "HANDLING_CODE_H1"),
        ("source_reliability", "SOURCE_RELIABILITY_B"),
        ("information_accuracy", "INFORMATION_ACCURACY_2"),
        ("indicator", "RISK_INDICATOR_FIRST_TIME_CONSIGNEE"),
        ("narrative", "First import of the consignee."),
    ];
    let send = |fields: Vec<(&str, &str)>| {
        let body = form(&fields);
        let (browser, cookie) = (&browser, cookie.clone());
        async move {
            browser
                .call(
                    "POST",
                    "/console/compose",
                    &[FORM, ("cookie", &cookie), ("sec-fetch-site", "same-origin")],
                    body,
                )
                .await
        }
    };
    let refused = send(fields.clone()).await?;
    assert_eq!(refused.status, 422);
    let at_field = refused
        .body
        .find("id=\"containers\"")
        .context("the containers field")?;
    let error = refused.body[at_field..]
        .find("контрольная цифра не сходится (ожидается 3)")
        .context("the refusal, in the officer's language")?;
    assert!(error < 600, "the refusal is at the containers field");
    assert!(
        refused.body.contains("value=\"csqu 305438 4\""),
        "what was typed is kept"
    );
    fields[7] = ("containers", "csqu 305438 3");

    // Checked on demand, nothing is sent; saved, the draft is listed and comes back as typed.
    let mut checking = fields.clone();
    checking.push(("action", "check"));
    let checked = send(checking).await?;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.body.contains("Узел не нашёл ошибок"),
        "{}",
        checked.body
    );
    let mut saving = fields.clone();
    saving.push(("action", "save"));
    let saved = send(saving).await?;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Черновик сохранён"), "{}", saved.body);
    let draft_id = saved
        .body
        .split("name=\"draft\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .filter(|id| !id.is_empty())
        .context("the saved draft's id")?
        .to_owned();
    let listed = get(&browser, &cookie, "/console/compose").await?;
    assert!(
        listed
            .body
            .contains(&format!("/console/compose?draft={draft_id}"))
    );
    assert!(
        listed.body.contains("→ UZ · csqu 305438 3"),
        "{}",
        listed.body
    );
    let resumed = get(
        &browser,
        &cookie,
        &format!("/console/compose?draft={draft_id}"),
    )
    .await?;
    assert!(
        resumed.body.contains("value=\"csqu 305438 3\""),
        "{}",
        resumed.body
    );
    assert!(resumed.body.contains("value=\"8433.90\""));

    // Sent from the draft with a file attached, the alert carries the file and the draft is gone.
    let mut sending = fields.clone();
    sending.push(("draft", &draft_id));
    let (content_type, body) = multipart(
        &sending,
        (
            "attachments",
            "waybill.png",
            include_bytes!("../fixtures/seized.png"),
        ),
    );
    let sent = browser
        .call(
            "POST",
            "/console/compose",
            &[
                ("content-type", &content_type),
                ("cookie", &cookie),
                ("sec-fetch-site", "same-origin"),
            ],
            body,
        )
        .await?;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert!(
        !get(&browser, &cookie, "/console/compose")
            .await?
            .body
            .contains(&draft_id),
        "the draft is deleted"
    );
    let location = sent.headers["location"].to_str()?.to_owned();
    let alert_id = location.trim_start_matches("/console/alerts/");
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let record = officer
        .get_alert(proto::GetAlertRequest {
            alert_id: alert_id.into(),
        })
        .await?
        .into_inner();
    let content = record.alert.and_then(|a| a.content).context("content")?;
    assert_eq!(
        content.consignment.context("consignment")?.containers,
        ["CSQU3054383"]
    );
    assert_eq!(content.narrative_language, "ru", "the account's language");
    assert_eq!(content.attachments[0].file_name, "waybill.png");
    assert_eq!(content.attachments[0].media_type, "image/png");

    // Twenty drafts are kept, not more.
    let mut saving = fields.clone();
    saving.push(("action", "save"));
    for _ in 0..20 {
        assert!(
            send(saving.clone())
                .await?
                .body
                .contains("Черновик сохранён")
        );
    }
    let full = send(saving).await?;
    assert!(
        full.body.contains("хранится не более 20 черновиков"),
        "{}",
        full.body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_the_certificate_the_browser_presents() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let certificate = kz.client_certificate("officer", "KZ-AKTAU-PCU")?;
    let browser = HttpClient::with_certificate(kz.client_addr, &kz.national_ca()?, certificate)?;
    let page = browser.get("/console/sign-in").await?;
    assert!(
        page.body.contains("/console/sign-in-certificate"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Sign in with your certificate (cert:officer/KZ-AKTAU-PCU)"),
        "{}",
        page.body
    );
    let signed_in = browser
        .call(
            "POST",
            "/console/sign-in-certificate",
            &[FORM, ("sec-fetch-site", "same-origin")],
            form(&[("language", "en")]),
        )
        .await?;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = session(&signed_in)?;
    let home = get(&browser, &cookie, "/console/").await?;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("Officer of KZ-AKTAU-PCU"),
        "{}",
        home.body
    );

    // Without a certificate on the connection there is nothing to sign in with.
    let plain = kz.http(None)?;
    assert!(
        !plain
            .get("/console/sign-in")
            .await?
            .body
            .contains("sign-in-certificate")
    );
    let refused = plain
        .call(
            "POST",
            "/console/sign-in-certificate",
            &[FORM, ("sec-fetch-site", "same-origin")],
            form(&[("language", "en")]),
        )
        .await?;
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.contains("presented no certificate"),
        "{}",
        refused.body
    );
    Ok(())
}

/// The current TOTP code of a base32 secret (RFC 6238: SHA-1, six digits, 30 s).
fn totp_code(secret: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut key) = (0u32, 0u64, Vec::new());
    for byte in secret.bytes() {
        let Some(index) = ALPHABET.iter().position(|b| *b == byte) else {
            continue;
        };
        value = (value << 5) | index as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            key.push((value >> bits) as u8);
        }
    }
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 30)
        .unwrap_or_default();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let tag = ring::hmac::sign(&key, &step.to_be_bytes());
    let tag = tag.as_ref();
    let offset = usize::from(tag[19] & 0x0f);
    let code = u32::from_be_bytes([
        tag[offset],
        tag[offset + 1],
        tag[offset + 2],
        tag[offset + 3],
    ]) & 0x7fff_ffff;
    format!("{:06}", code % 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_focal_point_sees_the_partners_and_disables_an_account() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    kz.add_user(
        "a.seitova",
        "officer",
        "KZ-AKTAU-PCU",
        "Айгерим Сейтова",
        PASSWORD,
    )?;
    let added = kz.add_user("focal", "focal-point", "", "Focal", PASSWORD)?;
    let secret = added
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .context("the TOTP secret")?
        .to_owned();
    let browser = kz.http(None)?;
    let officer_cookie = session(&sign_in(&browser, "a.seitova", PASSWORD, "").await?)?;
    let not_for_officers = get(&browser, &officer_cookie, "/console/accounts").await?;
    assert_eq!(not_for_officers.status, 403);

    let cookie = session(&sign_in(&browser, "focal", PASSWORD, &totp_code(&secret)).await?)?;
    let home = get(&browser, &cookie, "/console/").await?;
    assert!(
        home.body.contains("Партнёры") && home.body.contains("<td>UZ</td>"),
        "{}",
        home.body
    );
    // KZ tells UZ it is up when it starts, and shows UZ reachable once UZ has answered.
    tulpar_tests::eventually(Duration::from_secs(10), "UZ shown reachable", || {
        let (browser, cookie) = (&browser, cookie.clone());
        async move {
            let home = get(browser, &cookie, "/console/").await?;
            Ok(home.body.contains("доступен").then_some(()))
        }
    })
    .await?;
    assert!(home.body.contains("Последняя заверенная контрольная точка"));
    assert!(home.body.contains("пока нет"), "no cosignature yet");
    let accounts = get(&browser, &cookie, "/console/accounts").await?;
    assert_eq!(accounts.status, 200);
    assert!(accounts.body.contains("Айгерим Сейтова"));
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "report-1".into(),
            content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
        })
        .await?;

    // The report from the first of last month to today: a bar per month, this one with the alert.
    let today = time::OffsetDateTime::now_utc().date();
    let first = today.replace_day(1)?;
    let from = (first - time::Duration::days(1)).replace_day(1)?;
    let dotted = format!(
        "{:02}.{:02}.{}",
        from.day(),
        u8::from(from.month()),
        from.year()
    );
    let report = get(
        &browser,
        &cookie,
        &format!("/console/report?from={dotted}&to={today}"),
    )
    .await?;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(
        report.body.contains("class=\"chart months\""),
        "{}",
        report.body
    );
    assert!(report.body.contains("class=\"chart times\""));
    let this_month = format!(
        "<th scope=\"row\">{}</th><td>1</td><td>0</td>",
        &today.to_string()[..7]
    );
    let last_month = format!(
        "<th scope=\"row\">{}</th><td>0</td><td>0</td>",
        &from.to_string()[..7]
    );
    assert!(report.body.contains(&this_month), "{}", report.body);
    assert!(report.body.contains(&last_month), "{}", report.body);
    // Reconciled with UZ: the alert is counted; verified now: every entry, streamed to the end.
    let reconciled = get(
        &browser,
        &cookie,
        &format!("/console/reconcile?partner=UZ&from={dotted}&to={today}"),
    )
    .await?;
    assert_eq!(reconciled.status, 200, "{}", reconciled.body);
    assert!(
        reconciled.body.contains("оповещений: 1"),
        "{}",
        reconciled.body
    );
    let verify_page = get(&browser, &cookie, "/console/verify").await?;
    let events = verify_page
        .body
        .split("data-events=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the verification's events")?
        .replace("&amp;", "&");
    let refused = get(&browser, &cookie, "/console/verify/events").await?;
    assert_eq!(refused.status, 403, "no token, no verification");
    let verified = browser
        .call(
            "GET",
            &events,
            &[("cookie", &cookie), ("accept", "text/event-stream")],
            Vec::new(),
        )
        .await?;
    assert_eq!(verified.status, 200);
    let last = verified
        .body
        .lines()
        .rev()
        .find(|l| l.starts_with("data:"))
        .context("an event")?;
    assert!(
        last.contains("\"done\":true") && last.contains("\"ok\":true"),
        "{last}"
    );
    assert!(last.contains("Все записи проверены"), "{last}");
    let excel = get(
        &browser,
        &cookie,
        &format!("/console/report-excel.csv?from={dotted}&to={today}"),
    )
    .await?;
    assert_eq!(excel.status, 200);
    assert!(
        excel
            .body
            .starts_with("\u{feff}Партнёр;Направление;Оповещения"),
        "{}",
        excel.body
    );
    let token = csrf(&accounts.body)?;
    let disabled = browser
        .call(
            "POST",
            "/console/accounts/a.seitova/disable",
            &[FORM, ("cookie", &cookie), ("sec-fetch-site", "same-origin")],
            form(&[("csrf", &token)]),
        )
        .await?;
    assert_eq!(disabled.status, 303);
    let ended = get(&browser, &officer_cookie, "/console/").await?;
    assert_eq!(ended.status, 303, "the officer's session ended");
    let list =
        String::from_utf8_lossy(&admin(kz)?.args(["user", "list"]).output()?.stdout).into_owned();
    assert!(
        list.lines()
            .any(|l| l.starts_with("a.seitova") && l.contains("disabled")),
        "{list}"
    );
    Ok(())
}
