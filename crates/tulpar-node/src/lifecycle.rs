//! Every task the node starts, and how they stop: cooperatively, on one signal, with a grace period.
//!
//! Tasks are spawned through [`Lifecycle`] only, so that shutdown knows them all, including those
//! started later (a delivery worker for a partner added to the trust store, a watch stream). Stopping
//! cancels the signal; servers stop accepting and let their calls finish, workers end at their next
//! wait (a delivery call in flight is let finish, so its receipt is recorded), and shutdown waits for
//! all of them before the ledger closes.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// How long shutdown waits for calls in flight and workers to finish before it closes the ledger
/// anyway. Within systemd's default stop timeout (90 s), with room to spare.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// The node's tasks and the signal that stops them. Cloning shares both.
#[derive(Clone, Default)]
pub(crate) struct Lifecycle {
    tracker: TaskTracker,
    stop: CancellationToken,
}

/// Tasks still running when the grace period ran out.
#[derive(Debug, thiserror::Error)]
#[error("{0} task(s) still running {grace:?} after the node began to stop", grace = SHUTDOWN_GRACE)]
pub(crate) struct Overran(pub(crate) usize);

impl Lifecycle {
    /// Runs `task` as one of the node's tasks.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// The tracker itself, for code that spawns per-connection tasks (see `transport`).
    pub(crate) fn tracker(&self) -> TaskTracker {
        self.tracker.clone()
    }

    /// Runs CPU-heavy or blocking `work` on the blocking pool, as one of the node's tasks.
    pub(crate) fn spawn_blocking<F, T>(&self, work: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.tracker.spawn_blocking(work)
    }

    /// Runs `round` every `interval`, the first after one interval, until the node stops; a round
    /// in progress is let finish.
    pub(crate) fn every<F, R>(&self, interval: Duration, round: F)
    where
        F: FnMut() -> R + Send + 'static,
        R: Future<Output = ()> + Send,
    {
        self.rounds(false, interval, round);
    }

    /// Like [`Self::every`], with the first round at once.
    pub(crate) fn now_and_every<F, R>(&self, interval: Duration, round: F)
    where
        F: FnMut() -> R + Send + 'static,
        R: Future<Output = ()> + Send,
    {
        self.rounds(true, interval, round);
    }

    fn rounds<F, R>(&self, at_once: bool, interval: Duration, mut round: F)
    where
        F: FnMut() -> R + Send + 'static,
        R: Future<Output = ()> + Send,
    {
        let stop = self.stop.clone();
        self.spawn(async move {
            if at_once {
                round().await;
            }
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                round().await;
            }
        });
    }

    /// Resolves when the node begins to stop.
    pub(crate) fn stopping(&self) -> WaitForCancellationFutureOwned {
        self.stop.clone().cancelled_owned()
    }

    /// Whether the node has begun to stop.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Signals every task to stop and waits for them, at most [`SHUTDOWN_GRACE`].
    pub(crate) async fn stop(&self) -> Result<(), Overran> {
        self.stop_within(SHUTDOWN_GRACE).await
    }

    async fn stop_within(&self, grace: Duration) -> Result<(), Overran> {
        self.stop.cancel();
        self.tracker.close();
        match tokio::time::timeout(grace, self.tracker.wait()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(Overran(self.tracker.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_round_in_progress_finishes_and_no_round_starts_after_the_stop() {
        let lifecycle = Lifecycle::default();
        let (started, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, f) = (started.clone(), finished.clone());
        lifecycle.every(Duration::from_secs(1), move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
                f.fetch_add(1, Ordering::SeqCst);
            }
        });
        // The first round starts after a second and is in its sleep.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(started.load(Ordering::SeqCst), 1);
        lifecycle.stop().await.expect("within the grace period");
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the round finished");
        assert_eq!(started.load(Ordering::SeqCst), 1, "no round after the stop");
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_start_after_an_interval_or_at_once_when_asked() {
        let lifecycle = Lifecycle::default();
        let (later, at_once) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        for (counter, first_at_once) in [(later.clone(), false), (at_once.clone(), true)] {
            let round = move || {
                counter.fetch_add(1, Ordering::SeqCst);
                std::future::ready(())
            };
            if first_at_once {
                lifecycle.now_and_every(Duration::from_secs(10), round);
            } else {
                lifecycle.every(Duration::from_secs(10), round);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(later.load(Ordering::SeqCst), 0);
        assert_eq!(at_once.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(later.load(Ordering::SeqCst), 1);
        assert_eq!(at_once.load(Ordering::SeqCst), 2);
        lifecycle.stop().await.expect("within the grace period");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_the_stop_is_reported_after_the_grace_period() {
        let lifecycle = Lifecycle::default();
        lifecycle.spawn(std::future::pending::<()>());
        let ended = lifecycle.spawn(lifecycle.stopping());
        let overran = lifecycle
            .stop_within(Duration::from_secs(3))
            .await
            .expect_err("one task never ends");
        assert_eq!(overran.0, 1);
        assert!(ended.is_finished());
        assert!(lifecycle.is_stopping());
    }
}
