//! A plain HTTP/1.1 client over the node's TLS, as curl would talk to the client API: one connection
//! per request, a bearer token, JSON in and out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};

/// What the node answered.
#[derive(Debug)]
pub struct HttpAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: hyper::HeaderMap,
    /// The body as text.
    pub body: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
}

impl HttpAnswer {
    /// The value of header `name`, if it is text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

/// A client of one node's HTTP API.
pub struct HttpClient {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    token: Option<String>,
}

impl HttpClient {
    /// A client of the node at `addr` whose certificate comes from `national_ca`, sending `token`.
    pub fn new(
        addr: SocketAddr,
        national_ca: &CertificateDer<'static>,
        token: Option<&str>,
    ) -> Result<Self> {
        let config = tulpar_trust::tls::api_client_config(national_ca, None)?;
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            tls: Arc::new(config),
            token: token.map(ToOwned::to_owned),
        })
    }

    /// A client of the node at `addr` that presents `certificate` (chain and key), as a browser with a
    /// person's certificate installed does.
    pub fn with_certificate(
        addr: SocketAddr,
        national_ca: &CertificateDer<'static>,
        certificate: (
            Vec<CertificateDer<'static>>,
            rustls_pki_types::PrivateKeyDer<'static>,
        ),
    ) -> Result<Self> {
        let config = tulpar_trust::tls::api_client_config(national_ca, Some(certificate))?;
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            addr,
            tls: Arc::new(config),
            token: None,
        })
    }

    /// Announces a JSON body of `length` bytes without sending it and returns the status the node
    /// answers at once, as a client learns a body is refused before it has uploaded it.
    pub async fn announce_body(&self, method: &str, path: &str, length: usize) -> Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tls = self.connect().await?;
        let token = self
            .token
            .as_ref()
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\n{token}content-type: application/json\r\ncontent-length: {length}\r\n\r\n",
            self.addr
        );
        tls.write_all(head.as_bytes()).await?;
        let mut answer = vec![0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut answer))
            .await
            .context("waiting for the status")??;
        let text = String::from_utf8_lossy(&answer[..read]);
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .with_context(|| format!("not an HTTP answer: {text}"))?;
        Ok(status.parse()?)
    }

    async fn connect(&self) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(self.addr),
        )
        .await
        .context("connecting")??;
        let name = ServerName::try_from(self.addr.ip().to_string())?;
        tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .context("TLS handshake")
    }

    /// Sends a request and returns the response with its body still streaming.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response<Incoming>> {
        let tls = self.connect().await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let typed = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !typed {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Ok(sender
            .send_request(request.body(Full::new(Bytes::from(body)))?)
            .await?)
    }

    /// Sends a request and reads the whole answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<HttpAnswer> {
        let response = self.send(method, path, headers, body).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = tokio::time::timeout(Duration::from_secs(20), response.into_body().collect())
            .await
            .context("reading the answer")??
            .to_bytes();
        Ok(HttpAnswer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<HttpAnswer> {
        self.call("GET", path, &[], Vec::new()).await
    }

    /// `POST path` with `json` as the body.
    pub async fn post(&self, path: &str, json: &serde_json::Value) -> Result<HttpAnswer> {
        self.call("POST", path, &[], serde_json::to_vec(json)?)
            .await
    }
}

/// Reads lines of a streamed body until `done` holds for one (returned), for at most `limit`.
pub async fn read_lines_until(
    response: Response<Incoming>,
    limit: Duration,
    mut done: impl FnMut(&str) -> bool,
) -> Result<String> {
    let mut body = response.into_body();
    let mut pending = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if done(line.trim_end()) {
                return Ok(line.trim_end().to_owned());
            }
        }
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .context("timed out reading the stream")?;
        match frame {
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    pending.push_str(&String::from_utf8_lossy(&data));
                }
            }
            None => bail!("the stream ended; unread: {pending}"),
        }
    }
}
