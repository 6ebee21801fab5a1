//! Checkpoints as C2SP signed notes (`tlog-checkpoint`, `signed-note`), and their C2SP
//! `tlog-cosignature` cosignatures.
//!
//! ```text
//! pcu-mou.example/KZ
//! 4711
//! <base64 root hash>
//!
//! — pcu-mou.example/KZ <base64(key hash || Ed25519 signature)>
//! — pcu-mou.example/UZ/witness <base64(key hash || timestamp || Ed25519 signature)>
//! ```
//!
//! The log's signature covers the body: every byte before the blank line, including the final
//! newline. Its key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || raw public key), 0x01
//! being the signed-note Ed25519 algorithm.
//!
//! A cosignature (`cosignature/v1`) is a witness's statement that, as of its timestamp, this is the
//! largest consistent checkpoint of the log it has seen. Its key hash uses the algorithm byte 0x04,
//! and its blob is the 8-byte big-endian POSIX timestamp followed by an Ed25519 signature over
//! `"cosignature/v1\ntime <timestamp>\n" || body`. A note may carry several signatures; a verifier
//! checks the ones it knows by name and key hash and ignores the rest.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest;
use tulpar_core::codes::CountryCode;
use tulpar_core::keys::{PublicKey, SIGNATURE_LEN, SigningKey};

use crate::merkle::Hash;

/// Signed-note algorithm byte for Ed25519.
const ALG_ED25519: u8 = 0x01;
/// Signed-note algorithm byte of a C2SP Ed25519 `cosignature/v1`.
const ALG_COSIGNATURE_V1: u8 = 0x04;
/// The first line of the message a `cosignature/v1` signs.
const COSIGNATURE_V1_HEADER: &str = "cosignature/v1\n";
/// Bytes of a `cosignature/v1` blob after the key hash: timestamp and signature.
const COSIGNATURE_V1_LEN: usize = 8 + SIGNATURE_LEN;
/// The start of every signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// What is wrong with a signed note or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text is not a signed note.
    #[error("checkpoint note: {0}")]
    Malformed(String),
    /// A key name is not usable in a note.
    #[error("note key name {0:?}: must be non-empty, without spaces, newlines or '+'")]
    BadName(String),
    /// No signature line by this name and key.
    #[error("checkpoint note has no signature by {name} with key hash {key_hash}")]
    NoSignature {
        /// The signer name looked for.
        name: String,
        /// Its key hash, hex.
        key_hash: String,
    },
    /// A signature line by this key does not verify.
    #[error("checkpoint note signature by {name} does not verify")]
    BadSignature {
        /// The signer name.
        name: String,
    },
    /// A verifier key is not `<name>+<hex key hash>+<base64 key>` of a kind this node knows.
    #[error("verifier key {key:?}: {rule}")]
    BadVerifierKey {
        /// The key as given.
        key: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The checkpoint's origin is not the expected one.
    #[error("checkpoint origin is {got:?}, expected {expected:?}")]
    WrongOrigin {
        /// Origin found in the note.
        got: String,
        /// Origin expected.
        expected: String,
    },
}

/// The checkpoint origin (and log signer name) of `country`'s node in federation `federation`:
/// `<federation>/<CC>`, e.g. `pcu-mou.example/KZ`.
pub fn ledger_origin(federation: &str, country: CountryCode) -> String {
    format!("{federation}/{country}")
}

/// The cosigner name of `country`'s node as a witness in federation `federation`:
/// `<federation>/<CC>/witness`, e.g. `pcu-mou.example/UZ/witness`.
pub fn witness_name(federation: &str, country: CountryCode) -> String {
    format!("{federation}/{country}/witness")
}

/// The federation name in `country`'s ledger origin, if the origin is one.
pub fn federation_of(origin: &str, country: CountryCode) -> Option<&str> {
    origin
        .strip_suffix(country.as_str())?
        .strip_suffix('/')
        .filter(|name| !name.is_empty())
}

/// Checks that `name` can appear as an origin or a signer name.
pub fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadName(name.to_owned()));
    }
    Ok(())
}

