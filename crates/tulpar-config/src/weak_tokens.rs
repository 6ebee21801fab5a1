//! Bearer tokens a node refuses to start with: the SHA-256 of a secret anyone could guess.
//!
//! Only hashes are configured, so the check hashes every guessable secret and compares: a list of
//! common passwords and words of this domain (in lower case, capitalised and upper case, with the
//! token's own name), every string of at most three characters from [`SHORT_ALPHABET`], and every
//! four-digit PIN: about 390,000 hashes, 0.1 to 0.2 s at start, and only when tokens are configured.
//! (Every string of four letters and digits would be 15 million hashes, several seconds at the
//! 0.3 µs a SHA-256 costs here; four-character words people pick are in [`COMMON`].) `tulpar token
//! new` makes 43-character random tokens, which none of this comes near.

use std::collections::HashMap;

use ring::digest::{SHA256, digest};

/// Secrets people and examples use.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "password1",
    "password123",
    "changeme",
    "change-me",
    "changeit",
    "secret",
    "s3cret",
    "secret123",
    "admin",
    "administrator",
    "root",
    "guest",
    "default",
    "example",
    "demo",
    "test",
    "testing",
    "token",
    "bearer",
    "tulpar",
    "customs",
    "asycuda",
    "integrator",
    "officer",
    "focal-point",
    "welcome",
    "letmein",
    "qwerty",
    "qwerty123",
    "iloveyou",
    "abc123",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "111111",
    "000000",
    "654321",
];

/// Letters, digits and the characters people put in short passwords.
const SHORT_ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%&*-_.";

/// For each hash in `hashes` (of tokens named `names`), the guessable secret it is the SHA-256 of.
pub(super) fn guessable(hashes: &[([u8; 32], &str)]) -> HashMap<[u8; 32], String> {
    let mut found = HashMap::new();
    if hashes.is_empty() {
        return found;
    }
    // A handful of configured tokens: a plain comparison with each beats any lookup structure.
    let mut try_secret = |secret: &[u8]| {
        let hash = digest(&SHA256, secret);
        for (wanted, _) in hashes {
            if hash.as_ref() == wanted.as_slice() {
                found
                    .entry(*wanted)
                    .or_insert_with(|| String::from_utf8_lossy(secret).into_owned());
            }
        }
    };
    let names = hashes.iter().map(|(_, name)| *name);
    for word in COMMON.iter().copied().chain(names) {
        for variant in [word.to_owned(), capitalised(word), word.to_uppercase()] {
            try_secret(variant.as_bytes());
        }
    }
    // Every short secret, by length; written out so that the loop costs little beside the hashing.
    try_secret(b"");
    for &a in SHORT_ALPHABET {
        try_secret(&[a]);
        for &b in SHORT_ALPHABET {
            try_secret(&[a, b]);
            for &c in SHORT_ALPHABET {
                try_secret(&[a, b, c]);
            }
        }
    }
    for pin in 0..10_000 {
        try_secret(format!("{pin:04}").as_bytes());
    }
    found
}

/// Whether `secret` is one of the common secrets people and examples use, in any case.
pub fn is_common(secret: &str) -> bool {
    COMMON.iter().any(|word| word.eq_ignore_ascii_case(secret))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(secret: &str) -> [u8; 32] {
        digest(&SHA256, secret.as_bytes())
            .as_ref()
            .try_into()
            .unwrap()
    }

    #[test]
    fn common_short_and_own_name_secrets_are_found_and_random_ones_are_not() {
        let random = "Zq0Qp3rY9mWc1vT7sLk2xN8bHf5dJg4aEu6iOy0_-Ab";
        let hashes = [
            (hash("password"), "asycuda"),
            (hash("Changeme"), "a"),
            (hash("aZ!"), "b"),
            (hash("0042"), "c"),
            (hash(""), "d"),
            (hash("KZ-SYSTEM"), "kz-system"),
            (hash(random), "e"),
        ];
        let started = std::time::Instant::now();
        let found = guessable(&hashes);
        eprintln!("{} secrets tried in {:?}", tried(), started.elapsed());
        assert_eq!(found[&hash("password")], "password");
        assert_eq!(found[&hash("Changeme")], "Changeme");
        assert_eq!(found[&hash("aZ!")], "aZ!");
        assert_eq!(found[&hash("0042")], "0042");
        assert_eq!(found[&hash("")], "");
        assert_eq!(found[&hash("KZ-SYSTEM")], "KZ-SYSTEM");
        assert!(!found.contains_key(&hash(random)));
    }

    fn tried() -> usize {
        (0..=3)
            .map(|len| SHORT_ALPHABET.len().pow(len))
            .sum::<usize>()
            + 10_000
            + 3 * COMMON.len()
    }
}
