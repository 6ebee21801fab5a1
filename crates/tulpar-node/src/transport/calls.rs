//! Calls in flight on a connection, so that a connection without one can be closed when it has been
//! idle too long, and so that a connection over a limit answers every call with the refusal.
//!
//! [`CallsLayer`] sits in the server's stack and finds the connection's [`Peer`] in each request's
//! extensions (tonic puts it there). A call counts as in flight until its response body is dropped, so
//! a `WatchAlerts` stream keeps its connection for as long as it runs, while HTTP/2 pings do not.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http;

use super::Peer;

/// The calls of one connection: how many are in flight, and since when none has been.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<(usize, Instant)>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new((0, Instant::now())),
        })
    }

    fn begin(self: &Arc<Self>) -> CallGuard {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0 += 1;
        CallGuard(self.clone())
    }

    /// When the connection may be closed for idleness: `None` while a call is in flight.
    pub(crate) fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        let (in_flight, since) = *self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (in_flight == 0).then(|| since + idle_timeout)
    }
}

/// One call in flight; ends when dropped.
struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = state.0.saturating_sub(1);
        if state.0 == 0 {
            state.1 = Instant::now();
        }
    }
}

/// Counts each call on its connection, and answers calls on a refused connection with the refusal.
#[derive(Debug)]
pub struct CallsLayer<I>(std::marker::PhantomData<fn() -> I>);

impl<I> CallsLayer<I> {
    /// The layer for connections whose peers are identified as `I`.
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<I> Default for CallsLayer<I> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I> Clone for CallsLayer<I> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<S, I> tower::Layer<S> for CallsLayer<I> {
    type Service = Calls<S, I>;

    fn layer(&self, inner: S) -> Self::Service {
        Calls {
            inner,
            _identity: std::marker::PhantomData,
        }
    }
}

/// The service [`CallsLayer`] makes.
#[derive(Debug)]
pub struct Calls<S, I> {
    inner: S,
    _identity: std::marker::PhantomData<fn() -> I>,
}

impl<S: Clone, I> Clone for Calls<S, I> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _identity: std::marker::PhantomData,
        }
    }
}

type CallFuture<E> = Pin<Box<dyn Future<Output = Result<http::Response<Body>, E>> + Send>>;

impl<S, I> tower::Service<http::Request<Body>> for Calls<S, I>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    I: Clone + Send + Sync + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = CallFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(peer) = request.extensions().get::<Peer<I>>() else {
            return Box::pin(self.inner.call(request));
        };
        let call = peer.calls.begin();
        if let Some(refusal) = &peer.refusal {
            let status = Status::resource_exhausted(refusal.to_string());
            drop(call);
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Body::new(CallBody { body, _call: call })))
        })
    }
}

/// A response body that keeps its call in flight until it is dropped.
struct CallBody {
    body: Body,
    _call: CallGuard,
}

impl http_body::Body for CallBody {
    type Data = tonic::codegen::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_without_a_call_in_flight() {
        let activity = Activity::new();
        let timeout = Duration::from_secs(60);
        let opened = activity
            .idle_deadline(timeout)
            .expect("idle from the start");
        let first = activity.begin();
        let second = activity.begin();
        drop(first);
        assert_eq!(
            activity.idle_deadline(timeout),
            None,
            "one call is still in flight"
        );
        let before = Instant::now();
        drop(second);
        let deadline = activity.idle_deadline(timeout).expect("idle again");
        assert!(deadline >= before + timeout);
        assert!(deadline >= opened);
    }
}
