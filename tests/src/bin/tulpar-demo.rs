//! A local federation on loopback (KZ, UZ and TJ, or the countries `--countries` names, each trusting
//! every other), set up from scratch with the `tulpar` command, running real `tulpar-node` processes,
//! with a scripted exchange: an alert from a Kazakh PCU to Uzbekistan, its receipt, the
//! acknowledgement and the seizure reported back.
//!
//! It runs the `tulpar` and `tulpar-node` binaries found beside its own executable, else on `PATH`,
//! and builds nothing:
//!
//! ```sh
//! cargo build --release && target/release/tulpar-demo   # keeps running; Ctrl-C stops everything
//! target/release/tulpar-demo --exit                     # exits after the scripted exchange
//! target/release/tulpar-demo --countries KZ,UZ,TJ,TM,KG,AZ   # six countries in a full mesh
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::{Federation, binary, look_on_path};

/// Marks a folder this tool made, so that a second run may replace it and nothing else.
const MARKER: &str = ".tulpar-demo";

/// An alert from KZ-AKTAU-PCU to UZ-TASHKENT-PCU for `tulpar alert send`, written into the folder so
/// that the suggested command works without the source tree.
const EXAMPLE_ALERT: &str = include_str!("../../../deploy/examples/alert-drugs-precursors.json");

/// The countries the demo sets up unless `--countries` names others.
const DEFAULT_COUNTRIES: &[&str] = &["KZ", "UZ", "TJ"];

/// The units the demo gives a country: PCUs at its ports and border posts in the region, else one
/// unit named after the country.
fn units_of(code: &str) -> Vec<String> {
    let known: &[&str] = match code {
        "KZ" => &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"],
        "UZ" => &["UZ-TASHKENT-PCU"],
        "TJ" => &["TJ-DUSHANBE-PCU"],
        "TM" => &["TM-TURKMENBASHI-PCU"],
        "KG" => &["KG-BISHKEK-PCU"],
        "AZ" => &["AZ-ALYAT-PCU"],
        _ => &[],
    };
    if known.is_empty() {
        vec![format!("{code}-CUSTOMS-PCU")]
    } else {
        known.iter().map(|unit| (*unit).to_owned()).collect()
    }
}

/// The countries of `--countries` (`KZ,UZ,TJ,TM`): at least two, distinct, each an ISO 3166-1
/// alpha-2 code, and among them KZ and UZ, between which the scripted exchange runs.
fn parse_countries(list: &str) -> Result<Vec<String>> {
    let mut countries: Vec<String> = Vec::new();
    for code in list.split(',').map(str::trim) {
        tulpar_core::codes::CountryCode::parse(code)
            .map_err(|e| anyhow::anyhow!("--countries: {e}"))?;
        if countries.iter().any(|c| c == code) {
            bail!("--countries: {code} is named twice; each country runs one node");
        }
        countries.push(code.to_owned());
    }
    if countries.len() < 2 {
        bail!(
            "--countries: {list:?} names fewer than two countries; a federation needs two or more"
        );
    }
    for needed in ["KZ", "UZ"] {
        if !countries.iter().any(|c| c == needed) {
            bail!("--countries: {list:?} lacks {needed}; the scripted exchange runs from KZ to UZ");
        }
    }
    Ok(countries)
}

/// What the demo was asked for.
struct Options {
    /// The countries to set up, each trusting every other.
    countries: Vec<String>,
    /// The folder to set the federation up in.
    dir: PathBuf,
    /// Stop after the exchange instead of running on.
    exit: bool,
    /// A URL to subscribe to every KZ event, as a customs system's webhook receiver.
    webhook: Option<String>,
    /// Verifier keys of outside logs every node witnesses (c2sp.org/tlog-witness).
    witness_logs: Vec<String>,
    /// External witnesses every node asks to cosign its checkpoints: submission URL and verifier key.
    external_witnesses: Vec<(String, String)>,
}

