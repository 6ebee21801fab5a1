//! The signing keys of this country's units, read once at start from `keys.units_dir`, and the signer
//! that uses them.
//!
//! One file per unit, named `<UNIT-ID>.key` (PKCS#8 PEM, mode 0600), as `tulpar init` writes them.
//!
//! Signing goes through one bounded queue to one signer thread, so that the CPU work stays off the
//! async workers and a burst of submissions waits for room rather than piling up in memory. What
//! queues up while earlier requests are signed is signed together,
//! one signature per unit and audience ([`envelope::sign_all`]), so under load a unit's alerts cost one
//! signature between them here and one check between them at the partner. A request alone is signed
//! as soon as it arrives. Only objects for the same audience share a signature, so a partner never
//! sees even the hash of something addressed only to others.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, oneshot};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::envelope::{self, PayloadType};
use tulpar_core::keys::SigningKey;
use tulpar_core::proto;
use tulpar_trust::keyfile;

/// The most requests signed together: bounds the inclusion proof each envelope carries (6 hashes).
const MAX_BATCH: usize = 64;

/// Requests the signer's queue holds; past it, callers wait for room.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// Why an object was not signed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    /// The node has no key for the unit.
    #[error("this node holds no signing key for {0}")]
    NoKey(UnitId),
    /// The signer is gone (the node is stopping).
    #[error("the unit signer has stopped")]
    Stopped,
}

/// One object waiting to be signed.
struct SignRequest {
    unit: UnitId,
    payload_type: PayloadType,
    /// Who will see the signed object (the recipient countries, say): only requests for the same
    /// audience share a signature.
    audience: String,
    payload: Vec<u8>,
    reply: oneshot::Sender<proto::Envelope>,
}

/// The units this node signs for.
pub(crate) struct UnitKeys {
    keys: Arc<BTreeMap<UnitId, SigningKey>>,
    /// The signer's queue; `None` once dropping, which ends the signer.
    queue: Option<mpsc::Sender<SignRequest>>,
    /// The signer thread, joined when the keys are dropped.
    signer: Option<JoinHandle<()>>,
}

impl UnitKeys {
    /// Reads every `<UNIT>.key` in `dir`; every unit must belong to `country`.
    pub(crate) fn load(dir: &Path, country: CountryCode) -> Result<Self> {
        let mut keys = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("keys.units_dir: cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", dir.display()))?
                .path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".key") else {
                continue;
            };
            let unit = UnitId::parse(stem)
                .with_context(|| format!("{}: the file name must be a unit id", path.display()))?;
            if unit.country() != country {
                bail!("{}: {unit} is not a unit of {country}", path.display());
            }
            let key = keyfile::read_private_key(&path)?;
            keys.insert(unit, key);
        }
        if keys.is_empty() {
            bail!(
                "keys.units_dir: no unit keys (<UNIT-ID>.key) in {}",
                dir.display()
            );
        }
        let keys = Arc::new(keys);
        let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
        let signer = std::thread::Builder::new()
            .name("unit-signer".into())
            .spawn({
                let keys = keys.clone();
                move || run_signer(&keys, requests)
            })
            .context("cannot start the unit signer")?;
        Ok(Self {
            keys,
            queue: Some(queue),
            signer: Some(signer),
        })
    }

    /// Signs `payload` as `payload_type` with `unit`'s key, for `audience` (see the module docs).
    pub(crate) async fn sign(
        &self,
        unit: &UnitId,
        payload_type: PayloadType,
        audience: String,
        payload: Vec<u8>,
    ) -> Result<proto::Envelope, SignError> {
        if !self.keys.contains_key(unit) {
            return Err(SignError::NoKey(unit.clone()));
        }
        let queue = self.queue.as_ref().ok_or(SignError::Stopped)?;
        let (reply, signed) = oneshot::channel();
        let request = SignRequest {
            unit: unit.clone(),
            payload_type,
            audience,
            payload,
            reply,
        };
        queue.send(request).await.map_err(|_| SignError::Stopped)?;
        signed.await.map_err(|_| SignError::Stopped)
    }

    /// The units, in order.
    pub(crate) fn units(&self) -> impl Iterator<Item = &UnitId> {
        self.keys.keys()
    }
}

impl Drop for UnitKeys {
    fn drop(&mut self) {
        // Closing the queue ends the signer once it has signed what is queued.
        drop(self.queue.take());
        if let Some(signer) = self.signer.take() {
            let _ = signer.join();
        }
    }
}

/// The signer thread: each round takes everything waiting (up to [`MAX_BATCH`]) and signs it; ends
/// when the queue closes.
fn run_signer(keys: &BTreeMap<UnitId, SigningKey>, mut requests: mpsc::Receiver<SignRequest>) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = requests.blocking_recv() {
        waiting.push(first);
        while waiting.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => waiting.push(request),
                Err(_) => break,
            }
        }
        sign_round(keys, std::mem::take(&mut waiting));
    }
}

