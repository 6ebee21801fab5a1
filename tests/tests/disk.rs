//! Damaged disks: a node's ledger with a byte flipped in a closed segment, in the open segment, or
//! with its index lost, and what the node, its focal point and its operator see and do.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tulpar_core::proto;
use tulpar_tests::output_text as text;
use tulpar_tests::{Client, Country, Federation, delivered, eventually, send};

const WAIT: Duration = Duration::from_secs(30);

/// Runs `tulpar audit verify` as `country`'s focal point, with its ledger key and trust store.
fn audit_verify(country: &Country, extra: &[&str]) -> Result<Output> {
    let mut command = country.tulpar()?;
    command
        .env("TULPAR_TOKEN", &country.tokens["focal-point"])
        .args(["audit", "verify", "--ledger-key"])
        .arg(country.dir.join("data/ledger.pub"))
        .arg("--trust")
        .arg(country.dir.join("node/trust"))
        .args(extra);
    Ok(command.output()?)
}

/// Waits until a partner has cosigned `country`'s checkpoint, as the focal point sees it.
async fn cosigned(country: &Country) -> Result<()> {
    let focal = country.audit_client("focal-point").await?;
    eventually(WAIT, "a checkpoint cosigned by a partner", || {
        let mut focal = focal.clone();
        async move {
            let response = focal
                .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
                .await?
                .into_inner();
            Ok(response.cosigned_checkpoint.is_some().then_some(()))
        }
    })
    .await
}

fn segments(country: &Country) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(country.dir.join("data/segments"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    found.sort();
    Ok(found)
}

/// What gRPC health says of `service` on `country`'s client listener.
async fn health(country: &Country, service: &str) -> Result<ServingStatus> {
    let mut client = HealthClient::new(country.client_channel()?);
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    Ok(client.check(request).await?.into_inner().status())
}

/// Flips one byte of `country`'s ledger a little after where `needle` is first stored, in the
/// segment `segment`, with the node stopped; returns the byte's offset.
fn flip_after(segment: &Path, needle: &[u8], past: usize) -> Result<u64> {
    let mut bytes = std::fs::read(segment)?;
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .context("the needle is not in the segment")?
        + past;
    bytes[at] ^= 0x5a;
    std::fs::write(segment, bytes)?;
    Ok(at as u64)
}

/// Alerts from KZ to UZ with a 2 MiB attachment each, enough to fill the first 64 MiB segment and
/// start a second; returns their ids.
async fn fill_a_segment(officer: &mut Client) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for seed in 0..34 {
        let content = tulpar_tests::alert_with_attachment("KZ-AKTAU-PCU", "UZ", 2 << 20, seed);
        let request = proto::SubmitAlertRequest {
            request_id: String::new(),
            content: Some(content),
        };
        ids.push(officer.submit_alert(request).await?.into_inner().alert_id);
    }
    Ok(ids)
}

/// Runs `tulpar ledger …` on `country`'s ledger (offline: it reads the node's configuration).
fn ledger(country: &Country, args: &[&str]) -> Result<Output> {
    Ok(std::process::Command::new(tulpar_tests::binary("tulpar")?)
        .arg("ledger")
        .args(args)
        .arg("--config")
        .arg(country.config_path())
        .output()?)
}

/// Copies `from` into `to` whole, as a backup of a stopped node's data_dir.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for item in std::fs::read_dir(from)? {
        let item = item?;
        let target = to.join(item.file_name());
        if item.file_type()?.is_dir() {
            copy_dir(&item.path(), &target)?;
        } else {
            std::fs::copy(item.path(), target)?;
        }
    }
    Ok(())
}

/// The size of `country`'s checkpoint its partner last cosigned, as its focal point sees it.
async fn cosigned_size(country: &Country) -> Result<u64> {
    let mut focal = country.audit_client("focal-point").await?;
    let response = focal
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner();
    Ok(response.cosigned_checkpoint.map_or(0, |c| c.size))
}