/// The 4-byte signed-note key hash of an Ed25519 key under `name`.
pub fn key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    key_hash_of(name, ALG_ED25519, key)
}

/// The 4-byte key hash of an Ed25519 `cosignature/v1` key under cosigner `name`.
pub fn cosigner_key_hash(name: &str, key: &PublicKey) -> [u8; 4] {
    key_hash_of(name, ALG_COSIGNATURE_V1, key)
}

/// A key hash as lowercase hex, as people compare them.
fn hex(hash: &[u8; 4]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256(name || 0x0A || algorithm || raw public key)[:4].
fn key_hash_of(name: &str, algorithm: u8, key: &PublicKey) -> [u8; 4] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(&[0x0a, algorithm]);
    ctx.update(key.as_bytes());
    let d = ctx.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(&d.as_ref()[..4]);
    out
}

/// What a verifier key checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierKind {
    /// A log's own signatures on its checkpoints (signed-note Ed25519, algorithm 0x01).
    Log,
    /// A witness's `cosignature/v1` (algorithm 0x04).
    Cosigner,
}

impl VerifierKind {
    fn algorithm(self) -> u8 {
        match self {
            Self::Log => ALG_ED25519,
            Self::Cosigner => ALG_COSIGNATURE_V1,
        }
    }
}

/// A C2SP signed-note verifier key, `<name>+<hex key hash>+<base64(algorithm || public key)>`: how
/// logs and witnesses publish the name and key others verify them by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// The signer's name: a log's origin, or a witness's cosigner name.
    pub name: String,
    /// What it verifies.
    pub kind: VerifierKind,
    /// The Ed25519 public key.
    pub key: PublicKey,
}

impl VerifierKey {
    /// Parses the text form, checking that the key hash matches the name and key.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |rule: &str| NoteError::BadVerifierKey {
            key: text.to_owned(),
            rule: rule.to_owned(),
        };
        // Names hold no '+', base64 may: the first two separate the three parts.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hash), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("must be <name>+<hex key hash>+<base64 key>"));
        };
        check_name(name).map_err(|_| bad("the name must be non-empty, without spaces or '+'"))?;
        let blob = STANDARD
            .decode(blob)
            .map_err(|_| bad("the key is not base64"))?;
        let (kind, raw) = match blob.split_first() {
            Some((&ALG_ED25519, raw)) => (VerifierKind::Log, raw),
            Some((&ALG_COSIGNATURE_V1, raw)) => (VerifierKind::Cosigner, raw),
            _ => {
                return Err(bad(
                    "the key type must be 0x01 (Ed25519 log key) or 0x04 (Ed25519 cosignature/v1)",
                ));
            }
        };
        let key = PublicKey::from_bytes(raw).map_err(|_| bad("not a 32-byte Ed25519 key"))?;
        let parsed = Self {
            name: name.to_owned(),
            kind,
            key,
        };
        if hash != hex(&parsed.key_hash()) {
            return Err(bad("the key hash does not match the name and key"));
        }
        Ok(parsed)
    }

    /// The 4-byte key hash signature lines carry.
    pub fn key_hash(&self) -> [u8; 4] {
        key_hash_of(&self.name, self.kind.algorithm(), &self.key)
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut blob = vec![self.kind.algorithm()];
        blob.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex(&self.key_hash()),
            STANDARD.encode(blob)
        )
    }
}

/// The body of a checkpoint: origin, tree size, root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody {
    /// The log's origin line, e.g. `tulpar/KZ`.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// RFC 9162 root hash of the first `size` entries.
    pub root: Hash,
}

impl CheckpointBody {
    /// The note body text, ending in a newline.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a body. Extension lines after the root hash are allowed and ignored, as C2SP says.
    pub fn parse(body: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Malformed(why.to_owned());
        let text = body
            .strip_suffix('\n')
            .ok_or_else(|| bad("body does not end with a newline"))?;
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("empty origin line"));
        }
        let size = parse_size(
            "tree size",
            lines.next().ok_or_else(|| bad("missing tree size line"))?,
        )?;
        let root_line = lines.next().ok_or_else(|| bad("missing root hash line"))?;
        let root: Hash = STANDARD
            .decode(root_line)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| {
                NoteError::Malformed(format!("root hash {root_line:?} is not 32 bytes of base64"))
            })?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// A size line of a note body: a canonical decimal number (no sign, no leading zeros).
