//! The `[webhooks]` section: how the file spells it, its defaults and its rules.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tulpar_core::codes::CountryCode;
use tulpar_core::webhook::{EVENT_TYPES, event_kind};

use crate::validate::Validator;
use crate::{ConfigError, WebhookSubscription, WebhooksConfig};

/// Most subscriptions a node delivers to; each holds one connection and one task.
pub const MAX_WEBHOOK_SUBSCRIPTIONS: usize = 64;
/// Longest URL a subscription may have.
const MAX_URL_BYTES: usize = 2048;
/// Longest subscription name (it names a file).
const MAX_NAME_CHARS: usize = 64;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RawWebhooks {
    #[serde(deserialize_with = "crate::duration::read")]
    initial_backoff: Duration,
    #[serde(deserialize_with = "crate::duration::read")]
    max_backoff: Duration,
    #[serde(deserialize_with = "crate::duration::read")]
    timeout: Duration,
    ca_certificates: PathBuf,
    allow_http_loopback: bool,
    subscriptions: Vec<RawSubscription>,
}

impl Default for RawWebhooks {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5 * 60),
            timeout: Duration::from_secs(15),
            ca_certificates: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            allow_http_loopback: false,
            subscriptions: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubscription {
    name: String,
    url: String,
    units: Vec<String>,
    #[serde(default)]
    events: Vec<String>,
    secret_file: PathBuf,
}

impl Validator<'_> {
    pub(crate) fn webhooks(
        &self,
        raw: RawWebhooks,
        country: CountryCode,
    ) -> Result<WebhooksConfig, ConfigError> {
        self.positive("webhooks.initial_backoff", raw.initial_backoff)?;
        self.positive("webhooks.timeout", raw.timeout)?;
        if raw.max_backoff < raw.initial_backoff {
            return Err(self.invalid(
                "webhooks.max_backoff",
                "must not be shorter than webhooks.initial_backoff",
            ));
        }
        if raw.subscriptions.len() > MAX_WEBHOOK_SUBSCRIPTIONS {
            return Err(self.invalid(
                "webhooks.subscriptions",
                format!("has at most {MAX_WEBHOOK_SUBSCRIPTIONS} entries"),
            ));
        }
        let mut subscriptions: Vec<WebhookSubscription> = Vec::new();
        for (i, subscription) in raw.subscriptions.into_iter().enumerate() {
            let field = format!("webhooks.subscriptions[{i}]");
            let subscription =
                self.subscription(&field, subscription, country, raw.allow_http_loopback)?;
            if let Some(j) = subscriptions
                .iter()
                .position(|s| s.name == subscription.name)
            {
                return Err(self.invalid(
                    &format!("{field}.name"),
                    format!(
                        "{:?} is already the name of webhooks.subscriptions[{j}]",
                        subscription.name
                    ),
                ));
            }
            subscriptions.push(subscription);
        }
        let mut ca_certificates = raw.ca_certificates;
        self.resolve(&mut ca_certificates);
        Ok(WebhooksConfig {
            initial_backoff: raw.initial_backoff,
            max_backoff: raw.max_backoff,
            timeout: raw.timeout,
            ca_certificates,
            allow_http_loopback: raw.allow_http_loopback,
            subscriptions,
        })
    }

    fn subscription(
        &self,
        field: &str,
        raw: RawSubscription,
        country: CountryCode,
        allow_http_loopback: bool,
    ) -> Result<WebhookSubscription, ConfigError> {
        let name_ok = !raw.name.is_empty()
            && raw.name.chars().count() <= MAX_NAME_CHARS
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(self.invalid(
                &format!("{field}.name"),
                format!(
                    "{:?} is not 1 to {MAX_NAME_CHARS} letters, digits, '-' or '_'",
                    raw.name
                ),
            ));
        }
        let url = self.url(&format!("{field}.url"), &raw.url, allow_http_loopback)?;
        if raw.units.is_empty() {
            return Err(self.invalid(
                &format!("{field}.units"),
                "names the units the subscription acts for (at least one)",
            ));
        }
        let units = self.units(field, &raw.units, country)?;
        let mut events = Vec::new();
        for (i, name) in raw.events.iter().enumerate() {
            let kind = event_kind(name).ok_or_else(|| {
                let known: Vec<_> = EVENT_TYPES.iter().map(|(_, n)| *n).collect();
                self.invalid(
                    &format!("{field}.events[{i}]"),
                    format!("{name:?} is not one of {}", known.join(", ")),
                )
            })?;
            if !events.contains(&kind) {
                events.push(kind);
            }
        }
        let mut secret_file = raw.secret_file;
        self.resolve(&mut secret_file);
        Ok(WebhookSubscription {
            name: raw.name,
            url,
            units,
            events,
            secret_file,
        })
    }

    /// An absolute `https://` URL without credentials or fragment; `http://` only for this machine
    /// and only when allowed.
    pub(crate) fn url(
        &self,
        field: &str,
        text: &str,
        allow_http_loopback: bool,
    ) -> Result<http::Uri, ConfigError> {
        if text.len() > MAX_URL_BYTES {
            return Err(self.invalid(field, format!("is longer than {MAX_URL_BYTES} bytes")));
        }
        let uri: http::Uri = text
            .parse()
            .map_err(|e| self.invalid(field, format!("{text:?} is not a URL ({e})")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(self.invalid(
                field,
                format!("{text:?} is not an absolute URL such as \"https://host/path\""),
            ));
        };
        if authority.as_str().contains('@') {
            return Err(self.invalid(field, "carries no user name or password"));
        }
        match scheme {
            "https" => Ok(uri),
            "http" if is_loopback(authority.host()) => {
                if allow_http_loopback {
                    Ok(uri)
                } else {
                    Err(self.invalid(
                        field,
                        "is http://: receivers are reached over https:// unless \
                         webhooks.allow_http_loopback is true (for a receiver on this machine)",
                    ))
                }
            }
            "http" => Err(self.invalid(
                field,
                "is http:// to another machine: nothing leaves this node but over https://",
            )),
            other => Err(self.invalid(field, format!("{other}:// is not https://"))),
        }
    }
}

/// Whether `host` (as a URL writes it) is this machine.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
