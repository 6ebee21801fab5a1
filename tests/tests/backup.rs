//! Backup and restore of a national node: a backup taken while alerts flow, the node's data directory
//! lost, the backup restored, and the node back in the federation; a backup older than what a
//! partner cosigned, declared to the partner's witness, which records the loss and witnesses the
//! restored history; and backups that are not whole, refused before anything is written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use prost::Message;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_tests::output_text as text;
use tulpar_tests::{Client, Country, Federation, delivered, eventually, send};

const WAIT: Duration = Duration::from_secs(30);

/// KZ and UZ, each with one unit, nodes in this process; witnessing only when a test asks for it.
fn federation() -> Result<Federation> {
    let federation = Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    for country in federation.countries.values() {
        country.append_config("[witness]\ninterval = \"1h\"")?;
    }
    Ok(federation)
}

/// Runs `tulpar` with `args` beside `country`'s node.
fn tulpar(country: &Country, args: &[&str]) -> Result<Output> {
    Ok(country.tulpar()?.args(args).output()?)
}

fn path(path: &Path) -> Result<&str> {
    path.to_str().context("a UTF-8 path")
}

/// `tulpar backup` of `country` into `out`, run on a blocking thread so its node goes on serving.
async fn backup(country: &Country, out: &Path) -> Result<Output> {
    let mut command = country.tulpar()?;
    command
        .args(["backup", "--config", path(&country.config_path())?, "--out"])
        .arg(out);
    Ok(tokio::task::spawn_blocking(move || command.output()).await??)
}

fn restore(country: &Country, from: &Path, extra: &[&str]) -> Result<Output> {
    let config = country.config_path();
    let mut args = vec!["restore", "--from", path(from)?, "--config", path(&config)?];
    args.extend(extra);
    tulpar(country, &args)
}

fn ledger_verify(country: &Country) -> Result<Output> {
    tulpar(
        country,
        &[
            "ledger",
            "verify",
            "--config",
            path(&country.config_path())?,
        ],
    )
}

/// Every entry of the ledger in `dir`, as stored, read from the segments alone.
fn entries(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let mut found = Vec::new();
    tulpar_ledger::verify_dir_entries(
        dir,
        None,
        |_| {},
        |_, bytes| {
            found.push(bytes.to_vec());
            Ok(())
        },
    )?;
    Ok(found)
}

/// The alerts whose delivery receipt (issued by this node, or received from the partner) is among
/// `entries`.
fn answered(entries: &[Vec<u8>]) -> Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for bytes in entries {
        let entry = proto::LedgerEntry::decode(bytes.as_slice())?;
        if matches!(
            entry.kind,
            Some(Kind::ReceiptIssued(_) | Kind::ReceiptReceived(_))
        ) && !entry.alert_id.is_empty()
        {
            ids.insert(entry.alert_id);
        }
    }
    Ok(ids)
}

fn manifest(dir: &Path) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&std::fs::read(
        dir.join("manifest.json"),
    )?)?)
}

/// Sends alerts from `unit` to `to` one after another until `stop`; returns their ids.
async fn keep_sending(
    mut officer: Client,
    unit: &'static str,
    to: &'static str,
    stop: Arc<AtomicBool>,
) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    // Bounded: a few seconds of alerts at most.
    for _ in 0..400 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        ids.push(send(&mut officer, unit, to).await?);
    }
    Ok(ids)
}