fn parse_size(what: &str, line: &str) -> Result<u64, NoteError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(NoteError::Malformed(format!(
            "{what} {line:?} is not a decimal number"
        )));
    }
    line.parse()
        .map_err(|_| NoteError::Malformed(format!("{what} {line:?} is too large")))
}

/// The first body line of a [`RestoreStatement`]. A checkpoint body cannot be read as one, nor one as
/// a checkpoint body: a checkpoint's second line is its size, a statement's the log's origin.
const RESTORE_HEADER: &str = "tulpar restore v1";

/// A log's signed statement that it was restored from a backup older than a checkpoint a witness
/// holds: the checkpoint restored, and the size of the witness's checkpoint whose entries past the
/// restored size the log no longer has. Signed like the log's checkpoints (by its key, under its
/// origin), with a body no checkpoint can have:
///
/// ```text
/// tulpar restore v1
/// pcu-mou.example/KZ
/// <size of the checkpoint the witness holds>
/// <restored size>
/// <base64 restored root hash>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreStatement {
    /// The checkpoint the log was restored to.
    pub restored: CheckpointBody,
    /// The size of the witness's checkpoint, larger than the restored one.
    pub lost_size: u64,
}

impl RestoreStatement {
    /// The note body text, ending in a newline.
    pub fn to_text(&self) -> String {
        format!(
            "{RESTORE_HEADER}\n{}\n{}\n{}\n{}\n",
            self.restored.origin,
            self.lost_size,
            self.restored.size,
            STANDARD.encode(self.restored.root)
        )
    }

    /// The signed note: the body, a blank line and the log's signature under its origin.
    pub fn sign(&self, key: &SigningKey) -> Result<String, NoteError> {
        if self.lost_size <= self.restored.size {
            return Err(NoteError::Malformed(format!(
                "a restore statement needs a lost size above the restored size {}, not {}",
                self.restored.size, self.lost_size
            )));
        }
        let text = self.to_text();
        let line = sign_line(&text, &self.restored.origin, key)?;
        Ok(format!("{text}\n{line}\n"))
    }

    /// Parses a signed statement and checks the signature by `origin` with `key`.
    pub fn verify(text: &str, origin: &str, key: &PublicKey) -> Result<Self, NoteError> {
        let note = Note::parse(text)?;
        let statement = Self::parse(&note.body)?;
        if statement.restored.origin != origin {
            return Err(NoteError::WrongOrigin {
                got: statement.restored.origin,
                expected: origin.to_owned(),
            });
        }
        note.verify(origin, key)?;
        Ok(statement)
    }

    fn parse(body: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Malformed(why.to_owned());
        let rest = body
            .strip_prefix(RESTORE_HEADER)
            .and_then(|rest| rest.strip_prefix('\n'))
            .ok_or_else(|| bad("not a restore statement (no \"tulpar restore v1\" line)"))?;
        let (origin, rest) = rest
            .split_once('\n')
            .ok_or_else(|| bad("missing origin line"))?;
        let (lost, rest) = rest
            .split_once('\n')
            .ok_or_else(|| bad("missing lost size line"))?;
        let lost_size = parse_size("lost size", lost)?;
        let restored = CheckpointBody::parse(&format!("{origin}\n{rest}"))?;
        if lost_size <= restored.size {
            return Err(NoteError::Malformed(format!(
                "lost size {lost_size} is not above the restored size {}",
                restored.size
            )));
        }
        Ok(Self {
            restored,
            lost_size,
        })
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's name.
    pub name: String,
    /// The 4-byte key hash.
    pub key_hash: [u8; 4],
    /// The signature bytes after the key hash.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, without the trailing newline.
    pub fn to_line(&self) -> String {
        let mut blob = self.key_hash.to_vec();
        blob.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}", self.name, STANDARD.encode(blob))
    }

