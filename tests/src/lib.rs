//! A local federation for end-to-end tests: countries set up with the real `tulpar` command (key
//! ceremony, pinned trust both ways), nodes on loopback with real TLS, and API clients authenticated
//! with bearer tokens.
//!
//! A node runs inside the test process by default ([`Country::start`]): there is no process to spawn
//! and poll, its clock can be a manual one, and the test can call it directly ([`Country::node`],
//! [`Country::start_in_process`]). A test that
//! needs the real `tulpar-node` process (to kill it, read its log, measure it, or run the binary as
//! shipped) starts it with [`Country::start_process`]. Both listen on the addresses chosen before
//! `tulpar init`, since a country's federation endpoint is written into its signed directory.
//!
//! A federation made with [`Federation::in_network`] puts each country in a network namespace of its
//! own instead, joined to the others by emulated links (see [`netns`] and [`link`]); its nodes run as
//! processes inside, and the test's clients connect from inside.

pub mod http;
pub mod link;
pub mod netns;
pub mod webhook;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ring::digest::{SHA256, digest};
use rustls_pki_types::pem::PemObject;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tulpar_core::limits::MAX_MESSAGE_BYTES;
use tulpar_core::proto::alert_service_client::AlertServiceClient;
use tulpar_core::proto::audit_service_client::AuditServiceClient;
use tulpar_core::proto::federation_service_client::FederationServiceClient;

/// The name of every federation set up here (`federation.name`).
pub const FEDERATION: &str = "local.tulpar.example";

/// The checkpoint origin of `country`'s ledger in these federations.
pub fn origin(country: &str) -> String {
    format!("{FEDERATION}/{country}")
}

/// The cosigner name of `country`'s node in these federations.
pub fn witness_name(country: &str) -> String {
    format!("{FEDERATION}/{country}/witness")
}

/// Submits the sample alert draft from `unit` to country `to`; returns the alert id.
pub async fn send(officer: &mut Client, unit: &str, to: &str) -> Result<String> {
    let request = tulpar_core::proto::SubmitAlertRequest {
        request_id: String::new(),
        content: Some(tulpar_core::sample::alert_draft(unit, to)),
    };
    Ok(officer.submit_alert(request).await?.into_inner().alert_id)
}

/// Waits (up to 30 s) until alert `alert_id` is delivered to every recipient.
pub async fn delivered(officer: &Client, alert_id: &str) -> Result<()> {
    use tulpar_core::proto::{DeliveryState, GetAlertRequest};
    eventually(Duration::from_secs(30), "delivery", || {
        let (mut officer, alert_id) = (officer.clone(), alert_id.to_owned());
        async move {
            let record = officer
                .get_alert(GetAlertRequest { alert_id })
                .await?
                .into_inner();
            Ok(record
                .recipients
                .iter()
                .all(|r| r.state >= DeliveryState::Delivered as i32)
                .then_some(()))
        }
    })
    .await
}

/// The body of `GET path` from `address` ("host:port") over plain HTTP/1.1, if it answers 200.
pub async fn plain_http_get(address: &str, path: &str) -> Result<String> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", address)
        .body(Empty::<hyper::body::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    if status != hyper::StatusCode::OK {
        bail!("GET {path} from {address} answered {status}: {body}");
    }
    Ok(body)
}

/// The path of the executable `name` on `PATH`, if there is one.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

/// An API client of one node, authenticated by a bearer token.
pub type Client = AlertServiceClient<InterceptedService<Channel, Bearer>>;

