//! The running node: what its services share, and how it starts and stops.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures_util::FutureExt;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tulpar_core::codes::CountryCode;
use tulpar_core::envelope::{PayloadType, decode_recorded};
use tulpar_core::keys::SigningKey;
use tulpar_core::limits::MAX_MESSAGE_BYTES;
use tulpar_core::proto::{
    self, admin_service_server::AdminServiceServer, alert_service_server::AlertServiceServer,
    audit_service_server::AuditServiceServer, federation_service_server::FederationServiceServer,
};
use tulpar_core::time::{Clock, SystemClock, to_timestamp};
use tulpar_ledger::{CommittedBatch, Ledger, LedgerOptions};
use tulpar_trust::TrustStore;
use tulpar_trust::keyfile;
use tulpar_trust::tls::{self, NodeIdentity};

use crate::audit::Audit;
use crate::auth::Principal;
use crate::client_auth::{ClientAuth, ClientCertificate, ClientIdentity};
use crate::config::{Config, DescriptorLimit};
use crate::delivery::{self, Delivery};
use crate::error::ApiError;
use crate::lifecycle::Lifecycle;
use crate::locks::KeyedLocks;
use crate::revocations::OwnRevocations;
use crate::service::{admin::Admin, alerts::Alerts, federation::Federation};
use crate::settle::Settle;
use crate::state::{State, StateView, VIEW_NAME};
use crate::transport::{self, Identify};
use crate::units::UnitKeys;

/// A committed ledger batch, as broadcast to watchers.
pub(crate) type Committed = Arc<CommittedBatch>;

/// An appended entry: its index and the checkpoint covering it.
pub(crate) struct Appended {
    pub(crate) index: u64,
    pub(crate) checkpoint: proto::Checkpoint,
}

/// Why the country's own directory (`trust.own_directory`) cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OwnDirectoryError {
    /// The file cannot be read.
    #[error("trust.own_directory: {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a signed envelope.
    #[error("trust.own_directory: {}: not an envelope: {source}", path.display())]
    NotAnEnvelope {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: prost::DecodeError,
    },
    /// The envelope does not hold a directory.
    #[error("trust.own_directory: {}: {source}", path.display())]
    NotADirectory {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: tulpar_core::envelope::EnvelopeError,
    },
    /// The directory is another country's.
    #[error("trust.own_directory: {} is the directory of {found:?}, not {expected}", path.display())]
    OtherCountry {
        /// The file.
        path: std::path::PathBuf,
        /// The country it names.
        found: String,
        /// This node's country.
        expected: CountryCode,
    },
}

/// The country's own signed directory named by `trust.own_directory`, and its version; refused when
/// it is another country's.
pub fn read_own_directory(config: &Config) -> Result<(u64, proto::Envelope), OwnDirectoryError> {
    let path = &config.trust.own_directory;
    let bytes = std::fs::read(path).map_err(|source| OwnDirectoryError::Read {
        path: path.clone(),
        source,
    })?;
    let envelope =
        <proto::Envelope as prost::Message>::decode(bytes.as_slice()).map_err(|source| {
            OwnDirectoryError::NotAnEnvelope {
                path: path.clone(),
                source,
            }
        })?;
    let directory: proto::CountryDirectory = decode_recorded(&envelope, PayloadType::Directory)
        .map_err(|source| OwnDirectoryError::NotADirectory {
            path: path.clone(),
            source,
        })?;
    if directory.country != config.country.as_str() {
        return Err(OwnDirectoryError::OtherCountry {
            path: path.clone(),
            found: directory.country,
            expected: config.country,
        });
    }
    Ok((directory.version, envelope))
}

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

/// Everything the node's services and workers share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) country: CountryCode,
    pub(crate) ledger: Ledger,
    pub(crate) state: State,
    pub(crate) trust: Arc<TrustStore>,
    pub(crate) identity: NodeIdentity,
    pub(crate) units: UnitKeys,
    pub(crate) ledger_key: SigningKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) locks: KeyedLocks,
    /// Deliveries between recording a received object and its receipt, for readers judging receipts.
    pub(crate) settle: Settle,
    pub(crate) auth: ClientAuth,
    pub(crate) delivery: Delivery,
    /// The node's tasks, and the signal on which they and long-lived streams end.
    pub(crate) lifecycle: Lifecycle,
    /// Partners whose directory was refused, so it is not fetched again every interval.
    pub(crate) refused_directories: std::sync::Mutex<HashMap<CountryCode, RefusedDirectory>>,
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

