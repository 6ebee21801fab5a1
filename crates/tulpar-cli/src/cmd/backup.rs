//! `tulpar backup`: a consistent copy of a running node's data; `tulpar restore`: that copy put back
//! on a machine, checked before anything is written.
//!
//! What a node keeps, and how each part is backed up:
//!
//! | part | how |
//! | --- | --- |
//! | `segments/`, `ledger.pub`, `ledger.earlier.pub` | copied up to the last complete frame, then verified against that frame's signed checkpoint; the key files after the segments, so they name every key that signed a frame copied (a key switch records the new key before signing with it) |
//! | `index/` (sled: Merkle hashes, frames, alert index, the state view with outboxes, idempotency, tokens revoked, witness state) | not copied: all of it is derived from the segments, and the node rebuilds it when it opens a ledger without it |
//! | `accounts.json`, `console-drafts/` | copied as they are (each file is rewritten atomically) |
//! | `webhooks/<name>.json` cursors | copied before the segments, so none points past the backed-up ledger |
//! | `hold.checkpoint` | copied: a held ledger stays held |
//! | `damaged/` | not copied: bytes a repair kept, for the operator's inquiry |
//! | trust store, own directory, TLS certificate and CA | copied (public) |
//! | ledger key, unit keys, TLS key, webhook secrets | only with `--with-keys` |
//!
//! sled's own `Db::export` needs the database open, and sled locks it for the one process that opens
//! it (the running node); copying its files while it writes gives no consistent state. Rebuilding is
//! both safe and what the node already does after a lost index.

mod manifest;
mod restore;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tulpar_config::Config;
use tulpar_ledger::{EARLIER_KEYS_FILE, HOLD_FILE, PUBLIC_KEY_FILE, verify_dir};

use manifest::{
    DATA, DATA_DIR, FORMAT, FileEntry, MANIFEST, Manifest, copy_hashed, copy_if_present,
    files_under, hash_file, setting_path, slashed, write_atomic,
};
pub(crate) use restore::{RestoreArgs, run as run_restore};

/// Take a backup of a node while it runs.
#[derive(Debug, clap::Args)]
pub(crate) struct BackupArgs {
    /// The node's configuration: its `data_dir`, trust store and keys are read from the paths it names.
    #[arg(long)]
    config: PathBuf,
    /// The folder to write the backup to; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also copy the node's private keys (ledger key, unit keys, TLS key, webhook secrets). Keep such
    /// a backup as you keep the keys.
    #[arg(long)]
    with_keys: bool,
}

/// The data directory's files kept beside the ledger, each rewritten atomically by the node.
const DATA_FILES: &[(&str, bool)] = &[("accounts.json", true), (HOLD_FILE, false)];
/// The data directory's folders kept beside the ledger.
const DATA_FOLDERS: &[(&str, bool)] = &[("console-drafts", true)];
/// Webhook cursors, copied before the segments.
const CURSORS: &str = "webhooks";

