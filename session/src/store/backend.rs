//! The manager's handle on its store: the memory store called directly,
//! any other store through `dyn`, under the store timeout.
//!
//! The memory store is the default and the one the benchmarks measure;
//! calling it through `dyn` cost a boxed future per call and a larger
//! request future to move around (`benches/instructions.rs`). Its calls
//! never wait, so they need no timer either.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::store::memory::{Change, MemoryStore};
use crate::store::{Capabilities, DynStore, Record, SessionStore, Update};

pub(crate) enum Backend {
    Memory(MemoryStore),
    Dyn {
        store: Box<dyn DynStore>,
        /// The limit on each call; `None` for a store whose calls never
        /// wait (`SessionStore::may_block`).
        timeout: Option<Duration>,
    },
}

impl Backend {
    pub(crate) fn new(store: Box<dyn DynStore>, timeout: Duration) -> Self {
        match store.into_memory() {
            Ok(memory) => Self::Memory(memory),
            Err(store) => Self::Dyn {
                timeout: store.may_block().then_some(timeout),
                store,
            },
        }
    }

    /// The limit on each call, if calls can wait.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        match self {
            Self::Memory(_) => None,
            Self::Dyn { timeout, .. } => *timeout,
        }
    }

    pub(crate) fn is_shared(&self) -> bool {
        match self {
            Self::Memory(m) => SessionStore::is_shared(m),
            Self::Dyn { store, .. } => store.is_shared(),
        }
    }

    pub(crate) fn capabilities(&self) -> Capabilities<'_> {
        match self {
            Self::Memory(m) => SessionStore::capabilities(m),
            Self::Dyn { store, .. } => store.capabilities(),
        }
    }

    /// `now`: the time the memory store judges liveness at (other stores
    /// read their own clock).
    pub(crate) async fn load(
        &self,
        key: &StoreKey,
        now: u64,
    ) -> Result<Option<Record>, StoreError> {
        match self {
            Self::Memory(m) => Ok(m.load_at(key, now)),
            Self::Dyn { store, .. } => self.timed(store.load(key)).await,
        }
    }

    pub(crate) async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        now: u64,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(m) => m.create_at(key, record, now),
            Self::Dyn { store, .. } => self.timed(store.create(key, record)).await,
        }
    }

    pub(crate) async fn update(
        &self,
        key: &StoreKey,
        update: &Update<'_>,
        now: u64,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(m) => m.update_at(key, Change::Update(update), now),
            Self::Dyn { store, .. } => self.timed(store.update(key, update)).await,
        }
    }

    pub(crate) async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
        match self {
            Self::Memory(m) => SessionStore::delete(m, key).await,
            Self::Dyn { store, .. } => self.timed(store.delete(key)).await,
        }
    }

    /// Runs one store call (a capability's too) under the store timeout,
    /// unless the store says its calls never wait. The timer lives in a
    /// box of its own, so that it does not enlarge every request's future.
    pub(crate) async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.timeout() {
            Some(limit) => Box::pin(tokio::time::timeout(limit, fut))
                .await
                .unwrap_or(Err(StoreError::Timeout(limit))),
            None => fut.await,
        }
    }
}

/// Takes the memory store out of a boxed store, if that is what it is.
pub(crate) fn into_memory<S: SessionStore>(store: S) -> Result<MemoryStore, S> {
    let mut slot = Some(store);
    let memory = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<MemoryStore>>()
        .and_then(Option::take);
    match (memory, slot) {
        (Some(memory), _) => Ok(memory),
        (None, Some(store)) => Err(store),
        (None, None) => unreachable!("the slot is emptied only when it held a memory store"),
    }
}
