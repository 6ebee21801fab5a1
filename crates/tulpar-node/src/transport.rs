//! TLS under tonic: accepting connections with the trust store's verifiers. (Connecting to partners
//! goes through `tulpar_rpc::tls_channel`, which the node's clients share.)
//!
//! The handshake is done here rather than by tonic so that rustls is configured by `tulpar-trust` (custom
//! verifiers that read the live trust store) and so that the peer's verified identity travels with the
//! connection: tonic hands it to every request as [`Peer`] in the request extensions.
//!
//! Every resource a connection holds is bounded here: connections in all and per remote address
//! ([`ConnectionLimits`], see `admission`), TLS handshakes in progress and their duration, calls per
//! connection, and time without a call (a connection without a call in flight for `idle_timeout` is
//! closed; HTTP/2 pings keep nothing open). Keepalive pings close connections whose peer vanished
//! while a call was in flight.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
pub use tokio_util::task::TaskTracker;

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;
use tonic::transport::server::Connected;
use tower::layer::util::{Identity, Stack};

mod admission;
mod calls;

pub use admission::ConnectionLimits;
pub use calls::{Calls, CallsLayer};

use admission::{Admission, Slot};
use calls::Activity;

/// Time allowed for a TLS handshake (and the wait for a handshake slot) before the connection is
/// dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings a connection at the HTTP/2 level.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is closed.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused connection stays open after its last call, so that the refusal reaches it.
const REFUSED_LINGER: Duration = Duration::from_secs(1);

/// The verified peer of a connection, available to handlers as a request extension.
#[derive(Debug, Clone)]
pub struct Peer<I> {
    /// The remote address.
    pub addr: SocketAddr,
    /// Who the peer's certificate says it is.
    pub identity: I,
    /// The connection's calls in flight.
    calls: Arc<Activity>,
    /// Set when the connection is over a limit: every call on it is answered with this.
    refusal: Option<Arc<str>>,
}

impl<I> Peer<I> {
    /// The peer of a connection accepted within every limit, with no call in flight yet.
    pub fn new(addr: SocketAddr, identity: I) -> Self {
        Self {
            addr,
            identity,
            calls: Activity::new(),
            refusal: None,
        }
    }
}

/// A server builder with the settings every listener shares: HTTP/2 keepalive, calls per connection,
/// and the layer that counts calls per connection (needed for the idle timeout and for refusals).
pub fn server<I>() -> Server<Stack<CallsLayer<I>, Identity>> {
    Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .max_concurrent_streams(u32::try_from(tulpar_core::limits::MAX_CALLS_PER_CONNECTION).ok())
        .layer(CallsLayer::new())
}

/// Maps a verified certificate chain (empty if the peer sent none) to an identity, or refuses it.
pub type Identify<I> =
    Arc<dyn Fn(&[CertificateDer<'static>]) -> Result<I, IdentifyError> + Send + Sync>;

/// Why a peer's certificate does not identify a peer of the listener (logged, never sent).
pub type IdentifyError = Box<dyn std::error::Error + Send + Sync>;

/// A server-side TLS connection carrying its peer identity.
pub struct TlsConnection<I> {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: Peer<I>,
    idle_timeout: Duration,
    /// Wakes the connection when it may have been idle for `idle_timeout`.
    idle: Pin<Box<Sleep>>,
    /// Set once the connection was closed for idleness: reads end.
    closed: bool,
    /// Its place among the listener's connections (none for a refused connection).
    _slot: Option<Slot>,
    /// A refused connection holds a handshake slot until it closes, so refusals are bounded too.
    _refusing: Option<OwnedSemaphorePermit>,
}

impl<I> TlsConnection<I> {
    /// Whether the connection has had no call in flight for its idle timeout; arms the timer for the
    /// moment it may have, so that the task reading the connection is woken then.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.idle.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = tokio::time::Instant::now();
            match self.peer.calls.idle_deadline(self.idle_timeout) {
                Some(deadline) if deadline <= now => return true,
                Some(deadline) => self.idle.as_mut().reset(deadline),
                None => self.idle.as_mut().reset(now + self.idle_timeout),
            }
        }
    }
}

