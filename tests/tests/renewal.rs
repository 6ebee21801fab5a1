//! Renewing a node's TLS certificate while it runs: both listeners present the new certificate from
//! the next handshake on, partners accept it, a bad replacement is refused and the old one stays, and
//! a certificate close to its end is warned about in the log and in the metrics. A rotated unit key is
//! taken by the partner, and what the old key signed still verifies.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use rustls_pki_types::ServerName;
use tulpar_core::codes::CountryCode;
use tulpar_tests::{Country, Federation, delivered, eventually, output_text, send};
use tulpar_trust::tls::{self, CertificateSummary, NodeIdentity};

const WAIT: Duration = Duration::from_secs(30);
const DAY: u64 = 86_400;

/// The certificate a TLS server at `addr` presents in a fresh handshake made with `config`.
async fn presented(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<CertificateSummary> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {addr}"))?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .context("no certificate presented")?;
    Ok(CertificateSummary::of(leaf)?)
}

/// What KZ's federation listener (dialled as UZ's node) and client API listener present now.
async fn both_listeners(kz: &Country, uz: &Country) -> Result<[CertificateSummary; 2]> {
    let uz_identity = NodeIdentity::load(&uz.dir.join("node"))?;
    let uz_store = Arc::new(tulpar_trust::TrustStore::open(
        &uz.dir.join("node/trust"),
        Arc::new(tulpar_core::time::SystemClock),
    )?);
    let federation =
        tls::federation_client_config(&uz_identity, uz_store, CountryCode::parse("KZ")?)?;
    let client = tls::api_client_config(&kz.national_ca()?, None)?;
    Ok([
        presented(kz.federation_addr, federation).await?,
        presented(kz.client_addr, client).await?,
    ])
}

fn on_file(node_dir: &Path) -> Result<CertificateSummary> {
    let identity = NodeIdentity::load(node_dir)?;
    Ok(identity.summary()?)
}

fn renew(country: &Country, extra: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(tulpar_tests::binary("tulpar")?)
        .args(["cert", "renew", "--dir"])
        .arg(&country.dir)
        .args(extra)
        .output()?)
}

fn hang_up(country: &Country) -> Result<()> {
    let pid = country.pid().context("the node runs as a process")?;
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid)?).context("pid 0")?;
    rustix::process::kill_process(pid, rustix::process::Signal::HUP)?;
    Ok(())
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

fn seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_presented_by_both_listeners_without_a_restart() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    // A certificate 20 days from its end: the node warns at start.
    let out = renew(federation.country("KZ"), &["--days", "20"])?;
    if !out.status.success() {
        bail!("renew --days 20: {}", output_text(&out));
    }
    let short = on_file(&federation.country("KZ").dir.join("node"))?;
    for code in ["KZ", "UZ"] {
        let country = federation.country(code);
        country
            .node_env
            .push(("TULPAR__TRUST__RELOAD_INTERVAL".into(), "1s".into()));
        country.start_process().await?;
    }
    let kz = &federation.countries["KZ"];
    let uz = &federation.countries["UZ"];
    let log = kz.log();
    assert!(
        log.contains("the node TLS certificate expires within 30 days"),
        "{log}"
    );
    // The directory (90 days) and the CA (10 years) are not near their end.
    assert!(!log.contains("the country directory expires"), "{log}");
    assert!(
        !log.contains("the national TLS CA certificate expires"),
        "{log}"
    );
    let before = both_listeners(kz, uz).await?;
    assert_eq!(before[0].serial, short.serial);
    assert_eq!(before[1].serial, short.serial);
    let metrics = kz.scrape_metrics().await?;
    let node_expiry = r#"tulpar_tls_certificate_expiry_timestamp_seconds{certificate="node"}"#;
    assert_eq!(
        metric(&metrics, node_expiry),
        Some(seconds(short.not_after))
    );
    let directory_expiry = metric(&metrics, "tulpar_own_directory_expiry_timestamp_seconds")
        .context("no tulpar_own_directory_expiry_timestamp_seconds")?;
    assert!(directory_expiry > seconds(SystemTime::now()));

    // Renewed while the node runs: the same names, a new serial, two years.
    let out = renew(kz, &[])?;
    if !out.status.success() {
        bail!("renew: {}", output_text(&out));
    }
    let renewed = on_file(&kz.dir.join("node"))?;
    assert_ne!(renewed.serial, short.serial);
    assert_eq!(renewed.hosts, short.hosts);
    assert!(renewed.not_after > SystemTime::now() + Duration::from_secs(700 * DAY));
    let after = eventually(
        WAIT,
        "both listeners present the renewed certificate",
        || async {
            let now = both_listeners(kz, uz).await?;
            Ok((now[0].serial == renewed.serial && now[1].serial == renewed.serial).then_some(now))
        },
    )
    .await?;
    assert_eq!(after[0].not_after, renewed.not_after);
    assert!(kz.log().contains("node TLS certificate renewed"));
    let metrics = kz.scrape_metrics().await?;
    assert_eq!(
        metric(&metrics, node_expiry),
        Some(seconds(renewed.not_after))
    );

    // The partner takes KZ's new certificate both ways: KZ's calls present it too.
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let id = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &id).await?;
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    let id = send(&mut uz_officer, "UZ-TASHKENT-PCU", "KZ").await?;
    delivered(&uz_officer, &id).await?;
    let mut as_kz = kz.federation_client(uz)?;
    as_kz
        .get_directory(tulpar_core::proto::GetDirectoryRequest::default())
        .await
        .context("UZ refuses KZ's renewed certificate")?;

    // A key that is not the certificate's: refused on SIGHUP, the renewed certificate stays.
    let key_path = kz.dir.join("node/node.key");
    let good_key = std::fs::read(&key_path)?;
    let stray = tulpar_trust::tls::TlsCa::generate(
        CountryCode::parse("KZ")?,
        SystemTime::now(),
        Duration::from_secs(DAY),
    )?;
    tulpar_trust::files::write_atomically(&key_path, stray.key_pem().as_bytes(), 0o600)?;
    hang_up(kz)?;
    eventually(WAIT, "the refusal in the log", || async {
        Ok(kz
            .log()
            .contains("renewed node TLS certificate refused")
            .then_some(()))
    })
    .await?;
    let log = kz.log();
    assert!(log.contains("rule key-match"), "{log}");
    assert!(
        log.contains("SIGHUP: re-reading the node TLS certificate"),
        "{log}"
    );
    let still = both_listeners(kz, uz).await?;
    assert_eq!(still[0].serial, renewed.serial);
    assert_eq!(still[1].serial, renewed.serial);
    tulpar_trust::files::write_atomically(&key_path, &good_key, 0o600)?;
    federation.country("KZ").stop().await?;
    federation.country("UZ").stop().await?;
    Ok(())
}

