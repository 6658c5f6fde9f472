//! The storage interface, and the stores that ship with the crate.
//!
//! A store maps a [`StoreKey`] (a hash of the session id) to a [`Record`].
//! Commits are deltas: [`SessionStore::update`] merges only the keys a
//! request changed, so concurrent requests of one session that change
//! different keys all survive. When two requests change the *same* key, the
//! last commit wins.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use crate::error::StoreError;
use crate::id::StoreKey;

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

/// One stored session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Keys and their values serialized as JSON text.
    pub data: HashMap<String, String>,
    /// When the session was created, in ms since the Unix epoch; the
    /// absolute timeout counts from here, across id changes.
    pub created_at: u64,
    /// When the current id was issued, in ms since the Unix epoch.
    pub renewed_at: u64,
    /// When the session ends, in ms since the Unix epoch. Stores should
    /// reclaim the entry then; the manager also refuses it past this time.
    pub expires_at: u64,
}

/// The changes one request made to an existing session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update<'a> {
    /// Keys to write, with their JSON text.
    pub set: Vec<(&'a str, &'a str)>,
    /// Keys to delete.
    pub remove: Vec<&'a str>,
    /// The new end of the session, in ms since the Unix epoch.
    pub expires_at: u64,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A place to keep sessions: implement it to use your own backend.
///
/// The manager calls at most one method to load a request's session and at
/// most two to commit it (`cycle_id` creates the new entry, then deletes the
/// old one). Timestamps are ms since the Unix epoch.
///
/// # Example
///
/// A store over a `Mutex<HashMap>` (the shipped
/// [`MemoryStore`](crate::MemoryStore) is sharded and bounded):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use hyper_session::{Record, SessionStore, StoreError, StoreKey, Update};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<StoreKey, Record>>);
///
/// impl SessionStore for MapStore {
///     async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
///         Ok(self.0.lock().unwrap().get(key).cloned())
///     }
///     async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         if map.contains_key(key) {
///             return Ok(false);
///         }
///         map.insert(*key, record.clone());
///         Ok(true)
///     }
///     async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let Some(record) = map.get_mut(key) else { return Ok(false) };
///         update.apply_to(record);
///         Ok(true)
///     }
///     async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
///         Ok(self.0.lock().unwrap().remove(key).is_some())
///     }
///     fn is_shared(&self) -> bool {
///         false // lives and dies with this process
///     }
/// }
/// ```
pub trait SessionStore: Send + Sync + 'static {
    /// The record under `key`, or `None`.
    fn load(
        &self,
        key: &StoreKey,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Stores `record` under `key` unless the key exists; returns whether it
    /// stored. Must never overwrite an existing entry.
    fn create(
        &self,
        key: &StoreKey,
        record: &Record,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Merges `update` into the entry under `key`; returns `false`, and
    /// stores nothing, when there is no entry. A session destroyed while a
    /// request was running is therefore never brought back by its commit.
    fn update(
        &self,
        key: &StoreKey,
        update: &Update<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes the entry under `key`, if any; returns whether there was one.
    /// `cycle_id` relies on that answer: a session that was deleted (logged
    /// out) while the request ran is not moved to a new id.
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether other processes read this store. A shared store needs an
    /// explicit secret, the same in every process; a store private to the
    /// process can run with a random per-process key. Defaults to `true`.
    fn is_shared(&self) -> bool {
        true
    }

    /// Whether calls can wait on anything (I/O, a lock held elsewhere), and
    /// so run under the manager's `store_timeout`. Defaults to `true`;
    /// return `false` only if every call completes without waiting, as the
    /// memory store's do, to save the timer.
    fn may_block(&self) -> bool {
        true
    }
}

impl Update<'_> {
    /// Applies the update to a record in place: the merge every store does.
    pub fn apply_to(&self, record: &mut Record) {
        for key in &self.remove {
            record.data.remove(*key);
        }
        for (key, value) in &self.set {
            record.data.insert((*key).to_owned(), (*value).to_owned());
        }
        record.expires_at = self.expires_at;
    }
}

/// A shared handle to a store is a store, so a caller can keep one to
/// inspect it (e.g. in tests) while the manager owns another.
impl<S: SessionStore> SessionStore for std::sync::Arc<S> {
    fn load(
        &self,
        key: &StoreKey,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        S::load(self, key)
    }
    fn create(
        &self,
        key: &StoreKey,
        record: &Record,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::create(self, key, record)
    }
    fn update(
        &self,
        key: &StoreKey,
        update: &Update<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::update(self, key, update)
    }
    fn delete(&self, key: &StoreKey) -> impl Future<Output = Result<bool, StoreError>> + Send {
        S::delete(self, key)
    }
    fn is_shared(&self) -> bool {
        S::is_shared(self)
    }
    fn may_block(&self) -> bool {
        S::may_block(self)
    }
}

/// The object-safe face of [`SessionStore`], so a manager can hold any store.
pub(crate) trait DynStore: Send + Sync {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>, StoreError>>;
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn update<'a>(
        &'a self,
        key: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn is_shared(&self) -> bool;
    fn may_block(&self) -> bool;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<Option<Record>, StoreError>> {
        Box::pin(SessionStore::load(self, key))
    }
    fn create<'a>(
        &'a self,
        key: &'a StoreKey,
        record: &'a Record,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::create(self, key, record))
    }
    fn update<'a>(
        &'a self,
        key: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::update(self, key, update))
    }
    fn delete<'a>(&'a self, key: &'a StoreKey) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(SessionStore::delete(self, key))
    }
    fn is_shared(&self) -> bool {
        SessionStore::is_shared(self)
    }
    fn may_block(&self) -> bool {
        SessionStore::may_block(self)
    }
}
