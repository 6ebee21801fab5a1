//! The federation over a real, if emulated, network: each country's node in a network namespace of its
//! own, the links between them delayed, jittered and lossy (`tulpar_tests::link` forwards every packet
//! in userspace), and KZ cut off from UZ for three minutes while TJ stays reachable.
//!
//! The long test runs about five minutes: alerts KZ→UZ, KZ→TJ and UZ→KZ every half second, each
//! acknowledged by an officer at its recipient; links at 60 ms round trip and 5 % loss, then 120 ms
//! and 1 %; the partition (alerts between KZ and UZ queue up during its first half minute, then stop,
//! so that the nodes' backoff reaches its cap); the heal. It checks that TJ is served throughout,
//! that the first delivery after healing comes within seconds in both directions, that everything is
//! then delivered and acknowledged, that each partner cosigns checkpoints covering the partition,
//! that no node raises an alarm or sets anything aside, and, reading the ledgers, that every alert,
//! receipt and acknowledgement was recorded exactly once.
//!
//! These tests need root and iproute2, as CI has: on CI (`CI` set) they fail without them, elsewhere
//! they are skipped, saying why.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tulpar_core::proto::{self, AlertEventKind, DeliveryState, ledger_entry::Kind};
use tulpar_tests::link::LinkSettings;
use tulpar_tests::netns::{Namespace, Network};
use tulpar_tests::{Client, Country, Federation, eventually};

/// The round trip and loss the figures are asked for.
const RTT: Duration = Duration::from_millis(120);
const LOSS: f64 = 0.01;
/// The other setting checked: a shorter round trip, and more loss.
const SHORT_RTT: Duration = Duration::from_millis(60);
const HIGH_LOSS: f64 = 0.05;
/// How long KZ and UZ are cut off from each other.
const PARTITION: Duration = Duration::from_secs(180);
/// How long before the heal KZ and UZ stop submitting alerts for each other. Each new alert makes a
/// node try its partner again at once; after this long without one, its backoff has grown to its
/// 60 s cap, the case in which healing used to wait for the backoff.
const QUIET: Duration = Duration::from_secs(150);
/// How often each flow submits an alert.
const PACE: Duration = Duration::from_millis(500);
/// How long an officer takes to acknowledge an alert once it arrives, so that the alerts arriving
/// just before the partition are acknowledged during it and their acknowledgements wait.
const READING: Duration = Duration::from_secs(5);
/// A generous bound on the first delivery after healing: far below the 60 s backoff cap, so that only
/// a node that asks an unreachable partner whether it is up (and starts delivering at once) meets it.
const HEALED_WITHIN: Duration = Duration::from_secs(10);

/// The flows of alerts: origin country and unit, recipient country and the unit acknowledging there.
const FLOWS: [(&str, &str, &str, &str); 3] = [
    ("KZ", "KZ-AKTAU-PCU", "UZ", "UZ-TASHKENT-PCU"),
    ("KZ", "KZ-AKTAU-PCU", "TJ", "TJ-DUSHANBE-PCU"),
    ("UZ", "UZ-TASHKENT-PCU", "KZ", "KZ-AKTAU-PCU"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_emulator_delays_loses_and_cuts_packets() -> Result<()> {
    let settings = LinkSettings::round_trip(RTT, 0.0);
    let Some(network) = Network::for_test(&["A", "B"], settings)? else {
        return Ok(());
    };
    let (a, b) = (network.namespace("A")?, network.namespace("B")?);
    let listener = b.enter(|| {
        let listener = std::net::TcpListener::bind((b.address(), 0))?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    })?;
    let addr = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    // An echo server in B.
    let echo = tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
        #[allow(unreachable_code)]
        anyhow::Ok(())
    });

    // A TCP handshake takes one round trip: never less than the emulated one.
    for (rtt, loss) in [(RTT, 0.0), (SHORT_RTT, 0.0)] {
        network.set_links(LinkSettings::round_trip(rtt, loss))?;
        let fastest = fastest_connect(&a, addr, 5).await?;
        let floor = rtt - 2 * LinkSettings::round_trip(rtt, loss).jitter;
        ensure!(
            fastest >= floor && fastest < rtt + Duration::from_millis(500),
            "a handshake at {rtt:?} took {fastest:?}"
        );
        eprintln!("emulated round trip {rtt:?}: fastest TCP handshake {fastest:?}");
    }

    // At 5 % loss TCP retransmits, and the bytes still arrive whole.
    network.set_links(LinkSettings::round_trip(SHORT_RTT, HIGH_LOSS))?;
    let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut stream = connect(&a, addr, Duration::from_secs(10)).await?;
    let (mut read, mut write) = stream.split();
    let mut echoed = vec![0; sent.len()];
    let (written, got) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(write.write_all(&sent), read.read_exact(&mut echoed))
    })
    .await
    .context("echoing a megabyte at 5 % loss")?;
    written?;
    got?;
    ensure!(echoed == sent, "the echoed bytes differ");
    let (there, back) = (network.stats("A", "B")?, network.stats("B", "A")?);
    ensure!(
        there.lost > 0 && back.lost > 0,
        "no packet lost at 5 %: {there:?} {back:?}"
    );
    eprintln!("a megabyte echoed at 5 % loss: A→B {there:?}, B→A {back:?}");

    // A cut link carries nothing, either way, until it is restored.
    network.set_links(LinkSettings::round_trip(SHORT_RTT, 0.0))?;
    network.partition("A", "B")?;
    let cut_before = network.stats("A", "B")?.cut;
    ensure!(
        connect(&a, addr, Duration::from_secs(2)).await.is_err(),
        "connected across a cut link"
    );
    ensure!(network.stats("A", "B")?.cut > cut_before);
    network.heal("A", "B")?;
    connect(&a, addr, Duration::from_secs(5))
        .await
        .context("connecting once the link is restored")?;
    echo.abort();
    Ok(())
}

