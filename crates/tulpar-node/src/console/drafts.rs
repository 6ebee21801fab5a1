//! Alerts an officer has begun and saved, to finish later: `data_dir/console-drafts/<key>.json` per
//! person (mode 0600, rewritten atomically), where the key is the SHA-256 of the person's principal
//! name. A draft holds the compose form's text fields as typed, not files, and never reaches the
//! ledger: only the alert sent from it does.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// Most drafts a person keeps.
pub(crate) const MAX_DRAFTS: usize = 20;

/// One saved draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Draft {
    /// Its id, a UUIDv7.
    pub(crate) id: String,
    /// Unix seconds of the last save.
    pub(crate) saved_at: i64,
    /// The form's fields in the order sent (checkboxes repeat a name).
    pub(crate) fields: Vec<(String, String)>,
}

/// Why a draft was not saved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SaveRefused {
    /// The person keeps [`MAX_DRAFTS`] already.
    #[error("at most {MAX_DRAFTS} drafts are kept; send or delete one first")]
    Full,
    /// The disk refused.
    #[error(transparent)]
    Storage(#[from] anyhow::Error),
}

/// Every person's drafts, one file each.
pub(crate) struct Drafts {
    dir: PathBuf,
    /// One change at a time, so that two saves do not lose one another.
    writing: Mutex<()>,
}

impl Drafts {
    /// The drafts kept under `data_dir`.
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("console-drafts"),
            writing: Mutex::new(()),
        }
    }

    fn path(&self, person: &str) -> PathBuf {
        let digest = ring::digest::digest(&ring::digest::SHA256, person.as_bytes());
        self.dir.join(format!("{}.json", hex::encode(digest)))
    }

    /// `person`'s drafts, the last saved first.
    pub(crate) fn list(&self, person: &str) -> Result<Vec<Draft>> {
        let path = self.path(person);
        let mut drafts: Vec<Draft> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a drafts file", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error).context(format!("reading {}", path.display())),
        };
        drafts.sort_by(|a, b| b.saved_at.cmp(&a.saved_at).then(b.id.cmp(&a.id)));
        Ok(drafts)
    }

    /// `person`'s draft `id`, if it exists.
    pub(crate) fn get(&self, person: &str, id: &str) -> Result<Option<Draft>> {
        Ok(self.list(person)?.into_iter().find(|d| d.id == id))
    }

    /// Saves `draft`, replacing the one with its id if there is one.
    pub(crate) fn save(&self, person: &str, draft: Draft) -> Result<(), SaveRefused> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut drafts = self.list(person)?;
        let count = drafts.len();
        match drafts.iter_mut().find(|d| d.id == draft.id) {
            Some(kept) => *kept = draft,
            None if count >= MAX_DRAFTS => return Err(SaveRefused::Full),
            None => drafts.push(draft),
        }
        self.write(person, &drafts)?;
        Ok(())
    }

    /// Deletes `person`'s draft `id`; whether there was one.
    pub(crate) fn delete(&self, person: &str, id: &str) -> Result<bool> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut drafts = self.list(person)?;
        let before = drafts.len();
        drafts.retain(|d| d.id != id);
        if drafts.len() == before {
            return Ok(false);
        }
        self.write(person, &drafts)?;
        Ok(true)
    }

    fn write(&self, person: &str, drafts: &[Draft]) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.path(person);
        let bytes = serde_json::to_vec(drafts)?;
        tulpar_trust::files::write_atomically(&path, &bytes, 0o600)
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(id: &str, saved_at: i64) -> Draft {
        Draft {
            id: id.into(),
            saved_at,
            fields: vec![("containers".into(), "MSCU 123456 6".into())],
        }
    }

    #[test]
    fn drafts_are_kept_per_person_replaced_by_id_bounded_and_deleted() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let drafts = Drafts::new(dir.path());
        drafts.save("user:a", draft("1", 10))?;
        drafts.save("user:a", draft("2", 20))?;
        drafts.save("user:b", draft("3", 30))?;
        let ids = |person| -> Result<Vec<String>> {
            Ok(drafts.list(person)?.into_iter().map(|d| d.id).collect())
        };
        assert_eq!(ids("user:a")?, ["2", "1"], "the last saved first");
        drafts.save("user:a", draft("1", 40))?;
        assert_eq!(ids("user:a")?, ["1", "2"], "saved again, not added");
        assert_eq!(ids("user:b")?, ["3"]);
        for n in 2..MAX_DRAFTS {
            drafts.save("user:a", draft(&format!("x{n}"), 50))?;
        }
        assert!(matches!(
            drafts.save("user:a", draft("one-too-many", 60)),
            Err(SaveRefused::Full)
        ));
        assert!(drafts.delete("user:a", "1")?);
        assert!(!drafts.delete("user:a", "1")?);
        assert!(drafts.get("user:a", "2")?.is_some());
        assert_eq!(drafts.list("user:a")?.len(), MAX_DRAFTS - 1);
        Ok(())
    }
}
