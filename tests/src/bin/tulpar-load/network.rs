//! `tulpar-load network`: KZ and UZ each in a network namespace of its own, joined by an emulated link
//! (`tulpar_tests::link`: delay, jitter and loss applied to every packet); needs root and iproute2.
//!
//! First times each alert from its submit at KZ until UZ's receipt is durable at KZ, at `--rtt-ms`
//! (120) and `--loss-percent` (1), `--rate` alerts a second (20) for `--seconds` (60). Then, for each
//! length in `--partitions` (seconds, `60,180`), cuts KZ off from UZ for that long while KZ's officers
//! submit two alerts a second, heals the link, and reports the time from healing to KZ's first
//! delivery to UZ and to the last of the backlog. The nodes run the production delivery backoff
//! (500 ms, doubling to 60 s), which reaches its cap in any partition over a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::link::LinkSettings;
use tulpar_tests::netns::Network;
use tulpar_tests::{Client, Federation};

/// When KZ learned each alert was delivered.
type Delivered = Arc<Mutex<HashMap<String, Instant>>>;

pub(crate) async fn run(args: &[String]) -> Result<()> {
    let rtt = Duration::from_millis(crate::flag(args, "--rtt-ms", 120));
    let loss = crate::option(args, "--loss-percent")
        .map(|value| value.parse::<f64>().unwrap_or_else(|_| crate::usage()))
        .unwrap_or(1.0)
        / 100.0;
    let rate = crate::flag(args, "--rate", 20).max(1);
    let seconds = crate::flag(args, "--seconds", 60);
    let partitions = crate::option(args, "--partitions")
        .unwrap_or("60,180")
        .split(',')
        .filter(|length| !length.is_empty())
        .map(|length| length.parse().map(Duration::from_secs))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|_| crate::usage());
    if let Some(reason) = Network::unavailable() {
        bail!("{reason}");
    }
    let network = Network::new(&["KZ", "UZ"], LinkSettings::round_trip(rtt, loss))?;
    let mut federation = Federation::in_network(&network, crate::KZ_UZ)?;
    crate::production_settings(&mut federation);
    for country in federation.countries.values_mut() {
        country.node_env.extend([
            ("TULPAR__DELIVERY__INITIAL_BACKOFF".into(), "500ms".into()),
            ("TULPAR__DELIVERY__MAX_BACKOFF".into(), "60s".into()),
        ]);
    }
    federation.start_all_processes().await?;
    let kz = &federation.countries["KZ"];
    let delivered: Delivered = Arc::default();
    let watching = tokio::spawn(watch_deliveries(
        kz.client("focal-point").await?,
        delivered.clone(),
    ));
    let officer = kz.client("KZ-AKTAU-PCU").await?;
    // One alert first, so that the timed ones find the connection to UZ open, as it usually is.
    let (first, _) = submit(&officer).await?;
    all_delivered(&delivered, &[first], &watching).await?;

    let settings = format!("{} ms round trip, {}% loss", rtt.as_millis(), loss * 100.0);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut submits = Vec::new();
    for _ in 0..rate * seconds {
        ticker.tick().await;
        let officer = officer.clone();
        submits.push(tokio::spawn(async move { submit(&officer).await }));
    }
    let mut timed = Vec::with_capacity(submits.len());
    for submitted in submits {
        timed.push(submitted.await??);
    }
    let ids: Vec<String> = timed.iter().map(|(id, _)| id.clone()).collect();
    all_delivered(&delivered, &ids, &watching).await?;
    let mut latencies: Vec<Duration> = {
        let delivered = delivered.lock().unwrap_or_else(|p| p.into_inner());
        timed
            .iter()
            .map(|(id, at)| delivered[id].saturating_duration_since(*at))
            .collect()
    };
    crate::report(
        &format!("network, {settings}, {rate}/s"),
        "latency from submit at KZ until UZ's receipt is durable at KZ",
        &mut latencies,
    );
    let (there, back) = (network.stats("KZ", "UZ")?, network.stats("UZ", "KZ")?);
    println!(
        "emulated link: KZ→UZ {} packets forwarded, {} lost; UZ→KZ {} forwarded, {} lost",
        there.forwarded, there.lost, back.forwarded, back.lost
    );

    for length in partitions {
        network.partition("KZ", "UZ")?;
        let cut = Instant::now();
        let mut queued = Vec::new();
        while cut.elapsed() < length {
            queued.push(submit(&officer).await?.0);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        network.heal("KZ", "UZ")?;
        let healed = Instant::now();
        all_delivered(&delivered, &queued, &watching).await?;
        let times: Vec<Instant> = {
            let delivered = delivered.lock().unwrap_or_else(|p| p.into_inner());
            queued.iter().map(|id| delivered[id]).collect()
        };
        let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
            bail!("nothing was queued during the partition");
        };
        if *first < healed {
            bail!("an alert crossed the partition");
        }
        println!(
            "network, {settings}: KZ cut off from UZ for {} s with {} alerts queued; first delivery \
             {} ms after healing, all delivered {} ms after",
            length.as_secs(),
            queued.len(),
            first.duration_since(healed).as_millis(),
            last.duration_since(healed).as_millis()
        );
    }
    watching.abort();
    crate::print_warnings(&federation);
    Ok(())
}

/// Submits a sample alert at KZ; its id, and when the submit began.
async fn submit(officer: &Client) -> Result<(String, Instant)> {
    let request = proto::SubmitAlertRequest {
        request_id: String::new(),
        content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
    };
    let started = Instant::now();
    let id = officer
        .clone()
        .submit_alert(request)
        .await?
        .into_inner()
        .alert_id;
    Ok((id, started))
}

/// Notes when each DELIVERED event reaches KZ's watcher.
async fn watch_deliveries(mut watcher: Client, delivered: Delivered) -> Result<()> {
    let mut events = crate::watch(&mut watcher, AlertEventKind::Delivered).await?;
    while let Some(event) = events.message().await.context("watch stream")? {
        delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(event.alert_id, Instant::now());
    }
    bail!("the watch stream ended")
}

/// Waits, at most two minutes, until every alert of `ids` was delivered.
async fn all_delivered(
    delivered: &Delivered,
    ids: &[String],
    watching: &tokio::task::JoinHandle<Result<()>>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let missing = {
            let delivered = delivered.lock().unwrap_or_else(|p| p.into_inner());
            ids.iter().filter(|id| !delivered.contains_key(*id)).count()
        };
        if missing == 0 {
            return Ok(());
        }
        if watching.is_finished() {
            bail!("KZ's watch stream ended");
        }
        if Instant::now() > deadline {
            bail!(
                "{missing} of {} alerts undelivered after two minutes",
                ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