async fn connect(
    from: &Namespace,
    addr: SocketAddr,
    limit: Duration,
) -> Result<tokio::net::TcpStream> {
    let socket = from.tcp_socket()?;
    Ok(tokio::time::timeout(limit, socket.connect(addr))
        .await
        .context("connect timed out")??)
}

/// The fastest of `tries` TCP handshakes from `from` to `addr`.
async fn fastest_connect(from: &Namespace, addr: SocketAddr, tries: usize) -> Result<Duration> {
    let mut fastest = Duration::MAX;
    for _ in 0..tries {
        let started = Instant::now();
        connect(from, addr, Duration::from_secs(10)).await?;
        fastest = fastest.min(started.elapsed());
    }
    Ok(fastest)
}

/// One alert submitted by a flow.
#[derive(Debug, Clone)]
struct Sent {
    from: &'static str,
    to: &'static str,
    alert_id: String,
    at: Instant,
}

/// When each alert was delivered, as its sender saw the receipt recorded: alert id → instant.
type Deliveries = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_cross_a_lossy_network_and_a_three_minute_partition_exactly_once() -> Result<()> {
    let Some(network) = Network::for_test(
        &["KZ", "UZ", "TJ"],
        LinkSettings::round_trip(SHORT_RTT, HIGH_LOSS),
    )?
    else {
        return Ok(());
    };
    let mut federation = Federation::in_network(
        &network,
        &[
            ("KZ", &["KZ-AKTAU-PCU"]),
            ("UZ", &["UZ-TASHKENT-PCU"]),
            ("TJ", &["TJ-DUSHANBE-PCU"]),
        ],
    )?;
    for country in federation.countries.values_mut() {
        // Production settings: the backoff reaches its 60 s cap within the partition, and no
        // frequent call of another kind (a directory refresh every second, as the test federation
        // has, or witnessing every few seconds) finds the partner again in the node's place.
        country.node_env.extend([
            ("TULPAR__DELIVERY__INITIAL_BACKOFF".into(), "500ms".into()),
            ("TULPAR__DELIVERY__MAX_BACKOFF".into(), "60s".into()),
            ("TULPAR__WITNESS__INTERVAL".into(), "60s".into()),
            (
                "TULPAR__TRUST__DIRECTORY_REFRESH_INTERVAL".into(),
                "15m".into(),
            ),
        ]);
    }
    federation.start_all_processes().await?;
    let countries = &federation.countries;

    let deliveries: Deliveries = Arc::default();
    let mut background = JoinSet::new();
    for sender in ["KZ", "UZ"] {
        background.spawn(record_deliveries(
            countries[sender].client("focal-point").await?,
            deliveries.clone(),
        ));
    }
    let acknowledged: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    for (country, unit) in [
        ("UZ", "UZ-TASHKENT-PCU"),
        ("TJ", "TJ-DUSHANBE-PCU"),
        ("KZ", "KZ-AKTAU-PCU"),
    ] {
        background.spawn(acknowledge_arrivals(
            countries[country].client(unit).await?,
            unit,
            acknowledged.clone(),
        ));
    }
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let traffic = Arc::new(Traffic::default());
    let submitting = tokio::spawn(submit_alerts(
        [
            countries["KZ"].client("KZ-AKTAU-PCU").await?,
            countries["UZ"].client("UZ-TASHKENT-PCU").await?,
        ],
        sent.clone(),
        traffic.clone(),
    ));

    // The other setting first, then the one the figures are asked for.
    tokio::time::sleep(Duration::from_secs(20)).await;
    all_delivered(
        &sent,
        &deliveries,
        &format!("at {SHORT_RTT:?} and {HIGH_LOSS} loss"),
    )
    .await?;
    network.set_links(LinkSettings::round_trip(RTT, LOSS))?;
    tokio::time::sleep(Duration::from_secs(20)).await;
    check_background(&mut background)?;
    all_delivered(&sent, &deliveries, &format!("at {RTT:?} and {LOSS} loss")).await?;
    // Every partner has cosigned every node's checkpoint at least once (the first round is a
    // witness interval after the start).
    eventually(
        Duration::from_secs(60),
        "a first cosignature for every pair",
        || async {
            let witnessed = Witnessed::now(countries).await?;
            Ok(witnessed
                .cosigned
                .values()
                .all(|size| *size > 0)
                .then_some(()))
        },
    )
    .await?;

    network.partition("KZ", "UZ")?;
    let cut_at = Instant::now();
    eprintln!("KZ and UZ cut off from each other for {PARTITION:?}");
    tokio::time::sleep(PARTITION - QUIET).await;
    // Nothing new for each other from here on: by the heal the backoff has reached its cap with
    // nothing to wake it, as after a night's outage, and only the nodes themselves can find each
    // other again.
    traffic.quiet_across.store(true, Ordering::Relaxed);
    check_background(&mut background)?;
    tokio::time::sleep(QUIET - Duration::from_secs(10)).await;

    // Late in the partition: TJ is served as ever, KZ and UZ wait for each other, and nobody raised
    // an alarm.
    {
        let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
        let deliveries = deliveries.lock().unwrap_or_else(|p| p.into_inner());
        // Those submitted in the last few seconds may still be on their way.
        let settled = Instant::now() - Duration::from_secs(10);
        let to_tj: Vec<_> = sent
            .iter()
            .filter(|s| s.to == "TJ" && s.at > cut_at && s.at < settled)
            .collect();
        let missing = to_tj
            .iter()
            .filter(|s| !deliveries.contains_key(&s.alert_id))
            .count();
        ensure!(
            !to_tj.is_empty() && missing == 0,
            "{missing} of {} alerts to TJ undelivered during the partition",
            to_tj.len()
        );
        let across: Vec<_> = sent
            .iter()
            .filter(|s| s.to != "TJ" && s.at > cut_at)
            .collect();
        let crossed = across
            .iter()
            .filter(|s| deliveries.contains_key(&s.alert_id))
            .count();
        ensure!(
            across.len() > 50 && crossed == 0,
            "{crossed} of {} alerts between KZ and UZ crossed the partition",
            across.len()
        );
    }
    let kz_peers = peers(&countries["KZ"]).await?;
    ensure!(
        !kz_peers["UZ"].reachable && kz_peers["TJ"].reachable,
        "KZ's view of its partners during the partition: {kz_peers:?}"
    );
    no_alarms(countries).await?;
    tokio::time::sleep(PARTITION.saturating_sub(cut_at.elapsed())).await;

    let at_heal = Witnessed::now(countries).await?;
    network.heal("KZ", "UZ")?;
    let healed = Instant::now();
    eprintln!("healed after {:?}", cut_at.elapsed());
    let first_after = |from: &'static str, to: &'static str| {
        let (sent, deliveries) = (sent.clone(), deliveries.clone());
        async move {
            let what = format!("a {from}→{to} delivery after healing");
            eventually(HEALED_WITHIN, &what, || {
                let (sent, deliveries) = (sent.clone(), deliveries.clone());
                async move {
                    let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
                    let deliveries = deliveries.lock().unwrap_or_else(|p| p.into_inner());
                    Ok(sent
                        .iter()
                        .filter(|s| (s.from, s.to) == (from, to))
                        .filter_map(|s| deliveries.get(&s.alert_id))
                        .filter(|at| **at >= healed)
                        .min()
                        .map(|at| at.duration_since(healed)))
                }
            })
            .await
        }
    };
    let (kz_to_uz, uz_to_kz) = tokio::join!(first_after("KZ", "UZ"), first_after("UZ", "KZ"));
    let (kz_to_uz, uz_to_kz) = (kz_to_uz?, uz_to_kz?);
    eprintln!(
        "first delivery after healing a {PARTITION:?} partition: KZ→UZ {kz_to_uz:?}, UZ→KZ {uz_to_kz:?}"
    );

    traffic.quiet_across.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(20)).await;
    traffic.stop.store(true, Ordering::Relaxed);
    submitting.await??;
    check_background(&mut background)?;
    let sent: Vec<Sent> = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
    ensure!(
        sent.iter().any(|s| s.to == "UZ" && s.at > healed),
        "no alert was submitted after healing"
    );

    // Everything is delivered and acknowledged, and the partners' witnessing caught up.
    all_delivered_and_acknowledged(countries, &sent).await?;
    let acknowledged_during = acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, at)| *at > cut_at && *at < healed)
        .count();
    ensure!(
        acknowledged_during > 0,
        "no acknowledgement was made during the partition"
    );
    at_heal.covered(countries).await?;
    no_alarms(countries).await?;
    background.abort_all();

    // The emulator really lost packets, and really cut only KZ from UZ.
    for (from, to) in [("KZ", "UZ"), ("UZ", "KZ"), ("KZ", "TJ"), ("TJ", "KZ")] {
        let stats = network.stats(from, to)?;
        eprintln!("{from}→{to}: {stats:?}");
        ensure!(stats.lost > 0, "nothing lost {from}→{to}: {stats:?}");
        let cut = matches!((from, to), ("KZ", "UZ") | ("UZ", "KZ"));
        ensure!(
            (stats.cut > 0) == cut,
            "{from}→{to} cut {} packets",
            stats.cut
        );
    }

    for code in ["KZ", "UZ", "TJ"] {
        federation.country(code).stop().await?;
    }
    exactly_once(&federation.countries, &sent)?;
    Ok(())
}

