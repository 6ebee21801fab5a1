//! `tulpar directory ...`: change and re-publish one's own country directory, signed with the
//! offline root key.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use tulpar_core::codes::UnitId;
use tulpar_core::keys::{KeyId, SigningKey};
use tulpar_trust::directory::{VerifiedDirectory, fmt_time};
use tulpar_trust::draft::DirectoryDraft;
use tulpar_trust::keyfile;
use tulpar_trust::tls::{cert_from_pem, spki_sha256};

use super::layout::{Layout, create, must_not_exist, time_or_now};

/// Change, sign and show the country directory.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Args {
    /// Add a unit with a new signing key (written to node/units/<UNIT>.key).
    AddUnit {
        #[command(flatten)]
        common: Common,
        /// The unit id, e.g. KZ-KURYK-PCU.
        #[arg(long)]
        unit: String,
        /// Name for people; default: the unit id.
        #[arg(long)]
        name: Option<String>,
    },
    /// Retire a unit: its keys sign nothing valid from --at on.
    RetireUnit {
        #[command(flatten)]
        common: Common,
        /// The unit id.
        #[arg(long)]
        unit: String,
        /// RFC 3339 time of retirement; default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Give a unit a new key; the old one keeps its validity window up to now.
    RotateUnitKey {
        #[command(flatten)]
        common: Common,
        /// The unit id.
        #[arg(long)]
        unit: String,
    },
    /// Give the node a new ledger key, staged in node/ledger.key.next and named in a new directory
    /// version from --switch-at on; the running node switches to it then, without a restart.
    RotateNodeKey {
        #[command(flatten)]
        common: Common,
        /// RFC 3339 time from which the node signs with the new key; default: 20 minutes from now,
        /// so that partners (fetching directories every 15 minutes by default) hold the new version
        /// first.
        #[arg(long)]
        switch_at: Option<String>,
        /// Minutes the old key stays valid past --switch-at, for what the node signs until it takes
        /// up the new key (within one trust.reload_interval of the switch time).
        #[arg(long, default_value_t = 60)]
        overlap_minutes: u64,
    },
    /// Revoke a key (unit, node or root key id, or a node TLS certificate) from a time on.
    RevokeKey {
        #[command(flatten)]
        common: Common,
        /// Key id (64 hex) of the Ed25519 key, or SHA-256 of a TLS SubjectPublicKeyInfo.
        #[arg(
            long,
            required_unless_present = "tls_cert",
            conflicts_with = "tls_cert"
        )]
        key_id: Option<String>,
        /// A TLS certificate (PEM) whose key is to be revoked.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// Why, e.g. "key compromised" (at most 500 characters).
        #[arg(long)]
        reason: String,
        /// RFC 3339 time from which signatures are invalid; default: now.
        #[arg(long)]
        effective_at: Option<String>,
    },
    /// Sign a new version with a fresh expiry (do this before the current one expires).
    Publish {
        #[command(flatten)]
        common: Common,
        /// Replace the federation endpoints (HOST:PORT); repeat for several.
        #[arg(long = "endpoint")]
        endpoints: Vec<String>,
    },
    /// Hand the root over to a new key, endorsed by the current one.
    RotateRoot {
        #[command(flatten)]
        common: Common,
    },
    /// Print the current directory as JSON after verifying it.
    Show {
        /// The folder made by `tulpar init`.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Options shared by the commands that sign.
#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    /// The folder made by `tulpar init`.
    #[arg(long)]
    dir: PathBuf,
    /// The folder holding the offline keys (root.key, tls-ca.key), if not DIR/offline (e.g. on a
    /// removable drive).
    #[arg(long, value_name = "FOLDER")]
    offline: Option<PathBuf>,
    /// The current root key file, if not root.key in the offline folder.
    #[arg(long, value_name = "FILE")]
    root_key: Option<PathBuf>,
    /// Days the new version is accepted as new by partners.
    #[arg(long, default_value_t = 90)]
    valid_days: u64,
}

struct Session {
    layout: Layout,
    current: VerifiedDirectory,
    root: SigningKey,
    root_path: PathBuf,
    validity: Duration,
    now: SystemTime,
}

impl Session {
    fn open(common: &Common) -> Result<Self> {
        if common.valid_days == 0 || common.valid_days > 3650 {
            bail!("--valid-days: must be between 1 and 3650");
        }
        let layout = Layout::with_offline(&common.dir, common.offline.as_deref());
        let current = layout.load_directory()?;
        let root_path = common.root_key.clone().unwrap_or_else(|| layout.root_key());
        if !root_path.exists() {
            layout.read_offline(&root_path)?;
        }
        let root = keyfile::read_private_key(&root_path)?;
        Ok(Self {
            layout,
            current,
            root,
            root_path,
            validity: Duration::from_secs(common.valid_days * 24 * 3600),
            now: SystemTime::now(),
        })
    }