/// An audit API client of one node, authenticated by a bearer token.
pub type AuditClient = AuditServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Whether [`binary`] may fall back to `PATH`; see [`look_on_path`].
static ON_PATH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets [`binary`] look on `PATH` for a binary not found beside the running executable: for tools run
/// from a set of installed binaries (`tulpar-demo`). Tests never do, so that they cannot pick up an
/// installed, older version.
pub fn look_on_path() {
    ON_PATH.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The path of a workspace binary (`tulpar`, `tulpar-node`, `tulpar-demo`), found beside the running
/// executable: `target/<profile>/` for a test (which runs from `target/<profile>/deps/`) or a tool
/// built with the workspace. Nothing is built here; a missing binary is an error naming the command
/// that builds it.
///
/// `cargo test --workspace` builds `tulpar` and `tulpar-node`, since their packages have integration
/// tests; `cargo test -p tulpar-tests` does not, and would run whatever binaries an earlier build left.
/// So a binary is refused when a file its build read (listed in the dep-info cargo wrote beside it) is
/// newer than it, which is when cargo would rebuild it; see [`newer_source`] for what this misses.
pub fn binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("binary location")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("binary location")?;
    }
    let release = if dir.ends_with("release") {
        " --release"
    } else {
        ""
    };
    let path = dir.join(name);
    if path.is_file() {
        if let Some(newer) = newer_source(&path) {
            bail!(
                "{} is older than {}, which it is built from; rebuild it with `cargo build{release} --bin {name}`",
                path.display(),
                newer.display()
            );
        }
        return Ok(path);
    }
    if ON_PATH.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some(path) = on_path(name) {
            return Ok(path);
        }
        bail!(
            "`{name}` is neither beside {} nor on PATH; `cargo build --release` in the Tulpar \
             source folder builds tulpar, tulpar-node and tulpar-demo into target/release/",
            exe.display()
        );
    }
    bail!(
        "{} is missing; build it with `cargo build{release} --bin {name}` (`cargo test --workspace` builds it too)",
        path.display()
    )
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A file listed in cargo's dep-info for `binary` (`<binary>.d` beside it) that was modified after
/// `binary`; `None` when there is none or no dep-info. Cargo writes that file for `cargo build` only,
/// not when it builds the binary for `cargo test`, and rustc's own dep-info in `deps/` lists only the
/// binary's crate, not the libraries it links; so a binary only ever built by `cargo test` (or copied
/// elsewhere) is not judged. An older `<binary>.d` from an earlier `cargo build` still lists the right
/// files, and `cargo build` rewrites it whenever it builds.
fn newer_source(binary: &std::path::Path) -> Option<PathBuf> {
    let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok()?;
    let info = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    // `target: dep dep …`, spaces in paths escaped with a backslash.
    let (_, deps) = info.lines().next()?.split_once(": ")?;
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => paths.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    paths.push(current);
    paths
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .find(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > built)
        })
}

/// Ports handed out by this process, so that no two of its nodes are given the same one.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A free loopback port for a node to listen on, picked below the kernel's ephemeral range (read from
/// `/proc`, 32768 when unknown): a port from the ephemeral range can be taken by any outgoing
/// connection between the check and the node's bind.
pub fn free_port() -> Result<u16> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_start.max(10_001));
    let random = ring::rand::SystemRandom::new();
    for _ in 0..1000 {
        let mut bytes = [0u8; 2];
        ring::rand::SecureRandom::fill(&random, &mut bytes)
            .map_err(|_| anyhow::anyhow!("no randomness"))?;
        let port = low + u16::from_le_bytes(bytes) % (high - low);
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    bail!("no free loopback port between {low} and {high}")
}

/// One country of the federation, as set up on disk.
pub struct Country {
    /// The country code.
    pub code: String,
    /// Its units.
    pub units: Vec<String>,
    /// The folder `tulpar init` wrote.
    pub dir: PathBuf,
    /// The client API address.
    pub client_addr: SocketAddr,
    /// The federation API address.
    pub federation_addr: SocketAddr,
    /// Where the node serves `GET /metrics` (Prometheus).
    pub metrics_addr: SocketAddr,
    /// Bearer tokens by name: one officer token per unit (named after the unit), "focal-point",
    /// "integrator" (acting for every unit) and "admin".
    pub tokens: BTreeMap<String, String>,
    /// Environment of the node, e.g. `TULPAR__WITNESS__INTERVAL`: configuration overrides, which an
    /// in-process node reads too; anything else (log settings, allocator variables) needs a process.
    pub node_env: Vec<(String, String)>,
    /// The network namespace its node runs in and its clients connect from; `None`: this one's
    /// loopback.
    pub namespace: Option<Arc<netns::Namespace>>,
    node: Option<Node>,
    /// Whether a node process was ever started, so that there is a log to read.
    logged: bool,
}

