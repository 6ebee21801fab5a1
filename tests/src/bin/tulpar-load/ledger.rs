//! `tulpar-load ledger`: a node on a ledger of millions of entries: how fast it opens, what memory it
//! holds, and how long a focal point's audit of it takes.
//!
//! Sets up KZ and UZ, starts and stops KZ's node once (so that its ledger begins as a real node's
//! does), then writes `--entries` entries into KZ's ledger offline through the ledger crate, with the
//! node's own views ([`tulpar_node::open_ledger`]): the whole exchange of alerts from KZ-AKTAU-PCU to
//! UZ as KZ records it, each signed with the real keys of both countries (one signature per kind per
//! batch of 256, as the nodes' signers make them under load): the alert, UZ's delivery receipt (with
//! a checkpoint of UZ's ledger signed by UZ; the UZ tree it names is not built, and an audit of KZ
//! does not read it), UZ-TASHKENT-PCU's acknowledgement, and KZ's receipt for that (carrying KZ's
//! latest checkpoint when the batch was made). It then times opening the ledger offline, starts KZ and UZ as processes, and
//! reports KZ's memory idle and through the node's full re-check (`VerifyLedger`) and `tulpar audit
//! verify`. The folder (`--dir`, else a temporary one) is removed at the end unless `--keep`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use prost::Message;
use tulpar_core::alert::{ValidAlert, validate_content};
use tulpar_core::envelope::{self, PayloadType};
use tulpar_core::ids::{AlertId, ResponseId};
use tulpar_core::keys::SigningKey;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::to_timestamp;
use tulpar_ledger::SignedCheckpoint;
use tulpar_ledger::note::CheckpointBody;
use tulpar_tests::{Federation, origin};
use tulpar_trust::keyfile;

use crate::mesh::memory_mib;

/// Alerts per generated batch: one unit signature over them, one signature over each kind of
/// answer; four entries per alert make one full append ([`tulpar_ledger::MAX_APPEND_ENTRIES`]).
const BATCH: usize = 256;

/// Disk the ledger may take, in GiB, unless `--max-gib` says otherwise: writing stops past it.
const DEFAULT_MAX_GIB: u64 = 15;

/// The keys a batch is signed with.
struct Signers {
    /// KZ-AKTAU-PCU's unit key: the alerts.
    unit: SigningKey,
    /// UZ's node ledger key: UZ's receipts for the alerts, and its checkpoints inside them.
    uz_node: SigningKey,
    /// UZ-TASHKENT-PCU's unit key: the acknowledgements.
    uz_unit: SigningKey,
    /// KZ's node ledger key: KZ's receipts for the acknowledgements.
    kz_node: SigningKey,
}