fn parse_args() -> Result<Options> {
    let mut options = Options {
        countries: DEFAULT_COUNTRIES.iter().map(|c| (*c).to_owned()).collect(),
        dir: PathBuf::from("tulpar-demo"),
        exit: false,
        webhook: None,
        witness_logs: Vec::new(),
        external_witnesses: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exit" => options.exit = true,
            "--countries" => {
                options.countries = parse_countries(
                    &args
                        .next()
                        .context("--countries needs a list of country codes, e.g. KZ,UZ,TJ,TM")?,
                )?;
            }
            "--dir" => options.dir = args.next().context("--dir needs a folder")?.into(),
            "--webhook" => {
                options.webhook = Some(args.next().context("--webhook needs a URL")?);
            }
            "--witness-log" => options
                .witness_logs
                .push(args.next().context("--witness-log needs a verifier key")?),
            "--external-witness" => {
                let url = args
                    .next()
                    .context("--external-witness needs URL and KEY")?;
                let key = args
                    .next()
                    .context("--external-witness needs URL and KEY")?;
                options.external_witnesses.push((url, key));
            }
            "-h" | "--help" => {
                println!(
                    "usage: tulpar-demo [--dir FOLDER (default ./tulpar-demo)] [--exit] \
                     [--countries KZ,UZ,TJ,... (default KZ,UZ,TJ; KZ and UZ among them)] \
                     [--webhook URL (e.g. http://127.0.0.1:8099/events)] \
                     [--witness-log VKEY]... [--external-witness URL VKEY]..."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    Ok(options)
}

/// Has `country`'s node witness the outside logs `logs` and ask the external witnesses `witnesses`
/// (URL, verifier key) to cosign its checkpoints.
fn witnessing(
    country: &tulpar_tests::Country,
    logs: &[String],
    witnesses: &[(String, String)],
) -> Result<()> {
    let mut section = String::new();
    for key in logs {
        section.push_str(&format!("[[witness.logs]]\nkey = {key:?}\n\n"));
    }
    for (url, key) in witnesses {
        section.push_str(&format!(
            "[[witness.witnesses]]\nurl = {url:?}\nkey = {key:?}\n\n"
        ));
    }
    if !section.is_empty() {
        country.append_config(&section)?;
    }
    Ok(())
}

/// Subscribes `url` to the events of every KZ unit, with a secret made by `tulpar webhooks secret`;
/// returns the secret. Retries are quick, for a receiver started after the demo.
fn subscribe_webhook(
    kz: &tulpar_tests::Country,
    tulpar: &std::path::Path,
    url: &str,
) -> Result<String> {
    let secret_file = kz.dir.join("webhook.secret");
    let output = std::process::Command::new(tulpar)
        .args(["webhooks", "secret"])
        .arg(&secret_file)
        .output()?;
    if !output.status.success() {
        bail!(
            "tulpar webhooks secret: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let secret = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let units: Vec<String> = kz.units.iter().map(|u| format!("{u:?}")).collect();
    kz.append_config(&format!(
        r#"[webhooks]
initial_backoff = "500ms"
max_backoff = "5s"
allow_http_loopback = true

[[webhooks.subscriptions]]
name = "integrator"
url = {url:?}
units = [{}]
secret_file = "webhook.secret"
"#,
        units.join(", ")
    ))?;
    Ok(secret)
}

/// A person's account for the console with a random password; the password and, for a focal point,
/// the TOTP URI.
fn add_account(
    country: &tulpar_tests::Country,
    name: &str,
    role: &str,
    unit: &str,
    display_name: &str,
) -> Result<(String, Option<String>)> {
    let mut bytes = [0u8; 12];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    let password = hex::encode(bytes);
    let printed = country.add_user(name, role, unit, display_name, &password)?;
    let secret = printed
        .lines()
        .find(|l| l.trim_start().starts_with("otpauth://"))
        .map(|uri| uri.trim().to_owned());
    Ok((password, secret))
}

/// Today and tomorrow (UTC) as dates, the period the demo's exchanges fall in.
fn today() -> (String, String) {
    let now = time::OffsetDateTime::now_utc().date();
    let tomorrow = now.next_day().unwrap_or(now);
    (now.to_string(), tomorrow.to_string())
}

fn step(text: &str) {
    println!("\n▸ {text}");
}

fn ms(since: Instant) -> String {
    format!("{:.1} ms", since.elapsed().as_secs_f64() * 1e3)
}

async fn next_event(events: &mut tonic::Streaming<proto::AlertEvent>) -> Result<proto::AlertEvent> {
    tokio::time::timeout(Duration::from_secs(30), events.message())
        .await
        .context("no event within 30 s")??
        .context("the watch stream ended")
}

#[tokio::main]
async fn main() -> Result<()> {
    let Options {
        countries,
        dir,
        exit,
        webhook,
        witness_logs,
        external_witnesses,
    } = parse_args()?;
    look_on_path();
    // Before any folder is touched: say at once what is missing.
    let tulpar = binary("tulpar")?;
    binary("tulpar-node")?;
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not made by tulpar-demo; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join(MARKER),
        "made by tulpar-demo; removed by its next run\n",
    )?;
    let dir = dir.canonicalize()?;

    println!("Tulpar local federation in {}", dir.display());
    let (last, first) = countries.split_last().context("no countries")?;
    step(&format!(
        "Key ceremonies for {} and {last} (`tulpar init`), each pinning the others' roots (`tulpar trust add`)",
        first.join(", ")
    ));
    let units: Vec<Vec<String>> = countries.iter().map(|c| units_of(c)).collect();
    let units: Vec<Vec<&str>> = units
        .iter()
        .map(|u| u.iter().map(String::as_str).collect())
        .collect();
    let setup: Vec<(&str, &[&str])> = countries
        .iter()
        .zip(&units)
        .map(|(code, units)| (code.as_str(), units.as_slice()))
        .collect();
    let mut federation = Federation::new_in(&dir, &setup)?;
    let webhook = match &webhook {
        Some(url) => Some((
            url,
            subscribe_webhook(&federation.countries["KZ"], &tulpar, url)?,
        )),
        None => None,
    };
    for country in federation.countries.values() {
        witnessing(country, &witness_logs, &external_witnesses)?;
    }
    federation.start_all_processes().await?;
    for country in federation.countries.values() {
        println!(
            "  {} node: client API {}, federation {}, config {}",
            country.code,
            country.client_addr,
            country.federation_addr,
            country.config_path().display()
        );
    }
    for country in federation.countries.values() {
        let key = tulpar_trust::keyfile::read_private_key(&country.dir.join("node/ledger.key"))?
            .public_key();
        let vkey = |name: String, kind| tulpar_ledger::note::VerifierKey { name, kind, key };
        println!(
            "witness: {} at https://{}/witness (c2sp.org/tlog-witness), witness key {}, log key {}",
            country.code,
            country.client_addr,
            vkey(
                tulpar_tests::witness_name(&country.code),
                tulpar_ledger::note::VerifierKind::Cosigner
            ),
            vkey(
                tulpar_tests::origin(&country.code),
                tulpar_ledger::note::VerifierKind::Log
            ),
        );
    }

    // Prometheus scrapes each node here (deploy/monitoring/ has the rules and a dashboard).
    for country in federation.countries.values() {
        println!(
            "metrics: {} http://{}/metrics",
            country.code, country.metrics_addr
        );
    }

    let kz = &federation.countries["KZ"];
    let uz = &federation.countries["UZ"];
    // The same client API as JSON over HTTPS, for customs systems and curl.
    println!("http api: https://{}/v1", kz.client_addr);
    println!(
        "  KZ integrator token (acts for every KZ unit): {}",
        kz.tokens["integrator"]
    );
    if let Some((url, secret)) = &webhook {
        println!("webhook: every KZ event is POSTed to {url}, signed with {secret}");
    }
    // The console, for people: ready-made accounts on KZ and UZ.
    let (aktau, _) = add_account(
        kz,
        "aktau.officer",
        "officer",
        "KZ-AKTAU-PCU",
        "Айгерим Сейтова",
    )?;
    let (tashkent, _) = add_account(
        uz,
        "tashkent.officer",
        "officer",
        "UZ-TASHKENT-PCU",
        "Бахтиёр Каримов",
    )?;
    let (focal, focal_totp) = add_account(kz, "kz.focal", "focal-point", "", "Нурлан Абенов")?;
    println!("console: https://{}/console/", kz.client_addr);
    println!("  KZ-AKTAU-PCU officer: aktau.officer / {aktau}");
    println!(
        "  KZ focal point: kz.focal / {focal} (TOTP: {})",
        focal_totp.unwrap_or_default()
    );
    println!(
        "  UZ console https://{}/console/ — UZ-TASHKENT-PCU officer: tashkent.officer / {tashkent}",
        uz.client_addr
    );
    println!(
        "  the browser must trust each country's TLS CA ({}), or be told to accept its certificate",
        kz.dir.join("node/tls-ca.crt").display()
    );
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut uz_officer = uz.cert_client("officer", "UZ-TASHKENT-PCU").await?;
    let mut kz_events = kz_officer
        .watch_alerts(proto::WatchAlertsRequest::default())
        .await?
        .into_inner();
    let mut uz_events = uz_officer
        .watch_alerts(proto::WatchAlertsRequest::default())
        .await?
        .into_inner();

    step(
        "An officer of KZ-AKTAU-PCU raises an URGENT alert to Uzbekistan (drugs, container MSKU1234565)",
    );
    let started = Instant::now();
    let submitted = kz_officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "demo-1".into(),
            content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
        })
        .await?
        .into_inner();
    println!(
        "  signed by KZ-AKTAU-PCU and recorded at KZ ledger index {} ({})",
        submitted.ledger_index,
        ms(started)
    );
    println!("  alert id {}", submitted.alert_id);

    let received = next_event(&mut uz_events).await?;
    println!(
        "  the UZ-TASHKENT-PCU officer, watching live, sees it arrive ({}, UZ ledger index {})",
        ms(started),
        received.ledger_index
    );
    loop {
        let event = next_event(&mut kz_events).await?;
        if event.kind == AlertEventKind::Delivered as i32 {
            let receipt = event
                .alert
                .and_then(|a| a.recipients.into_iter().next())
                .and_then(|r| r.timeline.into_iter().find_map(|e| e.receipt));
            if let Some(receipt) = receipt {
                println!(
                    "  KZ holds UZ's signed receipt: recorded at UZ index {}, UZ checkpoint «{}» ({})",
                    receipt.ledger_index,
                    receipt
                        .checkpoint
                        .lines()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" / "),
                    ms(started)
                );
            }
            break;
        }
    }

    step("UZ-TASHKENT-PCU acknowledges, inspects and reports a seizure");
    let started = Instant::now();
    uz_officer
        .acknowledge(proto::AcknowledgeRequest {
            request_id: "demo-ack".into(),
            alert_id: submitted.alert_id.clone(),
            unit: "UZ-TASHKENT-PCU".into(),
            acknowledgement: Some(proto::Acknowledgement {
                decision: proto::AcknowledgementDecision::Accepted as i32,
                note: "Container held for inspection on arrival at Tashkent".into(),
            }),
        })
        .await?;
    uz_officer
        .record_outcome(proto::RecordOutcomeRequest {
            request_id: "demo-outcome".into(),
            alert_id: submitted.alert_id.clone(),
            unit: "UZ-TASHKENT-PCU".into(),
            outcome: Some(proto::Outcome {
                result: Some(proto::outcome::Result::Seizure(proto::Seizure {
                    items: vec![proto::SeizedItem {
                        description: "Heroin concealed in the pallets".into(),
                        hs_code: "293911".into(),
                        quantity: 12.5,
                        unit: "kg".into(),
                    }],
                    case_reference: "UZ-2026-0042".into(),
                })),
                attachments: vec![tulpar_core::alert::attachment_of(
                    "seized-pallets.png",
                    None,
                    include_bytes!("../../fixtures/seized.png").to_vec(),
                )],
                ..Default::default()
            }),
        })
        .await?;
    loop {
        let event = next_event(&mut kz_events).await?;
        match AlertEventKind::try_from(event.kind) {
            Ok(AlertEventKind::Acknowledged) => {
                println!(
                    "  KZ sees the acknowledgement, signed by UZ-TASHKENT-PCU ({})",
                    ms(started)
                );
            }
            Ok(AlertEventKind::OutcomeRecorded) => {
                println!(
                    "  KZ sees the outcome: seizure of 12.5 kg, case UZ-2026-0042 ({})",
                    ms(started)
                );
                break;
            }
            _ => {}
        }
    }

    step("Both ledgers verified offline (`tulpar ledger verify`)");
    for country in [kz, uz] {
        let output = Command::new(&tulpar)
            .args(["ledger", "verify"])
            .arg(country.dir.join("data"))
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "{} ledger does not verify: {}{}",
                country.code,
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        println!(
            "  {}: {}",
            country.code,
            text.lines().next().unwrap_or_default()
        );
    }

    step("KZ's focal point audits its node without trusting it, and reconciles with UZ");
    let today = today();
    let ledger_key = kz.dir.join("data/ledger.pub");
    let audits: [(&str, Vec<String>); 2] = [
        (
            "tulpar audit verify",
            vec![
                "verify".into(),
                "--ledger-key".into(),
                ledger_key.display().to_string(),
            ],
        ),
        (
            "tulpar audit reconcile",
            vec![
                "reconcile".into(),
                "--partner".into(),
                "UZ".into(),
                "--from".into(),
                today.0.clone(),
                "--to".into(),
                today.1.clone(),
            ],
        ),
    ];
    for (name, args) in audits {
        let output = kz
            .tulpar()?
            .env("TULPAR_TOKEN", &kz.tokens["focal-point"])
            .arg("audit")
            .args(&args)
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "`{name}` failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        println!("  {name}:");
        for line in text.lines() {
            println!("    {line}");
        }
    }

    if exit {
        println!("\nDone; stopping the nodes.");
        for country in federation.countries.values_mut() {
            country.stop().await?;
        }
        return Ok(());
    }
    let example = dir.join("alert.json");
    std::fs::write(&example, EXAMPLE_ALERT)?;
    let uz_officer_token = &uz.tokens["UZ-TASHKENT-PCU"];
    println!("\nThe federation keeps running. In a shell per side, try:");
    let bin = tulpar.parent().unwrap_or(&dir).display();
    let connect = |country: &tulpar_tests::Country, token: &str| {
        println!("  export PATH={bin}:$PATH");
        println!("  export TULPAR_NODE={}", country.client_addr);
        println!(
            "  export TULPAR_CA={}",
            country.dir.join("node/tls-ca.crt").display()
        );
        println!("  export TULPAR_TOKEN={token}");
    };
    println!("\n  As the UZ-TASHKENT-PCU officer, watching for alerts as they arrive:");
    connect(uz, uz_officer_token);
    println!("  tulpar alert watch");
    println!("  tulpar alert list");
    println!(
        "\n  As the KZ-AKTAU-PCU officer, raising another alert and watching its receipt and answers:"
    );
    connect(kz, &kz.tokens["KZ-AKTAU-PCU"]);
    println!("  tulpar alert send {}", example.display());
    println!("  tulpar alert watch");
    println!("\n  As KZ's focal point, in the KZ shell:");
    println!("  export TULPAR_TOKEN={}", kz.tokens["focal-point"]);
    println!("  tulpar peers");
    println!("  tulpar audit report --from {} --to {}", today.0, today.1);
    println!(
        "  tulpar audit reconcile --partner UZ --from {} --to {}",
        today.0, today.1
    );
    println!(
        "  tulpar audit verify --ledger-key {}",
        ledger_key.display()
    );
    println!(
        "  tulpar ledger verify --config {}",
        kz.config_path().display()
    );
    println!("  tail -f {}", kz.dir.join("node.log").display());
    println!("\n  As a KZ customs system, over HTTP/JSON (routes in /v1/openapi.json):");
    let curl = format!(
        "curl --cacert {} -H 'Authorization: Bearer {}'",
        kz.dir.join("node/tls-ca.crt").display(),
        kz.tokens["integrator"]
    );
    println!("  {curl} https://{}/v1/alerts", kz.client_addr);
    println!(
        "  {curl} -H 'Content-Type: application/json' -H 'Idempotency-Key: my-first-alert' \\\n      --data @{} https://{}/v1/alerts",
        example.display(),
        kz.client_addr
    );
    println!("  {curl} -N https://{}/v1/alerts:watch", kz.client_addr);
    if let Some((url, secret)) = &webhook {
        println!(
            "\n  Receiving KZ's events at {url} (see deploy/integration/webhook_receiver.py):"
        );
        let port = url
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|uri| uri.port_u16())
            .unwrap_or(80);
        println!(
            "  python3 deploy/integration/webhook_receiver.py --port {port} --secret {secret}"
        );
        println!(
            "  TULPAR_TOKEN={} tulpar webhooks      # backlog, last success, last error",
            kz.tokens["admin"]
        );
    }
    println!("Ctrl-C (or SIGTERM) stops every node.");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    println!("\nStopping the nodes.");
    for country in federation.countries.values_mut() {
        country.stop().await?;
    }
    Ok(())
}