impl<I: Clone + Send + Sync + 'static> Connected for TlsConnection<I> {
    type ConnectInfo = Peer<I>;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl<I: Unpin> AsyncRead for TlsConnection<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => {}
            ready => return ready,
        }
        // Nothing to read. Reading nothing more ends the connection (HTTP/2 sees the end of the
        // stream); with no call in flight nothing is lost.
        if this.idle_expired(cx) {
            tracing::debug!(peer.addr = %this.peer.addr, "idle connection closed");
            this.closed = true;
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

impl<I: Unpin> AsyncWrite for TlsConnection<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepts TCP connections on `listener` within `limits`, completes TLS handshakes concurrently (a
/// slow or hostile peer never holds up the others) and yields the connections whose peer `identify`
/// accepts. A connection over a limit is yielded marked refused, when a handshake slot is free to tell
/// it so, and closed at once otherwise. The accepting task and each handshake run on `tasks`; the
/// accepting task ends when the server drops the stream.
pub fn tls_incoming<I>(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    identify: Identify<I>,
    api: &'static str,
    limits: ConnectionLimits,
    tasks: TaskTracker,
) -> ReceiverStream<Result<TlsConnection<I>, io::Error>>
where
    I: Clone + Send + Sync + Unpin + 'static,
{
    let (sender, receiver) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    let handshakes = Arc::new(Semaphore::new(limits.max_handshakes.max(1)));
    let admission = Admission::new(api, limits);
    tasks.clone().spawn(async move {
        loop {
            let (tcp, addr) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(api, %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = sender.closed() => return,
            };
            let (slot, refusing) = match admission.admit(addr.ip()) {
                Ok(slot) => (Some(slot), None),
                Err(refusal) => match handshakes.clone().try_acquire_owned() {
                    Ok(permit) => (None, Some((permit, refusal))),
                    // No room even to say why: close at once.
                    Err(_) => continue,
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let identify = identify.clone();
            let sender = sender.clone();
            let handshakes = handshakes.clone();
            let idle_timeout = admission.limits().idle_timeout;
            tasks.spawn(async move {
                let handshake = async {
                    // A refused connection already holds its handshake slot, until it closes.
                    let permit = match refusing {
                        Some(_) => None,
                        None => Some(handshakes.acquire_owned().await.ok()?),
                    };
                    let stream = acceptor.accept(tcp).await;
                    drop(permit);
                    Some(stream)
                };
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Some(Ok(stream))) => stream,
                    Ok(Some(Err(error))) => {
                        tracing::warn!(api, peer.addr = %addr, %error, "TLS handshake refused");
                        return;
                    }
                    Ok(None) => return,
                    Err(_) => {
                        tracing::warn!(api, peer.addr = %addr, "TLS handshake timed out");
                        return;
                    }
                };
                let certificates: Vec<CertificateDer<'static>> = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default();
                let identity = match identify(&certificates) {
                    Ok(identity) => identity,
                    Err(reason) => {
                        tracing::warn!(api, peer.addr = %addr, reason, "peer refused");
                        return;
                    }
                };
                let (refusal, refusing, idle_timeout) = match refusing {
                    Some((permit, refusal)) => (
                        Some(refusal.to_string().into()),
                        Some(permit),
                        REFUSED_LINGER,
                    ),
                    None => (None, None, idle_timeout),
                };
                let connection = TlsConnection {
                    stream,
                    peer: Peer {
                        refusal,
                        ..Peer::new(addr, identity)
                    },
                    idle_timeout,
                    idle: Box::pin(tokio::time::sleep(idle_timeout)),
                    closed: false,
                    _slot: slot,
                    _refusing: refusing,
                };
                let _ = sender.send(Ok(connection)).await;
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// A federation client over `channel` that sends and accepts messages up to
/// [`MAX_MESSAGE_BYTES`](tulpar_core::limits::MAX_MESSAGE_BYTES), like every listener: tonic's default
/// of 4 MiB would refuse a record or entry the contract allows. Every federation client of the node is
/// made here.
pub fn federation_client<T>(
    channel: T,
) -> tulpar_core::proto::federation_service_client::FederationServiceClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    use tulpar_core::limits::MAX_MESSAGE_BYTES;
    tulpar_core::proto::federation_service_client::FederationServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}