/// One append's entries, the whole exchange of `BATCH` alerts as KZ records it: the alerts, UZ's
/// receipt for each, UZ-TASHKENT-PCU's acknowledgement of each, and KZ's receipt for each
/// acknowledgement. `first` is the KZ ledger index the batch will start at, `uz_index` where UZ's
/// ledger stands, and `kz_checkpoint` KZ's latest checkpoint, which its receipts carry.
fn batch(
    content: &tulpar_core::alert::ValidAlertContent,
    keys: &Signers,
    first: u64,
    uz_index: u64,
    kz_checkpoint: &str,
) -> Result<Vec<proto::LedgerEntry>> {
    let now = SystemTime::now();
    let alerts: Vec<ValidAlert> = (0..BATCH)
        .map(|_| ValidAlert::new(AlertId::new_at(now), now, content.clone()))
        .collect();
    let signed = envelope::sign_all(
        PayloadType::Alert,
        alerts.iter().map(|a| a.message().encode_to_vec()).collect(),
        &keys.unit,
    );
    // A checkpoint of UZ's ledger covering the receipts' entries, as UZ signs one per commit (the
    // root is made up: UZ's ledger is not built, and an audit of KZ does not read it).
    let uz_size = uz_index + 2 * BATCH as u64;
    let root = ring::digest::digest(&ring::digest::SHA256, &uz_size.to_be_bytes());
    let uz_checkpoint = SignedCheckpoint::sign(
        CheckpointBody {
            origin: origin("UZ"),
            size: uz_size,
            root: root.as_ref().try_into().context("a SHA-256 digest")?,
        },
        &keys.uz_node,
    )?;
    let receipt = |alert_id: String,
                   response_id: String,
                   sender: &str,
                   recipient: &str,
                   payload: &proto::Envelope,
                   ledger_index: u64,
                   checkpoint: &str| {
        proto::DeliveryReceipt {
            alert_id,
            response_id,
            sender_country: sender.into(),
            recipient_country: recipient.into(),
            payload_sha256: envelope::payload_digest(payload).to_vec(),
            ledger_index,
            checkpoint: checkpoint.to_owned(),
            received_at: Some(to_timestamp(now)),
        }
        .encode_to_vec()
    };
    let uz_receipts = envelope::sign_all(
        PayloadType::Receipt,
        alerts
            .iter()
            .zip(&signed)
            .enumerate()
            .map(|(i, (alert, signed_alert))| {
                receipt(
                    alert.id().to_string(),
                    String::new(),
                    "KZ",
                    "UZ",
                    signed_alert,
                    uz_index + i as u64,
                    uz_checkpoint.note(),
                )
            })
            .collect(),
        &keys.uz_node,
    );
    let acknowledgements = envelope::sign_all(
        PayloadType::Response,
        alerts
            .iter()
            .map(|alert| {
                proto::AlertResponse {
                    response_id: ResponseId::new_at(now).to_string(),
                    alert_id: alert.id().to_string(),
                    responder: Some(proto::Origin {
                        country: "UZ".into(),
                        unit: "UZ-TASHKENT-PCU".into(),
                    }),
                    created_at: Some(to_timestamp(now)),
                    kind: Some(proto::alert_response::Kind::Acknowledgement(
                        proto::Acknowledgement {
                            decision: proto::AcknowledgementDecision::Accepted as i32,
                            note: "Container held for inspection on arrival".into(),
                        },
                    )),
                }
                .encode_to_vec()
            })
            .collect(),
        &keys.uz_unit,
    );
    let kz_receipts = envelope::sign_all(
        PayloadType::Receipt,
        alerts
            .iter()
            .zip(&acknowledgements)
            .enumerate()
            .map(|(i, (alert, acknowledgement))| {
                let response_id = proto::AlertResponse::decode(acknowledgement.payload.as_slice())
                    .map(|r| r.response_id)
                    .unwrap_or_default();
                receipt(
                    alert.id().to_string(),
                    response_id,
                    "UZ",
                    "KZ",
                    acknowledgement,
                    first + (2 * BATCH + i) as u64,
                    kz_checkpoint,
                )
            })
            .collect(),
        &keys.kz_node,
    );
    let recorded_at = Some(to_timestamp(now));
    let entry = |alert: &ValidAlert, kind: Kind| proto::LedgerEntry {
        recorded_at,
        alert_id: alert.id().to_string(),
        kind: Some(kind),
    };
    let mut entries = Vec::with_capacity(4 * BATCH);
    for (alert, signed_alert) in alerts.iter().zip(signed) {
        entries.push(entry(
            alert,
            Kind::AlertSent(proto::AlertSent {
                alert: Some(signed_alert),
                request_id: String::new(),
                submitted_by: "token:KZ-AKTAU-PCU".into(),
            }),
        ));
    }
    for (alert, signed_receipt) in alerts.iter().zip(uz_receipts) {
        entries.push(entry(
            alert,
            Kind::ReceiptReceived(proto::ReceiptReceived {
                receipt: Some(signed_receipt),
                from_country: "UZ".into(),
            }),
        ));
    }
    for (alert, acknowledgement) in alerts.iter().zip(acknowledgements) {
        entries.push(entry(
            alert,
            Kind::ResponseReceived(proto::ResponseReceived {
                response: Some(acknowledgement),
                from_country: "UZ".into(),
            }),
        ));
    }
    for (alert, signed_receipt) in alerts.iter().zip(kz_receipts) {
        entries.push(entry(
            alert,
            Kind::ReceiptIssued(proto::ReceiptIssued {
                receipt: Some(signed_receipt),
                to_country: "UZ".into(),
            }),
        ));
    }
    Ok(entries)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// KZ's node configuration, read as the node reads it.
fn kz_config(kz: &tulpar_tests::Country) -> Result<tulpar_node::config::Config> {
    let path = kz.config_path();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(tulpar_node::config::Config::from_toml(
        &text,
        &path,
        std::iter::empty::<(String, String)>(),
    )?)
}

/// Writes `total` entries into KZ's ledger (its node stopped), stopping early if the data folder
/// passes `max_bytes`.
async fn build(
    kz: &tulpar_tests::Country,
    uz: &tulpar_tests::Country,
    total: u64,
    max_bytes: u64,
) -> Result<u64> {
    let config = kz_config(kz)?;
    let (ledger, _) = tulpar_node::open_ledger(&config)?;
    let keys = Arc::new(Signers {
        unit: keyfile::read_private_key(&kz.dir.join("node/units/KZ-AKTAU-PCU.key"))?,
        uz_node: keyfile::read_private_key(&uz.dir.join("node/ledger.key"))?,
        uz_unit: keyfile::read_private_key(&uz.dir.join("node/units/UZ-TASHKENT-PCU.key"))?,
        kz_node: keyfile::read_private_key(&kz.dir.join("node/ledger.key"))?,
    });
    let content = validate_content(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ"))
        .map_err(|v| anyhow::anyhow!("the sample alert does not validate: {v}"))?;
    let batches = total.div_ceil(4 * BATCH as u64);
    let base = ledger.size();
    let started = Instant::now();
    let (sender, mut batches_rx) =
        tokio::sync::mpsc::channel::<(u64, Result<Vec<proto::LedgerEntry>>)>(8);
    // Two generating threads (signing, encoding) feed one appender, which appends the batches in
    // order, so that each receipt names the index its entry gets; each append is one commit.
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut generators = Vec::new();
    for _ in 0..2 {
        let (sender, next, keys, content, ledger) = (
            sender.clone(),
            next.clone(),
            keys.clone(),
            content.clone(),
            ledger.clone(),
        );
        generators.push(tokio::task::spawn_blocking(move || {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= batches {
                    return;
                }
                let first = base + n * 4 * BATCH as u64;
                let checkpoint = ledger.latest_checkpoint();
                let entries = batch(
                    &content,
                    &keys,
                    first,
                    n * 2 * BATCH as u64,
                    checkpoint.note(),
                );
                if sender.blocking_send((n, entries)).is_err() {
                    return;
                }
            }
        }));
    }
    drop(sender);
    let mut waiting = std::collections::BTreeMap::new();
    let mut next_batch = 0u64;
    let mut last_report = Instant::now();
    let data = config.data_dir.clone();
    'appending: while let Some((n, entries)) = batches_rx.recv().await {
        waiting.insert(n, entries?);
        while let Some(entries) = waiting.remove(&next_batch) {
            ledger.append_all(entries).await?;
            next_batch += 1;
            if last_report.elapsed() > Duration::from_secs(30) {
                last_report = Instant::now();
                let bytes = dir_bytes(&data);
                let written = ledger.size() - base;
                println!(
                    "  {written} entries written in {:.0} s ({:.0}/s), {:.2} GiB on disk",
                    started.elapsed().as_secs_f64(),
                    written as f64 / started.elapsed().as_secs_f64(),
                    bytes as f64 / f64::from(1 << 30)
                );
                if bytes > max_bytes {
                    println!("  stopping: the ledger passed --max-gib");
                    break 'appending;
                }
            }
        }
    }
    drop(batches_rx);
    for generator in generators {
        generator.await?;
    }
    let size = ledger.size();
    let elapsed = started.elapsed();
    drop(ledger);
    let bytes = dir_bytes(&data);
    println!(
        "built: {size} entries in {:.0} s ({:.0} entries/s); {:.2} GiB on disk ({:.0} bytes per entry, \
         segments {:.2} GiB, index {:.2} GiB)",
        elapsed.as_secs_f64(),
        (size as f64) / elapsed.as_secs_f64(),
        bytes as f64 / f64::from(1 << 30),
        bytes as f64 / size as f64,
        dir_bytes(&data.join("segments")) as f64 / f64::from(1 << 30),
        dir_bytes(&data.join("index")) as f64 / f64::from(1 << 30),
    );
    Ok(size)
}

