//! The background sweeper of the SQL stores: a tokio task that removes
//! expired rows every so often, and ends with its store.

use std::future::Future;
use std::sync::Weak;
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::error::StoreError;

/// The running sweeper task; dropping it (with the store that owns it)
/// ends the task at once, even in the middle of its wait.
#[derive(Debug)]
pub(crate) struct Sweeper {
    task: AbortHandle,
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a task that calls `sweep` on the store behind `store` every
/// `every`, first after one interval. It holds the store only while a
/// sweep runs, so dropping the store ends it. `None` (and a warning)
/// outside a tokio runtime: expired rows are then still never served, and
/// `sweep()` can be called by hand.
pub(crate) fn spawn<T, F, Fut>(
    store: Weak<T>,
    every: Duration,
    what: &'static str,
    sweep: F,
) -> Option<Sweeper>
where
    T: Send + Sync + 'static,
    F: Fn(std::sync::Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, StoreError>> + Send,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            store = what,
            "no tokio runtime: the session store's background sweeper is not running"
        );
        return None;
    };
    let task = runtime.spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(store) = store.upgrade() else {
                return;
            };
            match sweep(store).await {
                Ok(0) => {}
                Ok(swept) => tracing::debug!(store = what, swept, "expired sessions swept"),
                // The next round tries again; requests are not affected
                // (they never see expired rows anyway).
                Err(e) => {
                    tracing::warn!(store = what, error = %e, "sweeping expired sessions failed")
                }
            }
        }
    });
    Some(Sweeper {
        task: task.abort_handle(),
    })
}