    /// Parses a line (without its newline).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            NoteError::Malformed(format!(
                "signature line {line:?} does not start with \"— \""
            ))
        })?;
        let (name, blob) = rest.split_once(' ').ok_or_else(|| {
            NoteError::Malformed(format!("signature line {line:?} has no signature"))
        })?;
        check_name(name)?;
        let blob = STANDARD
            .decode(blob)
            .map_err(|_| NoteError::Malformed(format!("signature line {line:?} is not base64")))?;
        if blob.len() < 5 {
            return Err(NoteError::Malformed(format!(
                "signature line {line:?} is too short"
            )));
        }
        let mut key_hash = [0u8; 4];
        key_hash.copy_from_slice(&blob[..4]);
        Ok(Self {
            name: name.to_owned(),
            key_hash,
            signature: blob[4..].to_vec(),
        })
    }
}

/// A parsed signed note; its signatures are not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub body: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses note text: body, blank line, one or more signature lines each ending in a newline.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let split = text
            .find("\n\n")
            .ok_or_else(|| NoteError::Malformed("no blank line after the body".to_owned()))?;
        let body = &text[..=split];
        let sigs = &text[split + 2..];
        let sigs = sigs.strip_suffix('\n').ok_or_else(|| {
            NoteError::Malformed("signature block does not end with a newline".to_owned())
        })?;
        if sigs.is_empty() {
            return Err(NoteError::Malformed("no signature lines".to_owned()));
        }
        let signatures = sigs
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            body: body.to_owned(),
            signatures,
        })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut out = self.body.clone();
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
            out.push('\n');
        }
        out
    }

    /// Checks the signature by `name` with `key`; other signature lines are ignored.
    pub fn verify(&self, name: &str, key: &PublicKey) -> Result<(), NoteError> {
        let hash = key_hash(name, key);
        let mut found = false;
        for sig in self
            .signatures
            .iter()
            .filter(|s| s.name == name && s.key_hash == hash)
        {
            found = true;
            if sig.signature.len() == SIGNATURE_LEN
                && key.verify(self.body.as_bytes(), &sig.signature).is_ok()
            {
                return Ok(());
            }
        }
        if found {
            Err(NoteError::BadSignature {
                name: name.to_owned(),
            })
        } else {
            Err(NoteError::NoSignature {
                name: name.to_owned(),
                key_hash: hex(&hash),
            })
        }
    }

    /// Checks the `cosignature/v1` by cosigner `name` with `key` and returns its timestamp; other
    /// signature lines are ignored.
    pub fn verify_cosignature(&self, name: &str, key: &PublicKey) -> Result<u64, NoteError> {
        let hash = cosigner_key_hash(name, key);
        let mut found = false;
        for sig in self
            .signatures
            .iter()
            .filter(|s| s.name == name && s.key_hash == hash)
        {
            found = true;
            let Some((time, signature)) = sig.signature.split_first_chunk::<8>() else {
                continue;
            };
            let timestamp = u64::from_be_bytes(*time);
            if sig.signature.len() == COSIGNATURE_V1_LEN
                && timestamp <= i64::MAX as u64
                && key
                    .verify(
                        cosignature_message(&self.body, timestamp).as_bytes(),
                        signature,
                    )
                    .is_ok()
            {
                return Ok(timestamp);
            }
        }
        if found {
            Err(NoteError::BadSignature {
                name: name.to_owned(),
            })
        } else {
            Err(NoteError::NoSignature {
                name: name.to_owned(),
                key_hash: hex(&hash),
            })
        }
    }
}

/// Signs a note body under `name` with the signed-note Ed25519 algorithm, returning the signature
/// line (no trailing newline): a log's signature on its own checkpoint.
pub fn sign_line(body: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_name(name)?;
    Ok(NoteSignature {
        name: name.to_owned(),
        key_hash: key_hash(name, &key.public_key()),
        signature: key.sign(body.as_bytes()).to_vec(),
    }
    .to_line())
}

