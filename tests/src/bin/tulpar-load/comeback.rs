//! `tulpar-load comeback`: how soon a partner that was down is served once it is back.
//!
//! Starts KZ and UZ with the production delivery backoff (500 ms, doubling to 60 s), stops UZ, submits
//! `--alerts` alerts at KZ while UZ is down, keeps UZ down for `--down-seconds` in all (long enough for
//! KZ's backoff to reach its cap), starts UZ again, and reports the time from UZ answering to KZ's
//! first delivery and to the last of the backlog.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tulpar_core::proto::{self, AlertEventKind};

pub(crate) async fn run(args: &[String]) -> Result<()> {
    let alerts = crate::flag(args, "--alerts", 2000);
    let down = Duration::from_secs(crate::flag(args, "--down-seconds", 92));
    let mut federation = crate::federation()?;
    for country in federation.countries.values_mut() {
        country.node_env.extend([
            ("TULPAR__DELIVERY__INITIAL_BACKOFF".into(), "500ms".into()),
            ("TULPAR__DELIVERY__MAX_BACKOFF".into(), "60s".into()),
        ]);
    }
    federation.start_all_processes().await?;
    federation.country("UZ").stop().await?;
    let went_down = Instant::now();
    let kz = federation.country("KZ");
    let mut watcher = kz.client("focal-point").await?;
    let mut events = crate::watch(&mut watcher, AlertEventKind::Delivered).await?;
    let officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut submitting = tokio::task::JoinSet::new();
    for n in 0..alerts {
        let mut officer = officer.clone();
        submitting.spawn(async move {
            let request = proto::SubmitAlertRequest {
                request_id: String::new(),
                content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
            };
            officer
                .submit_alert(request)
                .await
                .with_context(|| format!("alert {n}"))
        });
        // At most 64 submits in flight.
        while submitting.len() >= 64 {
            submitting.join_next().await.context("a submit")???;
        }
    }
    while let Some(done) = submitting.join_next().await {
        done??;
    }
    println!(
        "{alerts} alerts queued at KZ while UZ is down ({} s)",
        went_down.elapsed().as_secs()
    );
    tokio::time::sleep(down.saturating_sub(went_down.elapsed())).await;
    let starting = Instant::now();
    federation.country("UZ").start_process().await?;
    let up = Instant::now();
    let mut first = None;
    let mut delivered = 0;
    while delivered < alerts {
        let event = tokio::time::timeout(Duration::from_secs(120), events.message())
            .await
            .context("no delivery for two minutes")??
            .context("the watch stream ended")?;
        if event.kind == AlertEventKind::Delivered as i32 {
            delivered += 1;
            first.get_or_insert_with(Instant::now);
        }
    }
    let Some(first) = first else {
        bail!("nothing was delivered");
    };
    println!(
        "UZ down {} s; UZ started in {} ms; first delivery {} ms after UZ answered, all {alerts} \
         delivered {} ms after",
        down.as_secs(),
        up.duration_since(starting).as_millis(),
        first.duration_since(up).as_millis(),
        up.elapsed().as_millis()
    );
    Ok(())
}
