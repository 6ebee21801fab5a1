//! A webhook receiver for tests: an HTTP/1.1 server on loopback (plain, or TLS with a certificate of
//! the test's own CA) that records every request it gets, refuses the ones it is told to, and leaves
//! signature checks to the test.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The body as sent.
    pub body: Vec<u8>,
    /// The status the receiver answered.
    pub status: u16,
}

impl Delivery {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// Whether the receiver accepted it.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Default)]
struct Inbox {
    refusals: VecDeque<u16>,
    delay: std::time::Duration,
    deliveries: Vec<Delivery>,
}

/// A receiver serving until dropped.
pub struct Receiver {
    addr: SocketAddr,
    scheme: &'static str,
    inbox: Arc<Mutex<Inbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A plain `http://` receiver on a free loopback port.
    pub async fn start() -> Result<Self> {
        Self::serve(None).await
    }

    /// An `https://` receiver on a free loopback port with `tls` (its certificate names 127.0.0.1).
    pub async fn start_tls(tls: Arc<rustls::ServerConfig>) -> Result<Self> {
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the receiver")?;
        let addr = listener.local_addr()?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = inbox.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (inbox, tls) = (shared.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let inbox = inbox.clone();
                        async move { Ok::<_, hyper::Error>(answer(&inbox, request).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            scheme,
            inbox,
            task,
        })
    }

    /// The URL to subscribe, `<scheme>://127.0.0.1:<port>/tulpar/events`.
    pub fn url(&self) -> String {
        format!("{}://{}/tulpar/events", self.scheme, self.addr)
    }

    /// Answers the next requests with these statuses, one each, before accepting again.
    pub fn refuse(&self, statuses: &[u16]) {
        self.lock().refusals.extend(statuses);
    }

    /// Takes `delay` over each answer from now on, as a busy receiver would.
    pub fn slow_down(&self, delay: std::time::Duration) {
        self.lock().delay = delay;
    }

    /// Every request so far, in the order they came.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(inbox: &Mutex<Inbox>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let delay = inbox.lock().unwrap_or_else(|p| p.into_inner()).delay;
    tokio::time::sleep(delay).await;
    let mut inbox = inbox.lock().unwrap_or_else(|p| p.into_inner());
    let status = inbox.refusals.pop_front().unwrap_or(204);
    inbox.deliveries.push(Delivery {
        id,
        timestamp,
        signature,
        body,
        status,
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response
}
