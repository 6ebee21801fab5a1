//! Checkpoints as C2SP signed notes (`tlog-checkpoint`, `signed-note`).
//!
//! ```text
//! tulpar/KZ
//! 4711
//! <base64 root hash>
//!
//! — tulpar/KZ <base64(key hash || Ed25519 signature)>
//! ```
//!
//! The signature covers the body: every byte before the blank line, including the final newline. The
//! key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || raw public key), 0x01 being the
//! signed-note Ed25519 algorithm. Witnesses add their own lines in the same form (cosignatures), so a
//! note may carry several signatures; only the ones a verifier knows are checked.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::digest;
use tulpar_core::keys::{PublicKey, SIGNATURE_LEN, SigningKey};

use crate::merkle::Hash;

/// Signed-note algorithm byte for Ed25519.
const ALG_ED25519: u8 = 0x01;
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
    /// The checkpoint's origin is not the expected one.
    #[error("checkpoint origin is {got:?}, expected {expected:?}")]
    WrongOrigin {
        /// Origin found in the note.
        got: String,
        /// Origin expected.
        expected: String,
    },
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
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(&[0x0a, ALG_ED25519]);
    ctx.update(key.as_bytes());
    let d = ctx.finish();
    let mut out = [0u8; 4];
    out.copy_from_slice(&d.as_ref()[..4]);
    out
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
        let size_line = lines.next().ok_or_else(|| bad("missing tree size line"))?;
        let size_is_canonical = !size_line.is_empty()
            && size_line.bytes().all(|b| b.is_ascii_digit())
            && (size_line == "0" || !size_line.starts_with('0'));
        if !size_is_canonical {
            return Err(NoteError::Malformed(format!(
                "tree size {size_line:?} is not a decimal number"
            )));
        }
        let size = size_line
            .parse()
            .map_err(|_| NoteError::Malformed(format!("tree size {size_line:?} is too large")))?;
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
                key_hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
            })
        }
    }
}

/// Signs a note body under `name`, returning the signature line (no trailing newline).
///
/// Used both for the ledger's own checkpoints and for cosigning a partner's checkpoint; the
/// cosignature is an ordinary Ed25519 signed-note signature under the witness's name.
pub fn sign_line(body: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    check_name(name)?;
    Ok(NoteSignature {
        name: name.to_owned(),
        key_hash: key_hash(name, &key.public_key()),
        signature: key.sign(body.as_bytes()).to_vec(),
    }
    .to_line())
}

/// Produces a cosignature line by witness `name` over a note whose body it has already checked.
pub fn cosign(note_text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    let note = Note::parse(note_text)?;
    sign_line(&note.body, name, key)
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

/// Checks a cosignature by witness `name` on a note.
pub fn verify_cosignature(note_text: &str, name: &str, key: &PublicKey) -> Result<(), NoteError> {
    Note::parse(note_text)?.verify(name, key)
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
        let line = cosign(cp.note(), "tulpar/UZ", &witness).unwrap();
        let cosigned = cp.with_signature(&line).unwrap();
        assert_eq!(Note::parse(cosigned.note()).unwrap().signatures.len(), 2);
        verify_cosignature(cosigned.note(), "tulpar/UZ", &witness.public_key()).unwrap();
        SignedCheckpoint::verify(cosigned.note(), None, &key.public_key()).unwrap();
        assert!(verify_cosignature(cp.note(), "tulpar/UZ", &witness.public_key()).is_err());
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