pub(crate) async fn run(args: &[String]) -> Result<()> {
    let entries = crate::flag(args, "--entries", 10_000_000);
    let max_bytes = crate::flag(args, "--max-gib", DEFAULT_MAX_GIB) << 30;
    let keep = args.iter().any(|a| a == "--keep");
    let temp;
    let root = match crate::option(args, "--dir") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            if dir.exists() {
                bail!("--dir: {} exists; name a new folder", dir.display());
            }
            dir
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("tulpar-load-ledger-")
                .tempdir_in(std::env::current_dir()?)?;
            temp.path().join("federation")
        }
    };
    let mut federation = Federation::new_in(&root, crate::KZ_UZ)?;
    crate::production_settings(&mut federation);
    let result = measure(&mut federation, entries, max_bytes).await;
    for country in federation.countries.values_mut() {
        let _ = country.stop().await;
    }
    if keep {
        println!("kept {}", root.display());
    } else {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    result
}

async fn measure(federation: &mut Federation, entries: u64, max_bytes: u64) -> Result<()> {
    federation.country("KZ").start_process().await?;
    federation.country("KZ").stop().await?;
    println!("writing {entries} entries into KZ's ledger offline");
    build(
        &federation.countries["KZ"],
        &federation.countries["UZ"],
        entries,
        max_bytes,
    )
    .await?;
    let kz = federation.country("KZ");
    let config = kz_config(kz)?;
    for run in ["first", "second"] {
        let started = Instant::now();
        let (ledger, report) = tulpar_node::open_ledger(&config)?;
        println!(
            "open ({run}, offline, with the node's views): {:.0} ms for {} entries ({} replayed)",
            started.elapsed().as_secs_f64() * 1e3,
            ledger.size(),
            report.replayed
        );
    }
    federation.start_all_processes().await?;
    let kz = federation.country("KZ");
    let pid = kz.pid().context("KZ is not running")?;
    let (rss, hwm) = memory_mib(pid)?;
    println!("KZ RSS once serving: {rss:.1} MiB (peak {hwm:.1})");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (rss, hwm) = memory_mib(pid)?;
    println!("KZ RSS after 10 s idle: {rss:.1} MiB (peak {hwm:.1})");
    // A little live traffic on top of the large ledger.
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    for _ in 0..100 {
        let id = tulpar_tests::send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        tulpar_tests::delivered(&officer, &id).await?;
    }
    let (rss, hwm) = memory_mib(pid)?;
    println!("KZ RSS after 100 alerts delivered: {rss:.1} MiB (peak {hwm:.1})");
    let checked = crate::node_recheck_figures(kz).await?;
    let (rss, hwm) = memory_mib(pid)?;
    println!("KZ RSS after the node's re-check: {rss:.1} MiB (peak {hwm:.1})");
    crate::audit_verify_figures(kz, checked)?;
    let (rss, hwm) = memory_mib(pid)?;
    println!("KZ RSS after `tulpar audit verify` too: {rss:.1} MiB (peak {hwm:.1})");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (rss, hwm) = memory_mib(pid)?;
    println!("KZ RSS 10 s later: {rss:.1} MiB (peak {hwm:.1})");
    crate::print_warnings(federation);
    Ok(())
}