pub(crate) fn run_backup(args: BackupArgs) -> Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let out = &args.out;
    if fs::read_dir(out).is_ok_and(|mut items| items.next().is_some()) {
        bail!(
            "{}: not empty; a backup goes into a new or empty folder",
            out.display()
        );
    }
    fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let data = &config.data_dir;
    let mut files = Vec::new();
    // A file found by listing a folder but gone when copied was a temporary file of the node, and is
    // left out; a file a setting names must be there.
    let mut copy = |from: &Path, setting: &str, relative: &Path, private: bool| -> Result<()> {
        let relative_text = slashed(relative)?;
        let path = if setting == DATA_DIR {
            format!("{DATA}/{relative_text}")
        } else if relative_text.is_empty() {
            format!("node/{setting}")
        } else {
            format!("node/{setting}/{relative_text}")
        };
        let Some((size, sha256)) = copy_if_present(from, &out.join(&path), None, private)? else {
            return match relative.as_os_str().is_empty() {
                true => Err(anyhow::anyhow!("{}: missing", from.display())),
                false => Ok(()),
            };
        };
        files.push(FileEntry {
            path,
            setting: setting.to_owned(),
            relative: relative_text,
            size,
            sha256,
            private,
        });
        Ok(())
    };

    // Read before the segments: a cursor then never points past the ledger backed up.
    for cursor in files_under(&data.join(CURSORS))? {
        copy(
            &data.join(CURSORS).join(&cursor),
            DATA_DIR,
            &Path::new(CURSORS).join(&cursor),
            false,
        )?;
    }
    for (name, private) in DATA_FILES {
        let from = data.join(name);
        if from.exists() {
            copy(&from, DATA_DIR, Path::new(name), *private)?;
        }
    }
    for (folder, private) in DATA_FOLDERS {
        for file in files_under(&data.join(folder))? {
            let relative = Path::new(folder).join(&file);
            copy(&data.join(&relative), DATA_DIR, &relative, *private)?;
        }
    }
    let snapshot = copy_segments(data, out)?;
    for name in [EARLIER_KEYS_FILE, PUBLIC_KEY_FILE] {
        let from = data.join(name);
        if name == PUBLIC_KEY_FILE || from.exists() {
            copy(&from, DATA_DIR, Path::new(name), false)?;
        }
    }

    let mut node_files = vec![
        ("trust.store", false),
        ("trust.own_directory", false),
        ("tls.certificate", false),
        ("tls.ca_certificate", false),
    ];
    if args.with_keys {
        node_files.extend([
            ("keys.ledger_key", true),
            ("keys.units_dir", true),
            ("tls.private_key", true),
        ]);
    }
    let secrets: Vec<String> = match args.with_keys {
        true => config
            .webhooks
            .subscriptions
            .iter()
            .map(|s| format!("webhooks.subscriptions.{}.secret_file", s.name))
            .collect(),
        false => Vec::new(),
    };
    let mut copy_setting = |setting: &str, private: bool| -> Result<()> {
        let path = setting_path(&config, setting).context("a setting of the configuration")?;
        if path.is_dir() {
            for file in files_under(&path)? {
                copy(&path.join(&file), setting, &file, private)?;
            }
            Ok(())
        } else {
            copy(&path, setting, Path::new(""), private)
                .with_context(|| format!("{setting}: {}", path.display()))
        }
    };
    for (setting, private) in node_files {
        copy_setting(setting, private)?;
    }
    for setting in &secrets {
        copy_setting(setting, true)?;
    }

    // No cursor may name an index past the ledger backed up (the node refuses one that does).
    let cursors_prefix = format!("{DATA}/{CURSORS}/");
    for file in files
        .iter_mut()
        .filter(|f| f.path.starts_with(&cursors_prefix))
    {
        let path = out.join(&file.path);
        clamp_cursor(&path, snapshot.size)?;
        (file.size, file.sha256) =
            hash_file(&path, None).with_context(|| format!("{}", path.display()))?;
    }

    let mut all = snapshot.files;
    all.extend(files);
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        country: config.country.to_string(),
        origin: snapshot.origin,
        taken_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tree_size: snapshot.size,
        root: snapshot.root,
        checkpoint: snapshot.checkpoint,
        with_keys: args.with_keys,
        files: all,
    };
    let text = serde_json::to_vec_pretty(&manifest).context("manifest")?;
    write_atomic(&out.join(MANIFEST), &text, false)?;
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "{:<10} {} entries, up to the checkpoint of size {} signed by the node (verified)",
        "ledger", manifest.tree_size, manifest.tree_size
    );
    println!(
        "{:<10} {} files, {bytes} bytes, in {}",
        "backup",
        manifest.files.len(),
        out.display()
    );
    if !args.with_keys {
        println!(
            "{:<10} no private keys: keep the node's keys apart (or add --with-keys)",
            "note"
        );
    }
    println!(
        "{:<10} the index is not copied: the node rebuilds it from the segments when restored",
        "note"
    );
    Ok(ExitCode::SUCCESS)
}

/// The ledger as copied.
struct Snapshot {
    files: Vec<FileEntry>,
    size: u64,
    root: String,
    checkpoint: String,
    origin: String,
}