/// The message a `cosignature/v1` made at `timestamp` signs over a note body.
fn cosignature_message(body: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_V1_HEADER}time {timestamp}\n{body}")
}

/// Produces a `cosignature/v1` line by cosigner `name`, made at `timestamp` (POSIX seconds), over a
/// note whose body the cosigner has already checked.
pub fn cosign(
    note_text: &str,
    name: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<String, NoteError> {
    check_name(name)?;
    if timestamp > i64::MAX as u64 {
        return Err(NoteError::Malformed(format!(
            "cosignature timestamp {timestamp} exceeds 2^63 - 1"
        )));
    }
    let note = Note::parse(note_text)?;
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(&key.sign(cosignature_message(&note.body, timestamp).as_bytes()));
    Ok(NoteSignature {
        name: name.to_owned(),
        key_hash: cosigner_key_hash(name, &key.public_key()),
        signature,
    }
    .to_line())
}

/// Appends a signature line (e.g. a partner's cosignature) to a note, keeping the existing ones.
pub fn add_signature(note_text: &str, line: &str) -> Result<String, NoteError> {
    let mut note = Note::parse(note_text)?;
    let sig = NoteSignature::parse_line(line)?;
    if !note.signatures.contains(&sig) {
        note.signatures.push(sig);
    }
    Ok(note.to_text())
}

/// Checks a `cosignature/v1` by cosigner `name` with `key` on a note, and returns its timestamp
/// (POSIX seconds). Other signature lines are ignored.
pub fn verify_cosignature(note_text: &str, name: &str, key: &PublicKey) -> Result<u64, NoteError> {
    Note::parse(note_text)?.verify_cosignature(name, key)
}

/// A checkpoint whose signature by its origin has been checked (or which this ledger signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    note: String,
    body: CheckpointBody,
}

impl SignedCheckpoint {
    /// Signs a checkpoint body with the origin's key.
    pub fn sign(body: CheckpointBody, key: &SigningKey) -> Result<Self, NoteError> {
        check_name(&body.origin)?;
        let text = body.to_text();
        let line = sign_line(&text, &body.origin, key)?;
        Ok(Self {
            note: format!("{text}\n{line}\n"),
            body,
        })
    }

    /// Parses a checkpoint note and checks the signature by its origin with `key`. When `origin` is
    /// given, the note's origin must equal it.
    pub fn verify(text: &str, origin: Option<&str>, key: &PublicKey) -> Result<Self, NoteError> {
        let note = Note::parse(text)?;
        let body = CheckpointBody::parse(&note.body)?;
        if let Some(expected) = origin
            && expected != body.origin
        {
            return Err(NoteError::WrongOrigin {
                got: body.origin,
                expected: expected.to_owned(),
            });
        }
        note.verify(&body.origin, key)?;
        Ok(Self {
            note: text.to_owned(),
            body,
        })
    }

    /// The full signed note text.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// The origin line.
    pub fn origin(&self) -> &str {
        &self.body.origin
    }

    /// Tree size.
    pub fn size(&self) -> u64 {
        self.body.size
    }

    /// Root hash.
    pub fn root(&self) -> &Hash {
        &self.body.root
    }

