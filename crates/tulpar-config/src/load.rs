//! Reading: the file, then `TULPAR__*` variables over it, into the shape of the file, then validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::validate::Validator;
use crate::{
    Config, ConfigError, DeadlinesConfig, DeliveryConfig, KeysConfig, LogConfig, TlsConfig,
    TrustConfig,
};

/// Prefix of environment variables that override configuration values.
pub const ENV_PREFIX: &str = "TULPAR__";

// ---- The file's shape where it differs from the validated types. ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub(crate) country: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) client_api: RawClientApi,
    pub(crate) federation: RawFederation,
    pub(crate) tls: TlsConfig,
    pub(crate) keys: KeysConfig,
    pub(crate) trust: TrustConfig,
    #[serde(default)]
    pub(crate) deadlines: DeadlinesConfig,
    #[serde(default)]
    pub(crate) delivery: DeliveryConfig,
    #[serde(default)]
    pub(crate) witness: crate::witness::RawWitness,
    #[serde(default)]
    pub(crate) log: LogConfig,
    #[serde(default)]
    pub(crate) webhooks: crate::webhooks::RawWebhooks,
    #[serde(default)]
    pub(crate) console: crate::ConsoleConfig,
    #[serde(default)]
    pub(crate) metrics: crate::MetricsConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClientApi {
    pub(crate) listen: SocketAddr,
    #[serde(default)]
    pub(crate) tokens: Vec<RawToken>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_address: Option<usize>,
    pub(crate) max_handshakes: Option<usize>,
    #[serde(
        default = "crate::defaults::idle_timeout",
        deserialize_with = "crate::duration::read"
    )]
    pub(crate) idle_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToken {
    pub(crate) name: String,
    pub(crate) sha256: String,
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) units: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFederation {
    #[serde(default = "crate::defaults::federation_name")]
    pub(crate) name: String,
    pub(crate) listen: SocketAddr,
    #[serde(default)]
    pub(crate) endpoints: BTreeMap<String, String>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_address: Option<usize>,
    pub(crate) max_handshakes: Option<usize>,
    #[serde(
        default = "crate::defaults::idle_timeout",
        deserialize_with = "crate::duration::read"
    )]
    pub(crate) idle_timeout: Duration,
    #[serde(
        default = "crate::defaults::max_clock_skew",
        deserialize_with = "crate::duration::read"
    )]
    pub(crate) max_clock_skew: Duration,
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
    /// given environment variables (those without [`ENV_PREFIX`] are ignored).
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: config::Map<String, String> = env.collect();
        // Values stay text until deserialized, so each is read as the type of the field it sets.
        let environment = config::Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
            .prefix_separator("__")
            .separator("__")
            .try_parsing(false)
            .source(Some(env.clone()));
        let raw: RawConfig = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .add_source(environment)
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| layering_error(path, e, &env))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Validator { path, base }.config(raw)
    }
}

/// Names the field when the error is about one, and the variable when the value came from one.
fn layering_error(
    path: &Path,
    error: config::ConfigError,
    env: &config::Map<String, String>,
) -> ConfigError {
    let (key, rule) = match error {
        config::ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => (key, format!("{unexpected} is not {expected}")),
        config::ConfigError::At {
            error,
            key: Some(key),
            ..
        } => (key, error.to_string()),
        other => {
            return ConfigError::Parse {
                path: path.to_owned(),
                message: other.to_string(),
            };
        }
    };
    let variable = format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
    let rule = match env.keys().find(|name| name.eq_ignore_ascii_case(&variable)) {
        Some(name) => format!("{rule} (set by {name})"),
        None => rule,
    };
    ConfigError::Invalid {
        path: path.to_owned(),
        field: key,
        rule,
    }
}
