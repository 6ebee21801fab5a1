//! `tulpar restore`: checks a backup whole (every file's size and SHA-256, the ledger against its
//! signed checkpoints, its key against the country's directory and the node's ledger key), then
//! writes it where the configuration says. Nothing is written until everything checks.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tulpar_config::Config;
use tulpar_ledger::note::ledger_origin;
use tulpar_ledger::{LedgerError, PUBLIC_KEY_FILE, repair, verify_dir};
use tulpar_trust::keyfile;

use super::manifest::{
    DATA, DATA_DIR, FileEntry, Manifest, copy_hashed, hash_file, safe_relative, sync_dir, target,
};

/// Restore a node from a backup.
#[derive(Debug, clap::Args)]
pub(crate) struct RestoreArgs {
    /// The backup folder, as `tulpar backup` wrote it.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The node's configuration: the backup is written to the paths it names.
    #[arg(long)]
    config: PathBuf,
    /// Restore even though the data directory is not empty: what is there is moved aside, into
    /// `<data_dir>.replaced-<unix time>` beside it, not deleted. The node must be stopped.
    #[arg(long)]
    force: bool,
}

/// Where a restore stages the data directory's files, inside it.
const STAGING: &str = ".restoring";

/// The entries of folder `dir`.
fn entries_of(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    fs::read_dir(dir)
        .and_then(|items| items.collect())
        .with_context(|| format!("{}", dir.display()))
}

/// A file to write, once everything is checked.
struct Planned<'m> {
    file: &'m FileEntry,
    /// Where it goes.
    to: PathBuf,
}

