//! The officer's and focal point's `tulpar` commands as processes against real nodes.

use std::path::Path;
use std::process::{Command, Output};

use anyhow::Result;
use tulpar_tests::output_text as text;
use tulpar_tests::{Country, Federation, binary};

/// Runs `tulpar` against `country`'s node with the settings in the environment.
fn tulpar(country: &Country, auth: &[(&str, String)], args: &[&str]) -> Result<Output> {
    let mut command = country.tulpar()?;
    command.args(args);
    for (name, value) in auth {
        command.env(name, value);
    }
    Ok(command.output()?)
}

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_sends_and_a_partner_officer_answers_from_the_command_line() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let kz_officer = [("TULPAR_TOKEN", kz.tokens["KZ-AKTAU-PCU"].clone())];

    let draft = examples().join("alert-drugs-precursors.json");
    let sent = tulpar(
        kz,
        &kz_officer,
        &[
            "alert",
            "send",
            draft.to_str().unwrap_or_default(),
            "--request-id",
            "cli-1",
        ],
    )?;
    assert!(sent.status.success(), "{}", text(&sent));
    let alert_id = String::from_utf8_lossy(&sent.stdout).trim().to_owned();
    assert_eq!(alert_id.len(), 36, "{}", text(&sent));
    // The same request id again: the same alert, nothing new.
    let again = tulpar(
        kz,
        &kz_officer,
        &[
            "alert",
            "send",
            draft.to_str().unwrap_or_default(),
            "--request-id",
            "cli-1",
        ],
    )?;
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), alert_id);
    assert!(text(&again).contains("already sent"));

    // A draft that breaks the rules: every violation on its own line, nothing sent.
    let invalid = examples().join("invalid-check-digits.json");
    let refused = tulpar(
        kz,
        &kz_officer,
        &["alert", "send", invalid.to_str().unwrap_or_default()],
    )?;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("\n  content.consignment.containers[1]: \"MSKU1234566\""),
        "{}",
        text(&refused)
    );

    // The UZ officer, with a client certificate, finds it, acknowledges and reports a seizure.
    let certs = uz.dir.join("certs");
    let issued = Command::new(binary("tulpar")?)
        .args(["cert", "issue", "--dir"])
        .arg(&uz.dir)
        .args(["--role", "officer", "--subject", "UZ-TASHKENT-PCU", "--out"])
        .arg(&certs)
        .output()?;
    assert!(issued.status.success(), "{}", text(&issued));
    let uz_officer = [
        (
            "TULPAR_CERT",
            certs
                .join("UZ-TASHKENT-PCU.officer.crt")
                .display()
                .to_string(),
        ),
        (
            "TULPAR_KEY",
            certs
                .join("UZ-TASHKENT-PCU.officer.key")
                .display()
                .to_string(),
        ),
    ];
    let listed = tulpar_tests::eventually(
        std::time::Duration::from_secs(20),
        "the alert at UZ",
        || async {
            let output = tulpar(
                uz,
                &uz_officer,
                &["alert", "list", "--direction", "received", "--json"],
            )?;
            Ok(String::from_utf8_lossy(&output.stdout)
                .contains(&alert_id)
                .then_some(output))
        },
    )
    .await?;
    assert!(listed.status.success());
    let early = tulpar(
        uz,
        &uz_officer,
        &["alert", "outcome", &alert_id, "--nothing-found"],
    )?;
    assert!(!early.status.success());
    assert!(
        text(&early).contains("acknowledge the alert before"),
        "{}",
        text(&early)
    );
    let acked = tulpar(
        uz,
        &uz_officer,
        &["alert", "ack", &alert_id, "--note", "held at Tashkent"],
    )?;
    let photo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/seized.png"));
    assert!(acked.status.success(), "{}", text(&acked));
    let outcome = tulpar(
        uz,
        &uz_officer,
        &[
            "alert",
            "outcome",
            &alert_id,
            "--seizure",
            "Heroin:12.5:kg:293911",
            "--case-reference",
            "UZ-1",
            "--attach",
            photo.to_str().unwrap_or_default(),
        ],
    )?;
    assert!(outcome.status.success(), "{}", text(&outcome));
    let first = String::from_utf8_lossy(&outcome.stdout).trim().to_owned();
    let corrected = tulpar(
        uz,
        &uz_officer,
        &[
            "alert",
            "outcome",
            &alert_id,
            "--seizure",
            "Heroin:21.5:kg:293911",
            "--corrects",
            &first,
            "--reason",
            "the scales were misread",
        ],
    )?;
    assert!(corrected.status.success(), "{}", text(&corrected));

    // Back in KZ, the focal point sees the outcome.
    let focal = [("TULPAR_TOKEN", kz.tokens["focal-point"].clone())];
    let shown = tulpar_tests::eventually(
        std::time::Duration::from_secs(20),
        "the outcome at KZ",
        || async {
            let output = tulpar(kz, &focal, &["alert", "show", &alert_id])?;
            Ok(String::from_utf8_lossy(&output.stdout)
                .contains("outcome")
                .then_some(output))
        },
    )
    .await?;
    assert!(text(&shown).contains("UZ-TASHKENT-PCU"), "{}", text(&shown));
    // Both outcomes are listed, the correction with its reason; the photo is saved whole.
    let shown = tulpar_tests::eventually(
        std::time::Duration::from_secs(20),
        "the correction at KZ",
        || async {
            let output = tulpar(kz, &focal, &["alert", "show", &alert_id])?;
            Ok(String::from_utf8_lossy(&output.stdout)
                .contains("the scales were misread")
                .then_some(output))
        },
    )
    .await?;
    let shown = text(&shown);
    assert!(shown.contains(&format!("(corrects {first}: ")), "{shown}");
    assert!(
        shown.contains("[attached 0: seized.png (212 bytes)]"),
        "{shown}"
    );
    let saved = tempfile::tempdir()?;
    let saved = saved.path().join("photo.png");
    let fetched = tulpar(
        kz,
        &focal,
        &[
            "alert",
            "attachment",
            &alert_id,
            &first,
            "0",
            "--out",
            saved.to_str().unwrap_or_default(),
        ],
    )?;
    assert!(fetched.status.success(), "{}", text(&fetched));
    assert_eq!(std::fs::read(&saved)?, std::fs::read(photo)?);
    let peers = tulpar(kz, &focal, &["peers", "--json"])?;
    assert!(
        String::from_utf8_lossy(&peers.stdout).contains("\"country\": \"UZ\""),
        "{}",
        text(&peers)
    );
    let whoami = tulpar(kz, &focal, &["whoami"])?;
    assert!(
        text(&whoami).contains("focal-point of KZ"),
        "{}",
        text(&whoami)
    );

    // Without credentials, the command says what is missing.
    let anonymous = tulpar(kz, &[], &["alert", "list"])?;
    assert!(!anonymous.status.success());
    assert!(text(&anonymous).contains("--token"), "{}", text(&anonymous));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_attaches_a_photo_and_reads_the_alert_by_a_prefix_of_its_id() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let officer = [("TULPAR_TOKEN", kz.tokens["KZ-AKTAU-PCU"].clone())];
    let photo = kz.dir.join("seal.png");
    std::fs::write(
        &photo,
        b"\x89PNG\r\n\x1a\n not really a picture, but bytes all the same",
    )?;
    let draft = examples().join("alert-drugs-precursors.json");
    let sent = tulpar(
        kz,
        &officer,
        &[
            "alert",
            "send",
            draft.to_str().unwrap_or_default(),
            "--attach",
            photo.to_str().unwrap_or_default(),
        ],
    )?;
    assert!(sent.status.success(), "{}", text(&sent));
    let alert_id = String::from_utf8_lossy(&sent.stdout).trim().to_owned();

    let shown = tulpar(kz, &officer, &["alert", "show", &alert_id[..13]])?;
    assert!(shown.status.success(), "{}", text(&shown));
    let shown = text(&shown);
    assert!(shown.starts_with(&alert_id), "{shown}");
    assert!(
        shown.contains("attachment         seal.png (image/png, 53 bytes)"),
        "{shown}"
    );
    assert!(
        shown.contains("containers"),
        "the content is shown: {shown}"
    );
    // Times in the officer's zone (here a POSIX TZ string: Tashkent, UTC+5), the offset written.
    let mut in_tashkent = officer.to_vec();
    in_tashkent.push(("TZ", "UZT-5".to_owned()));
    let local = text(&tulpar(kz, &in_tashkent, &["alert", "show", &alert_id])?);
    assert!(local.contains(" +05:00"), "{local}");
    assert!(!local.contains("Z\n"), "no UTC time left: {local}");
    let short = tulpar(kz, &officer, &["alert", "show", "01"])?;
    assert!(
        text(&short).contains("at least 4 characters"),
        "{}",
        text(&short)
    );

    let listed = text(&tulpar(kz, &officer, &["alert", "list"])?);
    assert!(listed.starts_with("alert "), "a header first: {listed}");
    Ok(())
}
