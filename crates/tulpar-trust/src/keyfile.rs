//! Key files on disk: private keys as PKCS#8 PEM with mode 0600, public keys as SPKI PEM.
//!
//! A private key file that other users can read is refused: a unit key that leaked through a loose
//! permission could sign alerts in the country's name.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tulpar_core::keys::{KeyError, PublicKey, SigningKey};

/// What went wrong with a key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A private key file is readable or writable by group or others.
    #[error(
        "{path}: private key file has mode {mode:04o}, readable by other users; \
         run `chmod 600 {path}` if the key has not leaked, otherwise revoke it"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{0}: already exists; refusing to overwrite a key")]
    Exists(PathBuf),
    /// The content is not a key of the expected kind.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with the content.
        source: KeyError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `key` to a new file at `path` with mode 0600. Never overwrites an existing file.
pub fn write_private_key(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists(path.to_owned()),
            _ => KeyFileError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
    file.write_all(key.to_pem().as_bytes())
        .map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Where the next key for the key file `path` is staged until its holder switches to it
/// (`<path>.next`): `tulpar directory rotate-node-key` writes the node's next ledger key there.
pub fn staged_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".next");
    PathBuf::from(name)
}

/// Refuses a secret file (any private key, also a TLS key) that group or others may read or write.
pub fn check_private_permissions(path: &Path) -> Result<(), KeyFileError> {
    let mode = fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Reads a private key, refusing a file that group or others may read or write.
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    check_private_permissions(path)?;
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    SigningKey::from_pem(&text).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

/// Writes a public key (SPKI PEM, mode 0644) to a new file at `path`.
pub fn write_public_key(path: &Path, key: &PublicKey) -> Result<(), KeyFileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists(path.to_owned()),
            _ => KeyFileError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
    file.write_all(key.to_pem().as_bytes())
        .map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Reads a public key file (SPKI PEM).
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyFileError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    PublicKey::from_pem(&text).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_written_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit.key");
        let key = SigningKey::generate().unwrap();
        write_private_key(&path, &key).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_private_key(&path).unwrap().key_id(), key.key_id());
    }

    #[test]
    fn readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit.key");
        write_private_key(&path, &SigningKey::generate().unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_private_key(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::TooOpen { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn existing_key_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit.key");
        write_private_key(&path, &SigningKey::generate().unwrap()).unwrap();
        let err = write_private_key(&path, &SigningKey::generate().unwrap()).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists(_)));
    }

    #[test]
    fn public_key_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit.pub");
        let key = SigningKey::generate().unwrap().public_key();
        write_public_key(&path, &key).unwrap();
        assert_eq!(read_public_key(&path).unwrap(), key);
    }
}