/// The entries of a committed batch with their indexes, in order.
pub(crate) fn indexed(batch: &CommittedBatch) -> impl Iterator<Item = (u64, &proto::LedgerEntry)> {
    (batch.first_index..).zip(&batch.entries)
}

impl Shared {
    /// The ledger entry at `index`.
    pub(crate) fn entry(&self, index: u64) -> Result<proto::LedgerEntry, ApiError> {
        self.ledger.entry(index).map_err(ApiError::internal)
    }

    /// Entries `from..until`.
    pub(crate) fn entries(
        &self,
        from: u64,
        until: u64,
    ) -> Result<Vec<(u64, proto::LedgerEntry)>, ApiError> {
        self.ledger.entries(from..until).map_err(ApiError::internal)
    }

    /// Number of ledger entries.
    pub(crate) fn ledger_size(&self) -> u64 {
        self.ledger.size()
    }

    /// Appends `entry` and waits until it is durable and applied to the state view.
    pub(crate) async fn append(&self, entry: proto::LedgerEntry) -> Result<Appended, ApiError> {
        let mut appended = self.append_all(vec![entry]).await?;
        appended
            .pop()
            .ok_or_else(|| ApiError::internal("the ledger appended nothing"))
    }

    /// Appends `entries` at consecutive indexes in one ledger request and waits until they are all
    /// durable and applied to the state view.
    pub(crate) async fn append_all(
        &self,
        entries: Vec<proto::LedgerEntry>,
    ) -> Result<Vec<Appended>, ApiError> {
        let appended = self.ledger.append_all(entries).await?;
        let Some(first) = appended.first() else {
            return Ok(Vec::new());
        };
        // One batch: every entry shares the first one's checkpoint.
        let checkpoint = first.checkpoint.to_proto();
        Ok(appended
            .iter()
            .map(|a| Appended {
                index: a.index,
                checkpoint: checkpoint.clone(),
            })
            .collect())
    }

    /// The latest signed checkpoint.
    pub(crate) fn latest_checkpoint(&self) -> proto::Checkpoint {
        self.ledger.latest_checkpoint().to_proto()
    }

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

