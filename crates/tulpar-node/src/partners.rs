//! Partners: where to reach each, the channel to it, its directory kept fresh, and what is known of it
//! for `ListPeers`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::metrics::PartnerChannel;
use anyhow::Result;
use tulpar_core::codes::CountryCode;
use tulpar_core::proto::{self};
use tulpar_trust::tls::{self, NodeIdentity};

use crate::config::Config;

use crate::context::Context;

/// Why a partner cannot be reached.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PartnerError {
    /// No verified directory of the partner is held.
    #[error("no verified directory of {0}")]
    NoDirectory(CountryCode),
    /// The partner's directory lists no endpoint and none is configured.
    #[error("the directory of {0} names no endpoint")]
    NoEndpoint(CountryCode),
    /// No TLS configuration for the partner can be made.
    #[error("TLS towards {partner}: {source}")]
    Tls {
        /// The partner.
        partner: CountryCode,
        /// Why.
        source: tulpar_trust::tls::TlsError,
    },
    /// The endpoint cannot be used.
    #[error(transparent)]
    Endpoint(#[from] tulpar_rpc::ChannelError),
}

/// A partner's directory this node refused (too large, not verifying): why, and when to fetch again.
#[derive(Debug, Clone)]
pub(crate) struct RefusedDirectory {
    pub(crate) why: String,
    pub(crate) retry_at: tokio::time::Instant,
}

/// How long a partner whose directory was refused goes without being asked for it again: the
/// partner's focal point has to publish a new version, which takes people, not seconds.
const DIRECTORY_REFUSAL_BACKOFF: std::time::Duration = std::time::Duration::from_secs(3600);

/// The partners in the trust store: where each is reached, and its directory kept fresh.
pub(crate) struct Partners {
    context: Arc<Context>,
    identity: Arc<NodeIdentity>,
    /// `federation.endpoints`: addresses that override those of partners' directories.
    endpoints: std::collections::BTreeMap<CountryCode, String>,
    connect_timeout: std::time::Duration,
    request_timeout: std::time::Duration,
    /// Partners whose directory was refused, so it is not fetched again every interval.
    refused: std::sync::Mutex<HashMap<CountryCode, RefusedDirectory>>,
}

impl Partners {
    /// The partners of the node with `identity`, reached as `config` says.
    pub(crate) fn new(context: Arc<Context>, identity: Arc<NodeIdentity>, config: &Config) -> Self {
        Self {
            context,
            identity,
            endpoints: config.federation.endpoints.clone(),
            connect_timeout: config.delivery.connect_timeout,
            request_timeout: config.delivery.request_timeout,
            refused: Default::default(),
        }
    }

    /// Where to reach `partner`: the configured override, else the first endpoint of its directory.
    pub(crate) fn partner_endpoint(&self, partner: CountryCode) -> Result<String, PartnerError> {
        if let Some(endpoint) = self.endpoints.get(&partner) {
            return Ok(endpoint.clone());
        }
        let directory = self
            .context
            .trust
            .directory(partner)
            .ok_or(PartnerError::NoDirectory(partner))?;
        directory
            .endpoints()
            .first()
            .cloned()
            .ok_or(PartnerError::NoEndpoint(partner))
    }

    /// A channel to `partner` at `endpoint`, verifying its certificate against its own CA only.
    pub(crate) fn connect_partner(
        &self,
        partner: CountryCode,
        endpoint: &str,
    ) -> Result<PartnerChannel, PartnerError> {
        let config =
            tls::federation_client_config(&self.identity, self.context.trust.clone(), partner)
                .map_err(|source| PartnerError::Tls { partner, source })?;
        tulpar_rpc::tls_channel_with_keepalive(
            endpoint,
            config,
            self.connect_timeout,
            self.request_timeout,
            tulpar_rpc::Keepalive::PARTNER,
        )
        .map(|channel| self.context.metrics.time_partner_calls(partner, channel))
        .map_err(PartnerError::Endpoint)
    }

