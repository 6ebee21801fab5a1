//! The node's configuration: one TOML file, every field documented in `deploy/node.example.toml`.
//!
//! Relative paths are resolved against the directory of the configuration file, so a node's folder can
//! be moved as a whole. Any value can be overridden by an environment variable named after its path,
//! `TULPAR__<SECTION>__<FIELD>` (e.g. `TULPAR__CLIENT_API__LISTEN=0.0.0.0:7400`), for containers; its
//! text is read as the type of the field it sets, so `"007"` stays a string where a string is wanted.
//! Durations are written as people write them: "500ms", "30s", "15m", "4h", "1d" (see `humantime`).
//!
//! Both the node and the officer's CLI read it; this crate holds no server code.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_trust::tls::Role;

mod load;
mod validate;
mod weak_tokens;
mod webhooks;
mod witness;

#[cfg(test)]
mod tests;

pub use load::ENV_PREFIX;
pub use weak_tokens::is_common as is_common_secret;
pub use webhooks::MAX_WEBHOOK_SUBSCRIPTIONS;
pub use witness::MAX_EXTERNAL_WITNESSES;

/// A configuration that could not be loaded, naming the field and the rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TOML is malformed, a required field is missing or an unknown one is present.
    #[error("{path}: {message}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message, which names the field.
        message: String,
    },
    /// A field breaks a rule, or holds a value of the wrong type.
    #[error("{path}: {field}: {rule}")]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// The field, as a dotted path.
        field: String,
        /// The rule it breaks.
        rule: String,
    },
}

/// The node's configuration, as loaded and validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's country.
    pub country: CountryCode,
    /// Where the ledger (segments and index) lives.
    pub data_dir: PathBuf,
    /// The API for this country's officers and systems.
    pub client_api: ClientApiConfig,
    /// The API for partner nodes.
    pub federation: FederationConfig,
    /// This node's TLS identity.
    pub tls: TlsConfig,
    /// Signing keys held by the node.
    pub keys: KeysConfig,
    /// The trust store.
    pub trust: TrustConfig,
    /// Acknowledgement deadlines.
    pub deadlines: DeadlinesConfig,
    /// Delivery to partners.
    pub delivery: DeliveryConfig,
    /// Witnessing of checkpoints between partners.
    pub witness: WitnessConfig,
    /// Logging.
    pub log: LogConfig,
    /// Events pushed to customs systems' URLs.
    pub webhooks: WebhooksConfig,
    /// People's accounts and their sessions in the console.
    pub console: ConsoleConfig,
    /// The Prometheus scrape endpoint.
    pub metrics: MetricsConfig,
}

/// The Prometheus scrape endpoint: plain HTTP without authentication, so it belongs on the management
/// network only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to serve `GET /metrics` on; `None`: no metrics listener.
    pub listen: Option<SocketAddr>,
}

/// The client API.
#[derive(Debug, Clone)]
pub struct ClientApiConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer tokens for system integrations.
    pub tokens: Vec<TokenConfig>,
    /// Connections held at once, per address, in handshake, and how long one may stay idle.
    pub connections: ConnectionLimits,
}

/// Connection limits of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections held at once, in handshake or established.
    pub max_connections: usize,
    /// Connections held at once from one remote address.
    pub max_connections_per_address: usize,
    /// TLS handshakes in progress at once.
    pub max_handshakes: usize,
    /// A connection without a call in flight for this long is closed.
    pub idle_timeout: Duration,
}

/// A bearer token for a system integration, stored as its SHA-256.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// A name for logs and audit, e.g. "asycuda".
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// What the token may do.
    pub role: Role,
    /// The units it acts for (integrator, officer).
    pub units: Vec<UnitId>,
}

/// The federation API.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    /// The federation's name, agreed by its members: ledger origins are `<name>/<CC>` and witness
    /// names `<name>/<CC>/witness`.
    pub name: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Endpoints to use for partners instead of those in their directories.
    pub endpoints: BTreeMap<CountryCode, String>,
    /// Connections held at once, per address, in handshake, and how long one may stay idle.
    pub connections: ConnectionLimits,
    /// How far in this node's future a partner's alert may be dated (`created_at`); later ones are
    /// refused, since their deadlines would never pass.
    pub max_clock_skew: Duration,
}

/// TLS files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The node certificate (PEM), with `tulpar://country/<CC>` in its SAN.
    pub certificate: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub private_key: PathBuf,
    /// The national TLS CA certificate (PEM): client certificates on the client API must chain to it.
    pub ca_certificate: PathBuf,
}

