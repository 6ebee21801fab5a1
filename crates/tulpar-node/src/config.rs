//! The node's configuration: one TOML file, every field documented in `deploy/node.example.toml`.
//!
//! Relative paths are resolved against the directory of the configuration file, so a node's folder can
//! be moved as a whole. Any value can be overridden by an environment variable named after its path,
//! `TULPAR__<SECTION>__<FIELD>` (e.g. `TULPAR__CLIENT_API__LISTEN=0.0.0.0:7400`), for containers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_trust::tls::Role;

/// Prefix of environment variables that override configuration values.
pub const ENV_PREFIX: &str = "TULPAR__";

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
    /// The TOML is malformed or a field has the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message, which names the field.
        message: String,
    },
    /// A field breaks a rule.
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
}

/// The client API.
#[derive(Debug, Clone)]
pub struct ClientApiConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer tokens for system integrations.
    pub tokens: Vec<TokenConfig>,
    /// Connections held at once, per address, in handshake, and how long one may stay idle.
    pub connections: crate::transport::ConnectionLimits,
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
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Endpoints to use for partners instead of those in their directories.
    pub endpoints: BTreeMap<CountryCode, String>,
    /// Connections held at once, per address, in handshake, and how long one may stay idle.
    pub connections: crate::transport::ConnectionLimits,
    /// How far in this node's future a partner's alert may be dated (`created_at`); later ones are
    /// refused, since their deadlines would never pass.
    pub max_clock_skew: Duration,
}

/// TLS files.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The node certificate (PEM), with `tulpar://country/<CC>` in its SAN.
    pub certificate: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub private_key: PathBuf,
    /// The national TLS CA certificate (PEM): client certificates on the client API must chain to it.
    pub ca_certificate: PathBuf,
}

/// Signing keys.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    /// The node ledger key: signs checkpoints, receipts and cosignatures.
    pub ledger_key: PathBuf,
    /// Directory of unit keys, one `<UNIT-ID>.key` per unit.
    pub units_dir: PathBuf,
}

/// The trust store.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    /// Directory of the trust store.
    pub store: PathBuf,
    /// This country's own signed directory, served to partners (re-read when it changes).
    pub own_directory: PathBuf,
    /// How often the store is re-read from disk.
    pub reload_interval: Duration,
    /// How often partners' directories are fetched.
    pub directory_refresh_interval: Duration,
}

/// Acknowledgement deadlines by priority.
#[derive(Debug, Clone)]
pub struct DeadlinesConfig {
    /// For URGENT alerts.
    pub urgent: Duration,
    /// For HIGH alerts.
    pub high: Duration,
    /// For ROUTINE alerts.
    pub routine: Duration,
    /// How often deadlines are checked.
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
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// First retry delay after a failure.
    pub initial_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Delivery calls in flight per partner.
    pub concurrency: usize,
    /// Most alerts carried by one delivery call (1: one alert per call).
    pub batch_size: usize,
    /// Time limit for connecting to a partner.
    pub connect_timeout: Duration,
    /// Time limit for one delivery call.
    pub request_timeout: Duration,
}

/// Witnessing.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// How often this node's checkpoint is sent to partners for cosigning.
    pub interval: Duration,
}

/// Logging.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Human-readable text or one JSON object per line.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. "info" or "info,tulpar_node=debug".
    pub level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

