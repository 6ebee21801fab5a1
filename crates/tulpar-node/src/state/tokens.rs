//! Revoked bearer tokens, from `TokenRevoked` ledger entries: `t/<32-byte token SHA-256>` holds the
//! whole entry (its time and index with it), so that authentication finds a revocation with one lookup.

use std::time::SystemTime;

use prost::Message;
use tulpar_core::proto::{self, ledger_entry::Kind};
use tulpar_core::time::from_timestamp;

use super::{State, StateError, Txn, keys};

/// A token revocation recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRevocation {
    /// Why.
    pub(crate) reason: String,
    /// Who revoked it.
    pub(crate) revoked_by: String,
    /// When the entry was recorded.
    pub(crate) revoked_at: SystemTime,
    /// The index of the `TokenRevoked` entry.
    pub(crate) ledger_index: u64,
}

/// Where token revocations are looked up: the state view, or a map in tests.
pub(crate) trait TokenRevocations: Send + Sync {
    /// The revocation of the token whose SHA-256 is `sha256`, if it was revoked.
    fn token_revocation(&self, sha256: &[u8; 32]) -> Result<Option<TokenRevocation>, StateError>;
}

/// What the view keeps of a revocation: the entry and its index.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredRevocation {
    #[prost(uint64, tag = "1")]
    ledger_index: u64,
    #[prost(message, optional, tag = "2")]
    entry: Option<proto::LedgerEntry>,
}

/// Records a token revocation; the first revocation of a token is the one kept.
pub(super) fn apply_revoked(
    index: u64,
    entry: &proto::LedgerEntry,
    revoked: &proto::TokenRevoked,
    txn: &mut dyn Txn,
) -> Result<Option<&'static str>, StateError> {
    let Ok(sha256) = <[u8; 32]>::try_from(revoked.sha256.as_slice()) else {
        return Ok(Some("token revocation without a 32-byte hash"));
    };
    let key = keys::revoked_token(&sha256);
    if txn.get(&key)?.is_none() {
        let stored = StoredRevocation {
            ledger_index: index,
            entry: Some(entry.clone()),
        };
        txn.insert(key, stored.encode_to_vec());
    }
    Ok(None)
}

impl TokenRevocations for State {
    fn token_revocation(&self, sha256: &[u8; 32]) -> Result<Option<TokenRevocation>, StateError> {
        let Some(bytes) = self.tree.get(keys::revoked_token(sha256))? else {
            return Ok(None);
        };
        let stored = StoredRevocation::decode(bytes.as_ref())
            .map_err(|e| StateError::Corrupt(format!("token revocation: {e}")))?;
        let entry = stored.entry.unwrap_or_default();
        let Some(Kind::TokenRevoked(revoked)) = entry.kind else {
            return Err(StateError::Corrupt(
                "token revocation: not a TokenRevoked entry".into(),
            ));
        };
        Ok(Some(TokenRevocation {
            reason: revoked.reason,
            revoked_by: revoked.revoked_by,
            revoked_at: entry
                .recorded_at
                .as_ref()
                .and_then(from_timestamp)
                .unwrap_or(std::time::UNIX_EPOCH),
            ledger_index: stored.ledger_index,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::apply::tests::MapTxn;

    fn revocation(reason: &str, sha256: Vec<u8>) -> (proto::LedgerEntry, proto::TokenRevoked) {
        let revoked = proto::TokenRevoked {
            name: "asycuda".into(),
            reason: reason.into(),
            revoked_by: "cert:admin/KZ".into(),
            sha256,
        };
        let entry = proto::LedgerEntry {
            recorded_at: Some(tulpar_core::time::to_timestamp(std::time::SystemTime::now())),
            alert_id: String::new(),
            kind: Some(Kind::TokenRevoked(revoked.clone())),
        };
        (entry, revoked)
    }

    #[test]
    fn the_first_revocation_of_a_token_is_kept_and_a_malformed_one_is_skipped() {
        let mut txn = MapTxn::default();
        let (entry, revoked) = revocation("first", vec![7; 32]);
        assert_eq!(apply_revoked(5, &entry, &revoked, &mut txn).unwrap(), None);
        let (entry, revoked) = revocation("second", vec![7; 32]);
        assert_eq!(apply_revoked(9, &entry, &revoked, &mut txn).unwrap(), None);
        let stored =
            StoredRevocation::decode(txn.0[&keys::revoked_token(&[7; 32])].as_slice()).unwrap();
        assert_eq!(stored.ledger_index, 5);
        let (entry, revoked) = revocation("short", vec![7; 31]);
        assert!(
            apply_revoked(10, &entry, &revoked, &mut txn)
                .unwrap()
                .is_some()
        );
        assert_eq!(txn.0.len(), 1);
    }
}
