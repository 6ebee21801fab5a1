//! TLS under tonic: accepting connections with the trust store's verifiers, and connecting to partners.
//!
//! The handshake is done here rather than by tonic so that rustls is configured by `tulpar-trust` (custom
//! verifiers that read the live trust store) and so that the peer's verified identity travels with the
//! connection: tonic hands it to every request as [`Peer`] in the request extensions.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

/// Time allowed for a TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The verified peer of a connection, available to handlers as a request extension.
#[derive(Debug, Clone)]
pub struct Peer<I> {
    /// The remote address.
    pub addr: SocketAddr,
    /// Who the peer's certificate says it is.
    pub identity: I,
}

/// Maps a verified certificate chain (empty if the peer sent none) to an identity, or refuses it.
pub type Identify<I> = Arc<dyn Fn(&[CertificateDer<'static>]) -> Result<I, String> + Send + Sync>;

/// A server-side TLS connection carrying its peer identity.
pub struct TlsConnection<I> {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: Peer<I>,
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
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
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

/// Accepts TCP connections on `listener`, completes TLS handshakes concurrently (a slow or hostile peer
/// never holds up the others) and yields the connections whose peer `identify` accepts.
pub fn tls_incoming<I>(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    identify: Identify<I>,
    api: &'static str,
) -> ReceiverStream<Result<TlsConnection<I>, io::Error>>
where
    I: Clone + Send + Sync + Unpin + 'static,
{
    let (sender, receiver) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
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
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let identify = identify.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::warn!(api, peer.addr = %addr, %error, "TLS handshake refused");
                            return;
                        }
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
                match identify(&certificates) {
                    Ok(identity) => {
                        let connection = TlsConnection {
                            stream,
                            peer: Peer { addr, identity },
                        };
                        let _ = sender.send(Ok(connection)).await;
                    }
                    Err(reason) => tracing::warn!(api, peer.addr = %addr, reason, "peer refused"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// A federation client over `channel` that sends and accepts messages up to
/// [`MAX_MESSAGE_BYTES`](tulpar_core::limits::MAX_MESSAGE_BYTES), like every listener: tonic's default
/// of 4 MiB would refuse a record or entry the contract allows. Every federation client of the node is
/// made here.
pub fn federation_client(
    channel: Channel,
) -> tulpar_core::proto::federation_service_client::FederationServiceClient<Channel> {
    use tulpar_core::limits::MAX_MESSAGE_BYTES;
    tulpar_core::proto::federation_service_client::FederationServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A lazily connecting gRPC channel to `endpoint` ("host:port") over TLS with `config`.
///
/// The channel reconnects by itself; nothing is sent until the first call.
pub fn tls_channel(
    endpoint: &str,
    config: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Channel, String> {
    let uri: Uri = format!("http://{endpoint}")
        .parse()
        .map_err(|e| format!("{endpoint:?} is not HOST:PORT: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("{endpoint:?} has no host"))?
        .to_owned();
    let port = uri
        .port_u16()
        .ok_or_else(|| format!("{endpoint:?} has no port"))?;
    let server_name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| format!("{host:?} is not a host name or IP address: {e}"))?;
    let connector = TlsConnector::from(config);
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        let server_name = server_name.clone();
        let host = host.clone();
        async move {
            let tcp =
                TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
                    .await?;
            let _ = tcp.set_nodelay(true);
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, io::Error>(TokioIo::new(tls))
        }
    });
    let endpoint = Endpoint::from(uri)
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_with_connector_lazy(connect))
}
