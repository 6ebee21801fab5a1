//! The manifest of a backup (`manifest.json`, written last): what it holds, where each file goes back
//! to, its size and SHA-256, and the signed checkpoint its ledger ends at.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use ring::digest::{Context as Digest, SHA256};
use serde::{Deserialize, Serialize};
use tulpar_config::Config;

/// The manifest's file name in a backup folder.
pub(crate) const MANIFEST: &str = "manifest.json";
/// The format this version writes and reads.
pub(crate) const FORMAT: &str = "tulpar-backup/1";
/// Where the data directory's files are kept in a backup.
pub(crate) const DATA: &str = "data";
/// The setting naming the data directory.
pub(crate) const DATA_DIR: &str = "data_dir";

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    /// [`FORMAT`].
    pub(crate) format: String,
    /// The node's country.
    pub(crate) country: String,
    /// The ledger's origin (`<federation.name>/<CC>`).
    pub(crate) origin: String,
    /// When the backup was taken (RFC 3339, UTC).
    pub(crate) taken_at: String,
    /// Entries in the backed-up ledger: those of its latest checkpoint.
    pub(crate) tree_size: u64,
    /// The ledger's root hash at that size, base64.
    pub(crate) root: String,
    /// The signed checkpoint the ledger ends at, as the node signed it.
    pub(crate) checkpoint: String,
    /// Whether the node's private keys are included.
    pub(crate) with_keys: bool,
    /// Every file, in the order they are restored.
    pub(crate) files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEntry {
    /// Its path in the backup folder, `/`-separated.
    pub(crate) path: String,
    /// The configuration setting it is restored under (`data_dir`, `trust.store`, `keys.ledger_key`,
    /// `webhooks.subscriptions.<name>.secret_file` …).
    pub(crate) setting: String,
    /// Its path under that setting's folder, `/`-separated; empty when the setting names the file.
    pub(crate) relative: String,
    /// Its length in bytes.
    pub(crate) size: u64,
    /// Lowercase hex SHA-256 of its bytes.
    pub(crate) sha256: String,
    /// Written with mode 0600 (keys, secrets, accounts).
    pub(crate) private: bool,
}

impl Manifest {
    /// Reads and checks the manifest of the backup in `dir`.
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
                "{}: missing: {} is not a backup, or an unfinished one (a backup writes its \
                 manifest last)",
                path.display(),
                dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        };
        let manifest: Self = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a backup manifest", path.display()))?;
        if manifest.format != FORMAT {
            bail!(
                "{}: format {:?}: this version restores {FORMAT:?} only",
                path.display(),
                manifest.format
            );
        }
        for file in &manifest.files {
            safe_relative(&file.path)
                .and_then(|_| match file.relative.is_empty() {
                    true => Ok(PathBuf::new()),
                    false => safe_relative(&file.relative),
                })
                .with_context(|| format!("{}: file {:?}", path.display(), file.path))?;
        }
        Ok(manifest)
    }
}

/// `text` as a relative path that stays inside the folder it is joined to.
pub(crate) fn safe_relative(text: &str) -> Result<PathBuf> {
    let path = Path::new(text);
    if text.is_empty() || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("{text:?} is not a plain relative path (no /, .. or . components)");
    }
    Ok(path.to_owned())
}

/// Where `setting` (as a [`FileEntry`] names it) points in `config`.
pub(crate) fn setting_path(config: &Config, setting: &str) -> Option<PathBuf> {
    let path = match setting {
        DATA_DIR => &config.data_dir,
        "trust.store" => &config.trust.store,
        "trust.own_directory" => &config.trust.own_directory,
        "tls.certificate" => &config.tls.certificate,
        "tls.ca_certificate" => &config.tls.ca_certificate,
        "tls.private_key" => &config.tls.private_key,
        "keys.ledger_key" => &config.keys.ledger_key,
        "keys.units_dir" => &config.keys.units_dir,
        other => {
            let name = other
                .strip_prefix("webhooks.subscriptions.")?
                .strip_suffix(".secret_file")?;
            return config
                .webhooks
                .subscriptions
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.secret_file.clone());
        }
    };
    Some(path.clone())
}

/// Where `file` is restored to under `config`.
pub(crate) fn target(config: &Config, file: &FileEntry) -> Option<PathBuf> {
    let base = setting_path(config, &file.setting)?;
    Some(match file.relative.is_empty() {
        true => base,
        false => base.join(&file.relative),
    })
}