    /// The note with an extra signature line (e.g. a cosignature) appended.
    pub fn with_signature(&self, line: &str) -> Result<Self, NoteError> {
        Ok(Self {
            note: add_signature(&self.note, line)?,
            body: self.body.clone(),
        })
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> tulpar_proto::v1::Checkpoint {
        tulpar_proto::v1::Checkpoint {
            note: self.note.clone(),
            origin: self.body.origin.clone(),
            size: self.body.size,
            root_hash: self.body.root.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_statement_verifies_under_its_origin_and_is_no_checkpoint() {
        let key = SigningKey::generate().unwrap();
        let statement = RestoreStatement {
            restored: body(),
            lost_size: 50,
        };
        let text = statement.sign(&key).unwrap();
        assert!(
            text.starts_with("tulpar restore v1\ntulpar/KZ\n50\n42\n"),
            "{text}"
        );
        assert_eq!(
            RestoreStatement::verify(&text, "tulpar/KZ", &key.public_key()).unwrap(),
            statement
        );
        // Its signature proves nothing as a checkpoint, nor a checkpoint's as a statement.
        assert!(SignedCheckpoint::verify(&text, None, &key.public_key()).is_err());
        let checkpoint = SignedCheckpoint::sign(body(), &key).unwrap();
        assert!(
            RestoreStatement::verify(checkpoint.note(), "tulpar/KZ", &key.public_key()).is_err()
        );
        // Another origin, another key, or a lost size not above the restored one: refused.
        assert!(matches!(
            RestoreStatement::verify(&text, "tulpar/UZ", &key.public_key()),
            Err(NoteError::WrongOrigin { .. })
        ));
        let other = SigningKey::generate().unwrap();
        assert!(RestoreStatement::verify(&text, "tulpar/KZ", &other.public_key()).is_err());
        let behind = RestoreStatement {
            restored: body(),
            lost_size: 42,
        };
        assert!(behind.sign(&key).is_err());
        let forged = format!(
            "{}\n{}\n",
            behind.to_text(),
            sign_line(&behind.to_text(), "tulpar/KZ", &key).unwrap()
        );
        assert!(RestoreStatement::verify(&forged, "tulpar/KZ", &key.public_key()).is_err());
    }

    fn body() -> CheckpointBody {
        CheckpointBody {
            origin: "tulpar/KZ".to_owned(),
            size: 42,
            root: [9u8; 32],
        }
    }

    #[test]
    fn signs_and_verifies_in_c2sp_shape() {
        let key = SigningKey::generate().unwrap();
        let cp = SignedCheckpoint::sign(body(), &key).unwrap();
        let lines: Vec<&str> = cp.note().split('\n').collect();
        assert_eq!(lines[0], "tulpar/KZ");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} tulpar/KZ "));
        let blob = STANDARD
            .decode(lines[4].rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 4 + 64);
        assert_eq!(blob[..4], key_hash("tulpar/KZ", &key.public_key()));
        let again =
            SignedCheckpoint::verify(cp.note(), Some("tulpar/KZ"), &key.public_key()).unwrap();
        assert_eq!(again, cp);
    }

    #[test]
    fn tampered_body_or_signature_is_refused() {
        let key = SigningKey::generate().unwrap();
        let cp = SignedCheckpoint::sign(body(), &key).unwrap();
        let tampered = cp.note().replace("\n42\n", "\n43\n");
        let err = SignedCheckpoint::verify(&tampered, None, &key.public_key()).unwrap_err();
        assert!(matches!(err, NoteError::BadSignature { .. }), "{err}");
        let other = SigningKey::generate().unwrap();
        let err = SignedCheckpoint::verify(cp.note(), None, &other.public_key()).unwrap_err();
        assert!(matches!(err, NoteError::NoSignature { .. }), "{err}");
        let err =
            SignedCheckpoint::verify(cp.note(), Some("tulpar/UZ"), &key.public_key()).unwrap_err();
        assert!(matches!(err, NoteError::WrongOrigin { .. }), "{err}");
    }

    #[test]
    fn cosignatures_are_added_and_checked_independently() {
        let key = SigningKey::generate().unwrap();
        let witness = SigningKey::generate().unwrap();
        let cp = SignedCheckpoint::sign(body(), &key).unwrap();
        let line = cosign(cp.note(), "tulpar/UZ/witness", &witness, 1_700_000_000).unwrap();
        let cosigned = cp.with_signature(&line).unwrap();
        assert_eq!(Note::parse(cosigned.note()).unwrap().signatures.len(), 2);
        let time = verify_cosignature(cosigned.note(), "tulpar/UZ/witness", &witness.public_key())
            .unwrap();
        assert_eq!(time, 1_700_000_000);
        SignedCheckpoint::verify(cosigned.note(), None, &key.public_key()).unwrap();
        assert!(verify_cosignature(cp.note(), "tulpar/UZ/witness", &witness.public_key()).is_err());
        // A log signature is not a cosignature, even by the same key and name.
        let logged = sign_line(&body().to_text(), "tulpar/UZ/witness", &witness).unwrap();
        let err = verify_cosignature(
            &add_signature(cp.note(), &logged).unwrap(),
            "tulpar/UZ/witness",
            &witness.public_key(),
        )
        .unwrap_err();
        assert!(matches!(err, NoteError::NoSignature { .. }), "{err}");
    }

    #[test]
    fn a_cosignature_is_c2sp_cosignature_v1() {
        let witness = SigningKey::generate().unwrap();
        let cp = SignedCheckpoint::sign(body(), &SigningKey::generate().unwrap()).unwrap();
        let line = cosign(cp.note(), "w.example/w1", &witness, 1_679_315_147).unwrap();
        let (name, blob) = line
            .strip_prefix("\u{2014} ")
            .unwrap()
            .split_once(' ')
            .unwrap();
        assert_eq!(name, "w.example/w1");
        let blob = STANDARD.decode(blob).unwrap();
        assert_eq!(blob.len(), 4 + 8 + 64);
        // Key id: SHA-256(name || "\n" || 0x04 || key)[:4], computed here from the spec.
        let mut preimage = b"w.example/w1\n\x04".to_vec();
        preimage.extend_from_slice(witness.public_key().as_bytes());
        assert_eq!(
            blob[..4],
            digest::digest(&digest::SHA256, &preimage).as_ref()[..4]
        );
        assert_eq!(blob[4..12], 1_679_315_147u64.to_be_bytes());
        let message = "cosignature/v1\ntime 1679315147\ntulpar/KZ\n42\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n";
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            witness.public_key().as_bytes(),
        )
        .verify(message.as_bytes(), &blob[12..])
        .unwrap();
        // A changed timestamp no longer verifies.
        let mut forged = blob.clone();
        forged[11] ^= 1;
        let forged_line = format!("\u{2014} {name} {}", STANDARD.encode(forged));
        let err = verify_cosignature(
            &add_signature(cp.note(), &forged_line).unwrap(),
            "w.example/w1",
            &witness.public_key(),
        )
        .unwrap_err();
        assert!(matches!(err, NoteError::BadSignature { .. }), "{err}");
    }

    #[test]
    fn verifier_keys_read_and_write_the_c2sp_form() {
        // The Go checksum database's published key.
        let sumdb = VerifierKey::parse(
            "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
        )
        .unwrap();
        assert_eq!(sumdb.name, "sum.golang.org");
        assert_eq!(sumdb.kind, VerifierKind::Log);
        assert_eq!(
            sumdb.to_string(),
            "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
        );
        let witness = SigningKey::generate().unwrap();
        let vkey = VerifierKey {
            name: "w.example/w1".into(),
            kind: VerifierKind::Cosigner,
            key: witness.public_key(),
        };
        let text = vkey.to_string();
        assert_eq!(VerifierKey::parse(&text).unwrap(), vkey);
        assert_eq!(
            vkey.key_hash(),
            cosigner_key_hash("w.example/w1", &witness.public_key())
        );
        for bad in [
            "",
            "name+0000",
            "sum.golang.org+033de0af+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
            "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn",
            "a b+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
        ] {
            let err = VerifierKey::parse(bad).unwrap_err();
            assert!(
                matches!(err, NoteError::BadVerifierKey { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn malformed_notes_are_refused_with_a_reason() {
        for text in [
            "",
            "tulpar/KZ\n1\nAAAA\n",
            "tulpar/KZ\n01\nAAAA\n\n\u{2014} a AAAAAAAA\n",
            "tulpar/KZ\n1\n\n\u{2014} a AAAAAAAA\n",
            "tulpar/KZ\n1\nAAAA\n\n- a AAAAAAAA\n",
        ] {
            let key = SigningKey::generate().unwrap();
            assert!(
                SignedCheckpoint::verify(text, None, &key.public_key()).is_err(),
                "{text:?}"
            );
        }
    }
}
