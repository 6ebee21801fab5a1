//! Views: state a node derives from ledger entries, kept in the ledger's sled database.
//!
//! A view is updated by the commit loop, after a batch is durable and before its appenders are
//! answered, so a caller that got its index back can read the view's new state. Each view has its own
//! sled tree and an applied marker; on open, entries the view has not seen are replayed from the
//! segments. A view's writes for a batch take effect together with its marker or not at all, even
//! across a crash (see the index module), so `apply` need not be idempotent. The marker lives in the
//! view's tree under the empty key, which views may not use: every key a view writes is non-empty.
//! Readers of the tree may see a batch half-written while it is being applied.

use std::collections::BTreeMap;

use tulpar_proto::v1::LedgerEntry;

/// Why a view could not apply an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ViewError(pub String);

impl ViewError {
    /// An error with a message naming what went wrong.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<sled::Error> for ViewError {
    fn from(e: sled::Error) -> Self {
        Self(format!("view store: {e}"))
    }
}

/// State derived from ledger entries.
pub trait View: Send + Sync + 'static {
    /// The view's name; also the name of its sled tree. Must be unique per ledger and stable.
    fn name(&self) -> &str;

    /// Applies entry `index`. Writes go through `txn` and are committed with the view's marker.
    fn apply(
        &self,
        index: u64,
        entry: &LedgerEntry,
        txn: &mut ViewTxn<'_>,
    ) -> Result<(), ViewError>;
}

/// The writes a view makes for one batch, on top of its tree.
pub struct ViewTxn<'a> {
    tree: &'a sled::Tree,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> ViewTxn<'a> {
    pub(crate) fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            pending: BTreeMap::new(),
        }
    }

    /// The value of `key`, including writes made earlier in this batch.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ViewError> {
        if let Some(pending) = self.pending.get(key) {
            return Ok(pending.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    /// Sets `key` to `value`.
    ///
    /// # Panics
    /// If `key` is empty: the empty key holds the view's applied marker.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        assert!(!key.is_empty(), "views may not write the empty key");
        self.pending.insert(key, Some(value));
    }

    /// Removes `key`.
    ///
    /// # Panics
    /// If `key` is empty: the empty key holds the view's applied marker.
    pub fn remove(&mut self, key: Vec<u8>) {
        assert!(!key.is_empty(), "views may not remove the empty key");
        self.pending.insert(key, None);
    }

    /// The batch's writes, without removals of keys the tree does not hold: sled writes a removal
    /// like any other change, and views remove keys that older versions wrote and newer ones do not.
    pub(crate) fn into_pending(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        let tree = self.tree;
        let mut pending = self.pending;
        pending.retain(|key, value| value.is_some() || tree.contains_key(key).unwrap_or(true));
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_of_keys_the_tree_does_not_hold_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("view").unwrap();
        tree.insert(b"held", b"1").unwrap();
        let mut txn = ViewTxn::new(&tree);
        txn.remove(b"held".to_vec());
        txn.remove(b"never".to_vec());
        txn.insert(b"brief".to_vec(), b"2".to_vec());
        txn.remove(b"brief".to_vec());
        txn.insert(b"kept".to_vec(), b"3".to_vec());
        let pending = txn.into_pending();
        let expected = BTreeMap::from([
            (b"held".to_vec(), None),
            (b"kept".to_vec(), Some(b"3".to_vec())),
        ]);
        assert_eq!(pending, expected);
    }
}