#[test]
fn a_renewal_with_the_wrong_ca_key_or_days_changes_nothing() -> Result<()> {
    let federation = Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let kz = &federation.countries["KZ"];
    let uz = &federation.countries["UZ"];
    let files = ["node/node.crt", "node/node.key"].map(|f| kz.dir.join(f));
    let before = files
        .iter()
        .map(std::fs::read)
        .collect::<Result<Vec<_>, _>>()?;

    let wrong_key = uz.dir.join("offline/tls-ca.key");
    let out = Command::new(tulpar_tests::binary("tulpar")?)
        .args(["cert", "renew", "--dir"])
        .arg(&kz.dir)
        .arg("--offline")
        .arg(uz.dir.join("offline"))
        .output()?;
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("rule key-match"), "{text}");
    assert!(text.contains(&wrong_key.display().to_string()), "{text}");

    let out = renew(kz, &["--days", "3650"])?;
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("would outlive the national TLS CA"), "{text}");

    let out = renew(kz, &["--days", "0"])?;
    assert!(!out.status.success(), "{}", output_text(&out));

    // Another country's node certificate under KZ's CA.
    std::fs::copy(uz.dir.join("node/node.crt"), &files[0])?;
    let out = renew(kz, &[])?;
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("a certificate of UZ"), "{text}");
    std::fs::write(&files[0], &before[0])?;

    let after = files
        .iter()
        .map(std::fs::read)
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(before, after, "a refused renewal changed the node's files");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_unit_key_is_taken_by_the_partner_and_old_entries_still_verify() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    for code in ["KZ", "UZ"] {
        let country = federation.country(code);
        country.node_env.push((
            "TULPAR__TRUST__DIRECTORY_REFRESH_INTERVAL".into(),
            "1s".into(),
        ));
        country.start_process().await?;
    }
    let mut officer = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let before = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&officer, &before).await?;

    // The unit's key rotated in the directory; the node signs with the new key after a restart, and
    // UZ fetches the new directory by itself.
    federation.country("KZ").stop().await?;
    let kz_dir = federation.countries["KZ"].dir.clone();
    let out = Command::new(tulpar_tests::binary("tulpar")?)
        .args([
            "directory",
            "rotate-unit-key",
            "--unit",
            "KZ-AKTAU-PCU",
            "--dir",
        ])
        .arg(&kz_dir)
        .output()?;
    if !out.status.success() {
        bail!("rotate-unit-key: {}", output_text(&out));
    }
    federation.country("KZ").start_process().await?;
    let mut officer = federation.countries["KZ"].client("KZ-AKTAU-PCU").await?;
    let after = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&officer, &after).await?;
    let uz = &federation.countries["UZ"];
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    for id in [&before, &after] {
        uz_officer
            .get_alert(tulpar_core::proto::GetAlertRequest {
                alert_id: id.clone(),
            })
            .await
            .with_context(|| format!("UZ does not hold {id}"))?;
    }

    // Both ledgers verify, every signature in them judged at its time: the alert signed with the
    // closed key as well as the one signed with the new key.
    federation.country("KZ").stop().await?;
    federation.country("UZ").stop().await?;
    for code in ["KZ", "UZ"] {
        let country = &federation.countries[code];
        let out = Command::new(tulpar_tests::binary("tulpar")?)
            .args(["ledger", "verify", "--config"])
            .arg(country.config_path())
            .output()?;
        let text = output_text(&out);
        assert!(out.status.success(), "{code}: {text}");
        assert!(
            text.contains("every entry's signatures hold against the node's directory"),
            "{code}: {text}"
        );
    }
    Ok(())
}
