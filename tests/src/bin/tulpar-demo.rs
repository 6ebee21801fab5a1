//! A local federation of three countries (KZ, UZ, TJ) on loopback, set up from scratch with the
//! `tulpar` command, running real `tulpar-node` processes, with a scripted exchange: an alert from a
//! Kazakh PCU to Uzbekistan, its receipt, the acknowledgement and the seizure reported back.
//!
//! ```sh
//! cargo run --release --bin tulpar-demo                 # keeps running; Ctrl-C stops everything
//! cargo run --release --bin tulpar-demo -- --exit       # exits after the scripted exchange
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::{Federation, binary};

/// Marks a folder this tool made, so that a second run may replace it and nothing else.
const MARKER: &str = ".tulpar-demo";

fn parse_args() -> Result<(PathBuf, bool)> {
    let mut dir = PathBuf::from("tulpar-demo");
    let mut exit = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exit" => exit = true,
            "--dir" => dir = args.next().context("--dir needs a folder")?.into(),
            "-h" | "--help" => {
                println!("usage: tulpar-demo [--dir FOLDER (default ./tulpar-demo)] [--exit]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}; try --help"),
        }
    }
    Ok((dir, exit))
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
    let (dir, exit) = parse_args()?;
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
    step(
        "Key ceremonies for KZ, UZ and TJ (`tulpar init`), each pinning the others' roots (`tulpar trust add`)",
    );
    let mut federation = Federation::new_in(
        &dir,
        &[
            ("KZ", &["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]),
            ("UZ", &["UZ-TASHKENT-PCU"]),
            ("TJ", &["TJ-DUSHANBE-PCU"]),
        ],
    )?;
    federation.start_all().await?;
    for country in federation.countries.values() {
        println!(
            "  {} node: client API {}, federation {}, config {}",
            country.code,
            country.client_addr,
            country.federation_addr,
            country.config_path().display()
        );
    }

    let kz = &federation.countries["KZ"];
    let uz = &federation.countries["UZ"];
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
                note: String::new(),
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
    let tulpar = binary("tulpar")?;
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
            country.stop()?;
        }
        return Ok(());
    }
    println!("\nThe federation keeps running. Try, as KZ's focal point:");
    println!(
        "  export PATH={}:$PATH",
        tulpar.parent().unwrap_or(&dir).display()
    );
    println!("  export TULPAR_NODE={}", kz.client_addr);
    println!(
        "  export TULPAR_CA={}",
        kz.dir.join("node/tls-ca.crt").display()
    );
    println!("  export TULPAR_TOKEN={}", kz.tokens["focal-point"]);
    println!("  tulpar alert list");
    println!("  tulpar peers");
    println!("  tulpar audit report --from {} --to {}", today.0, today.1);
    println!(
        "  tulpar audit verify --ledger-key {}",
        ledger_key.display()
    );
    println!(
        "  tulpar ledger verify --config {}",
        kz.config_path().display()
    );
    println!(
        "  TULPAR_TOKEN={} tulpar alert send {}/deploy/examples/alert-drugs-precursors.json",
        kz.tokens["KZ-AKTAU-PCU"],
        env!("CARGO_MANIFEST_DIR").trim_end_matches("/tests")
    );
    println!("  tail -f {}", kz.dir.join("node.log").display());
    println!("Ctrl-C (or SIGTERM) stops every node.");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    println!("\nStopping the nodes.");
    for country in federation.countries.values_mut() {
        country.stop()?;
    }
    Ok(())
}