// ---- The file's shape: what serde reads before validation. ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    country: String,
    data_dir: PathBuf,
    client_api: RawClientApi,
    federation: RawFederation,
    tls: RawTls,
    keys: RawKeys,
    trust: RawTrust,
    #[serde(default)]
    deadlines: RawDeadlines,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    witness: RawWitness,
    #[serde(default)]
    log: RawLog,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientApi {
    listen: SocketAddr,
    #[serde(default)]
    tokens: Vec<RawToken>,
    #[serde(default = "defaults::client_max_connections")]
    max_connections: usize,
    #[serde(default = "defaults::client_max_connections_per_address")]
    max_connections_per_address: usize,
    #[serde(default = "defaults::client_max_handshakes")]
    max_handshakes: usize,
    #[serde(default = "defaults::idle_timeout")]
    idle_timeout: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    sha256: String,
    role: String,
    #[serde(default)]
    units: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFederation {
    listen: SocketAddr,
    #[serde(default)]
    endpoints: BTreeMap<String, String>,
    #[serde(default = "defaults::federation_max_connections")]
    max_connections: usize,
    #[serde(default = "defaults::federation_max_connections_per_address")]
    max_connections_per_address: usize,
    #[serde(default = "defaults::federation_max_handshakes")]
    max_handshakes: usize,
    #[serde(default = "defaults::idle_timeout")]
    idle_timeout: String,
    #[serde(default = "defaults::max_clock_skew")]
    max_clock_skew: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: PathBuf,
    private_key: PathBuf,
    ca_certificate: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    ledger_key: PathBuf,
    units_dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    store: PathBuf,
    own_directory: PathBuf,
    #[serde(default = "defaults::reload_interval")]
    reload_interval: String,
    #[serde(default = "defaults::directory_refresh_interval")]
    directory_refresh_interval: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadlines {
    #[serde(default = "defaults::urgent")]
    urgent: String,
    #[serde(default = "defaults::high")]
    high: String,
    #[serde(default = "defaults::routine")]
    routine: String,
    #[serde(default = "defaults::check_interval")]
    check_interval: String,
}

impl Default for RawDeadlines {
    fn default() -> Self {
        Self {
            urgent: defaults::urgent(),
            high: defaults::high(),
            routine: defaults::routine(),
            check_interval: defaults::check_interval(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    #[serde(default = "defaults::initial_backoff")]
    initial_backoff: String,
    #[serde(default = "defaults::max_backoff")]
    max_backoff: String,
    #[serde(default = "defaults::concurrency")]
    concurrency: usize,
    #[serde(default = "defaults::batch_size")]
    batch_size: usize,
    #[serde(default = "defaults::connect_timeout")]
    connect_timeout: String,
    #[serde(default = "defaults::request_timeout")]
    request_timeout: String,
}

impl Default for RawDelivery {
    fn default() -> Self {
        Self {
            initial_backoff: defaults::initial_backoff(),
            max_backoff: defaults::max_backoff(),
            concurrency: defaults::concurrency(),
            batch_size: defaults::batch_size(),
            connect_timeout: defaults::connect_timeout(),
            request_timeout: defaults::request_timeout(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWitness {
    #[serde(default = "defaults::witness_interval")]
    interval: String,
}

impl Default for RawWitness {
    fn default() -> Self {
        Self {
            interval: defaults::witness_interval(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    #[serde(default = "defaults::log_format")]
    format: LogFormat,
    #[serde(default = "defaults::log_level")]
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: defaults::log_format(),
            level: defaults::log_level(),
        }
    }
}

mod defaults {
    use super::LogFormat;

    pub(super) fn reload_interval() -> String {
        "10s".into()
    }
    pub(super) fn directory_refresh_interval() -> String {
        "15m".into()
    }
    pub(super) fn max_clock_skew() -> String {
        "5m".into()
    }
    pub(super) fn urgent() -> String {
        "30m".into()
    }
    pub(super) fn high() -> String {
        "4h".into()
    }
    pub(super) fn routine() -> String {
        "24h".into()
    }
    pub(super) fn check_interval() -> String {
        "5s".into()
    }
    pub(super) fn initial_backoff() -> String {
        "500ms".into()
    }
    pub(super) fn max_backoff() -> String {
        "60s".into()
    }
    pub(super) fn concurrency() -> usize {
        64
    }
    pub(super) fn batch_size() -> usize {
        64
    }
    pub(super) fn connect_timeout() -> String {
        "5s".into()
    }
    pub(super) fn request_timeout() -> String {
        "15s".into()
    }
    pub(super) fn witness_interval() -> String {
        "60s".into()
    }
    pub(super) fn log_format() -> LogFormat {
        LogFormat::Text
    }
    pub(super) fn log_level() -> String {
        "info".into()
    }
    pub(super) fn client_max_connections() -> usize {
        4096
    }
    pub(super) fn client_max_connections_per_address() -> usize {
        256
    }
    pub(super) fn client_max_handshakes() -> usize {
        128
    }
    pub(super) fn federation_max_connections() -> usize {
        256
    }
    pub(super) fn federation_max_connections_per_address() -> usize {
        16
    }
    pub(super) fn federation_max_handshakes() -> usize {
        32
    }
    pub(super) fn idle_timeout() -> String {
        "5m".into()
    }
}

/// Parses a duration such as "500ms", "30s", "15m", "4h" or "1d".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration such as \"500ms\", \"30s\", \"15m\", \"4h\", \"1d\"")
    })?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(value)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?} has no unit; write e.g. \"500ms\", \"30s\", \"15m\", \"4h\" or \"1d\""
            ));
        }
    };
    Ok(Duration::from_secs(value.saturating_mul(seconds)))
}

/// Applies `TULPAR__A__B=value` overrides from `vars` to the parsed file.
fn apply_overrides(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<(), (String, String)> {
    for (name, value) in vars {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        let field = keys.join(".");
        let Some((last, parents)) = keys.split_last() else {
            continue;
        };
        let mut current = &mut *table;
        for key in parents {
            let entry = current
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            current = match entry {
                toml::Value::Table(inner) => inner,
                _ => return Err((field, format!("{name}: {key} is not a section"))),
            };
        }
        let parsed = if let Ok(number) = value.parse::<i64>() {
            toml::Value::Integer(number)
        } else if let Ok(flag) = value.parse::<bool>() {
            toml::Value::Boolean(flag)
        } else {
            toml::Value::String(value)
        };
        current.insert(last.clone(), parsed);
    }
    Ok(())
}

impl Config {
    /// Loads, overrides from the environment, and validates the configuration at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path, std::env::vars())
    }

    /// Parses `text` as if read from `path` (relative paths resolve against its directory), with the
    /// given environment overrides.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_owned(),
            message,
        };
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        apply_overrides(&mut table, env).map_err(|(field, rule)| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            rule,
        })?;
        let raw: RawConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| parse_error(e.to_string()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Validator { path, base }.config(raw)
    }
}

