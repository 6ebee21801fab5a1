//! People are known, and revoking them takes effect: a revoked officer certificate and a revoked
//! bearer token are refused on new and open connections and their streams end; failed authentication
//! is throttled and logged a bounded number of times; a node does not start with a guessable token.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Code, Request, Status, Streaming};
use tulpar_core::limits::AUTH_FAILURES_ALLOWED;
use tulpar_core::proto::{self, alert_service_client::AlertServiceClient};
use tulpar_tests::{Country, Federation, binary, eventually};

/// Long enough for several `trust.reload_interval`s of the harness (1 s) on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

fn federation() -> Result<Federation> {
    Federation::new(&[("KZ", &["KZ-AKTAU-PCU"]), ("UZ", &["UZ-TASHKENT-PCU"])])
}

fn submit_request(request_id: &str) -> proto::SubmitAlertRequest {
    proto::SubmitAlertRequest {
        request_id: request_id.into(),
        content: Some(tulpar_core::sample::alert_draft("KZ-AKTAU-PCU", "UZ")),
    }
}

fn watch_request() -> proto::WatchAlertsRequest {
    proto::WatchAlertsRequest {
        resume_from: Some(0),
        kinds: Vec::new(),
    }
}

/// Reads `stream` until it ends with an error, which is returned; events before it are skipped.
async fn end_of(stream: &mut Streaming<proto::AlertEvent>) -> Result<Status> {
    for _ in 0..10_000 {
        match tokio::time::timeout(WAIT, stream.message()).await {
            Err(_) => bail!("the stream neither ended nor sent anything in time"),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => bail!("the stream ended without a status"),
            Ok(Err(status)) => return Ok(status),
        }
    }
    bail!("the stream did not end")
}