/// A running node of a [`Country`].
enum Node {
    /// A `tulpar-node` process.
    Process(Child),
    /// The node's library, serving from inside the test process on its runtime.
    InProcess(tulpar_node::RunningNode),
}

/// Several countries that trust each other.
pub struct Federation {
    /// Holds every file.
    pub root: PathBuf,
    /// Removes `root` when the federation is dropped, unless it was set up in a named folder.
    _cleanup: Option<tempfile::TempDir>,
    /// The countries by code.
    pub countries: BTreeMap<String, Country>,
}

fn run(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("{command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn sha256_hex(text: &str) -> String {
    hex::encode(digest(&SHA256, text.as_bytes()))
}

impl Federation {
    /// Sets up `countries` (code and units each) with `tulpar init`, and pins every country's root in
    /// every other country's trust store.
    pub fn new(countries: &[(&str, &[&str])]) -> Result<Self> {
        let temp = tempfile::tempdir()?;
        let root = temp.path().to_owned();
        let mut federation = Self::new_in(&root, countries)?;
        federation._cleanup = Some(temp);
        Ok(federation)
    }

    /// Sets up `countries` in the folder `root`, which is kept.
    pub fn new_in(root: &std::path::Path, countries: &[(&str, &[&str])]) -> Result<Self> {
        Self::set_up(root, countries, |_| Ok(None))
    }

    /// Sets up `countries` as [`Federation::new`] does, each in the namespace of `network` labelled
    /// with its code: its node listens on the namespace's address (which its certificate names) and
    /// runs there as a process ([`Country::start_process`]; an in-process node could not).
    pub fn in_network(network: &netns::Network, countries: &[(&str, &[&str])]) -> Result<Self> {
        let temp = tempfile::tempdir()?;
        let root = temp.path().to_owned();
        let mut federation =
            Self::set_up(&root, countries, |code| network.namespace(code).map(Some))?;
        federation._cleanup = Some(temp);
        Ok(federation)
    }

    /// Sets up `countries` in `root`, each in the namespace `namespace` gives it, if any.
    fn set_up(
        root: &std::path::Path,
        countries: &[(&str, &[&str])],
        namespace: impl Fn(&str) -> Result<Option<Arc<netns::Namespace>>>,
    ) -> Result<Self> {
        let tulpar = binary("tulpar")?;
        std::fs::create_dir_all(root)?;
        let mut made = BTreeMap::new();
        let mut fingerprints = BTreeMap::new();
        for (code, units) in countries {
            let dir = root.join(code.to_lowercase());
            let namespace = namespace(code)?;
            let host = namespace
                .as_ref()
                .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |n| IpAddr::V4(n.address()));
            let federation_addr = SocketAddr::new(host, free_port()?);
            let client_addr = SocketAddr::new(host, free_port()?);
            let metrics_addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
            let out = run(Command::new(&tulpar)
                .args([
                    "init",
                    "--country",
                    code,
                    "--units",
                    &units.join(","),
                    "--endpoint",
                    &federation_addr.to_string(),
                    "--out",
                ])
                .arg(&dir))?;
            fingerprints.insert(code.to_string(), out.trim().to_owned());
            let mut tokens = BTreeMap::new();
            for unit in units.iter() {
                tokens.insert(unit.to_string(), format!("officer-{unit}-{}", free_port()?));
            }
            tokens.insert(
                "focal-point".into(),
                format!("focal-{code}-{}", free_port()?),
            );
            tokens.insert(
                "integrator".into(),
                format!("integrator-{code}-{}", free_port()?),
            );
            tokens.insert("admin".into(), format!("admin-{code}-{}", free_port()?));
            let country = Country {
                code: code.to_string(),
                units: units.iter().map(ToString::to_string).collect(),
                dir,
                client_addr,
                federation_addr,
                metrics_addr,
                tokens,
                node_env: Vec::new(),
                namespace,
                node: None,
                logged: false,
            };
            country.write_config()?;
            made.insert(code.to_string(), country);
        }
        for country in made.values() {
            for (other, fingerprint) in &fingerprints {
                if *other == country.code {
                    continue;
                }
                let other_dir = &made[other].dir;
                run(Command::new(&tulpar)
                    .args(["trust", "add", "--store"])
                    .arg(country.dir.join("node/trust"))
                    .args(["--country", other, "--root-key"])
                    .arg(other_dir.join("public/root.pub"))
                    .args(["--fingerprint", fingerprint, "--directory"])
                    .arg(other_dir.join("public/directory.env")))?;
            }
        }
        Ok(Self {
            root: root.to_owned(),
            _cleanup: None,
            countries: made,
        })
    }

    /// The country `code`.
    pub fn country(&mut self, code: &str) -> &mut Country {
        self.countries
            .get_mut(code)
            .expect("country of the federation")
    }

    /// Starts every node inside this process (see [`Country::start`]).
    pub async fn start_all(&mut self) -> Result<()> {
        for country in self.countries.values_mut() {
            country.start().await?;
        }
        Ok(())
    }

    /// Starts every node as a `tulpar-node` process and waits until each serves (see
    /// [`Country::start_process`]).
    pub async fn start_all_processes(&mut self) -> Result<()> {
        for country in self.countries.values_mut() {
            country.start_process().await?;
        }
        Ok(())
    }
}