    /// This country's own signed directory and its version, as partners fetch it. Read from its file
    /// on each call, so a newly published version is served at once.
    pub(crate) fn own_directory(&self) -> Result<(u64, proto::Envelope), OwnDirectoryError> {
        read_own_directory(&self.config)
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

/// A node that is serving.
pub struct RunningNode {
    shared: Arc<Shared>,
    client_addr: SocketAddr,
    federation_addr: SocketAddr,
}

impl RunningNode {
    /// Where the client API listens.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// Where the federation API listens.
    pub fn federation_addr(&self) -> SocketAddr {
        self.federation_addr
    }

    /// The node's country.
    pub fn country(&self) -> CountryCode {
        self.shared.country
    }

    /// Makes the next `count` writes of the ledger fail as on a full disk; `0` gives the space back.
    #[doc(hidden)]
    pub fn fail_next_ledger_writes(&self, count: u32) {
        self.shared.ledger.fail_next_writes(count);
    }

    /// Records deadlines that have passed by the node's clock now, instead of waiting for the ticker.
    pub async fn check_deadlines(&self) -> Result<usize> {
        self.shared
            .record_missed_deadlines()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Presents the latest checkpoint to every partner now, instead of waiting for the interval;
    /// returns the size each partner cosigned (`None`: nothing new to witness).
    pub async fn witness_now(&self) -> Result<Vec<(CountryCode, Option<u64>)>> {
        let mut cosigned = Vec::new();
        for partner in self.shared.partners() {
            let size = self
                .shared
                .witness_round(partner)
                .await
                .map_err(anyhow::Error::msg)?;
            cosigned.push((partner, size));
        }
        Ok(cosigned)
    }

    /// Stops accepting calls, lets calls in flight and the workers' current rounds finish (at most
    /// [`crate::lifecycle::SHUTDOWN_GRACE`]), then closes the ledger.
    pub async fn shutdown(self) -> Result<()> {
        let lifecycle = self.shared.lifecycle.clone();
        let stopped = lifecycle.stop().await;
        // With every task ended this is the last handle: dropping it closes the ledger, durably.
        let last = Arc::into_inner(self.shared).is_some();
        match stopped {
            Ok(()) if last => Ok(()),
            Ok(()) => bail!("the ledger is still held after every task ended"),
            Err(overran) => bail!("{overran}; the ledger closes when the process ends"),
        }
    }
}

/// Loads keys, trust store and ledger, and starts serving on the configured addresses.
pub async fn start(config: Config) -> Result<RunningNode> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Like [`start`], with the node's clock supplied (tests drive deadlines with a manual clock).
pub async fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<RunningNode> {
    let shared = Arc::new(open(config, clock)?);
    shared.own_directory()?;
    let client_listener = TcpListener::bind(shared.config.client_api.listen)
        .await
        .with_context(|| {
            format!(
                "client_api.listen: cannot listen on {}",
                shared.config.client_api.listen
            )
        })?;
    let federation_listener = TcpListener::bind(shared.config.federation.listen)
        .await
        .with_context(|| {
            format!(
                "federation.listen: cannot listen on {}",
                shared.config.federation.listen
            )
        })?;
    let client_addr = client_listener.local_addr()?;
    let federation_addr = federation_listener.local_addr()?;

    let lifecycle = &shared.lifecycle;
    let federation_server = serve_federation(shared.clone(), federation_listener)?;
    let client_server = serve_clients(shared.clone(), client_listener)?;
    for (api, server) in [
        ("federation", federation_server.boxed()),
        ("client", client_server.boxed()),
    ] {
        lifecycle.spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(api, %error, "server failed");
            }
        });
    }
    for partner in shared.partners() {
        lifecycle.spawn(delivery::run_worker(shared.clone(), partner));
    }
    crate::deadlines::start_ticker(&shared);
    start_trust_reload(&shared);
    crate::revocations::start_refresher(&shared);
    start_directory_refresh(&shared);
    crate::witness::start_witness(&shared);
    tracing::info!(
        country = %shared.country,
        client_api = %client_addr,
        federation = %federation_addr,
        ledger.size = shared.ledger.size(),
        partners = %shared.partners().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "node started"
    );
    Ok(RunningNode {
        shared,
        client_addr,
        federation_addr,
    })
}

/// Opens everything the node needs, refusing with a clear message what is missing or inconsistent.
fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Shared> {
    config.fit_descriptor_limit()?;
    let country = config.country;
    let node_dir = config
        .tls
        .certificate
        .parent()
        .map(ToOwned::to_owned)
        .unwrap_or_default();
    let cert_pem = std::fs::read_to_string(&config.tls.certificate).with_context(|| {
        format!(
            "tls.certificate: cannot read {}",
            config.tls.certificate.display()
        )
    })?;
    keyfile::check_private_permissions(&config.tls.private_key)
        .with_context(|| "tls.private_key".to_owned())?;
    let key_pem = std::fs::read_to_string(&config.tls.private_key).with_context(|| {
        format!(
            "tls.private_key: cannot read {}",
            config.tls.private_key.display()
        )
    })?;
    let identity = NodeIdentity::from_pem(&cert_pem, &key_pem).context("tls.certificate")?;
    if identity.country() != country {
        bail!(
            "tls.certificate ({}) is for {}, but this node is configured as {country}",
            node_dir.display(),
            identity.country()
        );
    }
    let trust = Arc::new(
        TrustStore::open(&config.trust.store, clock.clone())
            .with_context(|| format!("trust.store: {}", config.trust.store.display()))?,
    );
    let ledger_key = keyfile::read_private_key(&config.keys.ledger_key)
        .with_context(|| "keys.ledger_key".to_owned())?;
    let units = UnitKeys::load(&config.keys.units_dir, country)?;
    let view = Arc::new(StateView {
        country,
        deadlines: config.deadlines.clone(),
    });
    let (ledger, report) = Ledger::open(
        &config.data_dir,
        LedgerOptions {
            origin: format!("tulpar/{country}"),
            // The ledger keeps its own copy: ring key pairs cannot be cloned.
            signing_key: keyfile::read_private_key(&config.keys.ledger_key)?,
            views: vec![view],
        },
    )
    .with_context(|| {
        format!(
            "data_dir: cannot open the ledger in {}",
            config.data_dir.display()
        )
    })?;
    if let Some(cut) = &report.truncated {
        tracing::warn!(
            ?cut,
            "the ledger had a torn tail (an interrupted write); it was cut off"
        );
    }
    if report.replayed > 0 {
        tracing::info!(
            entries = report.replayed,
            "index caught up from the ledger segments"
        );
    }
    let tree = ledger
        .view_tree(VIEW_NAME)
        .ok_or_else(|| anyhow::anyhow!("the ledger did not open the state view"))?;
    let state = State::new(tree);
    let certificates = OwnRevocations::load(&config.trust.own_directory, country)?;
    let auth = ClientAuth::new(
        country,
        config.client_api.tokens.clone(),
        Box::new(state.clone()),
        certificates,
        clock.clone(),
    );
    Ok(Shared {
        country,
        ledger,
        state,
        trust,
        identity,
        units,
        ledger_key,
        clock,
        locks: KeyedLocks::default(),
        settle: Settle::default(),
        auth,
        delivery: Delivery::default(),
        lifecycle: Lifecycle::default(),
        refused_directories: Default::default(),
        config,
    })
}

