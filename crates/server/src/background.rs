//! Tasks that run beside the requests until the server stops: the attachment and SMS workers,
//! the SLA job, the realtime feed, the WAL checkpointer. Each is spawned with a cancellation
//! token and stopped the same way, so `serve` can end them all before closing the pool.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running background task; [`Background::stop`] ends it.
pub struct Background {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Background {
    /// Spawns `run` with the token that tells it to stop.
    pub fn spawn<Fut>(run: impl FnOnce(CancellationToken) -> Fut) -> Background
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(cancel.clone()));
        Background { cancel, task }
    }

    /// Spawns a job that runs `round` every `period`, the first time at once. A round that
    /// overruns delays the next one instead of bunching them up; stopping lets a round in
    /// progress finish.
    pub fn every<F, Fut>(period: Duration, mut round: F) -> Background
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        Background::spawn(|cancel| async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = cancel.cancelled() => break,
                }
                round().await;
            }
        })
    }

    /// Tells the task to stop and waits until it has.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}