    fn draft(&self) -> DirectoryDraft {
        DirectoryDraft::from_verified(&self.current)
    }

    fn publish(&self, draft: DirectoryDraft, signer: &SigningKey) -> Result<()> {
        let envelope = draft.sign(signer, self.now, self.validity)?;
        self.layout.store_directory(&envelope)?;
        eprintln!(
            "directory of {} version {} signed by root {}, expires {}; written to {} and {}",
            self.current.country(),
            self.current.version() + 1,
            signer.key_id().short(),
            fmt_time(self.now + self.validity),
            self.layout.public_directory().display(),
            self.layout.node_directory().display(),
        );
        Ok(())
    }
}

/// Default time from a node key rotation to the switch: longer than partners' default
/// `trust.directory_refresh_interval` (15 minutes).
const DEFAULT_SWITCH_DELAY: Duration = Duration::from_secs(20 * 60);

fn rotate_node_key(common: &Common, switch_at: Option<&str>, overlap_minutes: u64) -> Result<()> {
    if overlap_minutes == 0 || overlap_minutes > 7 * 24 * 60 {
        bail!("--overlap-minutes: must be between 1 and 10080 (a week)");
    }
    let s = Session::open(common)?;
    let switch_at = match switch_at {
        Some(text) => time_or_now(Some(text)).context("--switch-at")?,
        None => s.now + DEFAULT_SWITCH_DELAY,
    };
    if switch_at + Duration::from_secs(60) < s.now {
        bail!(
            "--switch-at: {} is in the past; the old key would be closed for what the node signed              since",
            fmt_time(switch_at)
        );
    }
    let staged = keyfile::staged_key_path(&s.layout.node_ledger_key());
    if staged.exists() {
        bail!(
            "{}: a node key rotation is already staged; copy it to the node and let the node take              it up (it then removes the file), or delete it to abandon that rotation",
            staged.display()
        );
    }
    let current_pub = s.layout.public_ledger_key();
    let key = SigningKey::generate()?;
    let mut draft = s.draft();
    let old_until = switch_at + Duration::from_secs(overlap_minutes * 60);
    let closed = draft.rotate_node_key(&key.public_key(), switch_at, old_until)?;
    let old = closed
        .last()
        .map(KeyId::short)
        .unwrap_or_else(|| "old".into());
    let retired_pub = s.layout.public.join(format!("ledger-{old}.pub"));
    must_not_exist(&retired_pub)?;
    // The new key is staged beside the old one, which stays in place until the node has switched.
    keyfile::write_private_key(&staged, &key)?;
    if let Err(e) = s.publish(draft, &s.root) {
        let _ = fs::remove_file(&staged);
        return Err(e);
    }
    if current_pub.exists() {
        fs::rename(&current_pub, &retired_pub)
            .with_context(|| format!("{} -> {}", current_pub.display(), retired_pub.display()))?;
    }
    create(&current_pub, key.public_key().to_pem().as_bytes(), 0o644)?;
    println!("{}", key.key_id());
    eprintln!(
        "node ledger key {} staged in {}, named from {}; the old key {} stays valid until {}.
         Copy {} and {} to the node (beside keys.ledger_key, mode 0600): it switches at {} without          a restart, keeping the old key in retired/ beside keys.ledger_key. {} is the new public          key (the old one kept as {}).",
        key.key_id().short(),
        staged.display(),
        fmt_time(switch_at),
        old,
        fmt_time(old_until.max(switch_at)),
        s.layout.node_directory().display(),
        staged.display(),
        fmt_time(switch_at),
        current_pub.display(),
        retired_pub.display(),
    );
    Ok(())
}