/// What the flows of [`submit_alerts`] are told.
#[derive(Default)]
struct Traffic {
    /// Pause the flows between KZ and UZ.
    quiet_across: AtomicBool,
    /// Stop every flow.
    stop: AtomicBool,
}

/// Submits an alert on every flow each [`PACE`] (between KZ and UZ only while not quiet) until
/// told to stop.
async fn submit_alerts(
    [kz, uz]: [Client; 2],
    sent: Arc<Mutex<Vec<Sent>>>,
    traffic: Arc<Traffic>,
) -> Result<()> {
    let mut ticker = tokio::time::interval(PACE);
    let mut n = 0u64;
    while !traffic.stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        for (from, unit, to, _) in FLOWS {
            if to != "TJ" && traffic.quiet_across.load(Ordering::Relaxed) {
                continue;
            }
            let mut client = if from == "KZ" { kz.clone() } else { uz.clone() };
            n += 1;
            let request = proto::SubmitAlertRequest {
                request_id: format!("network-{n}"),
                content: Some(tulpar_core::sample::alert_draft(unit, to)),
            };
            // The officer's own node answers at once, whatever the network between the nodes does.
            let submitted =
                tokio::time::timeout(Duration::from_secs(10), client.submit_alert(request))
                    .await
                    .with_context(|| format!("submitting {from}→{to}"))??
                    .into_inner();
            sent.lock().unwrap_or_else(|p| p.into_inner()).push(Sent {
                from,
                to,
                alert_id: submitted.alert_id,
                at: Instant::now(),
            });
        }
    }
    Ok(())
}

