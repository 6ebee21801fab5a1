//! Start-up and shutdown: opening what the node needs, the two servers, every task, and stopping them.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures_util::FutureExt;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tulpar_core::codes::CountryCode;
use tulpar_core::limits::MAX_MESSAGE_BYTES;
use tulpar_core::proto::{
    admin_service_server::AdminServiceServer, alert_service_server::AlertServiceServer,
    audit_service_server::AuditServiceServer, federation_service_server::FederationServiceServer,
};
use tulpar_core::time::{Clock, SystemClock};
use tulpar_ledger::{Ledger, LedgerOptions};
use tulpar_trust::TrustStore;
use tulpar_trust::directory::Purpose;
use tulpar_trust::keyfile;
use tulpar_trust::tls::{self, NodeIdentity};

use crate::accounts::Accounts;
use crate::auth::Principal;
use crate::client_auth::{ClientAuth, ClientCertificate, ClientIdentity};
use crate::config::{Config, DescriptorLimit};
use crate::console::Console;
use crate::context::Context as NodeContext;
use crate::http_api::HttpApi;
use crate::lifecycle::Lifecycle;
use crate::locks::KeyedLocks;
use crate::metrics::Metrics;
use crate::node::Node;
use crate::revocations::OwnRevocations;
use crate::service::audit::Audit;
use crate::service::{admin::Admin, alerts::Alerts, federation::Federation};
use crate::settle::Settle;
use crate::state::{State, StateView, VIEW_NAME};
use crate::transport::{self, Identify};
use crate::units::UnitKeys;
use crate::webhooks::Webhooks;
use crate::{deadlines, integrity, partners, witness};

/// A node that is serving.
pub struct RunningNode {
    shared: Arc<Node>,
    client_addr: SocketAddr,
    federation_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
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

    /// Where `GET /metrics` is served, when `metrics.listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The node's country.
    pub fn country(&self) -> CountryCode {
        self.shared.context.country
    }

    /// Makes the next `count` writes of the ledger fail as on a full disk; `0` gives the space back.
    #[doc(hidden)]
    pub fn fail_next_ledger_writes(&self, count: u32) {
        self.shared.context.ledger.fail_next_writes(count);
    }