/// Copies the segments of the ledger in `data` into `out/data/segments/`, cuts the copy of the last
/// one back to its last complete frame, verifies the copy against its signed checkpoints, and checks
/// the node still holds the same bytes (a batch whose write fails is cut by the node, and another
/// written in its place).
fn copy_segments(data: &Path, out: &Path) -> Result<Snapshot> {
    let from = data.join("segments");
    let mut segments: Vec<PathBuf> = fs::read_dir(&from)
        .with_context(|| format!("{}: cannot list the ledger's segments", from.display()))?
        .filter_map(|item| item.ok().map(|item| item.file_name()))
        .filter_map(|name| name.to_str().map(str::to_owned))
        .filter(|name| {
            name.strip_suffix(".seg")
                .is_some_and(|stem| stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(PathBuf::from)
        .collect();
    segments.sort();
    let Some(last) = segments.last().cloned() else {
        bail!(
            "{}: no segments: the ledger has recorded nothing yet",
            from.display()
        );
    };
    let copy_dir = out.join(DATA);
    let mut copied = Vec::new();
    for name in &segments {
        // Later segments are closed: only the last one grows while this runs.
        let (len, _) = copy_hashed(
            &from.join(name),
            &copy_dir.join("segments").join(name),
            None,
            false,
        )?;
        copied.push((name.clone(), len));
    }
    // Read after the segments: they name every key that signed a frame copied.
    let keys = tulpar_ledger::read_dir_keys(data)
        .with_context(|| format!("{}: the ledger's keys", data.display()))?;
    let report = verify_dir(&copy_dir, Some(&keys), |_| {}).map_err(|e| {
        anyhow::anyhow!(
            "{}: the copy of the ledger does not verify: {e}",
            copy_dir.display()
        )
    })?;
    let checkpoint = report
        .checkpoint
        .context("the ledger has no signed checkpoint yet: nothing to back up")?;
    let last_copy = copy_dir.join("segments").join(&last);
    let (_, last_len) = copied.last().cloned().context("a segment was copied")?;
    let kept = last_len - report.tail_ignored;
    let first_of_last: u64 = last
        .to_str()
        .and_then(|n| n.strip_suffix(".seg"))
        .and_then(|n| n.parse().ok())
        .context("segment file name")?;
    if report.size == first_of_last {
        // A segment begun but holding no complete frame yet.
        fs::remove_file(&last_copy).with_context(|| format!("{}", last_copy.display()))?;
        copied.pop();
    } else if report.tail_ignored > 0 {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&last_copy)
            .with_context(|| format!("{}", last_copy.display()))?;
        file.set_len(kept)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("{}: cannot cut", last_copy.display()))?;
        if let Some(entry) = copied.last_mut() {
            entry.1 = kept;
        }
    }
    let mut files = Vec::new();
    for (name, len) in &copied {
        let copy = copy_dir.join("segments").join(name);
        let (size, sha256) =
            hash_file(&copy, None).with_context(|| format!("{}", copy.display()))?;
        // The node's own bytes, read again now: a frame the node cut after a failed write (and
        // wrote again with other entries) would show here.
        let source = from.join(name);
        let (now, again) =
            hash_file(&source, Some(*len)).with_context(|| format!("{}", source.display()))?;
        if now != size || again != sha256 {
            bail!(
                "{}: its first {len} bytes changed while they were copied (the node rewrote a \
                 batch whose write failed); run the backup again",
                source.display()
            );
        }
        files.push(FileEntry {
            path: format!("{DATA}/segments/{}", slashed(name)?),
            setting: DATA_DIR.to_owned(),
            relative: format!("segments/{}", slashed(name)?),
            size,
            sha256,
            private: false,
        });
    }
    Ok(Snapshot {
        files,
        size: report.size,
        root: STANDARD.encode(report.root),
        checkpoint: checkpoint.note().to_owned(),
        origin: checkpoint.origin().to_owned(),
    })
}

/// Moves the webhook cursor at `path` back to `size` when it points past it.
fn clamp_cursor(path: &Path, size: u64) -> Result<()> {
    let bytes = fs::read(path).with_context(|| format!("{}", path.display()))?;
    let mut cursor: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a webhook cursor", path.display()))?;
    let next = cursor.get("next_index").and_then(serde_json::Value::as_u64);
    if next.is_some_and(|next| next > size) {
        cursor["next_index"] = size.into();
        fs::remove_file(path).with_context(|| format!("{}", path.display()))?;
        write_atomic(path, &serde_json::to_vec(&cursor)?, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_past_the_backed_up_ledger_is_moved_back_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("risk.json");
        let text = r#"{"next_index":200,"delivered":7,"last_success_unix_ms":1700000000000}"#;
        fs::write(&path, text).unwrap();
        clamp_cursor(&path, 250).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        clamp_cursor(&path, 150).unwrap();
        let clamped: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(clamped["next_index"], 150);
        assert_eq!(clamped["delivered"], 7);
        fs::write(&path, "not json").unwrap();
        let error = clamp_cursor(&path, 150).unwrap_err();
        assert!(format!("{error:#}").contains("not a webhook cursor"));
    }
}