    /// Why `partner`'s directory was last refused, while refresh waits to fetch it again.
    pub(crate) fn directory_refusal(&self, partner: CountryCode) -> Option<String> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&partner)
            .map(|r| format!("directory refused: {}", r.why))
    }
}

/// Fetches each partner's directory every `trust.directory_refresh_interval` and accepts a newer one
/// (new unit keys, revocations). Runs apart from delivery, so a slow partner never delays it.
pub(crate) fn start_directory_refresh(partners: &Arc<Partners>, interval: std::time::Duration) {
    let node = partners.clone();
    partners.context.lifecycle.every(interval, move || {
        let partners = node.clone();
        async move { refresh_directories(&partners).await }
    });
}

/// One round of [`start_directory_refresh`].
async fn refresh_directories(partners: &Partners) {
    for partner in partners.context.partners() {
        let waiting = partners
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&partner)
            .is_some_and(|r| r.retry_at > tokio::time::Instant::now());
        if waiting {
            continue;
        }
        match refresh_directory(partners, partner).await {
            Ok(()) => {}
            Err(RefreshError::Failed(error)) => {
                tracing::warn!(peer.country = %partner, %error, "directory refresh failed");
            }
            Err(RefreshError::Refused(why)) => {
                // Logged once per refusal; the partner is asked again only after the backoff.
                tracing::error!(
                    peer.country = %partner,
                    error = %why,
                    retry_in = %tulpar_core::time::fmt_duration(DIRECTORY_REFUSAL_BACKOFF),
                    "partner directory refused"
                );
                partners
                    .refused
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        partner,
                        RefusedDirectory {
                            why,
                            retry_at: tokio::time::Instant::now() + DIRECTORY_REFUSAL_BACKOFF,
                        },
                    );
            }
        }
    }
}

/// Why a partner's directory was not refreshed.
enum RefreshError {
    /// The partner could not be asked (unreachable, TLS): tried again next interval.
    Failed(anyhow::Error),
    /// What the partner served was refused: not fetched again until the backoff passes.
    Refused(String),
}

impl From<anyhow::Error> for RefreshError {
    fn from(error: anyhow::Error) -> Self {
        Self::Failed(error)
    }
}

async fn refresh_directory(partners: &Partners, partner: CountryCode) -> Result<(), RefreshError> {
    let known = partners
        .context
        .trust
        .directory(partner)
        .map_or(0, |d| d.version());
    let endpoint = partners
        .partner_endpoint(partner)
        .map_err(anyhow::Error::from)?;
    let channel = partners
        .connect_partner(partner, &endpoint)
        .map_err(anyhow::Error::from)?;
    // A directory past the limit is refused as it arrives, before it is buffered whole or decoded.
    let mut client = crate::transport::federation_client(channel)
        .max_decoding_message_size(tulpar_core::limits::MAX_DIRECTORY_BYTES + 64 * 1024);
    let response = client
        .get_directory(proto::GetDirectoryRequest {
            known_version: known,
        })
        .await;
    let response = match response {
        Ok(response) => response,
        Err(status) if status.code() == tonic::Code::OutOfRange => {
            return Err(RefreshError::Refused(format!(
                "the directory served is larger than {} bytes (tulpar_core::limits::MAX_DIRECTORY_BYTES)",
                tulpar_core::limits::MAX_DIRECTORY_BYTES
            )));
        }
        Err(status) => return Err(RefreshError::Failed(status.into())),
    };
    if let Some(envelope) = response.into_inner().directory {
        let accepted = partners
            .context
            .trust
            .accept_directory(&envelope)
            .map_err(|e| match e {
                tulpar_trust::store::StoreError::Io { .. } => RefreshError::Failed(e.into()),
                refused => RefreshError::Refused(refused.to_string()),
            })?;
        partners
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&partner);
        if accepted.version() > known {
            tracing::info!(peer.country = %partner, version = accepted.version(), "partner directory updated");
        }
    }
    Ok(())
}
