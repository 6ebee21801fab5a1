//! The rules a configuration keeps beyond the types of its fields; each refusal names the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tulpar_core::codes::{CountryCode, UnitId};
use tulpar_core::limits::MAX_ALERTS_PER_CALL;
use tulpar_trust::tls::Role;

use crate::defaults::{CLIENT_CONNECTIONS, FEDERATION_CONNECTIONS};

/// Longest federation name: origins and witness names are written into every checkpoint.
const MAX_FEDERATION_NAME_BYTES: usize = 200;
use crate::load::{RawConfig, RawToken};
use crate::{
    ClientApiConfig, Config, ConfigError, ConnectionLimits, DeliveryConfig, FederationConfig,
    TokenConfig, weak_tokens,
};

pub(crate) struct Validator<'a> {
    pub(crate) path: &'a Path,
    pub(crate) base: PathBuf,
}

impl Validator<'_> {
    pub(crate) fn invalid(&self, field: &str, rule: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            field: field.to_owned(),
            rule: rule.into(),
        }
    }

    /// The metrics listener must not take either API's address.
    fn metrics(&self, raw: &RawConfig) -> Result<(), ConfigError> {
        let Some(listen) = raw.metrics.listen else {
            return Ok(());
        };
        for (field, api) in [
            ("client_api.listen", raw.client_api.listen),
            ("federation.listen", raw.federation.listen),
        ] {
            if listen.port() != 0 && listen == api {
                return Err(self.invalid("metrics.listen", format!("{listen} is already {field}")));
            }
        }
        Ok(())
    }

    /// Resolves a relative path against the configuration file's directory.
    pub(crate) fn resolve(&self, path: &mut PathBuf) {
        if path.is_relative() {
            *path = self.base.join(&*path);
        }
    }

    pub(crate) fn config(&self, mut raw: RawConfig) -> Result<Config, ConfigError> {
        let country =
            CountryCode::parse(&raw.country).map_err(|e| self.invalid("country", e.to_string()))?;
        let tokens = std::mem::take(&mut raw.client_api.tokens)
            .into_iter()
            .enumerate()
            .map(|(i, token)| self.token(&format!("client_api.tokens[{i}]"), token, country))
            .collect::<Result<Vec<_>, _>>()?;
        self.check_tokens(&tokens)?;
        let mut endpoints = BTreeMap::new();
        for (code, endpoint) in std::mem::take(&mut raw.federation.endpoints) {
            let field = format!("federation.endpoints.{code}");
            let partner =
                CountryCode::parse(&code).map_err(|e| self.invalid(&field, e.to_string()))?;
            if !endpoint.contains(':') {
                return Err(self.invalid(&field, format!("{endpoint:?} is not HOST:PORT")));
            }
            endpoints.insert(partner, endpoint);
        }
        if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
            return Err(self.invalid(
                "log.level",
                format!("{:?} is not a log filter such as \"info\"", raw.log.level),
            ));
        }
        self.delivery(&raw.delivery)?;
        let witness = self.witness(std::mem::take(&mut raw.witness))?;
        self.federation_name(&raw.federation.name)?;
        let webhooks = self.webhooks(std::mem::take(&mut raw.webhooks), country)?;
        let (client, federation) = (&raw.client_api, &raw.federation);
        let client_connections = self.connections(
            "client_api",
            [
                client.max_connections,
                client.max_connections_per_address,
                client.max_handshakes,
            ],
            client.idle_timeout,
            CLIENT_CONNECTIONS,
        )?;
        let federation_connections = self.connections(
            "federation",
            [
                federation.max_connections,
                federation.max_connections_per_address,
                federation.max_handshakes,
            ],
            federation.idle_timeout,
            FEDERATION_CONNECTIONS,
        )?;
        let durations = [
            ("federation.max_clock_skew", federation.max_clock_skew),
            ("trust.reload_interval", raw.trust.reload_interval),
            (
                "trust.directory_refresh_interval",
                raw.trust.directory_refresh_interval,
            ),
            ("deadlines.urgent", raw.deadlines.urgent),
            ("deadlines.high", raw.deadlines.high),
            ("deadlines.routine", raw.deadlines.routine),
            ("deadlines.check_interval", raw.deadlines.check_interval),
            ("delivery.connect_timeout", raw.delivery.connect_timeout),
            ("delivery.request_timeout", raw.delivery.request_timeout),
            ("console.lockout_duration", raw.console.lockout_duration),
            (
                "console.session_idle_timeout",
                raw.console.session_idle_timeout,
            ),
            ("console.session_max_age", raw.console.session_max_age),
        ];
        for (field, duration) in durations {
            self.positive(field, duration)?;
        }
        if !(1..=100).contains(&raw.console.lockout_after) {
            return Err(self.invalid("console.lockout_after", "must be between 1 and 100"));
        }
        if raw.console.session_max_age < raw.console.session_idle_timeout {
            return Err(self.invalid(
                "console.session_max_age",
                "must not be shorter than console.session_idle_timeout",
            ));
        }
        self.metrics(&raw)?;
        let mut config = Config {
            country,
            data_dir: raw.data_dir,
            client_api: ClientApiConfig {
                listen: raw.client_api.listen,
                tokens,
                connections: client_connections,
            },
            federation: FederationConfig {
                name: raw.federation.name,
                listen: raw.federation.listen,
                endpoints,
                connections: federation_connections,
                max_clock_skew: raw.federation.max_clock_skew,
            },
            tls: raw.tls,
            keys: raw.keys,
            trust: raw.trust,
            deadlines: raw.deadlines,
            delivery: raw.delivery,
            witness,
            log: raw.log,
            webhooks,
            console: raw.console,
            metrics: raw.metrics,
        };
        for path in [
            &mut config.data_dir,
            &mut config.tls.certificate,
            &mut config.tls.private_key,
            &mut config.tls.ca_certificate,
            &mut config.keys.ledger_key,
            &mut config.keys.units_dir,
            &mut config.trust.store,
            &mut config.trust.own_directory,
        ] {
            self.resolve(path);
        }
        Ok(config)
    }

    /// The unit ids of `{field}.units`, each a unit of `country`.
    pub(crate) fn units(
        &self,
        field: &str,
        raw: &[String],
        country: CountryCode,
    ) -> Result<Vec<UnitId>, ConfigError> {
        let mut units = Vec::new();
        for (i, unit) in raw.iter().enumerate() {
            let unit_field = format!("{field}.units[{i}]");
            let unit = UnitId::parse(unit).map_err(|e| self.invalid(&unit_field, e.to_string()))?;
            if unit.country() != country {
                return Err(self.invalid(&unit_field, format!("{unit} is not a unit of {country}")));
            }
            units.push(unit);
        }
        Ok(units)
    }

    /// A federation name must make origins (`<name>/<CC>`) that signed notes accept.
    fn federation_name(&self, name: &str) -> Result<(), ConfigError> {
        let fine = !name.is_empty()
            && name.len() <= MAX_FEDERATION_NAME_BYTES
            && !name.ends_with('/')
            && name.chars().all(|c| c.is_ascii_graphic() && c != '+');
        if !fine {
            return Err(self.invalid(
                "federation.name",
                format!(
                    "{name:?} is not 1 to {MAX_FEDERATION_NAME_BYTES} printable ASCII characters \
                     without spaces or '+', not ending in '/', such as \"pcu-mou.example\""
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn positive(&self, field: &str, duration: Duration) -> Result<(), ConfigError> {
        if duration.is_zero() {
            return Err(self.invalid(field, "must be longer than zero"));
        }
        Ok(())
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
        let units = self.units(field, &raw.units, country)?;
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
    /// max_connections_per_address, max_handshakes]`, each absent one taken from `defaults`, and
    /// `idle_timeout`.
    fn connections(
        &self,
        section: &str,
        [total, per_address, handshakes]: [Option<usize>; 3],
        idle_timeout: Duration,
        defaults: ConnectionLimits,
    ) -> Result<ConnectionLimits, ConfigError> {
        const MOST: usize = 1_000_000;
        let limits = ConnectionLimits {
            max_connections: total.unwrap_or(defaults.max_connections),
            max_connections_per_address: per_address
                .unwrap_or(defaults.max_connections_per_address),
            max_handshakes: handshakes.unwrap_or(defaults.max_handshakes),
            idle_timeout,
        };
        let total = limits.max_connections;
        if !(1..=MOST).contains(&total) {
            return Err(self.invalid(
                &format!("{section}.max_connections"),
                format!("must be between 1 and {MOST}"),
            ));
        }
        for (field, value) in [
            (
                "max_connections_per_address",
                limits.max_connections_per_address,
            ),
            ("max_handshakes", limits.max_handshakes),
        ] {
            if !(1..=total).contains(&value) {
                return Err(self.invalid(
                    &format!("{section}.{field}"),
                    format!("must be between 1 and {section}.max_connections ({total})"),
                ));
            }
        }
        self.positive(&format!("{section}.idle_timeout"), limits.idle_timeout)?;
        Ok(limits)
    }

    fn delivery(&self, delivery: &DeliveryConfig) -> Result<(), ConfigError> {
        self.positive("delivery.initial_backoff", delivery.initial_backoff)?;
        self.positive("delivery.max_backoff", delivery.max_backoff)?;
        if delivery.max_backoff < delivery.initial_backoff {
            return Err(self.invalid(
                "delivery.max_backoff",
                "must not be shorter than delivery.initial_backoff",
            ));
        }
        if !(1..=1024).contains(&delivery.concurrency) {
            return Err(self.invalid("delivery.concurrency", "must be between 1 and 1024"));
        }
        // A partner refuses more alerts per call than this.
        if !(1..=MAX_ALERTS_PER_CALL).contains(&delivery.batch_size) {
            return Err(self.invalid(
                "delivery.batch_size",
                format!("must be between 1 and {MAX_ALERTS_PER_CALL}"),
            ));
        }
        Ok(())
    }
}
