//! `tulpar-load watchers`: what many watchers and a few that never read cost a node in memory.
//!
//! Starts KZ and UZ, opens `--watchers` watchers on KZ (officers on connections of their own, each
//! reading, filtered to acknowledgements so that the scenario's alerts do not multiply into gigabytes
//! of traffic) and `--stuck` focal-point watchers of everything that never read, submits `--alerts`
//! alerts with `--attachment-kib` KiB attachments, then closes every watcher, reporting KZ's resident
//! memory (from /proc) at each step.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::alert_with_attachment;

/// KZ's resident memory in MiB.
fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/PID/status")?;
    Ok(kib / 1024.0)
}

/// Samples `pid`'s resident memory every 50 ms and keeps the highest.
fn sample_peak(
    pid: u32,
) -> (
    tokio::task::JoinHandle<f64>,
    tokio::sync::watch::Sender<bool>,
) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        loop {
            peak = peak.max(rss_mib(pid).unwrap_or(0.0));
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stopped.changed() => return peak,
            }
        }
    });
    (task, stop)
}

pub(crate) async fn run(args: &[String]) -> Result<()> {
    let watchers = crate::flag(args, "--watchers", 2000) as usize;
    let stuck = crate::flag(args, "--stuck", 3) as usize;
    let alerts = crate::flag(args, "--alerts", 60);
    let attachment = crate::flag(args, "--attachment-kib", 800) as usize * 1024;
    let mut federation = crate::federation()?;
    // Each watcher is a connection of its own, as `tulpar alert watch` opens one; past the client
    // API's default of 4,096 connections the benchmark raises the limit.
    let connections = (watchers + stuck + 64).max(4096);
    for country in federation.countries.values_mut() {
        country.node_env.push((
            "TULPAR__CLIENT_API__MAX_CONNECTIONS".into(),
            connections.to_string(),
        ));
        country.node_env.push((
            "TULPAR__CLIENT_API__MAX_CONNECTIONS_PER_ADDRESS".into(),
            connections.to_string(),
        ));
        if let Ok(extra) = std::env::var("TULPAR_LOAD_NODE_ENV") {
            // e.g. TULPAR_LOAD_NODE_ENV="MIMALLOC_PURGE_DELAY=0" to compare allocator settings.
            for pair in extra.split_whitespace() {
                if let Some((name, value)) = pair.split_once('=') {
                    country.node_env.push((name.into(), value.into()));
                }
            }
        }
    }
    federation.start_all_processes().await?;
    let kz = federation.country("KZ");
    let pid = kz.pid().context("KZ is not running")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (peak, stop_sampling) = sample_peak(pid);
    let started = rss_mib(pid)?;
    println!("KZ RSS at start: {started:.1} MiB");

    let opening = Instant::now();
    let mut readers = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let mut client = kz.client("KZ-AKTAU-PCU").await?;
        let mut events = client
            .watch_alerts(proto::WatchAlertsRequest {
                resume_from: None,
                kinds: vec![AlertEventKind::Acknowledged as i32],
            })
            .await?
            .into_inner();
        readers.push(tokio::spawn(async move {
            let _client = client;
            while let Ok(Some(_)) = events.message().await {}
        }));
    }
    let mut stuck_streams = Vec::with_capacity(stuck);
    for _ in 0..stuck {
        let mut client = kz.client("focal-point").await?;
        let stream = client
            .watch_alerts(proto::WatchAlertsRequest::default())
            .await?
            .into_inner();
        stuck_streams.push((client, stream));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_watchers = rss_mib(pid)?;
    println!(
        "KZ RSS with {watchers} reading watchers and {stuck} that never read: {with_watchers:.1} MiB \
         (opened in {:.1} s)",
        opening.elapsed().as_secs_f64()
    );

    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let submitting = Instant::now();
    for seed in 0..alerts {
        officer
            .submit_alert(proto::SubmitAlertRequest {
                request_id: String::new(),
                content: Some(alert_with_attachment(
                    "KZ-AKTAU-PCU",
                    "UZ",
                    attachment,
                    seed,
                )),
            })
            .await?;
    }
    println!(
        "submitted {alerts} alerts with {} KiB attachments in {:.1} s",
        attachment / 1024,
        submitting.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = rss_mib(pid)?;
    println!("KZ RSS 5 s later, every watcher still open: {during:.1} MiB");

    drop(stuck_streams);
    for reader in &readers {
        reader.abort();
    }
    for reader in readers {
        let _ = reader.await;
    }
    for wait in [2u64, 10, 30] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        println!(
            "KZ RSS after the watchers closed (+{wait} s): {:.1} MiB",
            rss_mib(pid)?
        );
    }
    let _ = stop_sampling.send(true);
    let peak = peak.await?;
    println!("KZ RSS peak: {peak:.1} MiB");
    let warnings = kz
        .log()
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .count();
    println!("KZ logged {warnings} warnings");
    if peak > 256.0 {
        bail!("KZ's RSS peaked at {peak:.1} MiB, above the 256 MiB target");
    }
    Ok(())
}
