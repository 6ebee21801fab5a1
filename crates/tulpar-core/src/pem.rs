//! Minimal PEM (RFC 7468) encoding for the key formats Tulpar writes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

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

/// Decodes the first PEM block with `label` in `text`.
pub fn decode(label: &str, text: &str) -> Result<Vec<u8>, PemError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| PemError::MissingBlock(label.to_owned()))?;
    let rest = &text[start + begin.len()..];
    let stop = rest
        .find(&end)
        .ok_or_else(|| PemError::Unterminated(label.to_owned()))?;
    let body: String = rest[..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| PemError::Base64(label.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_long_body() {
        let der: Vec<u8> = (0..=255).collect();
        let text = encode("TEST", &der);
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
        assert_eq!(decode("TEST", &text).unwrap(), der);
    }

    #[test]
    fn errors_name_the_label() {
        assert_eq!(
            decode("PUBLIC KEY", "nothing").unwrap_err().to_string(),
            "no \"-----BEGIN PUBLIC KEY-----\" block found"
        );
    }
}
