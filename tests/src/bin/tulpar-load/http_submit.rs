//! Submission through the HTTP/JSON door: `POST /v1/alerts` with the alert's content as proto3 JSON,
//! on TLS connections opened before the run and then reused, so that a run times requests and not
//! TLS handshakes.
//!
//! HTTP/1.1 carries one request at a time per connection, so a submitter takes an idle connection
//! from a pool and puts it back once it has read the answer, opening another only when none is idle
//! (counted, see [`HttpSubmitter::opened`]). HTTP/2 multiplexes every submitter on one connection, as
//! the gRPC channel does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tulpar_core::proto;
use tulpar_tests::Country;

/// The HTTP version the submitters speak (agreed by ALPN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// HTTP/1.1 keep-alive, a pool of connections.
    Http1,
    /// HTTP/2, one multiplexed connection.
    Http2,
}

/// Submits alerts to one node's HTTP/JSON API.
pub(crate) struct HttpSubmitter {
    connector: Connector,
    /// Origin form for HTTP/1.1; absolute for HTTP/2, whose `:authority` and `:scheme` hyper takes
    /// from it.
    uri: Uri,
    /// HTTP/1.1's `Host` header.
    host: Option<HeaderValue>,
    authorization: HeaderValue,
    connections: Connections,
}

enum Connections {
    /// Idle HTTP/1.1 connections, the most recently used on top.
    Http1(Mutex<Vec<http1::SendRequest<Full<Bytes>>>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl HttpSubmitter {
    /// A submitter to `country`'s node with the token named `token`, its connections opened: `pool`
    /// of them for HTTP/1.1 (as many as submitters run at once), one for HTTP/2.
    pub(crate) async fn connect(
        country: &Country,
        token: &str,
        version: Version,
        pool: usize,
    ) -> Result<Self> {
        let addr = country.client_addr;
        let secret = country
            .tokens
            .get(token)
            .with_context(|| format!("no token {token}"))?;
        let mut tls =
            (*tulpar_trust::tls::api_client_config(&country.national_ca()?, None)?).clone();
        let alpn: &[u8] = match version {
            Version::Http1 => b"http/1.1",
            Version::Http2 => b"h2",
        };
        tls.alpn_protocols = vec![alpn.to_vec()];
        let connector = Connector {
            addr,
            tls: TlsConnector::from(Arc::new(tls)),
            opened: AtomicUsize::new(0),
        };
        let (uri, host, connections) = match version {
            Version::Http1 => {
                let mut idle = Vec::with_capacity(pool);
                for _ in 0..pool {
                    idle.push(connector.open_http1().await?);
                }
                let host = Some(addr.to_string().parse()?);
                (
                    "/v1/alerts".parse()?,
                    host,
                    Connections::Http1(Mutex::new(idle)),
                )
            }
            Version::Http2 => {
                let (sender, connection) =
                    http2::handshake(TokioExecutor::new(), connector.tls_stream().await?).await?;
                tokio::spawn(connection);
                let uri = format!("https://{addr}/v1/alerts").parse()?;
                (uri, None, Connections::Http2(sender))
            }
        };
        Ok(Self {
            connector,
            uri,
            host,
            authorization: format!("Bearer {secret}").parse()?,
            connections,
        })
    }

    /// Connections opened so far, those opened by [`connect`](Self::connect) included: more than the
    /// pool means some submits waited for a TLS handshake.
    pub(crate) fn opened(&self) -> usize {
        self.connector.opened.load(Ordering::Relaxed)
    }

    /// The HTTP version spoken.
    pub(crate) fn version(&self) -> Version {
        match self.connections {
            Connections::Http1(_) => Version::Http1,
            Connections::Http2(_) => Version::Http2,
        }
    }

    /// Submits `content` as JSON and returns the alert id the node answered.
    pub(crate) async fn submit(&self, content: &proto::AlertContent) -> Result<String> {
        let body = Bytes::from(serde_json::to_vec(content)?);
        let answer = match &self.connections {
            Connections::Http1(idle) => {
                let mut sender = self.idle_http1(idle).await?;
                let answer = read_answer(sender.send_request(self.request(body)?)).await?;
                // Read to its end, the answer leaves the connection free for the next request.
                idle.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(sender);
                answer
            }
            Connections::Http2(sender) => {
                read_answer(sender.clone().send_request(self.request(body)?)).await?
            }
        };
        let response: proto::SubmitAlertResponse = serde_json::from_slice(&answer)
            .with_context(|| format!("not a SubmitAlertResponse: {answer:?}"))?;
        Ok(response.alert_id)
    }

    fn request(&self, body: Bytes) -> Result<Request<Full<Bytes>>> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(host) = &self.host {
            request = request.header(HOST, host.clone());
        }
        Ok(request.body(Full::new(body))?)
    }

    /// An idle HTTP/1.1 connection, or a new one if none is idle.
    async fn idle_http1(
        &self,
        idle: &Mutex<Vec<http1::SendRequest<Full<Bytes>>>>,
    ) -> Result<http1::SendRequest<Full<Bytes>>> {
        loop {
            let popped = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some(mut sender) = popped else {
                return self.connector.open_http1().await;
            };
            // Waits for hyper to finish with the previous exchange; fails if the node closed it.
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
    }
}

/// Opens TLS connections to the node, counting them.
struct Connector {
    addr: SocketAddr,
    tls: TlsConnector,
    opened: AtomicUsize,
}

impl Connector {
    async fn open_http1(&self) -> Result<http1::SendRequest<Full<Bytes>>> {
        let (sender, connection) = http1::handshake(self.tls_stream().await?).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn tls_stream(&self) -> Result<TokioIo<TlsStream<TcpStream>>> {
        let tcp = TcpStream::connect(self.addr).await?;
        // As the gRPC channel does (`tulpar_rpc::tls_channel`): no Nagle delay on small requests.
        tcp.set_nodelay(true)?;
        let tls = self
            .tls
            .connect(ServerName::from(self.addr.ip()), tcp)
            .await
            .context("TLS handshake")?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(TokioIo::new(tls))
    }
}

/// The body of a 200 answer, read to its end.
async fn read_answer(
    response: impl Future<Output = hyper::Result<Response<Incoming>>>,
) -> Result<Bytes> {
    let response = response.await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status != StatusCode::OK {
        bail!("POST /v1/alerts answered {status}: {body:?}");
    }
    Ok(body)
}