/// The federation server: partners only, identified by their certificate's country.
fn serve_federation(
    shared: Arc<Shared>,
    listener: TcpListener,
) -> Result<impl std::future::Future<Output = Result<(), tonic::transport::Error>>> {
    let config = tls::federation_server_config(&shared.identity, shared.trust.clone())?;
    let own = shared.country;
    let identify: Identify<CountryCode> = Arc::new(move |chain: &[CertificateDer<'static>]| {
        let leaf = chain.first().ok_or("no certificate")?;
        // The handshake verified `leaf` with its intermediates against that country's CA.
        let country = tls::named_country(leaf)?;
        if country == own {
            return Err(format!("a certificate of {own} itself is not a partner").into());
        }
        Ok(country)
    });
    let limits = shared.config.federation.connections.clone();
    let incoming = transport::tls_incoming(
        listener,
        config,
        identify,
        "federation",
        limits,
        shared.lifecycle.tracker(),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = reflection()?;
    let writable = shared.ledger.writable();
    let (lifecycle, stopping) = (shared.lifecycle.clone(), shared.lifecycle.stopping());
    let service = FederationServiceServer::new(Federation::new(shared))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Ok(async move {
        health
            .set_serving::<FederationServiceServer<Federation>>()
            .await;
        lifecycle.spawn(report_health(
            health,
            writable,
            &[<FederationServiceServer<Federation> as NamedService>::NAME],
            lifecycle.clone(),
        ));
        transport::server::<CountryCode>()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stopping)
            .await
    })
}