/// Notes when the sender learned each of its alerts was delivered (a DELIVERED event).
async fn record_deliveries(mut watcher: Client, deliveries: Deliveries) -> Result<()> {
    let request = proto::WatchAlertsRequest {
        resume_from: None,
        kinds: vec![AlertEventKind::Delivered as i32],
    };
    let mut events = watcher.watch_alerts(request).await?.into_inner();
    while let Some(event) = events.message().await? {
        deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(event.alert_id, Instant::now());
    }
    bail!("the watch stream ended")
}

/// Acknowledges every alert arriving for `unit`, [`READING`] after it arrives.
async fn acknowledge_arrivals(
    officer: Client,
    unit: &'static str,
    acknowledged: Arc<Mutex<Vec<(String, Instant)>>>,
) -> Result<()> {
    let request = proto::WatchAlertsRequest {
        resume_from: None,
        kinds: vec![AlertEventKind::AlertReceived as i32],
    };
    let mut events = officer.clone().watch_alerts(request).await?.into_inner();
    let mut answering = JoinSet::new();
    while let Some(event) = events.message().await? {
        let (mut officer, acknowledged) = (officer.clone(), acknowledged.clone());
        answering.spawn(async move {
            tokio::time::sleep(READING).await;
            let request = proto::AcknowledgeRequest {
                request_id: format!("ack-{}", event.alert_id),
                alert_id: event.alert_id.clone(),
                unit: unit.into(),
                acknowledgement: Some(proto::Acknowledgement {
                    decision: proto::AcknowledgementDecision::Accepted as i32,
                    note: String::new(),
                }),
            };
            officer.acknowledge(request).await?;
            acknowledged
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((event.alert_id, Instant::now()));
            anyhow::Ok(())
        });
        while let Some(done) = answering.try_join_next() {
            done??;
        }
    }
    bail!("the watch stream ended")
}