/// Signing keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The node ledger key: signs checkpoints, receipts and cosignatures. A key staged beside it in
    /// `<ledger_key>.next` replaces it from the time the node's directory names it.
    pub ledger_key: PathBuf,
    /// Directory of unit keys, one `<UNIT-ID>.key` per unit.
    pub units_dir: PathBuf,
}

/// The trust store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Directory of the trust store.
    pub store: PathBuf,
    /// This country's own signed directory, served to partners (re-read when it changes).
    pub own_directory: PathBuf,
    /// How often the store is re-read from disk, and the node looks for a renewed TLS certificate.
    #[serde(
        default = "defaults::reload_interval",
        deserialize_with = "duration::read"
    )]
    pub reload_interval: Duration,
    /// How often partners' directories are fetched.
    #[serde(
        default = "defaults::directory_refresh_interval",
        deserialize_with = "duration::read"
    )]
    pub directory_refresh_interval: Duration,
}

/// Acknowledgement deadlines by priority.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlinesConfig {
    /// For URGENT alerts.
    #[serde(deserialize_with = "duration::read")]
    pub urgent: Duration,
    /// For HIGH alerts.
    #[serde(deserialize_with = "duration::read")]
    pub high: Duration,
    /// For ROUTINE alerts.
    #[serde(deserialize_with = "duration::read")]
    pub routine: Duration,
    /// How often deadlines are checked.
    #[serde(deserialize_with = "duration::read")]
    pub check_interval: Duration,
}

impl DeadlinesConfig {
    /// The deadline for `priority`.
    pub fn for_priority(&self, priority: tulpar_core::alert::Priority) -> Duration {
        use tulpar_core::alert::Priority;
        match priority {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Routine => self.routine,
        }
    }
}

/// Delivery to partners.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// First retry delay after a failure.
    #[serde(deserialize_with = "duration::read")]
    pub initial_backoff: Duration,
    /// Longest retry delay.
    #[serde(deserialize_with = "duration::read")]
    pub max_backoff: Duration,
    /// Delivery calls in flight per partner.
    pub concurrency: usize,
    /// Most alerts carried by one delivery call (1: one alert per call).
    pub batch_size: usize,
    /// Time limit for connecting to a partner.
    #[serde(deserialize_with = "duration::read")]
    pub connect_timeout: Duration,
    /// Time limit for one delivery call.
    #[serde(deserialize_with = "duration::read")]
    pub request_timeout: Duration,
}

/// Witnessing: partners and external witnesses cosigning this node's checkpoints, and this node
/// cosigning theirs and outside logs' (C2SP tlog-witness).
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// How often this node's checkpoint is presented to partners and external witnesses.
    pub interval: Duration,
    /// How many cosignatures (partners' and external witnesses' together) a checkpoint needs to count
    /// as witnessed; `None`: every partner's and every external witness's.
    pub quorum: Option<usize>,
    /// Time limit of one request to an external witness.
    pub timeout: Duration,
    /// PEM bundle of the certificate authorities `https://` witnesses are checked against.
    pub ca_certificates: PathBuf,
    /// Witnesses outside the federation asked to cosign each checkpoint.
    pub witnesses: Vec<ExternalWitness>,
    /// Logs outside the federation this node cosigns when they ask.
    pub logs: Vec<WitnessedLog>,
}

/// A C2SP tlog-witness this node asks to cosign its checkpoints.
#[derive(Debug, Clone)]
pub struct ExternalWitness {
    /// Its submission prefix: `add-checkpoint` is POSTed to `<url>/add-checkpoint`.
    pub url: http::Uri,
    /// Its cosigner name and `cosignature/v1` key.
    pub key: tulpar_ledger::note::VerifierKey,
}

/// A log outside the federation this node witnesses.
#[derive(Debug, Clone)]
pub struct WitnessedLog {
    /// Its origin (the key's name) and checkpoint key.
    pub key: tulpar_ledger::note::VerifierKey,
}

/// People's accounts: sign-in rules and sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Whether officers need a TOTP code too (focal points and administrators always do).
    pub officer_totp_required: bool,
    /// Failed sign-ins in a row that lock an account.
    pub lockout_after: u32,
    /// How long a locked account refuses sign-ins (an administrator's password reset lifts it sooner).
    #[serde(deserialize_with = "duration::read")]
    pub lockout_duration: Duration,
    /// A session unused for this long ends.
    #[serde(deserialize_with = "duration::read")]
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    #[serde(deserialize_with = "duration::read")]
    pub session_max_age: Duration,
}

