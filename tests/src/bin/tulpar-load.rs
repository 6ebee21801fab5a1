//! Load tool: two real nodes (KZ and UZ) on loopback, alerts submitted at KZ, each one timed until its
//! signed receipt from UZ is durable in KZ's ledger (seen as a DELIVERED event on KZ's watch stream).
//!
//! It runs the `tulpar` and `tulpar-node` binaries beside it, so build the workspace first:
//!
//! ```sh
//! cargo build --release
//! target/release/tulpar-load throughput --alerts 20000 --concurrency 256
//! target/release/tulpar-load latency --rate 200 --seconds 10
//! target/release/tulpar-load roundtrip --rate 100 --seconds 10
//! target/release/tulpar-load throughput --alerts 20000 --concurrency 256 --api http
//! target/release/tulpar-load latency --rate 200 --seconds 10 --api http
//! ```
//!
//! `--api` chooses the door alerts are submitted through: `grpc` (the default), `http` (`POST
//! /v1/alerts` with proto3 JSON over HTTP/1.1 keep-alive connections, one per submitter in flight), or
//! `http2` (the same over one HTTP/2 connection, as gRPC uses); see `tulpar-load/http_submit.rs`. The
//! deliveries are watched over gRPC either way, so the time until KZ answered the submit compares the
//! doors, and the delivery latency adds the same path after it.
//!
//! `--audit` (any mode) then times a focal point's audit of KZ's ledger: the node's full re-check with
//! every entry's signatures (`VerifyLedger`), and `tulpar audit verify` downloading every entry and
//! recomputing the root.
//!
//! `watchers` measures the node's memory with many watchers and a few that never read, while large
//! alerts are submitted, and after they close (see `tulpar-load/watchers.rs`):
//!
//! ```sh
//! target/release/tulpar-load watchers --watchers 2000 --stuck 3 --alerts 60
//! ```
//!
//! `comeback` times how soon a partner that was down is served once it is back (see
//! `tulpar-load/comeback.rs`):
//!
//! ```sh
//! target/release/tulpar-load comeback --alerts 2000 --down-seconds 92
//! ```
//!
//! `network` puts KZ and UZ in network namespaces of their own joined by an emulated link, and times
//! deliveries at a round trip and loss, and the first delivery after a partition heals (see
//! `tulpar-load/network.rs`; needs root and iproute2):
//!
//! ```sh
//! target/release/tulpar-load network --rtt-ms 120 --loss-percent 1 --rate 20 --seconds 60 --partitions 60,180
//! ```
//!
//! `mesh` runs six countries in a full mesh: each node's memory and CPU while idle, then KZ fanning
//! alerts out to all five partners (see `tulpar-load/mesh.rs`):
//!
//! ```sh
//! target/release/tulpar-load mesh --idle-seconds 60 --alerts 5000 --concurrency 64
//! target/release/tulpar-load mesh --idle-seconds 0 --alerts 2000 --rate 50
//! ```
//!
//! `ledger` writes a ledger of millions of entries offline and times opening and auditing it, with
//! the node's memory (see `tulpar-load/ledger.rs`; about 2.1 kB of disk per entry, so `--max-gib`
//! stops it early):
//!
//! ```sh
//! target/release/tulpar-load ledger --entries 10000000 --max-gib 25
//! ```
//!
//! `roundtrip` times the full round trip instead: submitted at KZ, delivered, acknowledged by a UZ
//! officer who watches live, and the signed acknowledgement durable back in KZ's ledger.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::Semaphore;
use tulpar_core::proto::{self, AlertEventKind};
use tulpar_tests::{Client, Federation};

#[path = "tulpar-load/comeback.rs"]
mod comeback;
#[path = "tulpar-load/http_submit.rs"]
mod http_submit;
#[path = "tulpar-load/ledger.rs"]
mod ledger;
#[path = "tulpar-load/mesh.rs"]
mod mesh;
#[path = "tulpar-load/network.rs"]
mod network;
#[path = "tulpar-load/watchers.rs"]
mod watchers;

