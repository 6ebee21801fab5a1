//! Where `tulpar init` puts a country's files, shared by the commands that work on them.
//!
//! ```text
//! DIR/offline/  root.key tls-ca.key                       keep offline: signs directories and certificates
//! DIR/public/   root.pub directory.env tls-ca.crt ledger.pub   give to partners
//! DIR/node/     node.crt node.key tls-ca.crt ledger.key directory.env units/<UNIT>.key trust/
//! DIR/node.toml the node's configuration
//! ```
//!
//! The offline folder may be elsewhere (a removable drive): every command that signs takes
//! `--offline FOLDER`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use prost::Message;
use time::format_description::well_known::Rfc3339;
use tulpar_core::codes::CountryCode;
use tulpar_core::proto::{CountryDirectory, Envelope};
use tulpar_trust::directory::{VerifiedDirectory, verify_directory};
use tulpar_trust::files::{write_atomically, write_new};
use tulpar_trust::keyfile;

/// The paths of one country's folder.
pub(crate) struct Layout {
    pub(crate) offline: PathBuf,
    pub(crate) public: PathBuf,
    pub(crate) node: PathBuf,
}

impl Layout {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            offline: dir.join("offline"),
            public: dir.join("public"),
            node: dir.join("node"),
        }
    }

    /// The layout of `dir` with its offline keys in `offline` when given (`--offline`).
    pub(crate) fn with_offline(dir: &Path, offline: Option<&Path>) -> Self {
        let mut layout = Self::new(dir);
        if let Some(offline) = offline {
            layout.offline = offline.to_owned();
        }
        layout
    }

    /// Reads an offline key file, saying where the offline keys were looked for when it is missing.
    pub(crate) fn read_offline(&self, path: &Path) -> Result<String> {
        std::fs::read_to_string(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "; the offline keys are not in {}: give --offline FOLDER, the folder holding \
                     root.key and tls-ca.key (e.g. on the removable drive)",
                    self.offline.display()
                )
            } else {
                String::new()
            };
            anyhow::anyhow!("cannot read {}: {e}{hint}", path.display())
        })
    }

    pub(crate) fn root_key(&self) -> PathBuf {
        self.offline.join("root.key")
    }
    pub(crate) fn tls_ca_key(&self) -> PathBuf {
        self.offline.join("tls-ca.key")
    }
    pub(crate) fn root_pub(&self) -> PathBuf {
        self.public.join("root.pub")
    }
    pub(crate) fn public_directory(&self) -> PathBuf {
        self.public.join("directory.env")
    }
    pub(crate) fn public_tls_ca(&self) -> PathBuf {
        self.public.join("tls-ca.crt")
    }
    pub(crate) fn public_ledger_key(&self) -> PathBuf {
        self.public.join("ledger.pub")
    }
    pub(crate) fn node_cert(&self) -> PathBuf {
        self.node.join("node.crt")
    }
    pub(crate) fn node_key(&self) -> PathBuf {
        self.node.join("node.key")
    }
    pub(crate) fn node_ledger_key(&self) -> PathBuf {
        self.node.join("ledger.key")
    }
    pub(crate) fn node_directory(&self) -> PathBuf {
        self.node.join("directory.env")
    }
    pub(crate) fn units(&self) -> PathBuf {
        self.node.join("units")
    }
    pub(crate) fn unit_key(&self, unit: &str) -> PathBuf {
        self.units().join(format!("{unit}.key"))
    }

    /// The current directory, verified against `public/root.pub`.
    pub(crate) fn load_directory(&self) -> Result<VerifiedDirectory> {
        let root = keyfile::read_public_key(&self.root_pub())?;
        let envelope = read_envelope(&self.public_directory())?;
        let country = claimed_country(&envelope)?;
        verify_directory(&envelope, &root, country)
            .with_context(|| format!("{}", self.public_directory().display()))
    }

    /// Writes a newly signed directory to `public/` and `node/`, replacing the old one atomically.
    pub(crate) fn store_directory(&self, envelope: &Envelope) -> Result<()> {
        let bytes = envelope.encode_to_vec();
        for path in [self.public_directory(), self.node_directory()] {
            write_atomically(&path, &bytes, 0o644)
                .with_context(|| format!("{}", path.display()))?;
        }
        Ok(())
    }
}

/// Reads an envelope file: binary protobuf, or proto3 JSON.
pub(crate) fn read_envelope(path: &Path) -> Result<Envelope> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    if let Ok(envelope) = Envelope::decode(bytes.as_slice()) {
        return Ok(envelope);
    }
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not an envelope (binary protobuf or JSON)",
            path.display()
        )
    })
}

/// The country an envelope's directory payload names, read before verification only to choose the
/// key to verify with.
pub(crate) fn claimed_country(envelope: &Envelope) -> Result<CountryCode> {
    let directory = CountryDirectory::decode(envelope.payload.as_slice())
        .context("the envelope does not hold a country directory")?;
    Ok(CountryCode::parse(&directory.country)?)
}

/// Creates a new file, refusing to replace one.
pub(crate) fn create(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_new(path, bytes, mode).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{}: already exists; refusing to overwrite it",
                path.display()
            )
        } else {
            anyhow::anyhow!("{}: {e}", path.display())
        }
    })
}

/// Parses an RFC 3339 time, or "now" when absent.
pub(crate) fn time_or_now(text: Option<&str>) -> Result<SystemTime> {
    match text {
        None => Ok(SystemTime::now()),
        Some(t) => {
            let parsed = time::OffsetDateTime::parse(t, &Rfc3339).with_context(|| {
                format!("{t:?} is not an RFC 3339 time such as 2026-05-01T12:00:00Z")
            })?;
            Ok(SystemTime::from(parsed))
        }
    }
}

/// Refuses to go on if `path` exists.
pub(crate) fn must_not_exist(path: &Path) -> Result<()> {
    if path.exists() {
        bail!(
            "{}: already exists; refusing to overwrite it",
            path.display()
        );
    }
    Ok(())
}