/// Fails if a background task (watcher, officer) failed.
fn check_background(background: &mut JoinSet<Result<()>>) -> Result<()> {
    while let Some(done) = background.try_join_next() {
        done??;
    }
    Ok(())
}

/// Waits until every alert submitted so far has been delivered.
async fn all_delivered(sent: &Mutex<Vec<Sent>>, deliveries: &Deliveries, when: &str) -> Result<()> {
    let ids: Vec<String> = sent
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|s| s.alert_id.clone())
        .collect();
    eventually(
        Duration::from_secs(30),
        &format!("every alert {when}"),
        || {
            let deliveries = deliveries.clone();
            let ids = ids.clone();
            async move {
                let deliveries = deliveries.lock().unwrap_or_else(|p| p.into_inner());
                Ok(ids
                    .iter()
                    .all(|id| deliveries.contains_key(id))
                    .then_some(()))
            }
        },
    )
    .await
}

/// Waits until the sender shows every alert acknowledged by its recipient.
async fn all_delivered_and_acknowledged(
    countries: &BTreeMap<String, Country>,
    sent: &[Sent],
) -> Result<()> {
    let mut senders = BTreeMap::new();
    for (from, unit, _, _) in FLOWS {
        senders.insert(from, countries[from].client(unit).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for alert in sent {
        let mut client = senders[alert.from].clone();
        loop {
            let record = client
                .get_alert(proto::GetAlertRequest {
                    alert_id: alert.alert_id.clone(),
                })
                .await?
                .into_inner();
            let state = record.recipients.first().map(|r| r.state);
            if state == Some(DeliveryState::Acknowledged as i32) {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "{}→{} alert {} is {state:?}, not acknowledged",
                    alert.from,
                    alert.to,
                    alert.alert_id
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Each node's partners by country, as `ListPeers` shows them.
async fn peers(country: &Country) -> Result<BTreeMap<String, proto::PeerStatus>> {
    let mut admin = country.client("focal-point").await?;
    Ok(admin
        .list_peers(proto::ListPeersRequest {})
        .await?
        .into_inner()
        .peers
        .into_iter()
        .map(|peer| (peer.country.clone(), peer))
        .collect())
}

/// Fails if any node lists an alarm, or set anything aside as undeliverable.
async fn no_alarms(countries: &BTreeMap<String, Country>) -> Result<()> {
    for country in countries.values() {
        let alarms = country
            .audit_client("focal-point")
            .await?
            .list_alarms(proto::ListAlarmsRequest {})
            .await?
            .into_inner()
            .alarms;
        ensure!(
            alarms.is_empty(),
            "{} raised alarms: {alarms:?}",
            country.code
        );
        for (partner, status) in peers(country).await? {
            ensure!(
                status.undeliverable == 0,
                "{} set aside {} items for {partner}: {}",
                country.code,
                status.undeliverable,
                status.last_undeliverable_reason
            );
        }
    }
    Ok(())
}

/// What each node's partners had cosigned, and its own checkpoint size, at one moment.
struct Witnessed {
    /// (node, partner) → the size of the node's checkpoint the partner last cosigned.
    cosigned: BTreeMap<(String, String), u64>,
    /// Each node's checkpoint size.
    size: BTreeMap<String, u64>,
}

impl Witnessed {
    async fn now(countries: &BTreeMap<String, Country>) -> Result<Self> {
        let mut witnessed = Self {
            cosigned: BTreeMap::new(),
            size: BTreeMap::new(),
        };
        for country in countries.values() {
            for (partner, status) in peers(country).await? {
                witnessed
                    .cosigned
                    .insert((country.code.clone(), partner), status.cosigned_size);
            }
            let latest = country
                .audit_client("focal-point")
                .await?
                .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
                .await?
                .into_inner();
            let size = latest.checkpoint.context("a checkpoint")?.size;
            witnessed.size.insert(country.code.clone(), size);
        }
        Ok(witnessed)
    }

    /// The (node, partner) pairs whose latest cosigned checkpoint is smaller than the node's
    /// checkpoint in `then`, with both sizes.
    fn behind(&self, then: &Self) -> Vec<String> {
        self.cosigned
            .iter()
            .filter(|((node, _), size)| **size < then.size[node])
            .map(|((node, partner), size)| {
                format!(
                    "{partner} cosigned {node}'s checkpoint of size {size}, not {}",
                    then.size[node]
                )
            })
            .collect()
    }

    /// Waits until every partner has cosigned a checkpoint of each node that covers the node's
    /// checkpoint at this moment. Traffic goes on after it, so each node presents newer checkpoints
    /// than this one, which for KZ and UZ means witnessing across the healed partition.
    async fn covered(&self, countries: &BTreeMap<String, Country>) -> Result<()> {
        // A round comes every witness interval (60 s), after the previous round's calls.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let behind = Self::now(countries).await?.behind(self);
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("witnessing did not catch up: {}", behind.join("; "));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Reads every node's ledger (the nodes stopped) and checks each alert was recorded exactly once
/// where it arrived, its receipt exactly once at its sender, and its acknowledgement exactly once
/// back at the sender; and that nothing else arrived.
fn exactly_once(countries: &BTreeMap<String, Country>, sent: &[Sent]) -> Result<()> {
    // (country, kind, alert id, partner) → entries.
    let mut counts: HashMap<(&str, &str, String, String), usize> = HashMap::new();
    for code in ["KZ", "UZ", "TJ"] {
        for entry in countries[code].ledger_entries()? {
            let (kind, partner) = match &entry.kind {
                Some(Kind::AlertReceived(received)) => ("alert", received.from_country.clone()),
                Some(Kind::ReceiptReceived(receipt)) => ("receipt", receipt.from_country.clone()),
                Some(Kind::ResponseReceived(response)) => {
                    ("response", response.from_country.clone())
                }
                _ => continue,
            };
            *counts
                .entry((code, kind, entry.alert_id.clone(), partner))
                .or_default() += 1;
        }
    }
    let mut expected = HashMap::new();
    for alert in sent {
        let id = alert.alert_id.clone();
        for key in [
            (alert.to, "alert", id.clone(), alert.from.to_owned()),
            (alert.from, "receipt", id.clone(), alert.to.to_owned()),
            (alert.from, "response", id.clone(), alert.to.to_owned()),
            // The receipt for the acknowledgement, back at the recipient.
            (alert.to, "receipt", id, alert.from.to_owned()),
        ] {
            expected.insert(key, 1usize);
        }
    }
    for (key, count) in &counts {
        ensure!(
            expected.get(key) == Some(count),
            "{} recorded {} {} entries for alert {} from {}",
            key.0,
            count,
            key.1,
            key.2,
            key.3
        );
    }
    for key in expected.keys() {
        ensure!(
            counts.contains_key(key),
            "{} never recorded the {} for alert {} from {}",
            key.0,
            key.1,
            key.2,
            key.3
        );
    }
    eprintln!(
        "{} alerts, each recorded once where it arrived, its receipt and acknowledgement once each",
        sent.len()
    );
    Ok(())
}