use http_submit::{HttpSubmitter, Version};

/// The modes and their options.
const USAGE: &str = "usage: tulpar-load throughput [--alerts N] [--concurrency C] [--api API] [--audit]\n       \
         tulpar-load latency [--rate PER_SECOND] [--seconds S] [--api API]\n       \
         tulpar-load roundtrip [--rate PER_SECOND] [--seconds S] [--api API]\n       \
         tulpar-load watchers [--watchers N] [--stuck N] [--alerts N] [--attachment-kib K]\n       \
         tulpar-load comeback [--alerts N] [--down-seconds S]\n       \
         tulpar-load network [--rtt-ms MS] [--loss-percent P] [--rate PER_SECOND] [--seconds S] \
         [--partitions S,S,...]\n       \
         tulpar-load mesh [--settle-seconds S] [--idle-seconds S] [--alerts N] [--concurrency C | --rate PER_SECOND]\n       \
         tulpar-load ledger [--entries N] [--max-gib G] [--dir FOLDER] [--keep]\n\
         API: grpc (the default), http (JSON over HTTP/1.1 keep-alive), http2 (JSON over HTTP/2)";

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}

/// Stops with the usage at `--help` or an option no mode takes, rather than running a long
/// benchmark with defaults.
fn check_options(args: &[String]) {
    for arg in args.iter().skip(1).filter(|a| a.starts_with('-')) {
        let known = USAGE.contains(&format!("[{arg} "))
            || USAGE.contains(&format!("[{arg}]"))
            || USAGE.contains(&format!("| {arg} "));
        if !known {
            if arg != "--help" && arg != "-h" {
                eprintln!("unknown option {arg}");
            }
            usage();
        }
    }
}

/// The two countries of the load, with their units.
const KZ_UZ: &[(&str, &[&str])] = &[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])];

/// KZ and UZ, not started, set up by [`production_settings`].
fn federation() -> Result<Federation> {
    let mut federation = Federation::new(KZ_UZ)?;
    production_settings(&mut federation);
    Ok(federation)
}

/// Nodes that log warnings only and run the production trust reload and directory refresh intervals
/// (the test federation's 1 s ones are for tests).
fn production_settings(federation: &mut Federation) {
    for country in federation.countries.values_mut() {
        country.node_env.extend([
            ("TULPAR__LOG__LEVEL".into(), "warn".into()),
            ("TULPAR__TRUST__RELOAD_INTERVAL".into(), "10s".into()),
            (
                "TULPAR__TRUST__DIRECTORY_REFRESH_INTERVAL".into(),
                "15m".into(),
            ),
            // Every connection of the load comes from 127.0.0.1: thousands of watchers, or one per
            // HTTP/1.1 submitter beside the gRPC channels (the default allows 256 per address).
            (
                "TULPAR__CLIENT_API__MAX_CONNECTIONS_PER_ADDRESS".into(),
                "4096".into(),
            ),
        ]);
    }
}

/// The value after `name` in `args`.
fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    Some(args.get(at + 1).unwrap_or_else(|| usage()))
}

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    option(args, name)
        .map(|v| v.parse().unwrap_or_else(|_| usage()))
        .unwrap_or(default)
}

/// How alerts reach KZ: by gRPC, or through the HTTP/JSON door.
#[derive(Clone)]
enum Submitter {
    Grpc(Client),
    Http(Arc<HttpSubmitter>),
}

impl Submitter {
    /// `args`' `--api`: the HTTP version for the HTTP/JSON door, none for gRPC.
    fn api(args: &[String]) -> Option<Version> {
        match option(args, "--api").unwrap_or("grpc") {
            "grpc" => None,
            "http" => Some(Version::Http1),
            "http2" => Some(Version::Http2),
            _ => usage(),
        }
    }

