//! Long-lived response streams that end when their caller is no longer allowed.
//!
//! A stream authenticates once, when it is opened; [`while_allowed`] re-checks its caller whenever
//! [`ClientAuth::subscribe`](crate::client_auth::ClientAuth::subscribe) signals that a revocation may
//! have taken effect (a token revoked through the admin API at once; the own directory re-read every
//! `trust.reload_interval`) and ends the stream with the refusal, so a revoked officer or system stops
//! receiving within one refresh. The wrapped stream is dropped at that point, which ends its work.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tonic::Status;

use crate::client_auth::{Caller, ClientAuth};

/// A boxed response stream.
pub(crate) type Guarded<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

struct Guard<S> {
    auth: Arc<ClientAuth>,
    caller: Caller,
    /// `None` once the stream was ended: dropping it stops its work at once.
    inner: Option<Pin<Box<S>>>,
    changes: tokio::sync::watch::Receiver<u64>,
    signals: bool,
}

/// `stream`, ended with the caller's refusal as soon as `caller` is refused on a re-check.
pub(crate) fn while_allowed<S, T>(auth: Arc<ClientAuth>, caller: Caller, stream: S) -> Guarded<T>
where
    S: Stream<Item = Result<T, Status>> + Send + 'static,
    T: Send + 'static,
{
    let changes = auth.subscribe();
    let guard = Guard {
        auth,
        caller,
        inner: Some(Box::pin(stream)),
        changes,
        signals: true,
    };
    Box::pin(futures_util::stream::unfold(
        guard,
        |mut guard| async move {
            loop {
                let inner = guard.inner.as_mut()?;
                tokio::select! {
                    item = inner.next() => return item.map(|item| (item, guard)),
                    changed = guard.changes.changed(), if guard.signals => {
                        // The sender lives as long as the node; without it there is nothing to wait for.
                        guard.signals = changed.is_ok();
                    }
                }
                if let Err(refused) = guard.auth.check(&guard.caller) {
                    tracing::info!(
                        caller = %guard.caller.principal,
                        reason = %refused,
                        "stream ended: its caller's credential was revoked"
                    );
                    guard.inner = None;
                    return Some((Err(Status::from(refused)), guard));
                }
            }
        },
    ))
}