/// The client API server: this country's officers, focal points and systems.
fn serve_clients(
    shared: Arc<Shared>,
    listener: TcpListener,
) -> Result<impl std::future::Future<Output = Result<(), tonic::transport::Error>>> {
    let ca_pem = std::fs::read_to_string(&shared.config.tls.ca_certificate).with_context(|| {
        format!(
            "tls.ca_certificate: cannot read {}",
            shared.config.tls.ca_certificate.display()
        )
    })?;
    let national_ca = tls::cert_from_pem(&ca_pem).context("tls.ca_certificate")?;
    let config = tls::api_server_config(&shared.identity, &national_ca)?;
    let country = shared.country;
    let identify: Identify<ClientIdentity> =
        Arc::new(move |chain: &[CertificateDer<'static>]| {
            let Some(leaf) = chain.first() else {
                return Ok(None);
            };
            let identity = tls::client_identity(leaf)?;
            // Revocations are checked at each call (the first included), so that a revoked
            // officer gets a status naming the revocation rather than a dropped connection.
            Ok(Some(ClientCertificate::new(
                principal_of(country, identity)?,
                leaf,
            )?))
        });
    let limits = shared.config.client_api.connections.clone();
    let incoming = transport::tls_incoming(
        listener,
        config,
        identify,
        "client",
        limits,
        shared.lifecycle.tracker(),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = reflection()?;
    let audit = AuditServiceServer::new(Audit::new(shared.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let admin = AdminServiceServer::new(Admin::new(shared.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let writable = shared.ledger.writable();
    let (lifecycle, stopping) = (shared.lifecycle.clone(), shared.lifecycle.stopping());
    let service = AlertServiceServer::new(Alerts::new(shared))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Ok(async move {
        health.set_serving::<AlertServiceServer<Alerts>>().await;
        health.set_serving::<AuditServiceServer<Audit>>().await;
        health.set_serving::<AdminServiceServer<Admin>>().await;
        lifecycle.spawn(report_health(
            health,
            writable,
            &[
                <AlertServiceServer<Alerts> as NamedService>::NAME,
                <AuditServiceServer<Audit> as NamedService>::NAME,
                <AdminServiceServer<Admin> as NamedService>::NAME,
            ],
            lifecycle.clone(),
        ));
        transport::server::<ClientIdentity>()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(service)
            .add_service(audit)
            .add_service(admin)
            .serve_with_incoming_shutdown(incoming, stopping)
            .await
    })
}

/// Why a client certificate names nobody of this node.
#[derive(Debug, thiserror::Error)]
enum PrincipalError {
    /// The subject of an officer's or integrator's certificate is not a unit id.
    #[error(transparent)]
    NotAUnit(#[from] tulpar_core::codes::InvalidCode),
    /// The unit belongs to another country.
    #[error("{unit} is not a unit of {country}")]
    ForeignUnit {
        unit: tulpar_core::codes::UnitId,
        country: CountryCode,
    },
    /// A focal point's or administrator's certificate of another country.
    #[error("certificate for {subject} presented to the {country} node")]
    OtherCountry {
        subject: String,
        country: CountryCode,
    },
}

/// The principal a client certificate names: a unit of this country for officers and integrators, the
/// country itself for focal points and administrators.
fn principal_of(
    country: CountryCode,
    identity: tls::ClientIdentity,
) -> Result<Principal, PrincipalError> {
    use tulpar_core::codes::UnitId;
    use tulpar_trust::tls::Role;
    let name = format!("cert:{}/{}", identity.role.as_str(), identity.subject);
    let units = match identity.role {
        Role::Officer | Role::Integrator => {
            let unit = UnitId::parse(&identity.subject)?;
            if unit.country() != country {
                return Err(PrincipalError::ForeignUnit { unit, country });
            }
            vec![unit]
        }
        Role::FocalPoint | Role::Admin => {
            if identity.subject != country.as_str() {
                return Err(PrincipalError::OtherCountry {
                    subject: identity.subject,
                    country,
                });
            }
            Vec::new()
        }
    };
    Ok(Principal {
        role: identity.role,
        country,
        units,
        name,
    })
}

/// Reports the server as a whole and `services` as SERVING while the ledger can write and as
/// NOT_SERVING while it cannot (a full disk), so probes see what callers would; ends when the node
/// stops.
async fn report_health(
    health: tonic_health::server::HealthReporter,
    mut writable: watch::Receiver<bool>,
    services: &'static [&'static str],
    lifecycle: Lifecycle,
) {
    let mut stopping = std::pin::pin!(lifecycle.stopping());
    loop {
        let status = if *writable.borrow_and_update() {
            tonic_health::ServingStatus::Serving
        } else {
            tonic_health::ServingStatus::NotServing
        };
        for service in std::iter::once(&"").chain(services) {
            health.set_service_status(*service, status).await;
        }
        tokio::select! {
            changed = writable.changed() => if changed.is_err() { return },
            () = &mut stopping => return,
        }
    }
}

fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tulpar_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("server reflection")
}

/// Re-reads the trust store every `trust.reload_interval`, so `tulpar trust add` takes effect without a
/// restart; starts delivery workers for partners that appear.
fn start_trust_reload(shared: &Arc<Shared>) {
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
fn start_directory_refresh(shared: &Arc<Shared>) {
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

/// Runs the node until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run_until_signal(config: Config) -> Result<()> {
    let node = start(config).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    node.shutdown().await
}

/// Opens everything as `start` would, reports, and exits.
pub async fn check(config: Config) -> Result<()> {
    let shared = open(config, Arc::new(SystemClock))?;
    println!(
        "{}: ledger of {} entries; units {}; partners {}",
        shared.country,
        shared.ledger.size(),
        shared
            .units
            .units()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        shared
            .partners()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
