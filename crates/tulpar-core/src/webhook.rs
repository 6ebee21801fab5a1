//! Webhook signatures as the Standard Webhooks specification (v1) defines them: HMAC-SHA256 over
//! `"{webhook-id}.{webhook-timestamp}.{body}"` with a secret written `whsec_<base64>`, sent as
//! `webhook-signature: v1,<base64>`.
//!
//! The node signs with [`WebhookSecret::sign`]; receivers (and the tests that play one) check with
//! [`WebhookSecret::verify`]. Any Standard Webhooks library verifies the same bytes.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::proto::AlertEventKind;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Fewest bytes a secret may have (192 bits, as the specification asks).
pub const MIN_SECRET_BYTES: usize = 24;
/// Most bytes a secret may have.
pub const MAX_SECRET_BYTES: usize = 64;
/// Bytes of the secrets [`WebhookSecret::generate`] makes.
const GENERATED_SECRET_BYTES: usize = 32;
/// How far a receiver lets a signature's timestamp stray from its clock by default, as the
/// specification's reference libraries do.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 5 * 60;

/// The `type` of each event a subscription may ask for, as it appears in deliveries and in the
/// configuration's `events`. Equivocation alarms are for focal points and never go to a subscription,
/// which acts for units.
pub const EVENT_TYPES: [(AlertEventKind, &str); 8] = [
    (AlertEventKind::AlertSent, "alert.sent"),
    (AlertEventKind::AlertReceived, "alert.received"),
    (AlertEventKind::Delivered, "alert.delivered"),
    (AlertEventKind::Acknowledged, "alert.acknowledged"),
    (AlertEventKind::Declined, "alert.declined"),
    (AlertEventKind::OutcomeRecorded, "alert.outcome_recorded"),
    (AlertEventKind::Overdue, "alert.overdue"),
    (AlertEventKind::Undeliverable, "alert.undeliverable"),
];

/// The `type` of the message `tulpar webhooks test` sends.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// The delivery `type` of an event kind (`None` for kinds never delivered).
pub fn event_type(kind: AlertEventKind) -> Option<&'static str> {
    EVENT_TYPES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, name)| *name)
}

/// The event kind a delivery `type` names.
pub fn event_kind(name: &str) -> Option<AlertEventKind> {
    EVENT_TYPES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(kind, _)| *kind)
}

/// A subscription's shared secret.
#[derive(Clone)]
pub struct WebhookSecret {
    key: hmac::Key,
    text: String,
}

/// Why a secret's text is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The text does not start with `whsec_`.
    #[error("is not a webhook secret: it starts with \"whsec_\"")]
    Prefix,
    /// The rest is not base64.
    #[error("is not a webhook secret: after \"whsec_\" comes standard base64")]
    Base64,
    /// The key is too short or too long.
    #[error("holds {0} bytes; a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}")]
    Length(usize),
}

/// Why a delivery's signature is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The timestamp is not a whole number of seconds.
    #[error("webhook-timestamp is not a Unix time in seconds")]
    Timestamp,
    /// The timestamp is too far from the receiver's clock (a replay, or a wrong clock).
    #[error("webhook-timestamp is {0} s away from this clock, more than the tolerance")]
    Stale(u64),
    /// No `v1,` signature in the header matches.
    #[error("no v1 signature in webhook-signature matches the body")]
    Mismatch,
}

impl WebhookSecret {
    /// Reads a secret from its text form, `whsec_<base64 of 24 to 64 bytes>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            text: text.to_owned(),
        })
    }

    /// A new random secret.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; GENERATED_SECRET_BYTES];
        SystemRandom::new().fill(&mut bytes)?;
        let text = format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes));
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            text,
        })
    }

    /// The text form, `whsec_…`, to give to the receiver.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let tag = hmac::sign(&self.key, &signed_content(id, timestamp, body));
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    /// Checks a message's `webhook-signature` (a space-separated list, any `v1,` entry may match)
    /// and that its timestamp is within `tolerance_seconds` of `now` (Unix seconds).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: u64,
        tolerance_seconds: u64,
    ) -> Result<(), VerifyError> {
        let timestamp: u64 = timestamp.parse().map_err(|_| VerifyError::Timestamp)?;
        let skew = now.abs_diff(timestamp);
        if skew > tolerance_seconds {
            return Err(VerifyError::Stale(skew));
        }
        let content = signed_content(id, timestamp, body);
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .any(|tag| hmac::verify(&self.key, &content, &tag).is_ok());
        matches.then_some(()).ok_or(VerifyError::Mismatch)
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

fn signed_content(id: &str, timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + 22 + body.len());
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.to_string().as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's reference libraries' known answer.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: u64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signs_the_known_answer() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn verifies_any_v1_entry_and_refuses_changes() {
        let secret = WebhookSecret::parse(SECRET).unwrap();
        let header = format!("v1a,ignored v1,AAAA {SIGNATURE}");
        let ts = TIMESTAMP.to_string();
        assert_eq!(
            secret.verify(ID, &ts, &header, BODY, TIMESTAMP + 10, 300),
            Ok(())
        );
        assert_eq!(
            secret.verify(ID, &ts, SIGNATURE, b"{}", TIMESTAMP, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            secret.verify("msg_other", &ts, SIGNATURE, BODY, TIMESTAMP, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            secret.verify(ID, &ts, SIGNATURE, BODY, TIMESTAMP + 301, 300),
            Err(VerifyError::Stale(301))
        );
        assert_eq!(
            secret.verify(ID, "soon", SIGNATURE, BODY, TIMESTAMP, 300),
            Err(VerifyError::Timestamp)
        );
    }

    #[test]
    fn refuses_malformed_secrets() {
        assert_eq!(
            WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::Base64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_AAAA").unwrap_err(),
            SecretError::Length(3)
        );
    }

    #[test]
    fn event_types_read_back() {
        for (kind, name) in EVENT_TYPES {
            assert_eq!(event_kind(name), Some(kind));
            assert_eq!(event_type(kind), Some(name));
        }
        assert_eq!(event_type(AlertEventKind::Equivocation), None);
        assert_eq!(event_kind("alert.equivocation"), None);
    }

    #[test]
    fn generated_secrets_read_back() {
        let secret = WebhookSecret::generate().unwrap();
        let again = WebhookSecret::parse(secret.expose()).unwrap();
        assert_eq!(again.sign("a", 1, b"b"), secret.sign("a", 1, b"b"));
        assert_eq!(format!("{secret:?}"), "WebhookSecret(whsec_…)");
    }
}
