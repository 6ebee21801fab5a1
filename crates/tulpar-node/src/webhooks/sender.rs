//! POSTing one signed message to a receiver over HTTP/1.1, keeping the connection for the next.
//!
//! Redirects are not followed (a 3xx is a failure, as Standard Webhooks asks), a receiver's answer
//! body is read up to [`MAX_ANSWER_BYTES`] and dropped, and each attempt (connecting, TLS, sending,
//! the answer) has one time limit.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Most bytes of a receiver's answer that are read; the rest closes the connection.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Who is calling, for the receiver's logs.
const USER_AGENT: &str = concat!("tulpar-node/", env!("CARGO_PKG_VERSION"));

/// A message to send: its id, the signature headers and the JSON body.
pub(crate) struct Message<'a> {
    /// `webhook-id`.
    pub(crate) id: &'a str,
    /// `webhook-timestamp`, Unix seconds of this attempt.
    pub(crate) timestamp: u64,
    /// `webhook-signature`.
    pub(crate) signature: String,
    /// The exact bytes signed.
    pub(crate) body: Bytes,
}

/// How an attempt went.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The receiver answered 2xx.
    Accepted(u16),
    /// The receiver answered something else; `retry_after` is what it asked for, if anything.
    Refused {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The receiver could not be reached, or did not answer in time.
    Unreachable(String),
}

impl Answer {
    /// The HTTP status, 0 if there was none.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Accepted(status) | Self::Refused { status, .. } => *status,
            Self::Unreachable(_) => 0,
        }
    }

    /// Why the attempt failed, for people; `None` if it did not.
    pub(crate) fn error(&self) -> Option<String> {
        match self {
            Self::Accepted(_) => None,
            Self::Refused { status, .. } => {
                let reason = http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let redirect = if (300..400).contains(status) {
                    " (redirects are not followed: configure the final URL)"
                } else {
                    ""
                };
                Some(format!("the receiver answered {status} {reason}{redirect}"))
            }
            Self::Unreachable(error) => Some(error.clone()),
        }
    }
}

/// An HTTP answer.
pub(crate) struct Reply {
    /// Its status.
    pub(crate) status: http::StatusCode,
    /// Its headers.
    pub(crate) headers: http::HeaderMap,
    /// Its body, unless longer than [`MAX_ANSWER_BYTES`] or cut off.
    pub(crate) body: Option<Bytes>,
}

/// One receiver's URL and the connection to it, if one is open.
pub(crate) struct Sender {
    url: http::Uri,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl Sender {
    /// A sender to `url` (`https://` needs `tls`), each attempt limited to `timeout`.
    pub(crate) fn new(
        url: http::Uri,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Self {
        let https = url.scheme_str() == Some("https");
        let host = url
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        Self {
            url,
            host,
            port,
            tls: tls.filter(|_| https),
            timeout,
            connection: None,
        }
    }

    /// POSTs `message`, reusing the open connection when the receiver kept it.
    pub(crate) async fn send(&mut self, message: &Message<'_>) -> Answer {
        match tokio::time::timeout(self.timeout, self.attempt(message)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                self.connection = None;
                Answer::Unreachable(error)
            }
            Err(_) => {
                self.connection = None;
                Answer::Unreachable(format!(
                    "no answer from {}:{} within {:?}",
                    self.host, self.port, self.timeout
                ))
            }
        }
    }

    async fn attempt(&mut self, message: &Message<'_>) -> Result<Answer, String> {
        let timestamp = message.timestamp.to_string();
        let reply = self
            .post(
                "application/json",
                &[
                    ("webhook-id", message.id),
                    ("webhook-timestamp", &timestamp),
                    ("webhook-signature", &message.signature),
                ],
                message.body.clone(),
            )
            .await?;
        let retry_after = reply
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Ok(if reply.status.is_success() {
            Answer::Accepted(reply.status.as_u16())
        } else {
            Answer::Refused {
                status: reply.status.as_u16(),
                retry_after,
            }
        })
    }

    /// POSTs `body` to the URL within the time limit, reusing the open connection when the other side
    /// kept it, and reads the answer's body up to [`MAX_ANSWER_BYTES`].
    pub(crate) async fn post_in_time(
        &mut self,
        content_type: &str,
        body: Bytes,
    ) -> Result<Reply, String> {
        match tokio::time::timeout(self.timeout, self.post(content_type, &[], body)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => {
                self.connection = None;
                Err(error)
            }
            Err(_) => {
                self.connection = None;
                Err(format!(
                    "no answer from {}:{} within {:?}",
                    self.host, self.port, self.timeout
                ))
            }
        }
    }

    async fn post(
        &mut self,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply, String> {
        let reusable = match self.connection.take() {
            Some(mut open) => open.ready().await.is_ok().then_some(open),
            None => None,
        };
        let mut connection = match reusable {
            Some(open) => open,
            None => self.connect().await?,
        };
        let path = self
            .url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let authority = self.url.authority().map(|a| a.as_str()).unwrap_or_default();
        let mut request = http::Request::post(path)
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::USER_AGENT, USER_AGENT);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| format!("{}:{}: {e}", self.host, self.port))?;
        let (parts, answer) = response.into_parts();
        // Reading the answer to its end lets the connection serve the next request.
        let body = Limited::new(answer, MAX_ANSWER_BYTES)
            .collect()
            .await
            .ok()
            .map(|collected| collected.to_bytes());
        if body.is_some() {
            self.connection = Some(connection);
        }
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let target = format!("{}:{}", self.host, self.port);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect to {target}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("{}: not a TLS server name: {e}", self.host))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {target}: {e}"))?;
                handshake(stream, &target).await
            }
            None => handshake(tcp, &target).await,
        }
    }
}

async fn handshake<T>(io: T, target: &str) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/1.1 with {target}: {e}"))?;
    // The connection's task ends when the sender is dropped or the receiver closes it.
    tokio::spawn(connection);
    Ok(sender)
}

/// The TLS settings for `https://` receivers: roots from the PEM bundle at `path` (the setting
/// `field`), HTTP/1.1.
pub(crate) fn tls_config(
    path: &std::path::Path,
    field: &str,
) -> Result<Arc<rustls::ClientConfig>, anyhow::Error> {
    use anyhow::Context as _;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{field}: cannot read {}", path.display()))?;
    for certificate in certificates {
        let certificate = certificate.with_context(|| format!("{field}: {}", path.display()))?;
        // A bundle may hold certificates this TLS stack cannot use; the others still serve.
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        anyhow::bail!("{field}: {} holds no usable CA certificate", path.display());
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .with_context(|| format!("TLS settings of {field}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
