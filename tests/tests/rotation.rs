//! Rotating a node's ledger key while alerts flow: KZ stages a new key with `tulpar directory
//! rotate-node-key`, switches to it at the time its directory names without a restart, UZ goes on
//! accepting KZ's receipts and cosigning its checkpoints, and KZ's ledger, signed by two keys,
//! verifies, is audited, backed up, restored and reopened.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use tulpar_core::keys::PublicKey;
use tulpar_core::proto;
use tulpar_ledger::SignedCheckpoint;
use tulpar_tests::output_text as text;
use tulpar_tests::{Country, Federation, delivered, eventually, send};
use tulpar_trust::directory::fmt_time;
use tulpar_trust::keyfile;

/// Runs a `tulpar` command on a blocking thread, so the nodes in this process go on serving.
async fn run(mut command: Command) -> Result<Output> {
    Ok(tokio::task::spawn_blocking(move || command.output()).await??)
}

fn tulpar(country: &Country, args: &[&str]) -> Result<Command> {
    let mut command = country.tulpar()?;
    command
        .env("TULPAR_TOKEN", &country.tokens["focal-point"])
        .args(args);
    Ok(command)
}

fn path(path: &Path) -> Result<&str> {
    path.to_str().context("a UTF-8 path")
}

fn ledger_pub(country: &Country) -> Result<PublicKey> {
    Ok(keyfile::read_public_key(
        &country.dir.join("data/ledger.pub"),
    )?)
}

/// `tulpar audit verify` of `country` against its published directory, comparing with `previous`.
async fn audit(country: &Country, previous: &Path, save: bool) -> Result<Output> {
    let public = country.dir.join("public");
    let flag = if save { "--save" } else { "--previous" };
    run(tulpar(
        country,
        &[
            "audit",
            "verify",
            "--directory",
            path(&public.join("directory.env"))?,
            "--root-key",
            path(&public.join("root.pub"))?,
            "--trust",
            path(&country.dir.join("node/trust"))?,
            flag,
            path(previous)?,
        ],
    )?)
    .await
}