/// Webhooks: each event a subscription may see, POSTed to its URL in ledger order, signed per
/// Standard Webhooks, retried until the receiver takes it.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// First retry delay after a failed delivery.
    pub initial_backoff: Duration,
    /// Longest retry delay; a receiver that comes back gets its backlog within this time.
    pub max_backoff: Duration,
    /// Time limit for connecting to a receiver and for its answer.
    pub timeout: Duration,
    /// PEM bundle of the certificate authorities `https://` receivers are checked against.
    pub ca_certificates: PathBuf,
    /// Whether `http://` URLs are allowed for receivers on this machine (127.0.0.0/8, ::1,
    /// localhost); other hosts always need `https://`.
    pub allow_http_loopback: bool,
    /// The subscriptions, in configuration order.
    pub subscriptions: Vec<WebhookSubscription>,
}

/// One customs system's webhook subscription.
#[derive(Debug, Clone)]
pub struct WebhookSubscription {
    /// Unique name, for `tulpar webhooks` and the cursor file.
    pub name: String,
    /// Where events are POSTed.
    pub url: http::Uri,
    /// The units it acts for: it gets what an integrator for these units may see.
    pub units: Vec<UnitId>,
    /// The event kinds it wants; empty for all.
    pub events: Vec<tulpar_core::proto::AlertEventKind>,
    /// File holding the shared secret, `whsec_…` (mode 0600).
    pub secret_file: PathBuf,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Human-readable text or one JSON object per line.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. "info" or "info,tulpar_node=debug".
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A log format other than `text` or `json`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not one of text, json")]
pub struct UnknownLogFormat(String);

impl TryFrom<String> for LogFormat {
    type Error = UnknownLogFormat;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UnknownLogFormat(text)),
        }
    }
}

/// Durations as people write them: "500ms", "30s", "15m", "4h", "1d", "1h 30m" (see `humantime`).
pub(crate) mod duration {
    use std::time::Duration;

    use serde::de::{Deserialize, Deserializer, Error};

    pub(crate) fn read<'de, D: Deserializer<'de>>(from: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(from)?;
        humantime::parse_duration(&text).map_err(|e| {
            D::Error::custom(format!(
                "{text:?} is not a duration such as \"500ms\", \"30s\", \"15m\", \"4h\" or \"1d\" \
                 ({e})"
            ))
        })
    }
}

/// The defaults of optional fields, as documented in `deploy/node.example.toml`.
mod defaults {
    use std::time::Duration;

    use super::{
        ConnectionLimits, ConsoleConfig, DeadlinesConfig, DeliveryConfig, LogConfig, LogFormat,
    };

    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;

    pub(super) fn reload_interval() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn directory_refresh_interval() -> Duration {
        Duration::from_secs(15 * MINUTE)
    }
    pub(super) fn max_clock_skew() -> Duration {
        Duration::from_secs(5 * MINUTE)
    }
    const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * MINUTE);
    pub(super) fn idle_timeout() -> Duration {
        IDLE_TIMEOUT
    }
    /// The federation name of a configuration that names none; any federation that leaves it unset
    /// shares it, so each should set its own.
    pub(super) fn federation_name() -> String {
        "tulpar".to_owned()
    }

    pub(super) const CLIENT_CONNECTIONS: ConnectionLimits = ConnectionLimits {
        max_connections: 4096,
        max_connections_per_address: 256,
        max_handshakes: 128,
        idle_timeout: IDLE_TIMEOUT,
    };
    pub(super) const FEDERATION_CONNECTIONS: ConnectionLimits = ConnectionLimits {
        max_connections: 256,
        max_connections_per_address: 16,
        max_handshakes: 32,
        idle_timeout: IDLE_TIMEOUT,
    };

    impl Default for DeadlinesConfig {
        fn default() -> Self {
            Self {
                urgent: Duration::from_secs(30 * MINUTE),
                high: Duration::from_secs(4 * HOUR),
                routine: Duration::from_secs(24 * HOUR),
                check_interval: Duration::from_secs(5),
            }
        }
    }

    impl Default for DeliveryConfig {
        fn default() -> Self {
            Self {
                initial_backoff: Duration::from_millis(500),
                max_backoff: Duration::from_secs(60),
                concurrency: 64,
                batch_size: 64,
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(15),
            }
        }
    }

    impl Default for ConsoleConfig {
        fn default() -> Self {
            Self {
                officer_totp_required: false,
                lockout_after: 5,
                lockout_duration: Duration::from_secs(15 * MINUTE),
                session_idle_timeout: Duration::from_secs(30 * MINUTE),
                session_max_age: Duration::from_secs(10 * HOUR),
            }
        }
    }

    impl Default for LogConfig {
        fn default() -> Self {
            Self {
                format: LogFormat::Text,
                level: "info".into(),
            }
        }
    }
}
