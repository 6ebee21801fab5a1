//! A real Prometheus server (Debian's `prometheus`) scrapes two nodes while KZ's officers raise
//! alerts to UZ, evaluating the rules of `deploy/monitoring/`. UZ is stopped: KZ's
//! `TulparPartnerUnreachable` fires for UZ; UZ comes back: it clears and the backlog is delivered.
//!
//! The rule waits 15 minutes before firing; here its `for:` is shortened to seconds, the only change
//! made to the shipped rules (their timing is unit-tested by `promtool test rules`, see
//! `.ci/monitoring`). Needs the `prometheus` binary: skipped without it, failing when `CI` is set.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tulpar_tests::{Federation, eventually, free_port, plain_http_get};

/// How long Prometheus gets to notice a change: a few scrape and evaluation intervals of 1 s.
const NOTICE: Duration = Duration::from_secs(60);

/// The shipped rules, with `TulparPartnerUnreachable` firing after `for_` instead of 15 minutes.
fn rules_firing_after(for_: &str) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring/tulpar.rules.yml");
    let rules =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let (before, after) = rules
        .split_once("- alert: TulparPartnerUnreachable")
        .context("the rules have no TulparPartnerUnreachable")?;
    let (rule, rest) = after
        .split_once("for: 15m")
        .context("TulparPartnerUnreachable no longer waits 15m: update this test")?;
    Ok(format!(
        "{before}- alert: TulparPartnerUnreachable{rule}for: {for_}{rest}"
    ))
}

/// A Prometheus server on loopback, killed when dropped.
struct Prometheus {
    process: std::process::Child,
    address: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus in `dir`, scraping `targets` every second as the job `tulpar` and
    /// evaluating `rules` every second; returns once it is ready.
    async fn start(dir: &Path, targets: &[String], rules: &str) -> Result<Self> {
        std::fs::write(dir.join("tulpar.rules.yml"), rules)?;
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - tulpar.rules.yml\n\
                 scrape_configs:\n  - job_name: tulpar\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )?;
        let address = format!("127.0.0.1:{}", free_port()?);
        let log = std::fs::File::create(dir.join("prometheus.log"))?;
        let process = std::process::Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus")?;
        let prometheus = Self { process, address };
        eventually(NOTICE, "Prometheus to be ready", || async {
            Ok(plain_http_get(&prometheus.address, "/-/ready").await.ok())
        })
        .await
        .with_context(|| std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default())?;
        Ok(prometheus)
    }

    /// `GET /api/v1/<path>`'s `data`.
    async fn api(&self, path: &str) -> Result<Value> {
        let body = plain_http_get(&self.address, &format!("/api/v1/{path}")).await?;
        let answer: Value = serde_json::from_str(&body).with_context(|| body.clone())?;
        if answer["status"] != "success" {
            bail!("Prometheus answered {body}");
        }
        Ok(answer["data"].clone())
    }

    /// The states (`pending`, `firing`) of the active alerts named `name` whose label `partner`
    /// is `partner`.
    async fn alert_states(&self, name: &str, partner: &str) -> Result<Vec<String>> {
        let data = self.api("alerts").await?;
        Ok(data["alerts"]
            .as_array()
            .context("no alerts array")?
            .iter()
            .filter(|a| a["labels"]["alertname"] == name && a["labels"]["partner"] == partner)
            .filter_map(|a| a["state"].as_str().map(str::to_owned))
            .collect())
    }

    /// The value of the instant query `query`, if it returns one series.
    async fn value(&self, query: &str) -> Result<Option<f64>> {
        let query =
            percent_encoding::utf8_percent_encode(query, percent_encoding::NON_ALPHANUMERIC);
        let data = self.api(&format!("query?query={query}")).await?;
        let result = data["result"].as_array().context("no result array")?;
        Ok(match result.as_slice() {
            [series] => series["value"][1].as_str().and_then(|v| v.parse().ok()),
            _ => None,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_fires_when_a_partner_is_stopped_and_clears_when_it_returns() -> Result<()> {
    if tulpar_tests::on_path("prometheus").is_none() {
        if std::env::var_os("CI").is_some() {
            bail!(
                "prometheus is not installed (Debian's package `prometheus`; .ci/run installs it)"
            );
        }
        eprintln!("skipped: no prometheus binary (apt-get install prometheus)");
        return Ok(());
    }
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.start_all().await?;
    let targets: Vec<String> = federation
        .countries
        .values()
        .map(|country| country.metrics_addr.to_string())
        .collect();
    let kz_target = federation.countries["KZ"].metrics_addr.to_string();
    let prometheus =
        Prometheus::start(&federation.root, &targets, &rules_firing_after("5s")?).await?;

    // KZ's officers raise an alert to UZ every 200 ms for the whole test.
    let officer = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let raising = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn({
        let raising = raising.clone();
        async move {
            let mut raised = Vec::new();
            while raising.load(Ordering::Relaxed) {
                raised.push(tulpar_tests::send(&mut officer.clone(), "KZ-AKTAU-PCU", "UZ").await?);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            anyhow::Ok(raised)
        }
    });

    let submitted =
        format!(r#"sum(tulpar_alerts_submitted_total{{instance="{kz_target}",partner="UZ"}})"#);
    eventually(
        NOTICE,
        "Prometheus to scrape KZ's submitted alerts",
        || async { Ok(prometheus.value(&submitted).await?.filter(|n| *n >= 3.0)) },
    )
    .await?;
    assert!(
        prometheus
            .alert_states("TulparPartnerUnreachable", "UZ")
            .await?
            .is_empty(),
        "the rule is active while UZ is up"
    );

    federation.country("UZ").stop().await?;
    eventually(
        NOTICE,
        "TulparPartnerUnreachable to fire for UZ",
        || async {
            let states = prometheus
                .alert_states("TulparPartnerUnreachable", "UZ")
                .await?;
            Ok(states.iter().any(|s| s == "firing").then_some(()))
        },
    )
    .await?;

    federation.country("UZ").start().await?;
    eventually(NOTICE, "TulparPartnerUnreachable to clear", || async {
        let states = prometheus
            .alert_states("TulparPartnerUnreachable", "UZ")
            .await?;
        Ok(states.is_empty().then_some(()))
    })
    .await?;

    raising.store(false, Ordering::Relaxed);
    let raised = load.await??;
    let kz = &federation.countries["KZ"];
    for alert_id in &raised {
        tulpar_tests::delivered(&kz.client("KZ-AKTAU-PCU").await?, alert_id).await?;
    }
    let outbox = format!(r#"tulpar_outbox_items{{instance="{kz_target}",partner="UZ"}}"#);
    eventually(
        NOTICE,
        "Prometheus to see KZ's outbox to UZ empty",
        || async { Ok(prometheus.value(&outbox).await?.filter(|n| *n == 0.0)) },
    )
    .await?;
    Ok(())
}