struct Validator<'a> {
    path: &'a Path,
    base: PathBuf,
}

impl Validator<'_> {
    fn invalid(&self, field: &str, rule: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            field: field.to_owned(),
            rule: rule.into(),
        }
    }

    fn file(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() {
            path
        } else {
            self.base.join(path)
        }
    }

    fn duration(&self, field: &str, text: &str) -> Result<Duration, ConfigError> {
        let duration = parse_duration(text).map_err(|rule| self.invalid(field, rule))?;
        if duration.is_zero() {
            return Err(self.invalid(field, "must be longer than zero"));
        }
        Ok(duration)
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let country =
            CountryCode::parse(&raw.country).map_err(|e| self.invalid("country", e.to_string()))?;
        let tokens = raw
            .client_api
            .tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| self.token(&format!("client_api.tokens[{i}]"), token, country))
            .collect::<Result<Vec<_>, _>>()?;
        self.check_tokens(&tokens)?;
        let mut endpoints = BTreeMap::new();
        for (code, endpoint) in raw.federation.endpoints {
            let field = format!("federation.endpoints.{code}");
            let partner =
                CountryCode::parse(&code).map_err(|e| self.invalid(&field, e.to_string()))?;
            if !endpoint.contains(':') {
                return Err(self.invalid(&field, format!("{endpoint:?} is not HOST:PORT")));
            }
            endpoints.insert(partner, endpoint);
        }
        let deadlines = RawDeadlines { ..raw.deadlines };
        let delivery = self.delivery(raw.delivery)?;
        let log_level = raw.log.level;
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(self.invalid(
                "log.level",
                format!("{log_level:?} is not a log filter such as \"info\""),
            ));
        }
        Ok(Config {
            country,
            data_dir: self.file(raw.data_dir),
            client_api: ClientApiConfig {
                listen: raw.client_api.listen,
                tokens,
                connections: self.connections(
                    "client_api",
                    [
                        raw.client_api.max_connections,
                        raw.client_api.max_connections_per_address,
                        raw.client_api.max_handshakes,
                    ],
                    &raw.client_api.idle_timeout,
                )?,
            },
            federation: FederationConfig {
                listen: raw.federation.listen,
                endpoints,
                connections: self.connections(
                    "federation",
                    [
                        raw.federation.max_connections,
                        raw.federation.max_connections_per_address,
                        raw.federation.max_handshakes,
                    ],
                    &raw.federation.idle_timeout,
                )?,
                max_clock_skew: self
                    .duration("federation.max_clock_skew", &raw.federation.max_clock_skew)?,
            },
            tls: TlsConfig {
                certificate: self.file(raw.tls.certificate),
                private_key: self.file(raw.tls.private_key),
                ca_certificate: self.file(raw.tls.ca_certificate),
            },
            keys: KeysConfig {
                ledger_key: self.file(raw.keys.ledger_key),
                units_dir: self.file(raw.keys.units_dir),
            },
            trust: TrustConfig {
                store: self.file(raw.trust.store),
                own_directory: self.file(raw.trust.own_directory),
                reload_interval: self
                    .duration("trust.reload_interval", &raw.trust.reload_interval)?,
                directory_refresh_interval: self.duration(
                    "trust.directory_refresh_interval",
                    &raw.trust.directory_refresh_interval,
                )?,
            },
            deadlines: DeadlinesConfig {
                urgent: self.duration("deadlines.urgent", &deadlines.urgent)?,
                high: self.duration("deadlines.high", &deadlines.high)?,
                routine: self.duration("deadlines.routine", &deadlines.routine)?,
                check_interval: self
                    .duration("deadlines.check_interval", &deadlines.check_interval)?,
            },
            delivery,
            witness: WitnessConfig {
                interval: self.duration("witness.interval", &raw.witness.interval)?,
            },
            log: LogConfig {
                format: raw.log.format,
                level: log_level,
            },
        })
    }

    fn token(
        &self,
        field: &str,
        raw: RawToken,
        country: CountryCode,
    ) -> Result<TokenConfig, ConfigError> {
        if raw.name.trim().is_empty() {
            return Err(self.invalid(&format!("{field}.name"), "is required"));
        }
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(raw.sha256.to_ascii_lowercase(), &mut sha256).map_err(|_| {
            self.invalid(
                &format!("{field}.sha256"),
                "must be the 64-hex-digit SHA-256 of the token (`tulpar token new` prints it)",
            )
        })?;
        let role = Role::parse(&raw.role).ok_or_else(|| {
            self.invalid(
                &format!("{field}.role"),
                format!(
                    "{:?} is not one of officer, focal-point, integrator, admin",
                    raw.role
                ),
            )
        })?;
        let mut units = Vec::new();
        for (i, unit) in raw.units.iter().enumerate() {
            let unit_field = format!("{field}.units[{i}]");
            let unit = UnitId::parse(unit).map_err(|e| self.invalid(&unit_field, e.to_string()))?;
            if unit.country() != country {
                return Err(self.invalid(&unit_field, format!("{unit} is not a unit of {country}")));
            }
            units.push(unit);
        }
        let needs_units = matches!(role, Role::Officer | Role::Integrator);
        if needs_units && units.is_empty() {
            return Err(self.invalid(
                &format!("{field}.units"),
                format!("a {} token must name its units", role.as_str()),
            ));
        }
        if role == Role::Officer && units.len() > 1 {
            return Err(self.invalid(
                &format!("{field}.units"),
                "an officer acts for exactly one unit",
            ));
        }
        Ok(TokenConfig {
            name: raw.name,
            sha256,
            role,
            units,
        })
    }

    /// Tokens are revoked by name, so names are unique; a token anyone could guess is refused.
    fn check_tokens(&self, tokens: &[TokenConfig]) -> Result<(), ConfigError> {
        for (i, token) in tokens.iter().enumerate() {
            if let Some(j) = tokens[..i].iter().position(|t| t.name == token.name) {
                return Err(self.invalid(
                    &format!("client_api.tokens[{i}].name"),
                    format!(
                        "{:?} is already the name of client_api.tokens[{j}]; tokens are revoked by \
                         name, so each needs its own",
                        token.name
                    ),
                ));
            }
            if let Some(j) = tokens[..i].iter().position(|t| t.sha256 == token.sha256) {
                return Err(self.invalid(
                    &format!("client_api.tokens[{i}].sha256"),
                    format!("is the same token as client_api.tokens[{j}]"),
                ));
            }
        }
        let hashes: Vec<_> = tokens.iter().map(|t| (t.sha256, t.name.as_str())).collect();
        let weak = weak_tokens::guessable(&hashes);
        for (i, token) in tokens.iter().enumerate() {
            if let Some(secret) = weak.get(&token.sha256) {
                return Err(self.invalid(
                    &format!("client_api.tokens[{i}].sha256"),
                    format!(
                        "token {:?} is the SHA-256 of {secret:?}, a secret anyone could guess; \
                         make a token with `tulpar token new` and put the sha256 it prints here",
                        token.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The connection limits of the listener `section`: `[max_connections,
    /// max_connections_per_address, max_handshakes]` and `idle_timeout`.
    fn connections(
        &self,
        section: &str,
        [total, per_address, handshakes]: [usize; 3],
        idle_timeout: &str,
    ) -> Result<crate::transport::ConnectionLimits, ConfigError> {
        const MOST: usize = 1_000_000;
        if !(1..=MOST).contains(&total) {
            return Err(self.invalid(
                &format!("{section}.max_connections"),
                format!("must be between 1 and {MOST}"),
            ));
        }
        for (field, value) in [
            ("max_connections_per_address", per_address),
            ("max_handshakes", handshakes),
        ] {
            if !(1..=total).contains(&value) {
                return Err(self.invalid(
                    &format!("{section}.{field}"),
                    format!("must be between 1 and {section}.max_connections ({total})"),
                ));
            }
        }
        Ok(crate::transport::ConnectionLimits {
            max_connections: total,
            max_connections_per_address: per_address,
            max_handshakes: handshakes,
            idle_timeout: self.duration(&format!("{section}.idle_timeout"), idle_timeout)?,
        })
    }

    fn delivery(&self, raw: RawDelivery) -> Result<DeliveryConfig, ConfigError> {
        let initial_backoff = self.duration("delivery.initial_backoff", &raw.initial_backoff)?;
        let max_backoff = self.duration("delivery.max_backoff", &raw.max_backoff)?;
        if max_backoff < initial_backoff {
            return Err(self.invalid(
                "delivery.max_backoff",
                "must not be shorter than delivery.initial_backoff",
            ));
        }
        if !(1..=1024).contains(&raw.concurrency) {
            return Err(self.invalid("delivery.concurrency", "must be between 1 and 1024"));
        }
        // A partner refuses more alerts per call than this.
        let most = crate::service::federation::MAX_ALERTS_PER_CALL;
        if !(1..=most).contains(&raw.batch_size) {
            return Err(self.invalid(
                "delivery.batch_size",
                format!("must be between 1 and {most}"),
            ));
        }
        Ok(DeliveryConfig {
            initial_backoff,
            max_backoff,
            concurrency: raw.concurrency,
            batch_size: raw.batch_size,
            connect_timeout: self.duration("delivery.connect_timeout", &raw.connect_timeout)?,
            request_timeout: self.duration("delivery.request_timeout", &raw.request_timeout)?,
        })
    }
}

mod descriptors;

#[cfg(test)]
mod tests;
mod weak_tokens;