impl Country {
    /// The node's configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("node.toml")
    }

    /// Appends `toml` (e.g. a `[webhooks]` section) to the node's configuration file; the node reads
    /// it when it next starts.
    pub fn append_config(&self, toml: &str) -> Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.config_path())?;
        writeln!(file, "\n{toml}")?;
        Ok(())
    }

    fn write_config(&self) -> Result<()> {
        let mut tokens = String::new();
        for (name, token) in &self.tokens {
            let (role, units) = match name.as_str() {
                "focal-point" => ("focal-point", String::new()),
                "admin" => ("admin", String::new()),
                "integrator" => (
                    "integrator",
                    self.units
                        .iter()
                        .map(|u| format!("{u:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                unit => ("officer", format!("{unit:?}")),
            };
            tokens.push_str(&format!(
                "[[client_api.tokens]]\nname = {name:?}\nsha256 = {:?}\nrole = {role:?}\nunits = [{units}]\n\n",
                sha256_hex(token)
            ));
        }
        let config = format!(
            r#"country = "{code}"
data_dir = "data"

[client_api]
listen = "{client}"

{tokens}[federation]
name = "{federation_name}"
listen = "{federation}"

[tls]
certificate = "node/node.crt"
private_key = "node/node.key"
ca_certificate = "node/tls-ca.crt"

[keys]
ledger_key = "node/ledger.key"
units_dir = "node/units"

[trust]
store = "node/trust"
own_directory = "node/directory.env"
reload_interval = "1s"
directory_refresh_interval = "1s"

[delivery]
initial_backoff = "100ms"
max_backoff = "500ms"

[metrics]
listen = "{metrics}"

[log]
level = "info"
"#,
            code = self.code,
            client = self.client_addr,
            metrics = self.metrics_addr,
            federation = self.federation_addr,
            federation_name = FEDERATION,
        );
        std::fs::write(self.config_path(), config)?;
        Ok(())
    }

    /// Starts the node inside this process with the system clock; see [`Country::start_with_clock`].
    pub async fn start(&mut self) -> Result<()> {
        self.start_with_clock(std::sync::Arc::new(tulpar_core::time::SystemClock))
            .await
    }

    /// Starts the node inside this process, on the test's runtime, with `clock`. It serves as soon as
    /// this returns. A test that runs blocking work meanwhile (the `tulpar` command, a thread sleep)
    /// needs a multi-threaded runtime, or the node cannot answer.
    pub async fn start_with_clock(
        &mut self,
        clock: std::sync::Arc<dyn tulpar_core::time::Clock>,
    ) -> Result<()> {
        if self.node.is_some() {
            bail!("the {} node is already running", self.code);
        }
        let node = self.start_in_process(clock).await?;
        self.node = Some(Node::InProcess(node));
        Ok(())
    }

    /// The node running inside this process, to drive it directly (deadlines, witnessing, faults).
    pub fn node(&self) -> Result<&tulpar_node::RunningNode> {
        match &self.node {
            Some(Node::InProcess(node)) => Ok(node),
            Some(Node::Process(_)) => bail!("the {} node runs as a process", self.code),
            None => bail!("the {} node is not running", self.code),
        }
    }

    /// Starts the node as a `tulpar-node` process, logging to `node.log` in its folder, and waits
    /// until its client API answers.
    pub async fn start_process(&mut self) -> Result<()> {
        if self.node.is_some() {
            bail!("the {} node is already running", self.code);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("node.log"))?;
        let node = binary("tulpar-node")?;
        let child = match &self.namespace {
            Some(namespace) => namespace.command(&node),
            None => Command::new(&node),
        }
        .arg("--config")
        .arg(self.config_path())
        .envs(self.node_env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
        self.node = Some(Node::Process(child));
        self.logged = true;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut client) = self.client("focal-point").await {
                if client
                    .who_am_i(tulpar_core::proto::WhoAmIRequest {})
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if let Some(Node::Process(child)) = self.node.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.node = None;
                    bail!(
                        "the {} node exited with {status}:\n{}",
                        self.code,
                        self.log()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the {} node did not start in time:\n{}",
                    self.code,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text `GET /metrics` returns now (Prometheus' text format), over plain HTTP/1.1.
    pub async fn scrape_metrics(&self) -> Result<String> {
        plain_http_get(&self.metrics_addr.to_string(), "/metrics").await
    }

    /// The node process's id, while it runs; `None` for a node running in-process.
    pub fn pid(&self) -> Option<u32> {
        match &self.node {
            Some(Node::Process(child)) => Some(child.id()),
            _ => None,
        }
    }

    /// The node process's log so far.
    ///
    /// # Panics
    /// If no node process was started: a node running in-process writes no log, and a test looking for
    /// a line's absence would pass without reading one.
    pub fn log(&self) -> String {
        assert!(
            self.logged,
            "the {} node never ran as a process, so it has no log; start it with start_process",
            self.code
        );
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    /// Stops the node gracefully and waits until it has: a process by SIGTERM, an in-process node by
    /// its `shutdown`, which returns once its ledger is closed.
    pub async fn stop(&mut self) -> Result<()> {
        match self.node.take() {
            None => Ok(()),
            Some(Node::InProcess(node)) => node
                .shutdown()
                .await
                .with_context(|| format!("stopping the {} node", self.code)),
            Some(Node::Process(mut child)) => {
                let pid = rustix::process::Pid::from_child(&child);
                rustix::process::kill_process(pid, rustix::process::Signal::TERM)
                    .with_context(|| format!("SIGTERM to the {} node", self.code))?;
                let deadline = Instant::now() + Duration::from_secs(20);
                while child.try_wait()?.is_none() {
                    if Instant::now() > deadline {
                        child.kill()?;
                        bail!("the {} node did not stop in time", self.code);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(())
            }
        }
    }

    /// Kills the node process with SIGKILL, as a power cut would; an in-process node cannot be.
    pub fn kill(&mut self) -> Result<()> {
        match self.node.take() {
            None => Ok(()),
            Some(Node::Process(mut child)) => {
                child.kill()?;
                child.wait()?;
                Ok(())
            }
            Some(running @ Node::InProcess(_)) => {
                self.node = Some(running);
                bail!(
                    "the {} node runs in-process; start it with start_process to kill it",
                    self.code
                )
            }
        }
    }

    /// The national TLS CA certificate.
    pub fn national_ca(&self) -> Result<rustls_pki_types::CertificateDer<'static>> {
        let pem = std::fs::read_to_string(self.dir.join("node/tls-ca.crt"))?;
        Ok(tulpar_trust::tls::cert_from_pem(&pem)?)
    }

    /// A client of this node's HTTP/JSON API sending the token named `token` (none: anonymous).
    pub fn http(&self, token: Option<&str>) -> Result<http::HttpClient> {
        self.on_loopback("the HTTP client")?;
        let token = token.map(|name| self.tokens[name].as_str());
        http::HttpClient::new(self.client_addr, &self.national_ca()?, token)
    }

    /// A client of this node's API with the token named `token` (a unit id, "focal-point" or
    /// "integrator").
    pub async fn client(&self, token: &str) -> Result<Client> {
        let (channel, bearer) = self.bearer_channel(token)?;
        Ok(AlertServiceClient::with_interceptor(channel, bearer)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// A client of this node's audit API with the token named `token`.
    pub async fn audit_client(&self, token: &str) -> Result<AuditClient> {
        let (channel, bearer) = self.bearer_channel(token)?;
        Ok(AuditServiceClient::with_interceptor(channel, bearer)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    fn bearer_channel(&self, token: &str) -> Result<(Channel, Bearer)> {
        let secret = self
            .tokens
            .get(token)
            .with_context(|| format!("no token {token}"))?;
        let config = tulpar_trust::tls::api_client_config(&self.national_ca()?, None)?;
        let channel = self.channel(self.client_addr, config)?;
        Ok((channel, Bearer(format!("Bearer {secret}").parse()?)))
    }

    /// The `tulpar` command set up to talk to this node (address and CA in its environment), without
    /// credentials.
    pub fn tulpar(&self) -> Result<Command> {
        let tulpar = binary("tulpar")?;
        let mut command = match &self.namespace {
            Some(namespace) => namespace.command(&tulpar),
            None => Command::new(&tulpar),
        };
        command
            .env("TULPAR_NODE", self.client_addr.to_string())
            .env("TULPAR_CA", self.dir.join("node/tls-ca.crt"));
        Ok(command)
    }

    /// A client of this node's API authenticated by a client certificate for `role` and `subject` (a
    /// unit id or the country code), issued with `tulpar cert issue` from the national CA.
    pub async fn cert_client(
        &self,
        role: &str,
        subject: &str,
    ) -> Result<AlertServiceClient<Channel>> {
        let config = tulpar_trust::tls::api_client_config(
            &self.national_ca()?,
            Some(self.client_certificate(role, subject)?),
        )?;
        let channel = self.channel(self.client_addr, config)?;
        Ok(AlertServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// An account for a person, made with `tulpar user add` as the country's administrator, the password
    /// given on standard input; what the command printed (with a TOTP URI for roles that need one).
    pub fn add_user(
        &self,
        name: &str,
        role: &str,
        unit: &str,
        display_name: &str,
        password: &str,
    ) -> Result<String> {
        use std::io::Write;
        let mut child = self
            .tulpar()?
            .env("TULPAR_TOKEN", &self.tokens["admin"])
            .args(["user", "add", name, "--role", role, "--unit", unit])
            .args(["--display-name", display_name, "--language", "ru"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(format!("{password}\n").as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!(
                "tulpar user add {name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A client certificate for `role` and `subject` from the national CA (`tulpar cert issue`, once),
    /// with its key.
    pub fn client_certificate(
        &self,
        role: &str,
        subject: &str,
    ) -> Result<(
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    )> {
        let out = self.dir.join("certs");
        let cert = out.join(format!("{subject}.{role}.crt"));
        if !cert.exists() {
            run(Command::new(binary("tulpar")?)
                .args(["cert", "issue", "--dir"])
                .arg(&self.dir)
                .args(["--role", role, "--subject", subject, "--out"])
                .arg(&out))?;
        }
        let chain = rustls_pki_types::CertificateDer::pem_file_iter(&cert)?
            .collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(
            out.join(format!("{subject}.{role}.key")),
        )?;
        Ok((chain, key))
    }

    /// Runs this country's node inside the test process with `clock`, handing it to the caller, who
    /// stops it with `shutdown` (see [`Country::start_with_clock`] for one the country holds).
    pub async fn start_in_process(
        &self,
        clock: std::sync::Arc<dyn tulpar_core::time::Clock>,
    ) -> Result<tulpar_node::RunningNode> {
        self.on_loopback("an in-process node")?;
        tulpar_node::start_with_clock(self.load_config()?, clock).await
    }

    /// The node's configuration as a process started by [`Country::start_process`] would read it: the
    /// file, with this process's environment and [`Country::node_env`] over it.
    fn load_config(&self) -> Result<tulpar_node::config::Config> {
        let path = self.config_path();
        for (name, _) in &self.node_env {
            if !name.starts_with(tulpar_node::config::ENV_PREFIX)
                || name.starts_with("TULPAR__LOG__")
            {
                bail!(
                    "{name} is for a node process; start the {} node with start_process",
                    self.code
                );
            }
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let env = std::env::vars().chain(self.node_env.iter().cloned());
        Ok(tulpar_node::config::Config::from_toml(&text, &path, env)?)
    }

    /// This country's ledger in `dir` (its `data` folder, or a new one), opened offline with the node's
    /// own ledger key, as an insider holding it could; the node must not be running on it.
    pub fn open_ledger(&self, dir: &std::path::Path) -> Result<tulpar_ledger::Ledger> {
        let (ledger, _) = tulpar_ledger::Ledger::open(
            dir,
            tulpar_ledger::LedgerOptions {
                origin: origin(&self.code),
                signing_key: tulpar_trust::keyfile::read_private_key(
                    &self.dir.join("node/ledger.key"),
                )?,
                earlier_keys: Vec::new(),
                views: Vec::new(),
            },
        )?;
        Ok(ledger)
    }

    /// Every entry of this country's ledger, read offline (the node must be stopped).
    pub fn ledger_entries(&self) -> Result<Vec<tulpar_core::proto::LedgerEntry>> {
        let ledger = self.open_ledger(&self.dir.join("data"))?;
        Ok(ledger
            .entries(0..ledger.size())?
            .into_iter()
            .map(|(_, entry)| entry)
            .collect())
    }

    /// A federation client to `partner`'s node presenting this country's node certificate.
    pub fn federation_client(&self, partner: &Country) -> Result<FederationServiceClient<Channel>> {
        Ok(tulpar_node::transport::federation_client(
            self.federation_channel(partner)?,
        ))
    }

    /// A channel to `partner`'s federation listener as this node (mutual TLS with this node's
    /// identity), for any service.
    pub fn federation_channel(&self, partner: &Country) -> Result<Channel> {
        let identity = tulpar_trust::tls::NodeIdentity::load(&self.dir.join("node"))?;
        let store = std::sync::Arc::new(tulpar_trust::TrustStore::open(
            &self.dir.join("node/trust"),
            std::sync::Arc::new(tulpar_core::time::SystemClock),
        )?);
        let partner_code = tulpar_core::codes::CountryCode::parse(&partner.code)?;
        let config = tulpar_trust::tls::federation_client_config(&identity, store, partner_code)?;
        self.channel(partner.federation_addr, config)
    }

    /// A channel to this node's client API with no credentials (TLS against the national CA).
    pub fn client_channel(&self) -> Result<Channel> {
        let config = tulpar_trust::tls::api_client_config(&self.national_ca()?, None)?;
        self.channel(self.client_addr, config)
    }
}

/// Connections to a node as anyone on the network could open them, from a chosen loopback address
/// (any of 127.0.0.0/8), so that a test can play a client apart from the harness's own (127.0.0.1).
impl Country {
    /// A TLS connection to the client API from `source`, without credentials, that has sent the
    /// HTTP/2 preface and an empty SETTINGS frame, and then nothing.
    pub async fn preface_connection(
        &self,
        source: std::net::IpAddr,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        use tokio::io::AsyncWriteExt;
        self.on_loopback("a connection from a chosen loopback address")?;
        let config = tulpar_trust::tls::api_client_config(&self.national_ca()?, None)?;
        let mut tls = tls_from(source, self.client_addr, config).await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await?;
        tls.flush().await?;
        Ok(tls)
    }

    /// A client of the API without credentials whose connections come from `source`.
    pub fn anonymous_client_from(
        &self,
        source: std::net::IpAddr,
    ) -> Result<AlertServiceClient<Channel>> {
        self.on_loopback("a client from a chosen loopback address")?;
        let config = tulpar_trust::tls::api_client_config(&self.national_ca()?, None)?;
        let addr = self.client_addr;
        let connector = tower::service_fn(move |_: tonic::transport::Uri| {
            let config = config.clone();
            async move {
                let tls = tls_from(source, addr, config)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect_with_connector_lazy(connector);
        Ok(AlertServiceClient::new(channel))
    }
}

/// A TLS connection to `addr` from the loopback address `source`.
async fn tls_from(
    source: std::net::IpAddr,
    addr: SocketAddr,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let tcp = socket.connect(addr).await?;
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    Ok(tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?)
}

/// An alert from `origin_unit` to `recipient` carrying one attachment of `bytes` bytes (distinct per
/// `seed`), to make alerts as large as officers' scans.
pub fn alert_with_attachment(
    origin_unit: &str,
    recipient: &str,
    bytes: usize,
    seed: u64,
) -> tulpar_core::proto::AlertContent {
    let mut content = tulpar_core::sample::alert_draft(origin_unit, recipient);
    let file: Vec<u8> = (0..bytes as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as u8)
        .collect();
    content.attachments.push(tulpar_core::proto::Attachment {
        file_name: format!("scan-{seed}.jpg"),
        media_type: "image/jpeg".into(),
        sha256: hex::encode(digest(&SHA256, &file)),
        size_bytes: bytes as u64,
        content: file,
    });
    content
}

impl Drop for Country {
    fn drop(&mut self) {
        // An in-process node is dropped with its tasks still on the runtime, which ends with the test.
        if let Some(Node::Process(mut child)) = self.node.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Country {
    /// A lazily connecting TLS channel to `addr`, from this country's namespace if it has one.
    fn channel(&self, addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Result<Channel> {
        let (connect_timeout, request_timeout) = (Duration::from_secs(2), Duration::from_secs(10));
        let Some(namespace) = self.namespace.clone() else {
            return tulpar_rpc::tls_channel(
                &addr.to_string(),
                config,
                connect_timeout,
                request_timeout,
            )
            .map_err(anyhow::Error::msg);
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
        let connect = tower::service_fn(move |_: tonic::transport::Uri| {
            let (namespace, connector, name) = (namespace.clone(), connector.clone(), name.clone());
            async move {
                // Making the socket starts a thread that enters the namespace: not on the reactor.
                let socket = tokio::task::spawn_blocking(move || namespace.tcp_socket())
                    .await
                    .map_err(std::io::Error::other)??;
                let tcp = socket.connect(addr).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        });
        Ok(
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
                .connect_timeout(connect_timeout)
                .timeout(request_timeout)
                .connect_with_connector_lazy(connect),
        )
    }

    /// Refuses `what` for a country in a namespace, which only its own clients can reach: anything
    /// connecting from the test's namespace would not reach the node, and would send its packets to
    /// the machine's default route.
    fn on_loopback(&self, what: &str) -> Result<()> {
        match &self.namespace {
            Some(namespace) => bail!(
                "{what} cannot reach the {} node inside network namespace {}",
                self.code,
                namespace.name()
            ),
            None => Ok(()),
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a command printed, standard output then standard error, as text.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::newer_source;

    fn touch(path: &std::path::Path, at: SystemTime) {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        file.set_modified(at).expect("set mtime");
    }

    #[test]
    fn a_binary_older_than_a_file_its_build_read_is_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (binary, old, spaced) = (
            dir.path().join("tulpar-node"),
            dir.path().join("main.rs"),
            dir.path().join("a file.rs"),
        );
        let built = SystemTime::now() - Duration::from_secs(3600);
        touch(&binary, built);
        touch(&old, built - Duration::from_secs(60));
        touch(&spaced, built - Duration::from_secs(60));
        std::fs::write(
            dir.path().join("tulpar-node.d"),
            format!(
                "{}: {} {}\n",
                binary.display(),
                old.display(),
                spaced.display().to_string().replace(' ', "\\ ")
            ),
        )
        .expect("write dep-info");
        assert_eq!(newer_source(&binary), None);
        touch(&spaced, built + Duration::from_secs(1));
        assert_eq!(newer_source(&binary), Some(spaced));
        // Without dep-info (a binary copied elsewhere) nothing is judged.
        std::fs::remove_file(dir.path().join("tulpar-node.d")).expect("rm");
        assert_eq!(newer_source(&binary), None);
    }
}