    /// A submitter through `api`'s door, with HTTP/1.1 connections for `concurrency` submitters.
    async fn new(
        api: Option<Version>,
        kz: &tulpar_tests::Country,
        concurrency: usize,
    ) -> Result<Self> {
        const UNIT: &str = "KZ-AKTAU-PCU";
        Ok(match api {
            None => Self::Grpc(kz.client(UNIT).await?),
            Some(version) => Self::Http(Arc::new(
                HttpSubmitter::connect(kz, UNIT, version, concurrency).await?,
            )),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Grpc(_) => "gRPC",
            Self::Http(http) => match http.version() {
                Version::Http1 => "HTTP/1.1 JSON",
                Version::Http2 => "HTTP/2 JSON",
            },
        }
    }

    /// Submits a sample alert and records when KZ answered.
    async fn submit(&self, timings: &Mutex<Timings>) -> Result<()> {
        let content = tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ");
        // Encoding the request is part of each door's cost: the clock starts before it.
        let start = Instant::now();
        let alert_id = match self {
            Self::Grpc(client) => {
                let request = proto::SubmitAlertRequest {
                    request_id: String::new(),
                    content: Some(content),
                };
                client
                    .clone()
                    .submit_alert(request)
                    .await?
                    .into_inner()
                    .alert_id
            }
            Self::Http(http) => http.submit(&content).await?,
        };
        let answered = start.elapsed();
        timings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .submitted(alert_id, start, answered);
        Ok(())
    }
}

/// Submission times by alert id, and the delivery latencies measured so far.
#[derive(Default)]
struct Timings {
    submitted: HashMap<String, Instant>,
    early: HashMap<String, Instant>,
    latencies: Vec<Duration>,
    /// From submit until KZ answered it (durable at KZ), to tell KZ's part from the delivery's.
    answered: Vec<Duration>,
}

impl Timings {
    fn submitted(&mut self, id: String, at: Instant, answered: Duration) {
        self.answered.push(answered);
        match self.early.remove(&id) {
            Some(delivered) => self.latencies.push(delivered.saturating_duration_since(at)),
            None => {
                self.submitted.insert(id, at);
            }
        }
    }
}

impl OnDelivery for Timings {
    fn delivered(&mut self, id: String, at: Instant) {
        match self.submitted.remove(&id) {
            Some(start) => self.latencies.push(at - start),
            // The receipt can come back before the submitter records its answer.
            None => {
                self.early.insert(id, at);
            }
        }
    }
}

/// What records the moment a watched delivery was seen.
trait OnDelivery: Send + 'static {
    /// Alert `id` was seen delivered `at`.
    fn delivered(&mut self, id: String, at: Instant);
}