fn remove_index(country: &Country) -> Result<()> {
    let index: &Path = &country.dir.join("data/index");
    std::fs::remove_dir_all(index).with_context(|| format!("removing {}", index.display()))
}

/// KZ and UZ running as processes that witness each other every second.
async fn witnessing_every_second() -> Result<Federation> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    for country in federation.countries.values_mut() {
        country
            .node_env
            .push(("TULPAR__WITNESS__INTERVAL".into(), "1s".into()));
    }
    federation.start_all_processes().await?;
    Ok(federation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_rebuilt_from_the_segments_serves_audit_verify_as_before() -> Result<()> {
    let mut federation = witnessing_every_second().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    for _ in 0..3 {
        let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&officer, &id).await?;
    }
    cosigned(kz).await?;
    let saved = kz.dir.join("audited.txt");
    let before = audit_verify(kz, &["--save", saved.to_str().context("path")?])?;
    assert!(before.status.success(), "{}", text(&before));

    let kz = federation.country("KZ");
    kz.stop().await?;
    remove_index(kz)?;
    kz.start_process().await?;
    let kz = &federation.countries["KZ"];
    assert!(
        kz.log()
            .contains("index caught up from the ledger segments"),
        "{}",
        kz.log()
    );
    let after = audit_verify(kz, &["--previous", saved.to_str().context("path")?])?;
    assert!(after.status.success(), "{}", text(&after));
    let (before, after) = (text(&before), text(&after));
    for check in ["checkpoint", "entries", "witnessed", "node check"] {
        let line = |shown: &str| {
            shown
                .lines()
                .find(|l| l.starts_with(check))
                .map(|l| l.split_whitespace().next().map(str::to_owned))
        };
        assert_eq!(line(&before), line(&after), "{check}:\n{before}\n{after}");
    }
    assert!(after.contains("cosigned by UZ"), "{after}");
    assert!(after.contains("only appended to"), "{after}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_in_a_closed_segment_is_found_at_start_and_its_entry_answers_data_loss()
-> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    federation.country("KZ").start_process().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let ids = fill_a_segment(&mut officer).await?;
    let small = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    let found = segments(kz)?;
    assert!(found.len() >= 2, "{found:?}");
    let damaged_id = ids[2].clone();
    let mut focal = kz.client("focal-point").await?;
    let damaged_index = focal
        .get_alert(proto::GetAlertRequest {
            alert_id: damaged_id.clone(),
        })
        .await?
        .into_inner()
        .ledger_index;

    let kz = federation.country("KZ");
    kz.stop().await?;
    // A byte of the alert's entry (its id is stored near the entry's start), in the first segment.
    let offset = flip_after(&found[0], damaged_id.as_bytes(), 8)?;
    kz.start_process().await?;
    let kz = &federation.countries["KZ"];

    // Reading the damaged alert: DATA_LOSS naming the entry and its segment (a read finds the damage
    // whether or not the background check has come to it).
    let mut focal = kz.client("focal-point").await?;
    let status = focal
        .get_alert(proto::GetAlertRequest {
            alert_id: damaged_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DataLoss, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("ledger entry {damaged_index} is damaged")),
        "{status:?}"
    );
    assert!(
        status.message().contains("00000000000000000000.seg"),
        "{status:?}"
    );
    // Its neighbours read as before.
    for id in [&ids[1], &ids[3], &small] {
        let request = proto::GetAlertRequest {
            alert_id: id.clone(),
        };
        assert!(focal.get_alert(request).await?.into_inner().alert.is_some());
    }
    // The focal point's list holds every alert; the damaged one says so, from the state view.
    let mut listed_all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = focal
            .list_alerts(proto::ListAlertsRequest {
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        listed_all.extend(page.alerts);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed_all.len(), ids.len() + 1);
    let listed = listed_all
        .iter()
        .find(|r| r.alert_id == damaged_id)
        .context("the damaged alert is listed")?;
    let damage = listed.damage.as_ref().context("damage")?;
    assert!(listed.alert.is_none());
    assert_eq!(listed.recipients[0].country, "UZ");
    assert_eq!(damage.segment, "00000000000000000000.seg");
    assert_eq!(
        (damage.first_index, damage.end_index),
        (damaged_index, damaged_index + 1)
    );
    assert!(damage.offset <= offset, "{damage:?}");
    assert!(
        listed_all
            .iter()
            .filter(|r| r.alert_id != damaged_id)
            .all(|r| r.damage.is_none() && r.alert.is_some())
    );

    // Health: the ledger's integrity, once the background check has read the closed segment.
    eventually(WAIT, "the integrity check to find the damage", || async {
        Ok(
            (health(kz, "tulpar.ledger.integrity").await? == ServingStatus::NotServing)
                .then_some(()),
        )
    })
    .await?;
    assert_eq!(health(kz, "").await?, ServingStatus::Serving);
    // The log: an error naming the segment, the byte offset and the entry.
    let log = kz.log();
    let line = log
        .lines()
        .find(|l| l.contains("ledger damage"))
        .with_context(|| format!("no damage line in the log:\n{log}"))?;
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("00000000000000000000.seg"), "{line}");
    assert!(
        line.contains(&format!("entry {damaged_index} is damaged")),
        "{line}"
    );
    assert!(
        log.contains("the ledger's closed segments checked"),
        "{log}"
    );

    // The focal point's alarms and audit name it too.
    let mut audit = kz.audit_client("focal-point").await?;
    let alarms = audit
        .list_alarms(proto::ListAlarmsRequest {})
        .await?
        .into_inner();
    assert!(alarms.ledger_checked);
    assert_eq!(alarms.alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms.alarms[0].ledger_index, damaged_index);
    let out = audit_verify(kz, &["--skip-node-check"])?;
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&format!("entry {damaged_index} damaged")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("ledger entry {damaged_index} is damaged")),
        "{shown}"
    );
    let mut command = kz.tulpar()?;
    command
        .env("TULPAR_TOKEN", &kz.tokens["focal-point"])
        .args(["audit", "alarms"]);
    let alarms = text(&command.output()?);
    assert!(alarms.contains("this node's ledger is damaged"), "{alarms}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_open_segment_is_damaged_is_repaired_and_regrows_from_a_backup() -> Result<()>
{
    let mut federation = witnessing_every_second().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&officer, &id).await?;
        ids.push(id);
    }
    // A backup of the data directory, with the node stopped.
    let kz = federation.country("KZ");
    kz.stop().await?;
    let backup = kz.dir.join("backup");
    copy_dir(&kz.dir.join("data"), &backup)?;
    kz.start_process().await?;
    let kz = &federation.countries["KZ"];
    for _ in 0..3 {
        let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
        delivered(&officer, &id).await?;
    }
    // UZ holds a checkpoint of KZ's ledger newer than the backup; the focal point saves one too.
    let size_now = kz
        .audit_client("focal-point")
        .await?
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner()
        .checkpoint
        .context("checkpoint")?
        .size;
    eventually(WAIT, "UZ to cosign the grown ledger", || async {
        Ok((cosigned_size(kz).await? >= size_now).then_some(()))
    })
    .await?;
    let saved = kz.dir.join("audited.txt");
    let out = audit_verify(kz, &["--save", saved.to_str().context("path")?])?;
    assert!(out.status.success(), "{}", text(&out));

    // A byte of the second alert's entry flipped in the segment the node appends to.
    let kz = federation.country("KZ");
    kz.stop().await?;
    let segment = segments(kz)?.pop().context("a segment")?;
    let offset = flip_after(&segment, ids[1].as_bytes(), 8)?;
    let damaged = std::fs::read(&segment)?;
    let refused = kz.start_process().await.unwrap_err().to_string();
    assert!(refused.contains("exit status: 65"), "{refused}");
    assert!(refused.contains("tulpar ledger repair"), "{refused}");

    // What a repair would do, changing nothing.
    let dry = ledger(kz, &["repair"])?;
    assert!(dry.status.success(), "{}", text(&dry));
    let shown = text(&dry);
    assert!(
        shown.contains("00000000000000000000.seg at byte offset"),
        "{shown}"
    );
    assert!(shown.contains("would      keep bytes"), "{shown}");
    assert!(shown.contains("hold the ledger"), "{shown}");
    assert!(shown.contains("--from BACKUP"), "{shown}");
    assert!(shown.contains("nothing changed"), "{shown}");
    assert_eq!(std::fs::read(&segment)?, damaged);

    // Done: the damaged tail is kept, the ledger verifies, the node starts held.
    let applied = ledger(kz, &["repair", "--apply"])?;
    assert!(applied.status.success(), "{}", text(&applied));
    let shown = text(&applied);
    assert!(shown.contains("did        keep bytes"), "{shown}");
    assert!(shown.contains("verified"), "{shown}");
    let kept_bytes: u64 = std::fs::read_dir(kz.dir.join("data/damaged"))?
        .map(|f| Ok(f?.metadata()?.len()))
        .sum::<Result<u64>>()?;
    assert_eq!(
        kept_bytes + std::fs::metadata(&segment)?.len(),
        damaged.len() as u64,
        "every byte cut is kept"
    );
    assert!(std::fs::metadata(&segment)?.len() <= offset);
    let verified = ledger(kz, &["verify"])?;
    assert!(verified.status.success(), "{}", text(&verified));
    kz.start_process().await?;
    let kz = &federation.countries["KZ"];
    assert_eq!(health(kz, "").await?, ServingStatus::NotServing);
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let status = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await.unwrap_err();
    let status = status.downcast_ref::<tonic::Status>().context("a status")?;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("records nothing"), "{status:?}");
    // A few witness rounds: KZ presents an older checkpoint than UZ holds, which proves no fork.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let uz = &federation.countries["UZ"];
    let uz_alarms = uz
        .audit_client("focal-point")
        .await?
        .list_alarms(proto::ListAlarmsRequest {})
        .await?
        .into_inner();
    assert!(uz_alarms.alarms.is_empty(), "{uz_alarms:?}");

    // Restored from the backup and the kept tail: the ledger is what it was, and the node records
    // again, its checkpoints consistent with those UZ and the focal point hold.
    let kz = federation.country("KZ");
    kz.stop().await?;
    let restored = ledger(
        kz,
        &[
            "repair",
            "--from",
            backup.to_str().context("path")?,
            "--apply",
        ],
    )?;
    assert!(restored.status.success(), "{}", text(&restored));
    let shown = text(&restored);
    assert!(shown.contains("lift the hold"), "{shown}");
    assert!(shown.contains("start the node"), "{shown}");
    let mut original = damaged.clone();
    original[offset as usize] ^= 0x5a;
    assert_eq!(std::fs::read(&segment)?, original, "the segment as written");
    kz.start_process().await?;
    let kz = &federation.countries["KZ"];
    assert_eq!(health(kz, "").await?, ServingStatus::Serving);
    let mut officer = kz.client("KZ-AKTAU-PCU").await?;
    let id = send(&mut officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&officer, &id).await?;
    let grown = size_now + 4;
    eventually(WAIT, "UZ to cosign the regrown ledger", || async {
        Ok((cosigned_size(kz).await? >= grown).then_some(()))
    })
    .await?;
    let out = audit_verify(kz, &["--previous", saved.to_str().context("path")?])?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("only appended to"), "{}", text(&out));
    let uz = &federation.countries["UZ"];
    let uz_alarms = uz
        .audit_client("focal-point")
        .await?
        .list_alarms(proto::ListAlarmsRequest {})
        .await?
        .into_inner();
    assert!(uz_alarms.alarms.is_empty(), "{uz_alarms:?}");
    Ok(())
}
