//! What one caller can make a node hold: connections (in all, per address, idle) and watch streams.
//!
//! The attacks, scripted: a host opens TLS connections, sends the HTTP/2 preface and then nothing,
//! without credentials, more than its share; and an officer opens `WatchAlerts` and never reads while
//! large alerts are submitted. Nobody else may notice either.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::io::AsyncReadExt;
use tonic::Code;
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::{Federation, alert_with_attachment, eventually};

/// Connections one address may hold in the test node.
const PER_ADDRESS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_share_of_one_address_are_refused_and_idle_ones_closed() -> Result<()>
{
    let mut federation = Federation::new(&[("KZ", &["KZ-AKTAU-PCU"])])?;
    let kz = federation.country("KZ");
    kz.node_env.extend([
        (
            "TULPAR__CLIENT_API__MAX_CONNECTIONS_PER_ADDRESS".into(),
            PER_ADDRESS.to_string(),
        ),
        ("TULPAR__CLIENT_API__IDLE_TIMEOUT".into(), "3s".into()),
    ]);
    kz.start().await?;
    let attacker: IpAddr = [127, 0, 0, 2].into();

    // The attack: the address's whole share of connections, each idle after the HTTP/2 preface.
    let mut idle = Vec::new();
    for _ in 0..PER_ADDRESS {
        idle.push(kz.preface_connection(attacker).await?);
    }
    // One more from the same address is told why, with the limit named.
    let mut refused = kz.anonymous_client_from(attacker)?;
    let status = refused
        .who_am_i(proto::WhoAmIRequest {})
        .await
        .expect_err("a connection past the address's share is refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("max_connections_per_address"),
        "{}",
        status.message()
    );

    // Meanwhile an officer elsewhere is served.
    let mut focal = kz.client("focal-point").await?;
    focal.who_am_i(proto::WhoAmIRequest {}).await?;

    // The idle connections are closed by the node: each reads to its end.
    for (i, connection) in idle.iter_mut().enumerate() {
        let mut buf = vec![0u8; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match connection.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        if closed.is_err() {
            bail!("idle connection {i} is still open after a minute");
        }
    }
    drop(idle);

    // Its share given back, the address is admitted again (and asked for credentials).
    eventually(
        Duration::from_secs(30),
        "the address to be admitted again",
        || {
            let mut refused = refused.clone();
            async move {
                match refused.who_am_i(proto::WhoAmIRequest {}).await {
                    Err(status) if status.code() == Code::Unauthenticated => Ok(Some(())),
                    _ => Ok(None),
                }
            }
        },
    )
    .await?;
    // The officer's own connection went idle too and may have been closed meanwhile; a new one is
    // served, as every command of the CLI opens its own.
    kz.client("focal-point")
        .await?
        .who_am_i(proto::WhoAmIRequest {})
        .await?;
    Ok(())
}

/// Alerts of this many bytes of attachment, and how many: together far more than a watch buffer,
/// HTTP/2 windows and socket buffers hold, so a watcher that does not read is left behind.
const ATTACHMENT_BYTES: usize = 800 * 1024;
const ALERTS: u64 = 24;

#[tokio::test]
async fn a_watcher_that_never_reads_stops_nobody_and_a_slow_one_gets_everything_in_order()
-> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    let kz = federation.country("KZ");
    kz.node_env.push((
        "TULPAR__LOG__LEVEL".into(),
        "info,tulpar_node::watch=debug".into(),
    ));
    // A process, whose log tells which watchers were left behind.
    kz.start_process().await?;
    let request = || proto::WatchAlertsRequest {
        resume_from: None,
        kinds: vec![AlertEventKind::AlertSent as i32],
    };
    // The attack: a watcher that never reads.
    let mut stuck = kz.client("focal-point").await?;
    let _never_read = stuck.watch_alerts(request()).await?.into_inner();
    // A watcher that reads only after everything was submitted, and one that reads as it comes.
    let mut slow = kz.client("KZ-AKTAU-PCU").await?;
    let mut slow_events = slow.watch_alerts(request()).await?.into_inner();
    let mut live = kz.client("focal-point").await?;
    let mut live_events = live.watch_alerts(request()).await?.into_inner();
    let reader = tokio::spawn(async move {
        let mut indexes = Vec::new();
        while (indexes.len() as u64) < ALERTS {
            match live_events.message().await? {
                Some(event) => indexes.push(event.ledger_index),
                None => bail!("the live watch ended"),
            }
        }
        Ok(indexes)
    });

    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut ids = Vec::new();
    for seed in 0..ALERTS {
        let response = officer
            .submit_alert(proto::SubmitAlertRequest {
                request_id: String::new(),
                content: Some(alert_with_attachment(
                    "KZ-AKTAU-PCU",
                    "UZ",
                    ATTACHMENT_BYTES,
                    seed,
                )),
            })
            .await?
            .into_inner();
        ids.push(response.alert_id);
    }

    let live_indexes = tokio::time::timeout(Duration::from_secs(120), reader).await???;
    assert!(
        live_indexes.windows(2).all(|w| w[0] < w[1]),
        "{live_indexes:?}"
    );
    let mut slow_ids = Vec::new();
    let mut slow_indexes = Vec::new();
    while (slow_ids.len() as u64) < ALERTS {
        let event = tokio::time::timeout(Duration::from_secs(60), slow_events.message())
            .await??
            .ok_or_else(|| anyhow::anyhow!("the slow watch ended"))?;
        let attachment = event
            .alert
            .as_ref()
            .and_then(|record| record.alert.as_ref())
            .and_then(|alert| alert.content.as_ref())
            .and_then(|content| content.attachments.first())
            .map_or(0, |a| a.content.len());
        assert_eq!(attachment, ATTACHMENT_BYTES, "events carry the whole alert");
        slow_ids.push(event.alert_id);
        slow_indexes.push(event.ledger_index);
    }
    assert_eq!(slow_ids, ids, "the slow watcher got every alert, in order");
    assert_eq!(slow_indexes, live_indexes);
    // Both the watcher that never read and the slow one were left behind, and let go of the
    // ledger's broadcast meanwhile (the slow one then caught up from the ledger).
    let log = kz.log();
    for watcher in ["token:focal-point", "token:KZ-AKTAU-PCU"] {
        assert!(
            log.lines()
                .any(|line| line.contains("watch buffer full") && line.contains(watcher)),
            "{watcher} was never left behind:\n{log}"
        );
    }
    Ok(())
}
