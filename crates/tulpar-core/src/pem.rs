//! PEM (RFC 7468) for the key formats Tulpar writes: encoding here, reading with `rustls-pki-types`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::pem::{self, PemObject};

/// A PEM text that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// No block with the expected label.
    #[error("no \"-----BEGIN {0}-----\" block found")]
    MissingBlock(String),
    /// The block has no end line.
    #[error("the \"{0}\" block has no END line")]
    Unterminated(String),
    /// The base64 body is malformed.
    #[error("the \"{0}\" block is not valid base64")]
    Base64(String),
    /// The text is not PEM in another way.
    #[error("the \"{label}\" block cannot be read: {reason}")]
    Malformed {
        /// The label looked for.
        label: String,
        /// What the reader found.
        reason: String,
    },
}

/// Encodes `der` as a PEM block with `label`, lines of 64 characters.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Decodes the first PEM block of `T`, whose label is `label` (e.g. `PUBLIC KEY` for
/// `SubjectPublicKeyInfoDer`), in `text`.
pub fn decode<T: PemObject>(label: &str, text: &str) -> Result<T, PemError> {
    T::from_pem_slice(text.as_bytes()).map_err(|error| match error {
        pem::Error::NoItemsFound => PemError::MissingBlock(label.to_owned()),
        pem::Error::MissingSectionEnd { .. } => PemError::Unterminated(label.to_owned()),
        pem::Error::Base64Decode(_) => PemError::Base64(label.to_owned()),
        other => PemError::Malformed {
            label: label.to_owned(),
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::SubjectPublicKeyInfoDer;

    use super::*;

    #[test]
    fn round_trip_with_long_body() {
        let der: Vec<u8> = (0..=255).collect();
        let text = encode("PUBLIC KEY", &der);
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
        let read: SubjectPublicKeyInfoDer<'_> = decode("PUBLIC KEY", &text).unwrap();
        assert_eq!(read.as_ref(), der.as_slice());
    }

    #[test]
    fn errors_name_the_label() {
        let read = |text| decode::<SubjectPublicKeyInfoDer<'_>>("PUBLIC KEY", text);
        assert_eq!(
            read("nothing").unwrap_err().to_string(),
            "no \"-----BEGIN PUBLIC KEY-----\" block found"
        );
        let unterminated = "-----BEGIN PUBLIC KEY-----\nAAAA\n";
        assert_eq!(
            read(unterminated).unwrap_err(),
            PemError::Unterminated("PUBLIC KEY".into())
        );
    }
}