/// Copies at most `limit` bytes (all when `None`) of `from` into a new file `to` (mode 0600 when
/// `private`), synced; returns the length and lowercase hex SHA-256 of what was copied.
pub(crate) fn copy_hashed(
    from: &Path,
    to: &Path,
    limit: Option<u64>,
    private: bool,
) -> Result<(u64, String)> {
    copy_if_present(from, to, limit, private)?
        .with_context(|| format!("{}: missing", from.display()))
}

/// [`copy_hashed`], or `None` when `from` does not exist (any more: the node replaces some files
/// while a backup runs).
pub(crate) fn copy_if_present(
    from: &Path,
    to: &Path,
    limit: Option<u64>,
    private: bool,
) -> Result<Option<(u64, String)>> {
    let source = match File::open(from) {
        Ok(source) => source,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", from.display())),
    };
    let mut reader: Box<dyn Read> = match limit {
        Some(limit) => Box::new(source.take(limit)),
        None => Box::new(source),
    };
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("{}", parent.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options
        .open(to)
        .with_context(|| format!("{}: cannot create", to.display()))?;
    let mut digest = Digest::new(&SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .with_context(|| format!("{}: cannot read", from.display()))?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("{}: cannot write", to.display()))?;
        len += n as u64;
    }
    out.sync_all()
        .with_context(|| format!("{}: cannot sync", to.display()))?;
    Ok(Some((len, hex::encode(digest.finish()))))
}

/// Length and lowercase hex SHA-256 of the first `limit` bytes of `path` (all when `None`).
pub(crate) fn hash_file(path: &Path, limit: Option<u64>) -> io::Result<(u64, String)> {
    let file = File::open(path)?;
    let mut reader: Box<dyn Read> = match limit {
        Some(limit) => Box::new(file.take(limit)),
        None => Box::new(file),
    };
    let mut digest = Digest::new(&SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex::encode(digest.finish())))
}

/// Writes `bytes` to `path` through a temporary file renamed into place, synced.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mode = if private { 0o600 } else { 0o644 };
    tulpar_trust::files::write_atomically(path, bytes, mode)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// Syncs a folder, so that the files just created in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("{}: cannot sync", dir.display()))
}

/// Every file under `dir` (recursively, in name order) as paths relative to it, but temporary ones
/// (`*.tmp`, written then renamed by the node); none when `dir` does not exist. Symbolic links are
/// not followed.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    walk(dir, Path::new(""), &mut found, 0)?;
    Ok(found)
}

fn walk(dir: &Path, prefix: &Path, found: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    // The node's folders are two levels deep at most; a deeper tree is not the node's.
    if depth > 8 {
        bail!("{}: folders nested too deep", dir.display());
    }
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("{}", dir.display())),
    };
    let mut items: Vec<_> = read
        .collect::<io::Result<Vec<_>>>()
        .with_context(|| format!("{}", dir.display()))?;
    items.sort_by_key(|item| item.file_name());
    for item in items {
        let kind = item
            .file_type()
            .with_context(|| format!("{}", item.path().display()))?;
        let relative = prefix.join(item.file_name());
        if kind.is_dir() {
            walk(&item.path(), &relative, found, depth + 1)?;
        } else if kind.is_file() && !item.file_name().to_string_lossy().ends_with(".tmp") {
            found.push(relative);
        }
    }
    Ok(())
}

/// `path` written with `/` separators, as the manifest keeps it.
pub(crate) fn slashed(path: &Path) -> Result<String> {
    let parts: Option<Vec<&str>> = path.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|p| p.join("/"))
        .with_context(|| format!("{}: not a UTF-8 file name", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_path_stays_inside_the_folder_it_names() {
        assert!(safe_relative("segments/00000000000000000000.seg").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            let error = safe_relative(bad).unwrap_err();
            assert!(error.to_string().contains("plain relative path"), "{bad}");
        }
    }

    #[test]
    fn a_copy_is_hashed_as_it_is_written_and_a_missing_source_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::write(&from, b"abc").unwrap();
        let (len, sha) = copy_hashed(&from, &dir.path().join("a/b/to"), None, true).unwrap();
        assert_eq!(len, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_file(&dir.path().join("a/b/to"), Some(2)).unwrap().0, 2);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("a/b/to"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let gone = dir.path().join("gone");
        assert!(
            copy_if_present(&gone, &dir.path().join("x"), None, false)
                .unwrap()
                .is_none()
        );
        let error = copy_hashed(&gone, &dir.path().join("y"), None, false).unwrap_err();
        assert!(format!("{error:#}").contains("gone: missing"));
    }
}
