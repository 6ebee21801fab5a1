//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): SHA-1, 6 digits, 30-second steps,
//! the settings every authenticator app accepts.
//!
//! A code is accepted for the step before, the current one or the one after (a clock a little off, a
//! code typed as it turned), and only for a step later than the last one accepted, so a code seen over
//! someone's shoulder cannot be used again.

use data_encoding::{BASE32_NOPAD, BASE32_NOPAD_NOCASE};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Seconds per step.
const STEP_SECONDS: u64 = 30;
/// Digits of a code.
const DIGITS: u32 = 6;
/// Bytes of a secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;

/// A TOTP secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A new random secret.
    pub(crate) fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Reads the base32 form (any case, no padding).
    pub(crate) fn from_base32(text: &str) -> Option<Self> {
        BASE32_NOPAD_NOCASE.decode(text.as_bytes()).ok().map(Self)
    }

    /// The base32 form, as typed into an app by hand.
    pub(crate) fn base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://` URI of the Key URI Format authenticator apps read from a QR code.
    pub(crate) fn uri(&self, issuer: &str, account: &str) -> String {
        let issuer = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
        let account = utf8_percent_encode(account, NON_ALPHANUMERIC).to_string();
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32()
        )
    }

    /// The code for step `step`.
    pub(super) fn code(&self, step: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let tag = tag.as_ref();
        let offset = usize::from(tag[tag.len() - 1] & 0x0f);
        let truncated = u32::from_be_bytes([
            tag[offset],
            tag[offset + 1],
            tag[offset + 2],
            tag[offset + 3],
        ]) & 0x7fff_ffff;
        truncated % 10u32.pow(DIGITS)
    }

    /// The step `code` (six digits, spaces allowed) was made for at Unix time `now`, if it is valid and
    /// later than `last_step`.
    pub(crate) fn verify(&self, code: &str, now: u64, last_step: Option<u64>) -> Option<u64> {
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let given: u32 = digits.parse().ok()?;
        let current = now / STEP_SECONDS;
        (current.saturating_sub(1)..=current + 1)
            .filter(|step| last_step.is_none_or(|last| *step > last))
            // Every candidate is computed and compared, so the time taken says nothing of which matched.
            .fold(None, |found, step| {
                found.or((self.code(step) == given).then_some(step))
            })
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA-1 key), truncated to six digits as RFC 4226 does.
    #[test]
    fn the_rfc_vectors() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, eight_digits) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(secret.code(time / STEP_SECONDS), eight_digits % 1_000_000);
        }
    }

    #[test]
    fn a_code_is_accepted_once_within_a_step_either_side() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_800_000_000;
        let step = now / STEP_SECONDS;
        let code = format!("{:06}", secret.code(step));
        assert_eq!(secret.verify(&code, now, None), Some(step));
        assert_eq!(secret.verify(&code, now, Some(step)), None, "replayed");
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(secret.verify(&spaced, now + 30, Some(step - 1)), Some(step));
        assert_eq!(secret.verify(&code, now + 90, None), None, "too old");
        assert_eq!(secret.verify("12345", now, None), None);
        assert_eq!(secret.verify("abcdef", now, None), None);
    }

    #[test]
    fn the_uri_and_base32_read_back() {
        let secret = TotpSecret::generate().unwrap();
        assert_eq!(
            TotpSecret::from_base32(&secret.base32().to_lowercase()),
            Some(secret.clone())
        );
        let uri = secret.uri("Tulpar KZ", "a.seitova");
        assert!(
            uri.starts_with("otpauth://totp/Tulpar%20KZ:a%2Eseitova?secret="),
            "{uri}"
        );
        assert!(
            uri.ends_with("&issuer=Tulpar%20KZ&algorithm=SHA1&digits=6&period=30"),
            "{uri}"
        );
    }
}