/// Records every event of `events` in `timings` as it arrives, and counts it in `count`.
fn listen<T: OnDelivery>(
    mut events: tonic::Streaming<proto::AlertEvent>,
    timings: Arc<Mutex<T>>,
    count: Arc<std::sync::atomic::AtomicU64>,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::spawn(async move {
        while let Some(event) = events.message().await.context("watch stream")? {
            let now = Instant::now();
            timings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .delivered(event.alert_id, now);
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        anyhow::Ok(())
    })
}

/// A UZ officer who acknowledges every alert the moment it arrives.
async fn acknowledge_everything(mut officer: Client) -> Result<()> {
    let request = proto::WatchAlertsRequest {
        resume_from: None,
        kinds: vec![AlertEventKind::AlertReceived as i32],
    };
    let mut arrivals = officer.watch_alerts(request).await?.into_inner();
    while let Some(event) = arrivals.message().await? {
        let mut officer = officer.clone();
        tokio::spawn(async move {
            let request = proto::AcknowledgeRequest {
                request_id: String::new(),
                alert_id: event.alert_id,
                unit: "UZ-TASHKENT-PCU".into(),
                acknowledgement: Some(proto::Acknowledgement {
                    decision: proto::AcknowledgementDecision::Accepted as i32,
                    note: String::new(),
                }),
            };
            if let Err(status) = officer.acknowledge(request).await {
                eprintln!("acknowledgement failed: {status}");
            }
        });
    }
    Ok(())
}

/// The events of `kind` that `watcher` sees from now on.
async fn watch(
    watcher: &mut Client,
    kind: AlertEventKind,
) -> Result<tonic::Streaming<proto::AlertEvent>> {
    let request = proto::WatchAlertsRequest {
        resume_from: None,
        kinds: vec![kind as i32],
    };
    Ok(watcher.watch_alerts(request).await?.into_inner())
}

/// Waits until `count` reaches `expected`, failing after `limit` or when `listener`, which counts,
/// has ended; `what` names the things counted.
async fn wait_for_count<T>(
    count: &std::sync::atomic::AtomicU64,
    expected: u64,
    what: &str,
    listener: &tokio::task::JoinHandle<T>,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let seen = count.load(std::sync::atomic::Ordering::Relaxed);
        if seen >= expected {
            return Ok(());
        }
        if Instant::now() > deadline || listener.is_finished() {
            bail!("only {seen} of {expected} {what} seen");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(label: &str, what: &str, latencies: &mut [Duration]) {
    latencies.sort();
    println!(
        "{label}: {} alerts; {what}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(latencies, 0.50).as_secs_f64() * 1e3,
        percentile(latencies, 0.90).as_secs_f64() * 1e3,
        percentile(latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_else(|| usage());
    check_options(&args);
    if mode == "watchers" {
        return watchers::run(&args).await;
    }
    if mode == "comeback" {
        return comeback::run(&args).await;
    }
    if mode == "network" {
        return network::run(&args).await;
    }
    if mode == "mesh" {
        return mesh::run(&args).await;
    }
    if mode == "ledger" {
        return ledger::run(&args).await;
    }
    // Before any node starts: a wrong option exits without stopping them.
    let api = Submitter::api(&args);
    let concurrency = flag(&args, "--concurrency", 256) as usize;
    // At a fixed rate only a few submits are in flight at once: 32 HTTP/1.1 connections leave room
    // for bursts (more are opened if need be, and reported).
    let pool = if mode == "throughput" {
        concurrency
    } else {
        32
    };
    let mut federation = federation()?;
    federation.start_all_processes().await?;
    let kz = federation.country("KZ");
    let submitter = Submitter::new(api, kz, pool).await?;
    let mut watcher = kz.client("focal-point").await?;
    let timings = Arc::new(Mutex::new(Timings::default()));
    let roundtrip = mode == "roundtrip";
    let awaited = if roundtrip {
        AlertEventKind::Acknowledged
    } else {
        AlertEventKind::Delivered
    };
    if roundtrip {
        tokio::spawn(acknowledge_everything(
            federation.country("UZ").client("UZ-TASHKENT-PCU").await?,
        ));
    }
    let events = watch(&mut watcher, awaited).await?;
    let delivered_count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let listener = listen(events, timings.clone(), delivered_count.clone());

    let (label, total, started) = match mode.as_str() {
        "throughput" => {
            let alerts = flag(&args, "--alerts", 20_000);
            let permits = Arc::new(Semaphore::new(concurrency));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..alerts {
                let permit = permits.clone().acquire_owned().await?;
                let (submitter, timings) = (submitter.clone(), timings.clone());
                tasks.push(tokio::spawn(async move {
                    let result = submitter.submit(&timings).await;
                    drop(permit);
                    result
                }));
            }
            for task in tasks {
                task.await??;
            }
            (
                format!(
                    "throughput, concurrency {concurrency}, {}",
                    submitter.name()
                ),
                alerts,
                started,
            )
        }
        "latency" | "roundtrip" => {
            let rate = flag(&args, "--rate", 200);
            let seconds = flag(&args, "--seconds", 10);
            let total = rate * seconds;
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..total {
                ticker.tick().await;
                let (submitter, timings) = (submitter.clone(), timings.clone());
                tasks.push(tokio::spawn(
                    async move { submitter.submit(&timings).await },
                ));
            }
            for task in tasks {
                task.await??;
            }
            let what = if roundtrip {
                "round trip"
            } else {
                "fixed rate"
            };
            (
                format!("{what} {rate}/s, {}", submitter.name()),
                total,
                started,
            )
        }
        _ => usage(),
    };
    let submitted_in = started.elapsed();
    wait_for_count(
        &delivered_count,
        total,
        "deliveries",
        &listener,
        Duration::from_secs(120),
    )
    .await?;
    let all_in = started.elapsed();
    println!(
        "{label}: submitted {total} in {:.2} s ({:.0}/s); all answers durable at KZ after {:.2} s: {:.0} alerts/s end to end",
        submitted_in.as_secs_f64(),
        total as f64 / submitted_in.as_secs_f64(),
        all_in.as_secs_f64(),
        total as f64 / all_in.as_secs_f64()
    );
    let (mut latencies, mut answered) = {
        let mut timings = timings.lock().unwrap_or_else(|p| p.into_inner());
        (
            std::mem::take(&mut timings.latencies),
            std::mem::take(&mut timings.answered),
        )
    };
    report(
        &label,
        "latency from submit until it is durable back at KZ",
        &mut latencies,
    );
    report(
        &label,
        "of which submit until KZ answered (durable at KZ)",
        &mut answered,
    );
    if let Submitter::Http(http) = &submitter {
        println!(
            "{label}: {} connections opened, {} of them during the run",
            http.opened(),
            http.opened().saturating_sub(pool)
        );
    }
    listener.abort();
    print_warnings(&federation);
    if args.iter().any(|a| a == "--audit") {
        audit_figures(federation.country("KZ")).await?;
    }
    Ok(())
}

/// Prints how many warnings each node logged, and the first few.
fn print_warnings(federation: &Federation) {
    for country in federation.countries.values() {
        let log = country.log();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("WARN") || line.contains("ERROR"))
            .collect();
        if !warnings.is_empty() {
            println!(
                "{} node logged {} warnings, first:",
                country.code,
                warnings.len()
            );
            for line in warnings.iter().take(5) {
                println!("  {line}");
            }
        }
    }
}

/// Times the node's full re-check and the independent `tulpar audit verify` of KZ's ledger.
async fn audit_figures(kz: &tulpar_tests::Country) -> Result<()> {
    let checked = node_recheck_figures(kz).await?;
    audit_verify_figures(kz, checked)
}

/// Runs the node's full re-check (`VerifyLedger`) as a focal point, printing how long it took;
/// returns how many entries it checked.
async fn node_recheck_figures(kz: &tulpar_tests::Country) -> Result<u64> {
    let mut focal = kz.audit_client("focal-point").await?;
    let started = Instant::now();
    let mut stream = focal
        .verify_ledger(proto::VerifyLedgerRequest {})
        .await?
        .into_inner();
    let mut checked = 0;
    while let Some(message) = stream.message().await? {
        if message.done {
            if !message.ok {
                bail!("the ledger does not verify: {}", message.error);
            }
            checked = message.checked;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "audit: node re-check of {checked} entries with their signatures in {:.2} s ({:.0} entries/s)",
        elapsed.as_secs_f64(),
        checked as f64 / elapsed.as_secs_f64()
    );
    Ok(checked)
}

/// Runs `tulpar audit verify` against KZ as a focal point, printing how long it took.
fn audit_verify_figures(kz: &tulpar_tests::Country, checked: u64) -> Result<()> {
    let started = Instant::now();
    let output = kz
        .tulpar()?
        .env("TULPAR_TOKEN", &kz.tokens["focal-point"])
        .args(["audit", "verify", "--skip-node-check", "--ledger-key"])
        .arg(kz.dir.join("data/ledger.pub"))
        .output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "tulpar audit verify failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!(
        "audit: `tulpar audit verify` downloaded and re-hashed {checked} entries in {:.2} s ({:.0} entries/s)",
        elapsed.as_secs_f64(),
        checked as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
