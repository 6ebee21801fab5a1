//! The node composed of its components, as the services and start-up see it. Components know only the
//! [`Context`] and the components they are given; this module is where they are put together.

use std::sync::Arc;

use tulpar_core::proto;
use tulpar_core::time::to_timestamp;
use tulpar_trust::tls::NodeIdentity;

use crate::accounts::Accounts;
use crate::audit::Auditor;
use crate::client_auth::ClientAuth;
use crate::config::Config;
use crate::context::Context;
use crate::deadlines::Deadlines;
use crate::delivery::Delivery;
use crate::inbound::Inbound;
use crate::ledger_key::LedgerKeyFiles;
use crate::partners::Partners;
use crate::submission::Submission;
use crate::units::UnitKeys;
use crate::webhooks::Webhooks;
use crate::witness::Witness;

/// The node's components.
pub(crate) struct Node {
    pub(crate) config: Config,
    pub(crate) context: Arc<Context>,
    /// The node's TLS identity, for both servers and for calls to partners.
    pub(crate) identity: Arc<NodeIdentity>,
    pub(crate) auth: Arc<ClientAuth>,
    pub(crate) partners: Arc<Partners>,
    pub(crate) delivery: Arc<Delivery>,
    pub(crate) inbound: Arc<Inbound>,
    pub(crate) submission: Submission,
    pub(crate) witness: Arc<Witness>,
    pub(crate) deadlines: Arc<Deadlines>,
    pub(crate) auditor: Arc<Auditor>,
    pub(crate) webhooks: Arc<Webhooks>,
    pub(crate) accounts: Arc<Accounts>,
    /// The ledger key files, watched for a staged rotation.
    pub(crate) ledger_key: LedgerKeyFiles,
}

impl Node {
    /// Puts the components together over `context`.
    pub(crate) fn new(
        config: Config,
        context: Arc<Context>,
        identity: NodeIdentity,
        units: UnitKeys,
        auth: ClientAuth,
        webhooks: Webhooks,
        accounts: Accounts,
    ) -> anyhow::Result<Self> {
        let auth = Arc::new(auth);
        let identity = Arc::new(identity);
        let partners = Arc::new(Partners::new(context.clone(), identity.clone(), &config));
        let delivery = Arc::new(Delivery::new(
            context.clone(),
            partners.clone(),
            config.delivery.clone(),
        ));
        let inbound = Arc::new(Inbound::new(
            context.clone(),
            auth.own_directory().clone(),
            config.federation.max_clock_skew,
        ));
        let submission = Submission::new(context.clone(), units, delivery.clone());
        let witness = Arc::new(Witness::new(
            context.clone(),
            partners.clone(),
            config.witness.clone(),
            config.federation.max_clock_skew,
            &config.data_dir,
        )?);
        let deadlines = Arc::new(Deadlines::new(context.clone()));
        let auditor = Arc::new(Auditor::new(
            context.clone(),
            config.data_dir.clone(),
            config.trust.own_directory.clone(),
            witness.clone(),
        ));
        let ledger_key = LedgerKeyFiles::new(&config);
        Ok(Self {
            ledger_key,
            config,
            context,
            identity,
            auth,
            partners,
            delivery,
            inbound,
            submission,
            witness,
            deadlines,
            auditor,
            webhooks: Arc::new(webhooks),
            accounts: Arc::new(accounts),
        })
    }

    /// What is known about each partner.
    pub(crate) fn peer_statuses(&self) -> Vec<proto::PeerStatus> {
        self.context
            .partners()
            .into_iter()
            .map(|country| {
                let status = self.delivery.status(country);
                let directory = self.context.trust.directory(country);
                let undeliverable = self
                    .context
                    .state
                    .undeliverable(country)
                    .unwrap_or_default();
                let cosigned_size = self
                    .context
                    .state
                    .cosigned_by(country)
                    .ok()
                    .flatten()
                    .and_then(|note| crate::witness::recorded_body(&note).ok())
                    .map_or(0, |body| body.size);
                let cosigned_at = self.context.state.cosigned_at(country).ok().flatten();
                let endpoints = match self.partners.partner_endpoint(country) {
                    Ok(endpoint) => vec![endpoint],
                    Err(_) => Vec::new(),
                };
                proto::PeerStatus {
                    country: country.to_string(),
                    endpoints,
                    reachable: status.last_error.is_none() && status.last_contact.is_some(),
                    last_contact: status.last_contact.map(to_timestamp),
                    outbox_depth: self.context.state.outbox_depth(country),
                    directory_version: directory.as_ref().map_or(0, |d| d.version()),
                    directory_expires_at: directory.as_ref().map(|d| to_timestamp(d.expires_at())),
                    last_error: status
                        .last_error
                        .or_else(|| self.partners.directory_refusal(country))
                        .unwrap_or_default(),
                    next_attempt_at: status.next_attempt.map(to_timestamp),
                    undeliverable: undeliverable.count,
                    last_undeliverable_reason: undeliverable.last_reason,
                    last_delivery: status.last_delivery.map(to_timestamp),
                    cosigned_size,
                    cosigned_at: cosigned_at.map(to_timestamp),
                }
            })
            .collect()
    }
}
