//! Partners: where to reach each, the channel to it, its directory kept fresh, and what is known of it
//! for `ListPeers`.

use std::sync::Arc;

use anyhow::Result;
use tonic::transport::Channel;
use tulpar_core::codes::CountryCode;
use tulpar_core::proto::{self};
use tulpar_core::time::to_timestamp;
use tulpar_trust::tls::{self};

use crate::delivery::{self};
use crate::node::Shared;

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

impl Shared {
    /// Whether `country` is a partner this node may exchange alerts with: pinned, with a verified
    /// directory, and not this node's own country.
    pub(crate) fn is_partner(&self, country: CountryCode) -> bool {
        country != self.country && self.trust.directory(country).is_some()
    }

    /// The partners in the trust store.
    pub(crate) fn partners(&self) -> Vec<CountryCode> {
        self.trust
            .countries()
            .into_iter()
            .filter(|c| *c != self.country)
            .collect()
    }

    /// Where to reach `partner`: the configured override, else the first endpoint of its directory.
    pub(crate) fn partner_endpoint(&self, partner: CountryCode) -> Result<String, PartnerError> {
        if let Some(endpoint) = self.config.federation.endpoints.get(&partner) {
            return Ok(endpoint.clone());
        }
        let directory = self
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
    ) -> Result<Channel, PartnerError> {
        let config = tls::federation_client_config(&self.identity, self.trust.clone(), partner)
            .map_err(|source| PartnerError::Tls { partner, source })?;
        let delivery = &self.config.delivery;
        tulpar_rpc::tls_channel(
            endpoint,
            config,
            delivery.connect_timeout,
            delivery.request_timeout,
        )
        .map_err(PartnerError::Endpoint)
    }

    /// Why `partner`'s directory was last refused, while refresh waits to fetch it again.
    fn directory_refusal(&self, partner: CountryCode) -> Option<String> {
        self.refused_directories
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&partner)
            .map(|r| format!("directory refused: {}", r.why))
    }

    /// What is known about each partner.
    pub(crate) fn peer_statuses(&self) -> Vec<proto::PeerStatus> {
        self.partners()
            .into_iter()
            .map(|country| {
                let status = self.delivery.status(country);
                let directory = self.trust.directory(country);
                let undeliverable = self.state.undeliverable(country).unwrap_or_default();
                let endpoints = match self.partner_endpoint(country) {
                    Ok(endpoint) => vec![endpoint],
                    Err(_) => Vec::new(),
                };
                proto::PeerStatus {
                    country: country.to_string(),
                    endpoints,
                    reachable: status.last_error.is_none() && status.last_contact.is_some(),
                    last_contact: status.last_contact.map(to_timestamp),
                    outbox_depth: self.state.outbox_depth(country),
                    directory_version: directory.as_ref().map_or(0, |d| d.version()),
                    directory_expires_at: directory.as_ref().map(|d| to_timestamp(d.expires_at())),
                    last_error: status
                        .last_error
                        .or_else(|| self.directory_refusal(country))
                        .unwrap_or_default(),
                    next_attempt_at: status.next_attempt.map(to_timestamp),
                    undeliverable: undeliverable.count,
                    last_undeliverable_reason: undeliverable.last_reason,
                }
            })
            .collect()
    }
}

/// Re-reads the trust store every `trust.reload_interval`, so `tulpar trust add` takes effect without a
/// restart; starts delivery workers for partners that appear.
pub(crate) fn start_trust_reload(shared: &Arc<Shared>) {
    let mut known = shared.partners();
    let node = shared.clone();
    shared
        .lifecycle
        .every(shared.config.trust.reload_interval, move || {
            if let Err(error) = node.trust.reload() {
                tracing::error!(%error, "trust store reload failed; keeping the previous state");
            }
            for partner in node.partners() {
                if !known.contains(&partner) {
                    tracing::info!(peer.country = %partner, "new partner in the trust store");
                    node.lifecycle
                        .spawn(delivery::run_worker(node.clone(), partner));
                    known.push(partner);
                }
            }
            std::future::ready(())
        });
}

/// Fetches each partner's directory every `trust.directory_refresh_interval` and accepts a newer one
/// (new unit keys, revocations). Runs apart from delivery, so a slow partner never delays it.
pub(crate) fn start_directory_refresh(shared: &Arc<Shared>) {
    let node = shared.clone();
    shared
        .lifecycle
        .every(shared.config.trust.directory_refresh_interval, move || {
            let node = node.clone();
            async move { refresh_directories(&node).await }
        });
}

/// One round of [`start_directory_refresh`].
async fn refresh_directories(shared: &Shared) {
    for partner in shared.partners() {
        let waiting = shared
            .refused_directories
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&partner)
            .is_some_and(|r| r.retry_at > tokio::time::Instant::now());
        if waiting {
            continue;
        }
        match refresh_directory(shared, partner).await {
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
                shared
                    .refused_directories
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

async fn refresh_directory(shared: &Shared, partner: CountryCode) -> Result<(), RefreshError> {
    let known = shared.trust.directory(partner).map_or(0, |d| d.version());
    let endpoint = shared
        .partner_endpoint(partner)
        .map_err(anyhow::Error::from)?;
    let channel = shared
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
        let accepted = shared
            .trust
            .accept_directory(&envelope)
            .map_err(|e| match e {
                tulpar_trust::store::StoreError::Io { .. } => RefreshError::Failed(e.into()),
                refused => RefreshError::Refused(refused.to_string()),
            })?;
        shared
            .refused_directories
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&partner);
        if accepted.version() > known {
            tracing::info!(peer.country = %partner, version = accepted.version(), "partner directory updated");
        }
    }
    Ok(())
}
