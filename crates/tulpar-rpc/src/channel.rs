//! Connecting to a node: TCP, then TLS with the caller's rustls configuration, under tonic.
//!
//! The handshake is done here rather than by tonic so that rustls is configured by `tulpar-trust`
//! (custom verifiers that read the live trust store, client certificates).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

/// How a channel finds out that its connection is dead: an HTTP/2 ping every `interval`, also while
/// idle, and the connection dropped when one goes unanswered for `timeout`. Calls in flight on a
/// dropped connection fail at once instead of waiting out their timeout, and the next call connects
/// anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// How often the connection is pinged.
    pub interval: Duration,
    /// How long a ping may go unanswered.
    pub timeout: Duration,
}

impl Keepalive {
    /// For people's clients and customs systems: a ping every 30 s, which a node serving thousands
    /// of watchers can answer without noticing.
    pub const CLIENT: Self = Self {
        interval: Duration::from_secs(30),
        timeout: Duration::from_secs(10),
    };
    /// Between nodes: a partner behind a dead path (a partition, a crashed host) is noticed within
    /// 10 s, so deliveries go back to asking on fresh connections whether it is up. A ping waits
    /// behind at most a few round trips of data in the socket's buffer, so 5 s is safe on links with
    /// round trips up to about a second.
    pub const PARTNER: Self = Self {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
    };
}

/// Why an endpoint cannot be dialled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Not of the form `host:port`.
    #[error("{endpoint:?} is not HOST:PORT: {reason}")]
    NotHostPort {
        /// The endpoint given.
        endpoint: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// The host is neither a DNS name nor an IP address.
    #[error("{host:?} is not a host name or IP address: {source}")]
    BadHost {
        /// The host part.
        host: String,
        /// What rustls found.
        source: rustls_pki_types::InvalidDnsNameError,
    },
}

/// A lazily connecting gRPC channel to `endpoint` ("host:port", an IPv6 address in brackets) over TLS
/// with `config`.
///
/// The channel reconnects by itself; nothing is sent until the first call. Its connections are kept
/// alive as [`Keepalive::CLIENT`] says.
pub fn tls_channel(
    endpoint: &str,
    config: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Channel, ChannelError> {
    tls_channel_with_keepalive(
        endpoint,
        config,
        connect_timeout,
        request_timeout,
        Keepalive::CLIENT,
    )
}

/// As [`tls_channel`], with the connection kept alive as `keepalive` says.
pub fn tls_channel_with_keepalive(
    endpoint: &str,
    config: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    request_timeout: Duration,
    keepalive: Keepalive,
) -> Result<Channel, ChannelError> {
    let not_host_port = |reason: String| ChannelError::NotHostPort {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let uri: Uri = format!("http://{endpoint}")
        .parse()
        .map_err(|e| not_host_port(format!("{e}")))?;
    let host = uri
        .host()
        .map(|host| host.trim_start_matches('[').trim_end_matches(']'))
        .filter(|host| !host.is_empty())
        .ok_or_else(|| not_host_port("no host".into()))?
        .to_owned();
    let port = uri
        .port_u16()
        .ok_or_else(|| not_host_port("no port".into()))?;
    let server_name =
        ServerName::try_from(host.clone()).map_err(|source| ChannelError::BadHost {
            host: host.clone(),
            source,
        })?;
    let connector = TlsConnector::from(config);
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        let host = host.clone();
        async move {
            // The errors name the address tried: tonic reports only the innermost message.
            let tcp = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| naming(e, &format!("cannot connect to {}", hostport(&host, port))))?;
            let _ = tcp.set_nodelay(true);
            let tls = connector
                .connect(server_name, tcp)
                .await
                .map_err(|e| naming(e, &format!("TLS with {}", hostport(&host, port))))?;
            Ok::<_, io::Error>(TokioIo::new(tls))
        }
    });
    let endpoint = Endpoint::from(uri)
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(keepalive.interval)
        .keep_alive_timeout(keepalive.timeout)
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_with_connector_lazy(connect))
}

/// `host:port`, an IPv6 address in brackets.
fn hostport(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `error` of the same kind, its message prefixed with `what`.
fn naming(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Arc::new(config)
    }

    fn dial(endpoint: &str) -> Result<Channel, ChannelError> {
        tls_channel(
            endpoint,
            config(),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
    }

    #[tokio::test]
    async fn endpoints_need_a_host_and_a_port() {
        for endpoint in ["127.0.0.1:7443", "[::1]:7443", "node.kz.example:443"] {
            assert!(dial(endpoint).is_ok(), "{endpoint}");
        }
        let error = dial("node.kz.example").expect_err("no port");
        assert!(error.to_string().contains("no port"), "{error}");
        assert!(matches!(
            dial(":7443"),
            Err(ChannelError::NotHostPort { .. })
        ));
    }

    /// The message of a call's failure on a channel to `endpoint`.
    async fn failure(endpoint: &str) -> String {
        let channel = dial(endpoint).expect("a host and a port");
        let mut client = tulpar_core::proto::alert_service_client::AlertServiceClient::new(channel);
        let status = client
            .get_alert(tulpar_core::proto::GetAlertRequest::default())
            .await
            .expect_err("nothing answers");
        format!("{status}")
    }

    #[tokio::test]
    async fn failures_to_connect_name_the_address_tried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap().to_string();
        drop(listener);
        let message = failure(&closed).await;
        assert!(
            message.contains(&format!("cannot connect to {closed}")),
            "{message}"
        );

        // A listener that is not a TLS server: the handshake fails, naming the address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let message = failure(&open).await;
        assert!(message.contains(&format!("TLS with {open}")), "{message}");
    }
}