    /// Records deadlines that have passed by the node's clock now, instead of waiting for the ticker.
    pub async fn check_deadlines(&self) -> Result<usize> {
        self.shared
            .deadlines
            .record_missed_deadlines()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// One witnessing pass now, instead of waiting for the interval: the latest checkpoint presented
    /// to every partner, then every external witness; returns the size each cosigned (`None`: nothing
    /// new to witness), or the first failure.
    pub async fn witness_now(&self) -> Result<Vec<(String, Option<u64>)>> {
        self.shared
            .witness
            .pass()
            .await
            .into_iter()
            .map(|(cosigner, result)| Ok((cosigner, result.map_err(anyhow::Error::msg)?)))
            .collect()
    }

    /// Stops accepting calls, lets calls in flight and the workers' current rounds finish (at most
    /// [`crate::lifecycle::SHUTDOWN_GRACE`]), then closes the ledger.
    pub async fn shutdown(self) -> Result<()> {
        let lifecycle = self.shared.context.lifecycle.clone();
        let stopped = lifecycle.stop().await;
        // With every task ended these are the last handles: dropping the context closes the ledger,
        // durably.
        let context = Arc::into_inner(self.shared).map(|node| node.context);
        let last = context.and_then(Arc::into_inner).is_some();
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
    let metrics_listener = match shared.config.metrics.listen {
        Some(listen) => Some(
            TcpListener::bind(listen)
                .await
                .with_context(|| format!("metrics.listen: cannot listen on {listen}"))?,
        ),
        None => None,
    };
    let client_addr = client_listener.local_addr()?;
    let federation_addr = federation_listener.local_addr()?;
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;

    let lifecycle = &shared.context.lifecycle;
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
    if let Some(listener) = metrics_listener {
        lifecycle.spawn(crate::scrape::serve(shared.clone(), listener));
    }
    start_workers(&shared);
    tracing::info!(
        country = %shared.context.country,
        client_api = %client_addr,
        federation = %federation_addr,
        metrics = ?metrics_addr,
        ledger.size = shared.context.ledger.size(),
        partners = %shared.context.partners().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "node started"
    );
    Ok(RunningNode {
        shared,
        client_addr,
        federation_addr,
        metrics_addr,
    })
}

/// Opens the node's ledger in `config.data_dir` with the views the node keeps, as the node does at
/// start: for tools that write a ledger offline (the load tool's large ledgers) so that the node
/// finds its views current. The node must not be running on it.
pub fn open_ledger(config: &Config) -> Result<(Ledger, tulpar_ledger::OpenReport)> {
    let signing_key = keyfile::read_private_key(&config.keys.ledger_key)
        .with_context(|| "keys.ledger_key".to_owned())?;
    // The directory's other node keys let the ledger take a key rotated while the node was stopped;
    // without a readable directory, the ledger accepts only the key it signed with.
    let earlier_keys =
        tulpar_audit::read_own_directory(&config.trust.own_directory, config.country)
            .map(|d| crate::ledger_key::earlier_checkpoint_keys(&d, &signing_key.public_key()))
            .unwrap_or_default();
    let view = Arc::new(StateView {
        country: config.country,
        deadlines: config.deadlines.clone(),
    });
    Ledger::open(
        &config.data_dir,
        LedgerOptions {
            origin: tulpar_ledger::note::ledger_origin(&config.federation.name, config.country),
            signing_key,
            earlier_keys,
            views: vec![view],
        },
    )
    .map_err(|error| {
        // Name the setting or the command that helps.
        let hint = match &error {
            tulpar_ledger::LedgerError::Checkpoint {
                source: tulpar_ledger::NoteError::WrongOrigin { got, .. },
                ..
            } => format!(
                " (its checkpoints' origin is {got:?}: federation.name must stay what it was when \
                 the ledger began)"
            ),
            tulpar_ledger::LedgerError::Corrupt { .. } => {
                "; the node does not cut what it once acknowledged: see what `tulpar ledger repair \
                 --config FILE` would do (deploy/README.md, \"Damaged disks\")"
                    .to_owned()
            }
            _ => String::new(),
        };
        anyhow::Error::new(error).context(format!(
            "data_dir: cannot open the ledger in {}{hint}",
            config.data_dir.display()
        ))
    })
}

/// Opens everything the node needs, refusing with a clear message what is missing or inconsistent.
pub(crate) fn open(config: Config, clock: Arc<dyn Clock>) -> Result<Node> {
    config.fit_descriptor_limit()?;
    let country = config.country;
    let node_dir = config
        .tls
        .certificate
        .parent()
        .map(ToOwned::to_owned)
        .unwrap_or_default();
    std::fs::metadata(&config.tls.certificate).with_context(|| {
        format!(
            "tls.certificate: cannot read {}",
            config.tls.certificate.display()
        )
    })?;
    keyfile::check_private_permissions(&config.tls.private_key)
        .with_context(|| "tls.private_key".to_owned())?;
    // A renewed certificate must come from the national CA; an unreadable CA is reported by the
    // client API's start-up, which needs it.
    let national_ca = std::fs::read_to_string(&config.tls.ca_certificate)
        .ok()
        .and_then(|pem| tls::cert_from_pem(&pem).ok());
    let identity = NodeIdentity::open(
        &config.tls.certificate,
        &config.tls.private_key,
        national_ca,
    )
    .context("tls.certificate, tls.private_key")?;
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
    crate::ledger_key::LedgerKeyFiles::new(&config).take_up_at_start(clock.now())?;
    let ledger_key = keyfile::read_private_key(&config.keys.ledger_key)
        .with_context(|| "keys.ledger_key".to_owned())?;
    check_ledger_key(&config, &ledger_key, clock.now())?;
    drop(ledger_key);
    let units = UnitKeys::load(&config.keys.units_dir, country)?;
    let (ledger, report) = open_ledger(&config)?;
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
    let context = Arc::new(NodeContext {
        country,
        federation: config.federation.name.clone(),
        ledger,
        state,
        trust,
        clock,
        locks: KeyedLocks::default(),
        settle: Settle::default(),
        lifecycle: Lifecycle::default(),
        metrics: Metrics::default(),
    });
    let webhooks = Webhooks::open(context.clone(), &config.webhooks, &config.data_dir)?;
    let languages = tulpar_console::catalogs::language_codes()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let accounts = Accounts::open(
        context.clone(),
        config.console.clone(),
        &config.data_dir,
        languages,
    )?;
    Node::new(config, context, identity, units, auth, webhooks, accounts)
}

/// Starts the node's workers: delivery to each partner (telling each this node is up), the deadline ticker, trust and revocation
/// reloads, directory refresh, witnessing, and delivery to each webhook subscription.
fn start_workers(node: &Arc<Node>) {
    for partner in node.context.partners() {
        node.delivery.start_worker(partner);
    }
    node.delivery.announce();
    integrity::start_check(&node.context);
    let config = &node.config;
    deadlines::start_ticker(&node.deadlines, config.deadlines.check_interval);
    start_trust_reload(node);
    start_revocations_refresh(node);
    crate::renewal::start(node);
    partners::start_directory_refresh(&node.partners, config.trust.directory_refresh_interval);
    witness::start_witness(&node.witness, config.witness.interval);
    node.webhooks.start_workers();
}

/// Re-reads the trust store every `trust.reload_interval`, so `tulpar trust add` takes effect without a
/// restart; starts delivery workers for partners that appear.
fn start_trust_reload(node: &Arc<Node>) {
    let mut known = node.context.partners();
    let (context, delivery) = (node.context.clone(), node.delivery.clone());
    node.context
        .lifecycle
        .every(node.config.trust.reload_interval, move || {
            if let Err(error) = context.trust.reload() {
                tracing::error!(%error, "trust store reload failed; keeping the previous state");
            }
            for partner in context.partners() {
                if !known.contains(&partner) {
                    tracing::info!(peer.country = %partner, "new partner in the trust store");
                    delivery.start_worker(partner);
                    known.push(partner);
                }
            }
            std::future::ready(())
        });
}

/// Re-reads the own directory's revocations every `trust.reload_interval`, so that a revoked client
/// certificate is refused within one interval, on open connections and streams too.
fn start_revocations_refresh(node: &Arc<Node>) {
    let auth = node.auth.clone();
    node.context
        .lifecycle
        .every(node.config.trust.reload_interval, move || {
            if let Err(error) = auth.refresh_certificate_revocations() {
                tracing::error!(%error, "own directory not re-read; keeping its previous revocations");
            }
            std::future::ready(())
        });
}

/// The federation server: partners only, identified by their certificate's country.
fn serve_federation(
    shared: Arc<Node>,
    listener: TcpListener,
) -> Result<impl std::future::Future<Output = Result<(), tonic::transport::Error>>> {
    let config = tls::federation_server_config(&shared.identity, shared.context.trust.clone())?;
    let own = shared.context.country;
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
        shared.context.lifecycle.tracker(),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    let (reflection, reflection_v1alpha) =
        reflection(&[<FederationServiceServer<Federation> as NamedService>::NAME])?;
    let (writable, checked) = (
        shared.context.ledger.writable(),
        shared.context.ledger.integrity(),
    );
    let (lifecycle, stopping) = (
        shared.context.lifecycle.clone(),
        shared.context.lifecycle.stopping(),
    );
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
            checked,
            &[<FederationServiceServer<Federation> as NamedService>::NAME],
            lifecycle.clone(),
        ));
        transport::server::<CountryCode>()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stopping)
            .await
    })
}