async fn ledger_verify(country: &Country) -> Result<()> {
    let config = country.config_path();
    let out = run(tulpar(
        country,
        &["ledger", "verify", "--config", path(&config)?],
    )?)
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("every entry's signatures hold"),
        "{}",
        text(&out)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_key_rotated_while_running_keeps_partners_and_audits_working() -> Result<()> {
    let mut federation =
        Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])?;
    for country in federation.countries.values() {
        country.append_config("[witness]\ninterval = \"1h\"")?;
    }
    federation.start_all().await?;
    let (kz, uz) = (&federation.countries["KZ"], &federation.countries["UZ"]);
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let mut uz_officer = uz.client("UZ-TASHKENT-PCU").await?;
    let before = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &before).await?;
    let answered_before = send(&mut uz_officer, "UZ-TASHKENT-PCU", "KZ").await?;
    delivered(&uz_officer, &answered_before).await?;
    assert!(kz.node()?.witness_now().await?[0].1.is_some());
    let saved = federation.root.join("kz-audit.checkpoint");
    let out = audit(kz, &saved, true).await?;
    assert!(out.status.success(), "{}", text(&out));
    let old_key = ledger_pub(kz)?;

    // A staged key the directory does not name: refused, the node keeps its key.
    let staged = kz.dir.join("node/ledger.key.next");
    keyfile::write_private_key(&staged, &tulpar_core::keys::SigningKey::generate()?)?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ledger_pub(kz)?, old_key);
    assert!(staged.exists(), "a refused key stays where it was put");
    std::fs::remove_file(&staged)?;

    // Bad options change nothing.
    let version = std::fs::read(kz.dir.join("public/directory.env"))?;
    for (args, why) in [
        (["--switch-at", "2020-01-01T00:00:00Z"], "in the past"),
        (["--overlap-minutes", "0"], "--overlap-minutes"),
    ] {
        let mut all = vec!["directory", "rotate-node-key", "--dir", path(&kz.dir)?];
        all.extend(args);
        let out = run(tulpar(kz, &all)?).await?;
        assert!(!out.status.success());
        assert!(text(&out).contains(why), "{}", text(&out));
    }
    assert_eq!(std::fs::read(kz.dir.join("public/directory.env"))?, version);
    assert!(!staged.exists());

    // The rotation, switching a few seconds from now; UZ fetches the new directory meanwhile.
    let switch_at = fmt_time(SystemTime::now() + Duration::from_secs(4));
    let out = run(tulpar(
        kz,
        &[
            "directory",
            "rotate-node-key",
            "--dir",
            path(&kz.dir)?,
            "--switch-at",
            &switch_at,
        ],
    )?)
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    let new_key = keyfile::read_public_key(&kz.dir.join("public/ledger.pub"))?;
    assert_ne!(new_key, old_key);
    assert_eq!(
        String::from_utf8(out.stdout.clone())?.trim(),
        new_key.key_id().to_string()
    );
    let retired_pub = kz
        .dir
        .join(format!("public/ledger-{}.pub", old_key.key_id().short()));
    assert_eq!(keyfile::read_public_key(&retired_pub)?, old_key);
    // A second rotation before the node took up the first is refused.
    let again = run(tulpar(
        kz,
        &["directory", "rotate-node-key", "--dir", path(&kz.dir)?],
    )?)
    .await?;
    assert!(!again.status.success());
    assert!(text(&again).contains("already staged"), "{}", text(&again));

    // KZ goes on sending while it switches.
    let during = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &during).await?;
    eventually(Duration::from_secs(20), "the switch to the new key", || {
        let switched = ledger_pub(kz).ok() == Some(new_key) && !staged.exists();
        std::future::ready(Ok(switched.then_some(())))
    })
    .await?;
    assert_eq!(
        keyfile::read_private_key(&kz.dir.join("node/ledger.key"))?.public_key(),
        new_key
    );
    let retired = kz.dir.join(format!(
        "node/retired/ledger-{}.key",
        old_key.key_id().short()
    ));
    assert_eq!(keyfile::read_private_key(&retired)?.public_key(), old_key);

    // After the switch: KZ's checkpoints and receipts are signed with the new key, and UZ accepts
    // them, without a restart of either node.
    let after = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &after).await?;
    let answered_after = send(&mut uz_officer, "UZ-TASHKENT-PCU", "KZ").await?;
    delivered(&uz_officer, &answered_after).await?;
    let mut focal = kz.audit_client("focal-point").await?;
    let latest = focal
        .get_latest_checkpoint(proto::GetLatestCheckpointRequest {})
        .await?
        .into_inner()
        .checkpoint
        .context("a checkpoint")?;
    SignedCheckpoint::verify(&latest.note, None, &new_key)?;
    let cosigned = kz.node()?.witness_now().await?;
    assert!(
        cosigned[0].1.is_some(),
        "UZ cosigns the new key's checkpoint"
    );
    assert!(uz.node()?.witness_now().await?[0].1.is_some());

    // The ledger signed by two keys verifies, offline and through the audit API; UZ's, holding KZ's
    // receipts and cosignatures under both keys, too.
    ledger_verify(kz).await?;
    ledger_verify(uz).await?;
    let out = audit(kz, &saved, false).await?;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("only appended to"), "{}", text(&out));

    // A backup taken now holds both keys.
    let backup_dir = federation.root.join("kz-backup");
    let config = kz.config_path();
    let out = run(tulpar(
        kz,
        &[
            "backup",
            "--config",
            path(&config)?,
            "--out",
            path(&backup_dir)?,
        ],
    )?)
    .await?;
    assert!(out.status.success(), "{}", text(&out));

    // KZ restarts cleanly on its new key.
    federation.country("KZ").stop().await?;
    federation.country("KZ").start().await?;
    let kz = &federation.countries["KZ"];
    let mut kz_officer = kz.client("KZ-AKTAU-PCU").await?;
    let restarted = send(&mut kz_officer, "KZ-AKTAU-PCU", "UZ").await?;
    delivered(&kz_officer, &restarted).await?;
    ledger_verify(kz).await?;

    // Restored from the backup, it opens and verifies too.
    federation.country("KZ").stop().await?;
    let kz = &federation.countries["KZ"];
    std::fs::remove_dir_all(kz.dir.join("data"))?;
    let out = run(tulpar(
        kz,
        &[
            "restore",
            "--from",
            path(&backup_dir)?,
            "--config",
            path(&config)?,
        ],
    )?)
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    federation.country("KZ").start().await?;
    let kz = &federation.countries["KZ"];
    assert_eq!(ledger_pub(kz)?, new_key);
    ledger_verify(kz).await?;
    federation.country("KZ").stop().await?;
    federation.country("UZ").stop().await?;
    Ok(())
}