pub(crate) fn run(args: RestoreArgs) -> Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let from = &args.from;
    let manifest = Manifest::read(from)?;
    let rule = |what: String| anyhow::anyhow!("{}: {what}", from.join("manifest.json").display());
    if manifest.country != config.country.to_string() {
        return Err(rule(format!(
            "the backup is of country {}, the configuration {} is of {}",
            manifest.country,
            args.config.display(),
            config.country
        )));
    }
    let origin = ledger_origin(&config.federation.name, config.country);
    if manifest.origin != origin {
        return Err(rule(format!(
            "the backup's ledger has the origin {:?}, this configuration's is {origin:?} \
             (federation.name must stay what it was when the ledger began)",
            manifest.origin
        )));
    }

    // 1. Every file is there, whole.
    let mut problems = Vec::new();
    for file in &manifest.files {
        let path = from.join(&file.path);
        match hash_file(&path, None) {
            Err(e) => problems.push(format!("{}: {e}", path.display())),
            Ok((size, _)) if size != file.size => problems.push(format!(
                "{}: {size} bytes, the manifest says {}",
                path.display(),
                file.size
            )),
            Ok((_, sha256)) if sha256 != file.sha256 => problems.push(format!(
                "{}: SHA-256 {sha256}, the manifest says {} (the file was altered or damaged)",
                path.display(),
                file.sha256
            )),
            Ok(_) => {}
        }
    }
    let listed_segments = manifest
        .files
        .iter()
        .filter(|f| f.setting == DATA_DIR && f.relative.starts_with("segments/"))
        .count();
    let data_copy = from.join(DATA);
    let on_disk = fs::read_dir(data_copy.join("segments"))
        .map(|items| items.count())
        .unwrap_or(0);
    if on_disk != listed_segments {
        problems.push(format!(
            "{}: {on_disk} files, the manifest lists {listed_segments} segments",
            data_copy.join("segments").display()
        ));
    }
    if !problems.is_empty() {
        bail!(
            "the backup in {} does not check; nothing was changed:\n  {}",
            from.display(),
            problems.join("\n  ")
        );
    }

    // 2. The ledger verifies against its signed checkpoints and ends at the manifest's.
    let report = verify_dir(&data_copy, None, |_| {}).map_err(|e| {
        anyhow::anyhow!(
            "{}: the backed-up ledger does not verify: {e}; nothing was changed",
            data_copy.display()
        )
    })?;
    let root = STANDARD.encode(report.root);
    let checkpoint = report.checkpoint.as_ref().map(|c| c.note());
    if report.size != manifest.tree_size
        || root != manifest.root
        || checkpoint != Some(manifest.checkpoint.as_str())
        || report.tail_ignored > 0
    {
        return Err(rule(format!(
            "the ledger in {} holds {} entries with root {root} (and {} bytes past its last \
             frame), but the manifest names the checkpoint of size {} with root {}; nothing was \
             changed",
            data_copy.display(),
            report.size,
            report.tail_ignored,
            manifest.tree_size,
            manifest.root
        )));
    }
    if report.checkpoint.as_ref().map(|c| c.origin()) != Some(origin.as_str()) {
        return Err(rule(format!(
            "the ledger's checkpoints are not of the origin {origin:?}"
        )));
    }
    let restored_checkpoint = report.checkpoint.clone();

    // 3. The ledger's key is this country's node key, and the node's private key matches it.
    let ledger_pub = keyfile::read_public_key(&data_copy.join(PUBLIC_KEY_FILE))?;
    let backed_up = |setting: &str| {
        manifest
            .files
            .iter()
            .find(|f| f.setting == setting && f.relative.is_empty())
            .map(|f| from.join(&f.path))
    };
    let directory = match config.trust.own_directory.exists() {
        true => Some(config.trust.own_directory.clone()),
        false => backed_up("trust.own_directory"),
    };
    let mut own_directory = None;
    if let Some(path) = &directory {
        let own = tulpar_audit::read_own_directory(path, config.country)
            .with_context(|| format!("trust.own_directory: {}", path.display()))?;
        if !own.node_keys().iter().any(|k| k.public_key == ledger_pub) {
            bail!(
                "{}: the backed-up ledger's key is not a node key of {}'s directory {}; nothing \
                 was changed",
                data_copy.join(PUBLIC_KEY_FILE).display(),
                config.country,
                path.display()
            );
        }
        let keys = tulpar_ledger::read_dir_keys(&data_copy)?;
        if let Some(stranger) = keys
            .iter()
            .find(|key| !own.node_keys().iter().any(|k| k.public_key == **key))
        {
            bail!(
                "{}: the backed-up ledger names key {} as one that signed its checkpoints, but it                  is not a node key of {}'s directory {}; nothing was changed",
                data_copy.join(tulpar_ledger::EARLIER_KEYS_FILE).display(),
                stranger.key_id(),
                config.country,
                path.display()
            );
        }
        own_directory = Some(own);
    }
    let ledger_key = match config.keys.ledger_key.exists() {
        true => Some(config.keys.ledger_key.clone()),
        false => backed_up("keys.ledger_key"),
    };
    if let Some(path) = &ledger_key {
        let key = keyfile::read_private_key(path)
            .with_context(|| format!("keys.ledger_key: {}", path.display()))?;
        // A key rotated since the backup: the node switches to it on opening, when its directory
        // names both keys.
        let rotated_since = own_directory.as_ref().is_some_and(|own| {
            own.node_keys()
                .iter()
                .any(|k| k.public_key == key.public_key())
        });
        if key.public_key() != ledger_pub && !rotated_since {
            bail!(
                "keys.ledger_key: {} is not the key that signed the backed-up ledger ({}); \
                 nothing was changed",
                path.display(),
                data_copy.join(PUBLIC_KEY_FILE).display()
            );
        }
    }

    // 4. Where each file goes, and what is in the way.
    let data_dir = &config.data_dir;
    let data_in_use = match fs::read_dir(data_dir) {
        Ok(items) => items
            .filter_map(Result::ok)
            .any(|item| item.file_name() != STAGING),
        Err(_) => false,
    };
    if data_in_use {
        if !args.force {
            bail!(
                "data_dir: {} is not empty; restore into an empty data directory, or add --force \
                 to move what is there aside; nothing was changed",
                data_dir.display()
            );
        }
        match repair::lock(data_dir) {
            Ok(lock) => drop(lock),
            Err(LedgerError::InUse(path)) => bail!(
                "{}: the node is running on this data directory; stop it first; nothing was \
                 changed",
                path.display()
            ),
            Err(other) => {
                return Err(other).with_context(|| format!("data_dir: {}", data_dir.display()));
            }
        }
    }
    // The node folder is the machine's configuration: a file already there is kept, even when it
    // differs from the backup's (a directory or trust store updated since, say); only missing files
    // are restored.
    let mut node_files = Vec::new();
    let mut kept = Vec::new();
    let mut same = 0;
    let mut missing_setting = Vec::new();
    for file in manifest.files.iter().filter(|f| f.setting != DATA_DIR) {
        let Some(to) = target(&config, file) else {
            missing_setting.push(file.setting.clone());
            continue;
        };
        match hash_file(&to, None) {
            Ok((_, sha256)) if sha256 == file.sha256 => same += 1,
            Ok(_) => kept.push(to),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                node_files.push(Planned { file, to });
            }
            Err(e) => bail!("{}: {e}; nothing was changed", to.display()),
        }
    }

    // 5. Write: the data directory's files into `<data_dir>/.restoring/`, synced, then moved into
    // place. Staged inside the data directory, every rename stays on one file system (the data
    // directory may be a mount of its own) and needs no right to write beside it.
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    fs::create_dir_all(data_dir).with_context(|| format!("data_dir: {}", data_dir.display()))?;
    let staging = data_dir.join(STAGING);
    if staging.exists() {
        // Left by a restore that did not finish; only a restore writes it.
        fs::remove_dir_all(&staging).with_context(|| format!("{}", staging.display()))?;
    }
    let mut folders = BTreeSet::from([staging.clone()]);
    for file in manifest.files.iter().filter(|f| f.setting == DATA_DIR) {
        let to = staging.join(safe_relative(&file.relative)?);
        let copied = copy_hashed(&from.join(&file.path), &to, None, file.private)?;
        if copied != (file.size, file.sha256.clone()) {
            bail!(
                "{}: changed while it was restored",
                from.join(&file.path).display()
            );
        }
        folders.extend(to.parent().map(Path::to_owned));
    }
    // The checkpoint restored to: partners' witnesses may hold a later one, and the node then tells
    // them of the restore instead of presenting a history they would refuse as a fork.
    if let Some(checkpoint) = &restored_checkpoint {
        tulpar_ledger::mark_restored(&staging, checkpoint)
            .with_context(|| format!("{}", staging.display()))?;
    }
    for folder in &folders {
        sync_dir(folder)?;
    }
    if data_in_use {
        let mut name = data_dir.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".replaced-{stamp}"));
        let old = data_dir.with_file_name(name);
        fs::create_dir(&old).with_context(|| {
            format!(
                "{}: cannot create it to move the data directory's files aside",
                old.display()
            )
        })?;
        for item in entries_of(data_dir)? {
            if item.file_name() != STAGING {
                let to = old.join(item.file_name());
                fs::rename(item.path(), &to)
                    .with_context(|| format!("{} → {}", item.path().display(), to.display()))?;
            }
        }
        sync_dir(&old)?;
        println!("{:<10} {} → {}", "moved", data_dir.display(), old.display());
    }
    for item in entries_of(&staging)? {
        let to = data_dir.join(item.file_name());
        fs::rename(item.path(), &to)
            .with_context(|| format!("{} → {}", item.path().display(), to.display()))?;
    }
    sync_dir(data_dir)?;
    fs::remove_dir(&staging).with_context(|| format!("{}", staging.display()))?;
    sync_dir(data_dir)?;
    for planned in &node_files {
        let to = &planned.to;
        let source = from.join(&planned.file.path);
        copy_hashed(&source, to, None, planned.file.private)?;
        sync_dir(to.parent().unwrap_or(Path::new(".")))?;
    }

    // 6. Check what was written, and say what comes next.
    let restored = verify_dir(data_dir, None, |_| {})
        .map_err(|e| anyhow::anyhow!("{}: the restored ledger: {e}", data_dir.display()))?;
    println!(
        "{:<10} {} entries, root {} (the checkpoint of size {} taken {})",
        "restored",
        restored.size,
        STANDARD.encode(restored.root),
        manifest.tree_size,
        manifest.taken_at
    );
    let data_files = manifest
        .files
        .iter()
        .filter(|f| f.setting == DATA_DIR)
        .count();
    println!(
        "{:<10} {data_files} data files into {}, {} missing node files ({same} already there)",
        "wrote",
        data_dir.display(),
        node_files.len(),
    );
    for path in &kept {
        println!(
            "{:<10} {}: differs from the backup's; the one here is kept (remove it to restore \
             the backup's)",
            "kept",
            path.display()
        );
    }
    for setting in &missing_setting {
        println!(
            "{:<10} {setting}: not in this configuration; its file was not restored",
            "skipped"
        );
    }
    for (setting, path) in [
        ("keys.ledger_key", &config.keys.ledger_key),
        ("tls.private_key", &config.tls.private_key),
        ("keys.units_dir", &config.keys.units_dir),
    ] {
        if !path.exists() {
            println!(
                "{:<10} {setting}: {} is missing (the backup holds no keys): put the node's keys \
                 back before starting it",
                "needs",
                path.display()
            );
        }
    }
    println!(
        "{:<10} entries the node recorded after this checkpoint are not in the backup; the node \
         declares the restore to a partner whose witness cosigned a later one, which records the \
         loss (see deploy/README.md, \"Backup and restore\")",
        "note"
    );
    println!(
        "{:<10} tulpar ledger verify --config {}; then start the node (it rebuilds its index \
         from the segments)",
        "next",
        args.config.display()
    );
    Ok(ExitCode::SUCCESS)
}