fn run(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("{command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_officer_certificate_is_refused_within_one_refresh_and_its_stream_ends()
-> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let kz = &federation.countries["KZ"];
    let mut officer = kz.cert_client("officer", "KZ-AKTAU-PCU").await?;
    let me = officer
        .who_am_i(proto::WhoAmIRequest {})
        .await?
        .into_inner();
    assert_eq!(me.principal, "cert:officer/KZ-AKTAU-PCU");
    officer.submit_alert(submit_request("before")).await?;
    let mut events = officer.watch_alerts(watch_request()).await?.into_inner();

    // The attack the revocation answers: the laptop holding this certificate was stolen. The focal
    // point revokes it in the directory (which also writes the node's copy of it).
    let cert = kz.dir.join("certs/KZ-AKTAU-PCU.officer.crt");
    run(Command::new(binary("tulpar")?)
        .args(["directory", "revoke-key", "--dir"])
        .arg(&kz.dir)
        .arg("--tls-cert")
        .arg(&cert)
        .args(["--reason", "laptop stolen"]))?;

    // The connection opened before the revocation is refused at its next call, within one refresh.
    let status = eventually(WAIT, "the revoked certificate refused", || {
        let mut officer = officer.clone();
        async move {
            match officer.who_am_i(proto::WhoAmIRequest {}).await {
                Ok(_) => Ok(None),
                Err(status) => Ok(Some(status)),
            }
        }
    })
    .await?;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("was revoked")
            && status.message().contains("KZ-AKTAU-PCU")
            && status.message().contains("laptop stolen"),
        "{}",
        status.message()
    );
    let status = officer
        .submit_alert(submit_request("after"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Its open stream ended with the same refusal.
    let status = end_of(&mut events).await?;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("laptop stolen"), "{status:?}");

    // A new connection with the same certificate is refused at its first call.
    let mut again = kz.cert_client("officer", "KZ-AKTAU-PCU").await?;
    let status = again.who_am_i(proto::WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = again
        .submit_alert(submit_request("new connection"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // Another officer's certificate still works.
    let mut focal = kz.cert_client("focal-point", "KZ").await?;
    focal.who_am_i(proto::WhoAmIRequest {}).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_by_name_is_refused_at_once_without_a_restart() -> Result<()> {
    let mut federation = federation()?;
    federation.start_all().await?;
    let kz = federation.country("KZ");
    let mut integrator = kz.client("integrator").await?;
    integrator.who_am_i(proto::WhoAmIRequest {}).await?;
    let mut events = integrator.watch_alerts(watch_request()).await?.into_inner();
    let tulpar = |token: &str| -> Result<Command> {
        let mut command = kz.tulpar()?;
        command.env("TULPAR_TOKEN", &kz.tokens[token]);
        Ok(command)
    };

    // Only an administrator may revoke.
    let output = tulpar("focal-point")?
        .args(["token", "revoke", "integrator"])
        .output()?;
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("PermissionDenied"), "{error}");
    integrator.who_am_i(proto::WhoAmIRequest {}).await?;

    let out = run(tulpar("admin")?.args([
        "token",
        "revoke",
        "integrator",
        "--reason",
        "system decommissioned",
    ]))?;
    assert!(out.contains("token integrator revoked at"), "{out}");

    // Refused at once: the node answered only after the revocation was applied.
    let status = integrator
        .who_am_i(proto::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status
            .message()
            .contains("token \"integrator\" was revoked at")
            && status
                .message()
                .contains("by token:admin: system decommissioned"),
        "{}",
        status.message()
    );
    let status = end_of(&mut events).await?;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // A second revocation changes nothing; the list shows the state.
    let out = run(tulpar("admin")?.args(["token", "revoke", "integrator"]))?;
    assert!(out.contains("was already revoked"), "{out}");
    let list = run(tulpar("admin")?.args(["token", "list"]))?;
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("integrator").contains("revoked"), "{list}");
    assert!(line("focal-point").contains("active"), "{list}");
    let out = tulpar("admin")?
        .args(["token", "revoke", "nobody"])
        .output()?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("NotFound"));

    // The revocation is in the ledger, so it holds after a restart.
    kz.stop().await?;
    let revoked = kz
        .ledger_entries()?
        .into_iter()
        .filter_map(|e| match e.kind {
            Some(proto::ledger_entry::Kind::TokenRevoked(r)) => Some(r),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].name, "integrator");
    assert_eq!(revoked[0].revoked_by, "token:admin");
    kz.start().await?;
    let mut integrator = kz.client("integrator").await?;
    let status = integrator
        .who_am_i(proto::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    Ok(())
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Token(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A client with a bearer token on a channel of our own.
type TokenClient =
    AlertServiceClient<tonic::service::interceptor::InterceptedService<Channel, Token>>;

/// A client of `country`'s API connecting from the loopback address `source`, with `token`.
fn client_from(country: &Country, source: IpAddr, token: &str) -> Result<TokenClient> {
    let config = tulpar_trust::tls::api_client_config(&country.national_ca()?, None)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let addr = country.client_addr;
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            let tcp = socket.connect(addr).await?;
            let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .timeout(Duration::from_secs(10))
        .connect_with_connector_lazy(connect);
    let header = format!("Bearer {token}").parse()?;
    Ok(AlertServiceClient::with_interceptor(channel, Token(header)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_wrong_tokens_are_throttled_and_logged_a_few_times() -> Result<()> {
    let mut federation = federation()?;
    let kz = federation.country("KZ");
    // A process, whose log is counted.
    kz.start_process().await?;
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let log_before = kz.log().lines().count();

    // The attack: 3,000 guesses from one address, IN_FLIGHT at a time on one connection.
    const IN_FLIGHT: usize = 50;
    let guesser = client_from(kz, attacker, "guess")?;
    let started = Instant::now();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    let mut last_throttled = None;
    for _ in 0..3000 / IN_FLIGHT {
        let mut calls = Vec::new();
        for _ in 0..IN_FLIGHT {
            let mut client = guesser.clone();
            calls.push(tokio::spawn(async move {
                client.who_am_i(proto::WhoAmIRequest {}).await
            }));
        }
        for call in calls {
            let status = call.await?.expect_err("a guess succeeded");
            if status.code() == Code::ResourceExhausted {
                last_throttled = Some(status.message().to_owned());
            }
            *codes.entry(format!("{:?}", status.code())).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    let unauthenticated = codes.get("Unauthenticated").copied().unwrap_or(0);
    let throttled = codes.get("ResourceExhausted").copied().unwrap_or(0);
    eprintln!(
        "3000 guesses in {elapsed:?} ({:.0}/s): {codes:?}",
        3000.0 / elapsed.as_secs_f64()
    );
    assert_eq!(unauthenticated + throttled, 3000, "{codes:?}");
    // Credentials were looked at only until the address was throttled (calls already in flight then
    // still had theirs checked).
    assert!(
        unauthenticated <= AUTH_FAILURES_ALLOWED as usize + IN_FLIGHT,
        "{codes:?}"
    );
    let message = last_throttled.context("no call was throttled")?;
    assert!(
        message.contains("too many failed authentications from 127.0.0.1")
            && message.contains("more seconds"),
        "{message}"
    );

    // Even the right token is refused from that address for now, but works from another one.
    let status = client_from(kz, attacker, &kz.tokens["focal-point"])?
        .who_am_i(proto::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let me = client_from(kz, other, &kz.tokens["focal-point"])?
        .who_am_i(proto::WhoAmIRequest {})
        .await?
        .into_inner();
    assert_eq!(me.role, "focal-point");

    // A handful of log lines, not 3,000.
    let log = kz.log();
    let lines: Vec<&str> = log
        .lines()
        .skip(log_before)
        .filter(|l| l.contains("authentication"))
        .collect();
    eprintln!(
        "{} log lines about authentication:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(!lines.is_empty() && lines.len() <= 5, "{lines:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_password_token_refuses_to_start_and_check_says_why() -> Result<()> {
    let mut federation = federation()?;
    let kz = federation.country("KZ");
    // What deploy/node.example.toml used to ship: SHA-256("password").
    let mut config = std::fs::read_to_string(kz.config_path())?;
    config.push_str(
        "\n[[client_api.tokens]]\nname = \"asycuda\"\n\
         sha256 = \"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\"\n\
         role = \"integrator\"\nunits = [\"KZ-AKTAU-PCU\"]\n",
    );
    std::fs::write(kz.config_path(), config)?;
    let tokens_before = kz.tokens.len();

    let output = Command::new(binary("tulpar-node")?)
        .arg("--config")
        .arg(kz.config_path())
        .arg("--check")
        .output()?;
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains(&format!("client_api.tokens[{tokens_before}].sha256"))
            && error.contains("token \"asycuda\" is the SHA-256 of \"password\""),
        "{error}"
    );
    let error = kz.start_process().await.unwrap_err().to_string();
    assert!(error.contains("\"password\""), "{error}");
    Ok(())
}

/// The shipped configurations carry no token at all.
#[test]
fn the_example_configurations_ship_no_token() -> Result<()> {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for file in [
        "node.example.toml",
        "federation/kz.toml",
        "federation/uz.toml",
        "federation/tj.toml",
    ] {
        let text = std::fs::read_to_string(deploy.join(file))?;
        let live = text
            .lines()
            .any(|l| l.trim_start().starts_with("[[client_api.tokens]]"));
        assert!(!live, "{file} configures a token");
        assert!(!text.contains("5e884898"), "{file}");
    }
    Ok(())
}
