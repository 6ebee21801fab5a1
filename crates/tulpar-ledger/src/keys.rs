//! The keys a ledger's checkpoints are signed with, and the files that name them.
//!
//! `<dir>/ledger.pub` is the key the ledger signs with now. A node may change its ledger key (a
//! rotation announced in its directory); the checkpoints signed before stay as they are, so the keys
//! that signed them are kept, oldest first, in `<dir>/ledger.earlier.pub`. A checkpoint of the ledger
//! verifies when any of these keys signed it; no other key is accepted.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::sync::Arc;

use tulpar_core::keys::{PublicKey, SigningKey};

use crate::error::LedgerError;
use crate::note::{NoteError, SignedCheckpoint};
use crate::segment;

/// Name of the public key file kept in the ledger directory.
pub const PUBLIC_KEY_FILE: &str = "ledger.pub";
/// Name of the file of keys that signed earlier checkpoints (PEM blocks, oldest first).
pub const EARLIER_KEYS_FILE: &str = "ledger.earlier.pub";
/// Most earlier keys a ledger directory may name: a rotation a day for decades fits.
const MAX_EARLIER_KEYS: usize = 16 * 1024;

/// The signing key and every key a checkpoint of the ledger may be signed with.
pub(crate) struct LedgerKeys {
    /// Signs the next checkpoint.
    pub(crate) signing: Arc<SigningKey>,
    /// The signing key's public half first, then the earlier keys, newest first.
    pub(crate) accepted: Vec<PublicKey>,
}

impl LedgerKeys {
    /// Verifies a checkpoint of `origin` under any accepted key.
    pub(crate) fn verify(
        &self,
        text: &str,
        origin: Option<&str>,
    ) -> Result<SignedCheckpoint, NoteError> {
        verify_any(text, origin, &self.accepted)
    }
}

/// Verifies `text` as a checkpoint signed by any of `keys` (tried in order). With no key matching,
/// the error is the first key's.
pub fn verify_any(
    text: &str,
    origin: Option<&str>,
    keys: &[PublicKey],
) -> Result<SignedCheckpoint, NoteError> {
    let mut first = None;
    for key in keys {
        match SignedCheckpoint::verify(text, origin, key) {
            Ok(cp) => return Ok(cp),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or_else(|| NoteError::NoSignature {
        name: origin.unwrap_or("the origin").to_owned(),
        key_hash: "(no key given)".to_owned(),
    }))
}

fn key_file_error(path: &Path, reason: impl ToString) -> LedgerError {
    LedgerError::KeyFile {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Parses PEM `PUBLIC KEY` blocks, in order.
pub(crate) fn parse_key_list(path: &Path, text: &str) -> Result<Vec<PublicKey>, LedgerError> {
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(END) {
        let block = &rest[..end + END.len()];
        keys.push(PublicKey::from_pem(block).map_err(|e| {
            key_file_error(
                path,
                format!("public key {} of the file: {e}", keys.len() + 1),
            )
        })?);
        if keys.len() > MAX_EARLIER_KEYS {
            return Err(key_file_error(
                path,
                format!("more than {MAX_EARLIER_KEYS} keys"),
            ));
        }
        rest = &rest[end + END.len()..];
    }
    if !rest.trim().is_empty() {
        return Err(key_file_error(
            path,
            "text after the last public key (expected PEM PUBLIC KEY blocks only)",
        ));
    }
    Ok(keys)
}

/// The keys that signed earlier checkpoints of the ledger in `dir`, oldest first (none when the
/// file is absent).
pub(crate) fn read_earlier(dir: &Path) -> Result<Vec<PublicKey>, LedgerError> {
    let path = dir.join(EARLIER_KEYS_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => parse_key_list(&path, &text),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(LedgerError::io(&path)(e)),
    }
}

/// Every key the checkpoints of the ledger in `dir` may be signed with: `ledger.pub`, then the
/// earlier keys, newest first.
pub fn read_dir_keys(dir: &Path) -> Result<Vec<PublicKey>, LedgerError> {
    let path = dir.join(PUBLIC_KEY_FILE);
    let text = fs::read_to_string(&path).map_err(LedgerError::io(&path))?;
    let current = PublicKey::from_pem(&text).map_err(|e| key_file_error(&path, e))?;
    Ok(with_earlier(current, read_earlier(dir)?))
}

/// `current`, then each of `earlier` (oldest first) not yet listed, newest first.
fn with_earlier(current: PublicKey, earlier: Vec<PublicKey>) -> Vec<PublicKey> {
    let mut keys = vec![current];
    for key in earlier.into_iter().rev() {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Writes `bytes` to `dir/name` through a temporary file, durably.
fn replace_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LedgerError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).map_err(LedgerError::io(&tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(LedgerError::io(&tmp))?;
    fs::rename(&tmp, &path).map_err(LedgerError::io(&path))?;
    segment::sync_dir(dir)
}

/// Records in `dir` that checkpoints are signed with `new` from now on, `old` having signed the
/// earlier ones: `old` is added to the earlier keys first, so a crash between the two writes loses
/// no key.
pub(crate) fn record_switch(
    dir: &Path,
    old: &PublicKey,
    new: &PublicKey,
) -> Result<(), LedgerError> {
    let mut earlier = read_earlier(dir)?;
    if !earlier.contains(old) {
        earlier.push(*old);
        let text: String = earlier.iter().map(PublicKey::to_pem).collect();
        replace_file(dir, EARLIER_KEYS_FILE, text.as_bytes())?;
    }
    replace_file(dir, PUBLIC_KEY_FILE, new.to_pem().as_bytes())
}

/// The keys of the ledger in `dir` opened with `signing`, `directory_keys` being the other keys its
/// directory names for checkpoints. A new ledger gets `ledger.pub`. A `ledger.pub` naming another
/// key is accepted only when that key is one of `directory_keys`: the node's key was rotated while
/// it was stopped, and the switch is recorded now. Any other key is refused.
pub(crate) fn open(
    dir: &Path,
    signing: SigningKey,
    directory_keys: &[PublicKey],
) -> Result<LedgerKeys, LedgerError> {
    let public = signing.public_key();
    let path = dir.join(PUBLIC_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let found = PublicKey::from_pem(&text).map_err(|e| key_file_error(&path, e))?;
            if found != public {
                if !directory_keys.contains(&found) {
                    return Err(LedgerError::KeyMismatch {
                        path,
                        found: found.key_id().to_string(),
                        given: public.key_id().to_string(),
                    });
                }
                record_switch(dir, &found, &public)?;
                tracing::info!(
                    from = %found.key_id().short(),
                    to = %public.key_id().short(),
                    "ledger key changed while the node was stopped; checkpoints are signed with \
                     the new key from now on"
                );
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            replace_file(dir, PUBLIC_KEY_FILE, public.to_pem().as_bytes())?;
        }
        Err(e) => return Err(LedgerError::io(&path)(e)),
    }
    let accepted = with_earlier(public, read_earlier(dir)?);
    Ok(LedgerKeys {
        signing: Arc::new(signing),
        accepted,
    })
}