fn own_unit(current: &VerifiedDirectory, unit: &str) -> Result<UnitId> {
    let unit = UnitId::parse(unit).context("--unit")?;
    if unit.country() != current.country() {
        bail!(
            "--unit: {unit} belongs to {}, not to {}",
            unit.country(),
            current.country()
        );
    }
    Ok(unit)
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match args {
        Args::AddUnit { common, unit, name } => {
            let s = Session::open(&common)?;
            let unit = own_unit(&s.current, &unit)?;
            let path = s.layout.unit_key(unit.as_str());
            must_not_exist(&path)?;
            let key = SigningKey::generate()?;
            let mut draft = s.draft();
            draft.add_unit(
                &unit,
                name.as_deref().unwrap_or(unit.as_str()),
                &key.public_key(),
                s.now,
            )?;
            fs::create_dir_all(s.layout.units())?;
            keyfile::write_private_key(&path, &key)?;
            s.publish(draft, &s.root)?;
            println!("{}", key.key_id());
            eprintln!("unit {unit} added; its key is in {}", path.display());
        }
        Args::RetireUnit { common, unit, at } => {
            let s = Session::open(&common)?;
            let unit = own_unit(&s.current, &unit)?;
            let mut draft = s.draft();
            draft.retire_unit(&unit, time_or_now(at.as_deref())?)?;
            s.publish(draft, &s.root)?;
            eprintln!("unit {unit} retired; its key file can be destroyed");
        }
        Args::RotateUnitKey { common, unit } => {
            let s = Session::open(&common)?;
            let unit = own_unit(&s.current, &unit)?;
            let key = SigningKey::generate()?;
            let mut draft = s.draft();
            let closed = draft.rotate_unit_key(&unit, &key.public_key(), s.now)?;
            let path = s.layout.unit_key(unit.as_str());
            let retired_dir = s.layout.units().join("retired");
            fs::create_dir_all(&retired_dir)?;
            // Write the new key beside the old one first, so a failure leaves the old key in place.
            let staged = s.layout.units().join(format!(".{unit}.key.new"));
            keyfile::write_private_key(&staged, &key)?;
            if let Err(e) = s.publish(draft, &s.root) {
                let _ = fs::remove_file(&staged);
                return Err(e);
            }
            if path.exists() {
                let old = closed
                    .first()
                    .map(KeyId::short)
                    .unwrap_or_else(|| "old".into());
                let retired = retired_dir.join(format!("{unit}-{old}.key"));
                must_not_exist(&retired)?;
                fs::rename(&path, &retired)?;
                eprintln!(
                    "old key moved to {} (destroy it once no longer needed)",
                    retired.display()
                );
            }
            fs::rename(&staged, &path)?;
            println!("{}", key.key_id());
            eprintln!("unit {unit} now signs with the key in {}", path.display());
        }
        Args::RotateNodeKey {
            common,
            switch_at,
            overlap_minutes,
        } => rotate_node_key(&common, switch_at.as_deref(), overlap_minutes)?,
        Args::RevokeKey {
            common,
            key_id,
            tls_cert,
            reason,
            effective_at,
        } => {
            let s = Session::open(&common)?;
            let key_id: KeyId = match (key_id, tls_cert) {
                (Some(id), _) => id.parse().context("--key-id")?,
                (None, Some(path)) => {
                    let pem =
                        fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
                    KeyId::from_digest(spki_sha256(&cert_from_pem(&pem)?)?)
                }
                (None, None) => bail!("give --key-id or --tls-cert"),
            };
            let mut draft = s.draft();
            draft.revoke(key_id, time_or_now(effective_at.as_deref())?, &reason)?;
            s.publish(draft, &s.root)?;
            println!("{key_id}");
            eprintln!(
                "key {key_id} revoked; partners refuse it once they fetch this version, and the node \
                 refuses a client certificate with it within trust.reload_interval of holding it"
            );
        }
        Args::Publish { common, endpoints } => {
            let s = Session::open(&common)?;
            let mut draft = s.draft();
            if !endpoints.is_empty() {
                draft.set_endpoints(endpoints);
            }
            s.publish(draft, &s.root)?;
        }
        Args::RotateRoot { common } => {
            let s = Session::open(&common)?;
            let old = s.root.key_id().short();
            let offline = s.root_path.parent().map(PathBuf::from).unwrap_or_default();
            let retired_key = offline.join(format!("root-{old}.retired.key"));
            let retired_pub = s.layout.public.join(format!("root-{old}.pub"));
            let staged = offline.join(".root.key.new");
            for path in [&retired_key, &retired_pub, &staged] {
                must_not_exist(path)?;
            }
            let new_root = SigningKey::generate()?;
            let mut draft = s.draft();
            draft.rotate_root(&s.root, &new_root.public_key(), s.now)?;
            keyfile::write_private_key(&staged, &new_root)?;
            if let Err(e) = s.publish(draft, &new_root) {
                let _ = fs::remove_file(&staged);
                return Err(e);
            }
            fs::rename(&s.root_path, &retired_key)?;
            fs::rename(&staged, &s.root_path)?;
            fs::rename(s.layout.root_pub(), &retired_pub)?;
            create(
                &s.layout.root_pub(),
                new_root.public_key().to_pem().as_bytes(),
                0o644,
            )?;
            println!("{}", new_root.key_id());
            eprintln!(
                "root rotated: new root {} endorsed by the old one; old key kept as {} (keep it offline \
                 or destroy it). Partners that pinned an earlier root follow the endorsement chain.",
                new_root.key_id(),
                retired_key.display()
            );
        }
        Args::Show { dir } => {
            let layout = Layout::new(&dir);
            let current = layout.load_directory()?;
            println!("{}", serde_json::to_string_pretty(current.directory())?);
            eprintln!(
                "verified: {} version {}, signed by root {}, expires {}",
                current.country(),
                current.version(),
                current.current_root().key_id(),
                fmt_time(current.expires_at())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