/// Signs `requests` grouped by unit, payload type and audience, one signature per group, and answers
/// each.
fn sign_round(keys: &BTreeMap<UnitId, SigningKey>, mut waiting: Vec<SignRequest>) {
    while !waiting.is_empty() {
        let first = &waiting[0];
        let group = (
            first.unit.clone(),
            first.payload_type,
            first.audience.clone(),
        );
        let (together, rest): (Vec<_>, Vec<_>) = waiting
            .drain(..)
            .partition(|r| r.unit == group.0 && r.payload_type == group.1 && r.audience == group.2);
        waiting = rest;
        let Some(key) = keys.get(&group.0) else {
            // Checked before queueing; dropping the replies reports the failure.
            continue;
        };
        let (payloads, replies): (Vec<_>, Vec<_>) =
            together.into_iter().map(|r| (r.payload, r.reply)).unzip();
        for (reply, signed) in replies
            .into_iter()
            .zip(envelope::sign_all(group.1, payloads, key))
        {
            // A caller that gave up no longer needs its envelope.
            let _ = reply.send(signed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit keys for `units`, written as `tulpar init` writes them, with their public keys.
    fn unit_keys(
        units: &[&str],
    ) -> (
        tempfile::TempDir,
        UnitKeys,
        Vec<tulpar_core::keys::PublicKey>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut public = Vec::new();
        for unit in units {
            let key = SigningKey::generate().unwrap();
            public.push(key.public_key());
            keyfile::write_private_key(&dir.path().join(format!("{unit}.key")), &key).unwrap();
        }
        let keys = UnitKeys::load(dir.path(), CountryCode::parse("KZ").unwrap()).unwrap();
        (dir, keys, public)
    }

    #[test]
    fn requests_signed_in_one_round_share_a_signature_per_unit_and_audience() {
        let (_dir, keys, public) = unit_keys(&["KZ-AKTAU-PCU", "KZ-ALMATY-PCU"]);
        let (aktau, almaty) = (
            UnitId::parse("KZ-AKTAU-PCU").unwrap(),
            UnitId::parse("KZ-ALMATY-PCU").unwrap(),
        );
        let requests = [
            (&aktau, "UZ"),
            (&aktau, "UZ"),
            (&almaty, "UZ"),
            (&aktau, "TJ"),
            (&aktau, "UZ"),
        ];
        let (round, replies): (Vec<_>, Vec<_>) = requests
            .iter()
            .enumerate()
            .map(|(i, (unit, audience))| {
                let (reply, signed) = oneshot::channel();
                let request = SignRequest {
                    unit: (*unit).clone(),
                    payload_type: PayloadType::Alert,
                    audience: (*audience).to_owned(),
                    payload: format!("alert {i}").into_bytes(),
                    reply,
                };
                (request, signed)
            })
            .unzip();
        sign_round(&keys.keys, round);
        let signed: Vec<proto::Envelope> = replies
            .into_iter()
            .map(|mut r| r.try_recv().unwrap())
            .collect();
        let batch_size = |e: &proto::Envelope| e.signatures[0].batch.as_ref().map(|b| b.size);
        // Aktau's three alerts for UZ in one batch; the others each alone, with a plain signature.
        assert_eq!(
            signed.iter().map(batch_size).collect::<Vec<_>>(),
            [Some(3), Some(3), None, None, Some(3)]
        );
        let mut verifier = envelope::Verifier::default();
        for (i, envelope) in signed.iter().enumerate() {
            let verified = verifier
                .verify(envelope, PayloadType::Alert, &public[..])
                .unwrap();
            assert_eq!(verified.payload(), format!("alert {i}").as_bytes());
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_signer_thread_answers_requests_and_ends_when_the_keys_are_dropped() {
        let (_dir, keys, public) = unit_keys(&["KZ-AKTAU-PCU"]);
        let aktau = UnitId::parse("KZ-AKTAU-PCU").unwrap();
        let signed = futures_util::future::join_all((0..3).map(|i| {
            keys.sign(
                &aktau,
                PayloadType::Alert,
                "UZ".into(),
                format!("alert {i}").into_bytes(),
            )
        }))
        .await;
        for (i, envelope) in signed.into_iter().enumerate() {
            let envelope = envelope.unwrap();
            let verified = envelope::Verifier::default()
                .verify(&envelope, PayloadType::Alert, &public[..])
                .unwrap();
            assert_eq!(verified.payload(), format!("alert {i}").as_bytes());
        }
        // Dropping joins the thread; a signer that did not end would hang the test here.
        drop(keys);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_unit_without_a_key_is_refused_before_anything_is_signed() {
        let (_dir, keys, _) = unit_keys(&["KZ-AKTAU-PCU"]);
        let other = UnitId::parse("KZ-ALMATY-PCU").unwrap();
        let refused = keys
            .sign(&other, PayloadType::Alert, "UZ".into(), Vec::new())
            .await;
        assert!(matches!(refused, Err(SignError::NoKey(unit)) if unit == other));
    }
}
