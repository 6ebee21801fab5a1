//! The `[witness]` section: how the file spells it, its defaults and its rules.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tulpar_ledger::note::{VerifierKey, VerifierKind};

use crate::validate::Validator;
use crate::{ConfigError, ExternalWitness, WitnessConfig, WitnessedLog};

/// Most external witnesses a node asks, and most outside logs it witnesses: each holds a little state
/// and, for witnesses, one connection per round.
pub const MAX_EXTERNAL_WITNESSES: usize = 32;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawWitness {
    #[serde(deserialize_with = "crate::duration::read")]
    interval: Duration,
    quorum: Option<usize>,
    #[serde(deserialize_with = "crate::duration::read")]
    timeout: Duration,
    ca_certificates: PathBuf,
    witnesses: Vec<RawExternalWitness>,
    logs: Vec<RawWitnessedLog>,
}

impl Default for RawWitness {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            quorum: None,
            timeout: Duration::from_secs(15),
            ca_certificates: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            witnesses: Vec::new(),
            logs: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExternalWitness {
    url: String,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWitnessedLog {
    key: String,
}

impl Validator<'_> {
    pub(crate) fn witness(&self, raw: RawWitness) -> Result<WitnessConfig, ConfigError> {
        self.positive("witness.interval", raw.interval)?;
        self.positive("witness.timeout", raw.timeout)?;
        for (field, count) in [
            ("witness.witnesses", raw.witnesses.len()),
            ("witness.logs", raw.logs.len()),
        ] {
            if count > MAX_EXTERNAL_WITNESSES {
                return Err(self.invalid(
                    field,
                    format!("has at most {MAX_EXTERNAL_WITNESSES} entries"),
                ));
            }
        }
        let mut witnesses: Vec<ExternalWitness> = Vec::new();
        for (i, witness) in raw.witnesses.into_iter().enumerate() {
            let field = format!("witness.witnesses[{i}]");
            let key = self.verifier_key(
                &format!("{field}.key"),
                &witness.key,
                VerifierKind::Cosigner,
            )?;
            if let Some(j) = witnesses.iter().position(|w| w.key.name == key.name) {
                return Err(self.invalid(
                    &format!("{field}.key"),
                    format!(
                        "{:?} is already the name of witness.witnesses[{j}]",
                        key.name
                    ),
                ));
            }
            let url = self.url(&format!("{field}.url"), &witness.url, true)?;
            witnesses.push(ExternalWitness { url, key });
        }
        let mut logs: Vec<WitnessedLog> = Vec::new();
        for (i, log) in raw.logs.into_iter().enumerate() {
            let field = format!("witness.logs[{i}].key");
            let key = self.verifier_key(&field, &log.key, VerifierKind::Log)?;
            if let Some(j) = logs.iter().position(|l| l.key.name == key.name) {
                return Err(self.invalid(
                    &field,
                    format!("{:?} is already the origin of witness.logs[{j}]", key.name),
                ));
            }
            logs.push(WitnessedLog { key });
        }
        let mut ca_certificates = raw.ca_certificates;
        self.resolve(&mut ca_certificates);
        Ok(WitnessConfig {
            interval: raw.interval,
            quorum: raw.quorum,
            timeout: raw.timeout,
            ca_certificates,
            witnesses,
            logs,
        })
    }

    fn verifier_key(
        &self,
        field: &str,
        text: &str,
        kind: VerifierKind,
    ) -> Result<VerifierKey, ConfigError> {
        let key = VerifierKey::parse(text).map_err(|e| self.invalid(field, e.to_string()))?;
        if key.kind != kind {
            let wanted = match kind {
                VerifierKind::Log => "a log's key (type 0x01, signed-note Ed25519)",
                VerifierKind::Cosigner => "a witness's key (type 0x04, Ed25519 cosignature/v1)",
            };
            return Err(self.invalid(field, format!("must be {wanted}")));
        }
        Ok(key)
    }
}
