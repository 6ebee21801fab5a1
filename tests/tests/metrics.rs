//! The Prometheus endpoint of two real nodes after an exchange: the series an operator alerts on are
//! there with the values the exchange implies, and the text is well-formed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tulpar_core::proto;
use tulpar_tests::{Federation, eventually};

const WAIT: Duration = Duration::from_secs(30);

/// Samples by their series (name and labels as written), checking each line's shape and that every
/// sample follows a `# TYPE` line of its family.
fn samples(text: &str) -> Result<BTreeMap<String, f64>> {
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').context(line.to_owned())?;
            if !["counter", "gauge", "histogram"].contains(&kind) {
                bail!("unexpected type in {line:?}");
            }
            typed.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').context(line.to_owned())?;
        let value: f64 = value.parse().with_context(|| line.to_owned())?;
        let name = series.split('{').next().unwrap_or_default();
        let family = typed.last().context("a sample before any # TYPE")?;
        let suffixes = ["", "_total", "_bucket", "_sum", "_count"];
        if !suffixes
            .iter()
            .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str()) || name == family)
        {
            bail!("{line:?} is not of the family {family}");
        }
        if samples.insert(series.to_owned(), value).is_some() {
            bail!("{series} appears twice");
        }
    }
    Ok(samples)
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exchange_shows_in_both_nodes_metrics() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let uz = &federation.countries["UZ"];
    assert_eq!(kz.node()?.metrics_addr(), Some(kz.metrics_addr));

    let before = samples(&kz.scrape_metrics().await?)?;
    assert!(
        !before.contains_key(r#"tulpar_alerts_submitted_total{partner="UZ",priority="urgent"}"#)
    );
    assert_eq!(value(&before, r#"tulpar_outbox_items{partner="UZ"}"#), 0.0);

    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
    content.priority = proto::Priority::Urgent.into();
    let alert_id = officer
        .submit_alert(proto::SubmitAlertRequest {
            request_id: "metrics-1".into(),
            content: Some(content),
        })
        .await?
        .into_inner()
        .alert_id;
    tulpar_tests::delivered(&officer, &alert_id).await?;
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    uz_officer
        .acknowledge(proto::AcknowledgeRequest {
            request_id: "metrics-ack".into(),
            alert_id: alert_id.clone(),
            unit: "UZ-TASHKENT-PCU".into(),
            acknowledgement: Some(proto::Acknowledgement {
                decision: proto::AcknowledgementDecision::Accepted as i32,
                note: "Inspection ordered".into(),
            }),
        })
        .await?;
    let kz_samples = eventually(WAIT, "KZ to record the acknowledgement", || async {
        let samples = samples(&kz.scrape_metrics().await?)?;
        let acknowledged = r#"tulpar_responses_received_total{partner="UZ",priority="urgent",response="acknowledged"}"#;
        Ok(samples.contains_key(acknowledged).then_some(samples))
    })
    .await?;

    let urgent_uz = r#"{partner="UZ",priority="urgent"}"#;
    assert_eq!(
        value(
            &kz_samples,
            &format!("tulpar_alerts_submitted_total{urgent_uz}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &kz_samples,
            &format!("tulpar_alerts_delivered_total{urgent_uz}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &kz_samples,
            r#"tulpar_delivery_latency_seconds_count{partner="UZ"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&kz_samples, r#"tulpar_outbox_items{partner="UZ"}"#),
        0.0
    );
    assert_eq!(
        value(
            &kz_samples,
            r#"tulpar_outbox_oldest_age_seconds{partner="UZ"}"#
        ),
        0.0
    );
    assert_eq!(
        value(&kz_samples, r#"tulpar_partner_up{partner="UZ"}"#),
        1.0
    );
    assert!(
        value(
            &kz_samples,
            r#"tulpar_partner_last_contact_timestamp_seconds{partner="UZ"}"#
        ) > 0.0
    );
    // Every call to a partner is timed by method: the delivery, and UZ's acknowledgement
    // travelling the other way is timed at UZ.
    let calls_to_uz: f64 = kz_samples
        .iter()
        .filter(|(series, _)| {
            series.starts_with(
                r#"tulpar_partner_call_duration_seconds_count{partner="UZ",method="Deliver"#,
            )
        })
        .map(|(_, count)| count)
        .sum();
    assert!(calls_to_uz >= 1.0, "{kz_samples:#?}");
    assert_eq!(value(&kz_samples, "tulpar_equivocation_alarms"), 0.0);
    assert_eq!(value(&kz_samples, "tulpar_ledger_writable"), 1.0);
    assert!(
        value(&kz_samples, "tulpar_ledger_entries") >= 3.0,
        "{kz_samples:#?}"
    );
    assert!(value(&kz_samples, "tulpar_ledger_bytes") > 0.0);
    assert!(value(&kz_samples, "tulpar_ledger_commit_duration_seconds_count") >= 3.0);
    assert_eq!(
        value(
            &kz_samples,
            r#"tulpar_ledger_commit_duration_seconds_bucket{le="+Inf"}"#
        ),
        value(&kz_samples, "tulpar_ledger_commit_duration_seconds_count")
    );
    let node_expiry = value(
        &kz_samples,
        r#"tulpar_tls_certificate_expiry_timestamp_seconds{certificate="node"}"#,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    assert!(node_expiry > now + 30.0 * 86_400.0, "{node_expiry}");
    assert!(value(&kz_samples, "process_resident_memory_bytes") > 0.0);
    assert!(value(&kz_samples, "process_open_fds") > 0.0);
    // No label takes an alert's or a unit's id.
    assert!(
        !kz_samples
            .keys()
            .any(|series| series.contains(&alert_id) || series.contains("PCU"))
    );

    let uz_samples = samples(&uz.scrape_metrics().await?)?;
    assert_eq!(
        value(
            &uz_samples,
            r#"tulpar_alerts_received_total{partner="KZ",priority="urgent"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &uz_samples,
            r#"tulpar_responses_sent_total{partner="KZ",priority="urgent",response="acknowledged"}"#
        ),
        1.0
    );
    assert!(!uz_samples.contains_key(&format!("tulpar_alerts_submitted_total{urgent_uz}")));

    // A watch stream counts while it is open.
    let gauge = |name: &'static str| async move {
        let samples = samples(&uz.scrape_metrics().await?)?;
        anyhow::Ok(samples.get(name).copied())
    };
    assert_eq!(gauge("tulpar_watchers").await?, Some(0.0));
    let stream = uz_officer
        .watch_alerts(proto::WatchAlertsRequest::default())
        .await?
        .into_inner();
    eventually(WAIT, "UZ to count the watcher", || async {
        Ok((gauge("tulpar_watchers").await? == Some(1.0)).then_some(()))
    })
    .await?;
    drop(stream);
    eventually(WAIT, "UZ to stop counting the watcher", || async {
        Ok((gauge("tulpar_watchers").await? == Some(0.0)).then_some(()))
    })
    .await?;

    // Prometheus' own parser agrees, where its tools are installed (CI installs them).
    if let Some(promtool) = tulpar_tests::on_path("promtool") {
        let text = kz.scrape_metrics().await?;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, text.as_bytes())?;
        let output = child.wait_with_output()?;
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let mut not_found = tokio::net::TcpStream::connect(kz.metrics_addr).await?;
    tokio::io::AsyncWriteExt::write_all(
        &mut not_found,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await?;
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut not_found, &mut answer).await?;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    for code in ["KZ", "UZ"] {
        federation.country(code).stop().await?;
    }
    Ok(())
}