/// The client API server: this country's officers, focal points and systems.
fn serve_clients(
    shared: Arc<Node>,
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
    let country = shared.context.country;
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
        shared.context.lifecycle.tracker(),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    let (reflection, reflection_v1alpha) = reflection(&[
        <AlertServiceServer<Alerts> as NamedService>::NAME,
        <AuditServiceServer<Audit> as NamedService>::NAME,
        <AdminServiceServer<Admin> as NamedService>::NAME,
    ])?;
    let audit = Arc::new(Audit::new(shared.auditor.clone(), shared.auth.clone()));
    let audit_server = AuditServiceServer::from_arc(audit.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let admin = AdminServiceServer::new(Admin::new(shared.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let (writable, checked) = (
        shared.context.ledger.writable(),
        shared.context.ledger.integrity(),
    );
    let (lifecycle, stopping) = (
        shared.context.lifecycle.clone(),
        shared.context.lifecycle.stopping(),
    );
    let alerts = Arc::new(Alerts::new(shared.clone()));
    let witness = shared.witness.clone();
    let console = Console::new(shared, alerts.clone(), audit.clone())?;
    let alert_server = AlertServiceServer::from_arc(alerts.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    // The same service objects answer gRPC and, for every other request, HTTP/JSON.
    let grpc = tonic::service::Routes::new(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(alert_server)
        .add_service(audit_server)
        .add_service(admin);
    let routes = Arc::new(HttpApi::new(alerts, audit)).with_grpc(grpc);
    let routes = witness::http::mount(witness, routes);
    let routes = Arc::new(console).mount(routes);
    Ok(async move {
        health.set_serving::<AlertServiceServer<Alerts>>().await;
        health.set_serving::<AuditServiceServer<Audit>>().await;
        health.set_serving::<AdminServiceServer<Admin>>().await;
        lifecycle.spawn(report_health(
            health,
            writable,
            checked,
            &[
                <AlertServiceServer<Alerts> as NamedService>::NAME,
                <AuditServiceServer<Audit> as NamedService>::NAME,
                <AdminServiceServer<Admin> as NamedService>::NAME,
            ],
            lifecycle.clone(),
        ));
        transport::server::<ClientIdentity>()
            .accept_http1(true)
            .add_routes(tonic::service::Routes::from(routes))
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
/// NOT_SERVING while it cannot (a full disk), so probes see what callers would; and the ledger's
/// integrity as [`integrity::HEALTH_SERVICE`]. Ends when the node stops.
async fn report_health(
    health: tonic_health::server::HealthReporter,
    mut writable: watch::Receiver<bool>,
    mut checked: watch::Receiver<tulpar_ledger::Integrity>,
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
        let integrity = integrity::serving_status(&checked.borrow_and_update());
        health
            .set_service_status(integrity::HEALTH_SERVICE, integrity)
            .await;
        tokio::select! {
            changed = writable.changed() => if changed.is_err() { return },
            changed = checked.changed() => if changed.is_err() { return },
            () = &mut stopping => return,
        }
    }
}

/// Server reflection in both versions clients speak (`grpc.reflection.v1` and, for older grpcurl and
/// grpcio-reflection, `v1alpha`), listing only `services` (with health and reflection itself).
fn reflection(
    services: &[&str],
) -> Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    let builder = || {
        let health = tonic_health::pb::health_server::SERVICE_NAME;
        [health].iter().chain(services).fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(tulpar_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(*name),
        )
    };
    // Listing any service by name drops the reflection services from the list: name them too.
    let v1 = builder()
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .build_v1()
        .context("server reflection v1")?;
    let v1alpha = builder()
        .with_service_name("grpc.reflection.v1alpha.ServerReflection")
        .build_v1alpha()
        .context("server reflection v1alpha")?;
    Ok((v1, v1alpha))
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
        shared.context.country,
        shared.context.ledger.size(),
        shared
            .submission
            .units()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        shared
            .context
            .partners()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(published) = shared.context.ledger.held() {
        println!(
            "the ledger is held: it lost entries {}..{published} and records nothing until they are \
             restored (tulpar ledger repair --from BACKUP)",
            shared.context.ledger.size()
        );
    }
    Ok(())
}

/// The exit status of a node that cannot open its ledger because it is damaged (EX_DATAERR):
/// `RestartPreventExitStatus` in the systemd unit stops systemd from restarting it in a loop.
pub const EXIT_DAMAGED_LEDGER: u8 = 65;

/// Whether `error` is a refusal to open a damaged ledger (see [`EXIT_DAMAGED_LEDGER`]).
pub fn is_damaged_ledger(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<tulpar_ledger::LedgerError>(),
            Some(tulpar_ledger::LedgerError::Corrupt { .. })
        )
    })
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

/// Refuses a ledger key the country's directory does not name: partners and auditors check the
/// node's checkpoints and receipts against the directory's node key (`public/ledger.pub` of the
/// ceremony), so a node signing with another key would only produce signatures nobody accepts.
/// A named key outside its window at `now` (rotated out, or not yet valid) is only warned about:
/// the node still opens its ledger, and a staged key may be on its way.
fn check_ledger_key(
    config: &Config,
    ledger_key: &tulpar_core::keys::SigningKey,
    now: std::time::SystemTime,
) -> Result<()> {
    let path = &config.trust.own_directory;
    let directory = tulpar_audit::read_own_directory(path, config.country)
        .with_context(|| format!("trust.own_directory: {}", path.display()))?;
    let key = ledger_key.public_key();
    if directory.node_keys().iter().any(|k| k.public_key == key) {
        for purpose in [Purpose::Receipt, Purpose::Checkpoint] {
            if let Err(rule) = directory.check_node_key(&key.key_id(), purpose, now) {
                tracing::warn!(
                    file = %config.keys.ledger_key.display(),
                    error = %rule,
                    "keys.ledger_key is named by the directory but not valid now: partners refuse \
                     what it signs; install the node's current key (see `tulpar directory \
                     rotate-node-key`)"
                );
                break;
            }
        }
        return Ok(());
    }
    let named: Vec<String> = directory
        .node_keys()
        .iter()
        .map(|k| k.key_id.to_string())
        .collect();
    bail!(
        "keys.ledger_key: {} holds key {}, but the country's directory ({}) names the node ledger \
         key {}: install the ledger.key made with that directory (the one whose public half is \
         public/ledger.pub)",
        config.keys.ledger_key.display(),
        key.key_id(),
        path.display(),
        named.join(", ")
    )
}
