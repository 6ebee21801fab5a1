//! The signing keys of this country's units, read once at start from `keys.units_dir`.
//!
//! One file per unit, named `<UNIT-ID>.key` (PKCS#8 PEM, mode 0600), as `tulpar init` writes them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::keys::SigningKey;
use tulpar_trust::keyfile;

/// The units this node signs for.
pub(crate) struct UnitKeys {
    keys: BTreeMap<UnitId, SigningKey>,
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
        Ok(Self { keys })
    }

    /// The key of `unit`, if this node holds it.
    pub(crate) fn get(&self, unit: &UnitId) -> Option<&SigningKey> {
        self.keys.get(unit)
    }

    /// The units, in order.
    pub(crate) fn units(&self) -> impl Iterator<Item = &UnitId> {
        self.keys.keys()
    }
}