async fn state_of(officer: &Client, alert_id: &str) -> Result<Option<proto::AlertRecord>> {
    let mut officer = officer.clone();
    match officer
        .get_alert(proto::GetAlertRequest {
            alert_id: alert_id.to_owned(),
        })
        .await
    {
        Ok(record) => Ok(Some(record.into_inner())),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(status) => Err(status.into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_backed_up_under_load_is_restored_and_rejoins_its_partners() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    let kz_focal = kz.client("focal-point").await?;
    let mut before = Vec::new();
    for _ in 0..3 {
        let id = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&kz_officer, &id).await?;
        before.push(id);
        let id = send(&mut uz_officer, "UZ-TASHKENT-PCU", "KZ").await?;
        delivered(&uz_officer, &id).await?;
        before.push(id);
    }
    let cosigned = kz.node()?.witness_now().await?;
    assert!(cosigned[0].1.is_some(), "{cosigned:?}");
    assert!(uz.node()?.witness_now().await?[0].1.is_some());

    kz.add_user(
        "a.seitova",
        "officer",
        "KZ-AKTAU-PCU",
        "Айгерим Сейтова",
        "kQ7!vz-long-pass",
    )?;
    let accounts = std::fs::read(kz.dir.join("data/accounts.json"))?;

    // The backup, while both officers keep sending.
    let out = federation.root.join("backup");
    let stop = Arc::new(AtomicBool::new(false));
    let from_kz = tokio::spawn(keep_sending(
        kz_officer.clone(),
        "KZ-AKTAU-PCU",
        "UZ",
        stop.clone(),
    ));
    let from_uz = tokio::spawn(keep_sending(
        uz_officer.clone(),
        "UZ-TASHKENT-PCU",
        "KZ",
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let made = backup(kz, &out).await?;
    stop.store(true, Ordering::Relaxed);
    let (from_kz, from_uz) = (from_kz.await??, from_uz.await??);
    assert!(made.status.success(), "{}", text(&made));
    assert!(!from_kz.is_empty() && !from_uz.is_empty());
    let manifest = manifest(&out)?;
    let size = manifest["tree_size"].as_u64().context("tree_size")?;
    assert_eq!(manifest["with_keys"], false);
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .context("files")?
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(listed.iter().any(|p| p.starts_with("data/segments/")));
    assert!(
        !listed
            .iter()
            .any(|p| p.contains("index/") || p.ends_with(".key"))
    );
    for id in &from_kz {
        delivered(&kz_officer, id).await?;
    }

    // The disk is lost: KZ stops; what it had recorded is read for comparison, then wiped.
    let kz = federation.country("KZ");
    kz.stop().await?;
    let data = kz.dir.join("data");
    let original = entries(&data)?;
    assert!(original.len() as u64 >= size);
    let in_backup = answered(&original[..size as usize])?;
    for id in &before {
        assert!(
            in_backup.contains(id),
            "{id} was answered before the backup"
        );
    }
    std::fs::remove_dir_all(&data)?;

    // Alerts UZ sends while KZ is down wait in UZ's outbox.
    let mut while_down = Vec::new();
    for _ in 0..2 {
        while_down.push(send(&mut uz_officer, "UZ-TASHKENT-PCU", "KZ").await?);
    }

    let kz = &federation.countries["KZ"];
    let restored = restore(kz, &out, &[])?;
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(
        text(&restored).contains(&format!("restored   {size} entries")),
        "{}",
        text(&restored)
    );
    let verified = ledger_verify(kz)?;
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(
        text(&verified).contains(&format!("ok: {size} entries")),
        "{}",
        text(&verified)
    );
    assert_eq!(entries(&data)?, original[..size as usize]);
    assert!(!data.join("index").exists());
    assert_eq!(std::fs::read(data.join("accounts.json"))?, accounts);

    let kz = federation.country("KZ");
    kz.start().await?;
    let kz = &federation.countries["KZ"];
    // Every alert answered before the backup's checkpoint is there, delivered.
    for id in &in_backup {
        let record = state_of(&kz_focal, id)
            .await?
            .with_context(|| format!("{id} after the restore"))?;
        assert!(
            record
                .recipients
                .iter()
                .all(|r| r.state >= proto::DeliveryState::Delivered as i32),
            "{id}: {record:?}"
        );
    }
    // What UZ queued meanwhile arrives, and new alerts go both ways.
    for id in &while_down {
        delivered(&uz_officer, id).await?;
        assert!(state_of(&kz_focal, id).await?.is_some(), "{id} reached KZ");
    }
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let id = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &id).await?;
    let id = send(&mut uz_officer, "UZ-TASHKENT-PCU", "KZ").await?;
    delivered(&uz_officer, &id).await?;
    assert!(state_of(&kz_focal, &id).await?.is_some());

    // UZ's witness cosigns the restored node's next checkpoint, and KZ cosigns UZ's again.
    let cosigned = kz.node()?.witness_now().await?;
    let cosigned_size = cosigned[0].1.context("UZ cosigned KZ's checkpoint")?;
    assert!(cosigned_size > size, "{cosigned:?}");
    let uz = &federation.countries["UZ"];
    let uz_round = uz.node()?.witness_now().await?;
    assert!(uz_round[0].1.is_some(), "{uz_round:?}");
    Ok(())
}

/// What [`restored_behind_a_cosignature`] leaves.
struct RestoredBehind {
    /// Entries in the backup.
    size: u64,
    /// The size of the checkpoint UZ's witness holds, larger.
    held: u64,
    /// The alert KZ sent after the backup.
    lost: String,
    /// What `tulpar restore` printed.
    restored: Output,
}

/// Starts `federation`; KZ sends an alert and is backed up, sends another that UZ's witness then
/// cosigns, loses its data directory and is restored from the backup. KZ is left stopped.
async fn restored_behind_a_cosignature(federation: &mut Federation) -> Result<RestoredBehind> {
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let id = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &id).await?;
    let out = federation.root.join("backup");
    let made = backup(kz, &out).await?;
    assert!(made.status.success(), "{}", text(&made));
    let size = manifest(&out)?["tree_size"].as_u64().context("tree_size")?;

    // After the backup, KZ records more, and UZ cosigns it.
    let lost = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &lost).await?;
    let held = kz.node()?.witness_now().await?[0]
        .1
        .context("UZ cosigned")?;
    assert!(held > size);

    let kz = federation.country("KZ");
    kz.stop().await?;
    std::fs::remove_dir_all(kz.dir.join("data"))?;
    let restored = restore(kz, &out, &[])?;
    assert!(restored.status.success(), "{}", text(&restored));
    Ok(RestoredBehind {
        size,
        held,
        lost,
        restored,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_older_than_what_a_partner_cosigned_is_declared_and_witnessed_again() -> Result<()>
{
    let mut federation = federation()?;
    let RestoredBehind {
        size,
        held,
        lost,
        restored,
    } = restored_behind_a_cosignature(&mut federation).await?;
    let kz = federation.country("KZ");
    assert!(
        text(&restored).contains("not in the backup"),
        "{}",
        text(&restored)
    );
    assert!(
        kz.dir
            .join("data")
            .join(tulpar_ledger::RESTORED_FILE)
            .exists()
    );
    kz.start().await?;
    let kz = &federation.countries["KZ"];
    // The alert sent after the backup is not known to the restored node; UZ still has it.
    let kz_focal = kz.client("focal-point").await?;
    assert!(state_of(&kz_focal, &lost).await?.is_none());

    // The restored ledger grows past the size UZ holds, over other entries: a history UZ could only
    // refuse as a fork, were the restore not declared.
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    for _ in 0..(held - size) {
        let id = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&kz_officer, &id).await?;
    }
    let cosigned = kz.node()?.witness_now().await?[0]
        .1
        .context("UZ cosigned the restored node's checkpoint")?;
    assert!(cosigned > held, "{cosigned} after {held}");
    // From there on, witnessing is as before: one more alert, one more cosignature.
    let id = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &id).await?;
    let next = kz.node()?.witness_now().await?[0]
        .1
        .context("UZ cosigned again")?;
    assert!(next > cosigned);

    // UZ recorded the loss once, with both checkpoints and KZ's signed statement.
    let uz = federation.country("UZ");
    uz.stop().await?;
    let evidence: Vec<_> = uz
        .ledger_entries()?
        .into_iter()
        .filter_map(|e| match e.kind {
            Some(Kind::EquivocationDetected(found)) => Some(found),
            _ => None,
        })
        .collect();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let evidence = &evidence[0];
    assert_eq!(evidence.country, "KZ");
    assert!(
        evidence.known_checkpoint.contains(&format!("\n{held}\n")),
        "{evidence:?}"
    );
    assert!(
        evidence.reason.contains(&format!(
            "restored from a backup to size {size}: entries {size}..{held}"
        )),
        "{}",
        evidence.reason
    );
    let kz_key = tulpar_trust::keyfile::read_private_key(
        &federation.countries["KZ"].dir.join("node/ledger.key"),
    )?
    .public_key();
    let statement = tulpar_ledger::RestoreStatement::verify(
        &evidence.restore_statement,
        &tulpar_tests::origin("KZ"),
        &kz_key,
    )?;
    assert_eq!((statement.restored.size, statement.lost_size), (size, held));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_restore_marker_a_shorter_ledger_is_reported_not_declared() -> Result<()> {
    let mut federation = federation()?;
    let held = restored_behind_a_cosignature(&mut federation).await?.held;

    // The marker is what makes the node declare a restore: a ledger shorter than what a witness
    // holds for any other reason is reported, and nothing is declared.
    let kz = federation.country("KZ");
    std::fs::remove_file(kz.dir.join("data").join(tulpar_ledger::RESTORED_FILE))?;
    kz.start().await?;
    let kz = &federation.countries["KZ"];
    let error = kz
        .node()?
        .witness_now()
        .await
        .err()
        .context("UZ cannot cosign a ledger shorter than what it holds")?;
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("holds a checkpoint of this ledger of size {held}")),
        "{message}"
    );
    assert!(message.contains("missing here"), "{message}");
    Ok(())
}

/// The backup's files, by their path in the manifest.
fn backup_file(out: &Path, prefix: &str) -> Result<PathBuf> {
    let manifest = manifest(out)?;
    let found = manifest["files"]
        .as_array()
        .context("files")?
        .iter()
        .filter_map(|f| f["path"].as_str())
        .find(|p| p.starts_with(prefix))
        .with_context(|| format!("no {prefix} in the backup"))?;
    Ok(out.join(found))
}

/// The names and contents of every file under `dir`.
fn snapshot(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for item in std::fs::read_dir(&next)? {
            let item = item?;
            if item.file_type()?.is_dir() {
                stack.push(item.path());
            } else {
                found.push((item.path(), std::fs::read(item.path())?));
            }
        }
    }
    found.sort();
    Ok(found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_is_not_whole_or_a_data_dir_in_use_is_refused_and_nothing_changes()
-> Result<()> {
    let mut federation = federation()?;
    federation.country("KZ").start().await?;
    let kz = &federation.countries["KZ"];
    // Something recorded (queued for UZ, whose node stays down).
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    let out = federation.root.join("backup");
    let made = backup(kz, &out).await?;
    assert!(made.status.success(), "{}", text(&made));
    // A backup never goes over another.
    let again = backup(kz, &out).await?;
    assert!(!again.status.success());
    assert!(
        text(&again).contains(&format!("{}: not empty", out.display())),
        "{}",
        text(&again)
    );
    let kz = federation.country("KZ");
    kz.stop().await?;
    let kz = &federation.countries["KZ"];
    let data = kz.dir.join("data");

    // The data directory is not empty: refused, and untouched.
    let before = snapshot(&data)?;
    let refused = restore(kz, &out, &[])?;
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains(&format!("data_dir: {} is not empty", data.display())),
        "{}",
        text(&refused)
    );
    assert_eq!(snapshot(&data)?, before);
    std::fs::remove_dir_all(&data)?;

    let check_refused = |from: &Path, expected: &str| -> Result<()> {
        let refused = restore(kz, from, &[])?;
        let shown = text(&refused);
        if refused.status.success() || !shown.contains(expected) {
            bail!("expected a refusal naming {expected:?}:\n{shown}");
        }
        assert!(!data.exists(), "nothing was written:\n{shown}");
        Ok(())
    };
    // Not a backup at all.
    let empty = federation.root.join("empty");
    std::fs::create_dir_all(&empty)?;
    check_refused(
        &empty,
        &format!("{}: missing", empty.join("manifest.json").display()),
    )?;

    // One byte of a segment changed.
    let segment = backup_file(&out, "data/segments/")?;
    let mut bytes = std::fs::read(&segment)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&segment, &bytes)?;
    check_refused(&out, &format!("{}: SHA-256", segment.display()))?;
    bytes[middle] ^= 0x20;
    std::fs::write(&segment, &bytes)?;

    // A file of the trust store missing.
    let trust = backup_file(&out, "node/trust.store/")?;
    let kept = std::fs::read(&trust)?;
    std::fs::remove_file(&trust)?;
    check_refused(&out, &trust.display().to_string())?;
    std::fs::write(&trust, &kept)?;

    // Whole again, it restores.
    let restored = restore(kz, &out, &[])?;
    assert!(restored.status.success(), "{}", text(&restored));
    let verified = ledger_verify(kz)?;
    assert!(verified.status.success(), "{}", text(&verified));

    // Over the restored data, only with --force, which moves the data aside.
    let refused = restore(kz, &out, &[])?;
    assert!(!refused.status.success(), "{}", text(&refused));
    let forced = restore(kz, &out, &["--force"])?;
    assert!(forced.status.success(), "{}", text(&forced));
    let moved: Vec<_> = std::fs::read_dir(&kz.dir)?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("data.replaced-")
        })
        .collect();
    assert_eq!(moved.len(), 1, "the data directory moved aside");
    let kz = federation.country("KZ");
    kz.start().await?;
    let kz = &federation.countries["KZ"];
    let focal = kz.client("focal-point").await?;
    eventually(WAIT, "the restored node serves", || {
        let mut focal = focal.clone();
        async move {
            Ok(focal
                .list_peers(proto::ListPeersRequest {})
                .await
                .is_ok()
                .then_some(()))
        }
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_with_the_keys_restores_a_node_on_a_fresh_machine() -> Result<()> {
    let mut federation = federation()?;
    federation.country("KZ").start().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    let with_keys = federation.root.join("with-keys");
    let mut command = kz.tulpar()?;
    command
        .args(["backup", "--config", path(&kz.config_path())?, "--out"])
        .arg(&with_keys)
        .arg("--with-keys");
    let made = tokio::task::spawn_blocking(move || command.output()).await??;
    assert!(made.status.success(), "{}", text(&made));
    assert_eq!(manifest(&with_keys)?["with_keys"], true);
    let kz = federation.country("KZ");
    kz.stop().await?;
    let kz = &federation.countries["KZ"];
    let data = kz.dir.join("data");

    // The machine is lost: no data directory, no keys.
    let kept: Vec<_> = ["node/ledger.key", "node/node.key"]
        .iter()
        .map(|k| std::fs::read(kz.dir.join(k)))
        .collect::<Result<_, _>>()?;
    std::fs::remove_dir_all(&data)?;
    std::fs::remove_dir_all(kz.dir.join("node/units"))?;
    for key in ["node/ledger.key", "node/node.key"] {
        std::fs::remove_file(kz.dir.join(key))?;
    }
    let restored = restore(kz, &with_keys, &[])?;
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(!text(&restored).contains("needs"), "{}", text(&restored));
    for (key, bytes) in ["node/ledger.key", "node/node.key"].iter().zip(&kept) {
        use std::os::unix::fs::PermissionsExt;
        let path = kz.dir.join(key);
        assert_eq!(&std::fs::read(&path)?, bytes, "{key}");
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
    }
    let verified = ledger_verify(kz)?;
    assert!(verified.status.success(), "{}", text(&verified));

    // The node starts, and what it had queued for UZ is delivered once UZ is up.
    federation.country("KZ").start().await?;
    federation.country("UZ").start().await?;
    let kz = &federation.countries["KZ"];
    let officer = kz.client("KZ-AKTAU-PCU").await?;
    delivered(&officer, &id).await?;
    Ok(())
}
