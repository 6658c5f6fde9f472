//! The storage interface, and the stores that ship with the crate.
//!
//! A store maps a [`StoreKey`] (a hash of the session id) to a [`Record`].
//! Four methods are required ([`SessionStore`]); further powers are optional
//! [`Capabilities`] a store may offer, so adding one never breaks a store
//! written elsewhere.
//!
//! **Liveness.** A session is *alive* when its entry is complete and not
//! past its `expires_at`. Every method agrees on that: `load` returns only
//! live entries, `update` merges only into a live one, `delete` reports
//! whether it ended a live one, and a move ([`AtomicMove`]) moves only a
//! live one. A logout, once answered, is therefore final: no later commit,
//! renewal or `cycle_id` of the same session brings its data back.

use std::future::Future;
use std::pin::Pin;

use crate::error::StoreError;
use crate::id::StoreKey;

pub(crate) mod backend;
pub(crate) mod capability;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sweeper;
pub(crate) mod url;

pub use crate::data::{DataHasher, SessionData};
pub use crate::owner::{Owner, SessionInfo};
pub use capability::{AtomicMove, Capabilities, Revoke, Sweep, UserIndex};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::InvalidTableName;

/// A boxed future, the return type of the optional capabilities' methods
/// (they are called through `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One stored session.
///
/// Non-exhaustive so that fields can be added without breaking stores:
/// build one with [`Record::new`], read its fields directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// Keys and their values serialized as JSON text.
    pub data: SessionData,
    /// When the session was created, in ms since the Unix epoch; the
    /// absolute timeout counts from here, across id changes.
    pub created_at: u64,
    /// When the current id was issued, in ms since the Unix epoch.
    pub renewed_at: u64,
    /// When the session ends, in ms since the Unix epoch. Stores should
    /// reclaim the entry then; the manager also refuses it past this time.
    pub expires_at: u64,
    /// When a request last wrote the session, in ms since the Unix epoch:
    /// the "last seen" of a listing, which shows signed-in sessions only.
    /// A store may keep it for those alone, and load `renewed_at` here for
    /// a session without an owner.
    pub seen_at: u64,
    /// The signed-in user, if any: only a store with the [`UserIndex`]
    /// capability must keep it.
    pub owner: Option<Owner>,
}

impl Record {
    /// A record holding `data`, with its three timestamps (ms since the
    /// Unix epoch).
    ///
    /// ```
    /// use hyper_session::store::{Record, SessionData};
    ///
    /// let data = SessionData::from_iter([("user".to_owned(), "\"ada\"".to_owned())]);
    /// let record = Record::new(data, 1_000, 1_000, 61_000);
    /// assert_eq!(record.expires_at, 61_000);
    /// ```
    pub fn new(data: SessionData, created_at: u64, renewed_at: u64, expires_at: u64) -> Self {
        Self {
            data,
            created_at,
            renewed_at,
            expires_at,
            seen_at: renewed_at,
            owner: None,
        }
    }

    /// The same record, signed in as `owner`.
    #[must_use]
    pub fn with_owner(mut self, owner: Option<Owner>) -> Self {
        self.owner = owner;
        self
    }

    /// The same record, last written at `ms` (default: its `renewed_at`).
    #[must_use]
    pub fn with_seen_at(mut self, ms: u64) -> Self {
        self.seen_at = ms;
        self
    }
}

/// The changes one request made to an existing session.
///
/// Non-exhaustive so that fields can be added without breaking stores:
/// read its fields directly, apply it with [`Update::apply_to`] where a
/// store merges in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Update<'a> {
    /// Keys to write, with their JSON text; each replaces the old value whole.
    pub set: Vec<(&'a str, &'a str)>,
    /// Keys to delete.
    pub remove: Vec<&'a str>,
    /// The new end of the session, in ms since the Unix epoch.
    pub expires_at: u64,
    /// Whether `expires_at` may differ from the stored end. `false` when
    /// the manager knows it unchanged (a write between two expiry
    /// refreshes), so that a store keeping the end in two places (Redis:
    /// a field and the key's TTL) need not write either.
    pub expiry_moved: bool,
    /// A new `renewed_at`, when the id changes (a move); `None` keeps it.
    pub renewed_at: Option<u64>,
    /// When this request wrote the session: the record's new `seen_at`
    /// (which a store may keep for signed-in sessions only).
    pub seen_at: u64,
    /// The session's owner as this request sees it (`None`: not signed
    /// in, as far as the request knows; another request may have signed it
    /// in meanwhile).
    pub owner: Option<&'a Owner>,
    /// Whether this request signed the session in (or changed its label):
    /// the store writes `owner` over the stored one. Otherwise it keeps the
    /// stored owner, whatever `owner` says.
    pub owner_changed: bool,
    /// A hint: this request replaced a stored value of a key it changed
    /// (`false`: it did not, or the caller does not know). A store whose
    /// write answers what it replaced can then expect that answer alone
    /// to show the session still there (Redis: `HSET` counts the fields it
    /// added), with no field written only to tell; it must still handle a
    /// write that replaced nothing after all.
    pub overwrites: bool,
}

/// No change, and an expiry that may have moved (`expiry_moved`): a store
/// that skips the expiry when told it did not move must never skip it by
/// default.
impl Default for Update<'_> {
    fn default() -> Self {
        Self {
            set: Vec::new(),
            remove: Vec::new(),
            expires_at: 0,
            expiry_moved: true,
            renewed_at: None,
            seen_at: 0,
            owner: None,
            owner_changed: false,
            overwrites: false,
        }
    }
}

impl<'a> Update<'a> {
    /// An update that changes no key and moves the expiry to `expires_at`.
    ///
    /// ```
    /// use hyper_session::store::Update;
    ///
    /// let update = Update::new(61_000).set("theme", "\"dark\"").remove("cart");
    /// assert_eq!(update.set, [("theme", "\"dark\"")]);
    /// assert_eq!(update.remove, ["cart"]);
    /// assert!(update.expiry_moved); // unless the manager knows better
    /// ```
    pub fn new(expires_at: u64) -> Self {
        Self::at(expires_at, crate::expiry::now_ms())
    }

    /// [`new`](Self::new), written at `now`.
    pub(crate) fn at(expires_at: u64, now: u64) -> Self {
        Self {
            expires_at,
            seen_at: now,
            ..Self::default()
        }
    }

    /// Signs the session in as `owner` (or changes its label).
    #[must_use]
    pub fn sign_in(mut self, owner: &'a Owner) -> Self {
        self.owner = Some(owner);
        self.owner_changed = true;
        self
    }

    /// The owner this request knows the session to have, unchanged.
    #[must_use]
    pub fn owned_by(mut self, owner: Option<&'a Owner>) -> Self {
        self.owner = owner;
        self
    }

    /// The owner the store must write, if this update changes it.
    pub fn new_owner(&self) -> Option<&'a Owner> {
        self.owner.filter(|_| self.owner_changed)
    }

    /// Adds a key to write.
    #[must_use]
    pub fn set(mut self, key: &'a str, json: &'a str) -> Self {
        self.set.push((key, json));
        self
    }

    /// Adds a key to delete.
    #[must_use]
    pub fn remove(mut self, key: &'a str) -> Self {
        self.remove.push(key);
        self
    }

    /// Sets a new `renewed_at`, as a move to a new id does.
    #[must_use]
    pub fn renewed_at(mut self, ms: u64) -> Self {
        self.renewed_at = Some(ms);
        self
    }

    /// Applies the update to a record in place: the merge every store does.
    pub fn apply_to(&self, record: &mut Record) {
        for key in &self.remove {
            record.data.remove(*key);
        }
        for (key, value) in &self.set {
            record.data.insert((*key).to_owned(), (*value).to_owned());
        }
        record.expires_at = self.expires_at;
        record.seen_at = self.seen_at;
        if let Some(renewed_at) = self.renewed_at {
            record.renewed_at = renewed_at;
        }
        if self.owner_changed {
            record.owner = self.owner.cloned();
        }
    }
}

/// A place to keep sessions: implement it to use your own backend.
///
/// Four methods are required; all of them follow the liveness rule of the
/// [module docs](self). Timestamps are ms since the Unix epoch.
///
/// The manager calls at most one method to load a request's session and,
/// to commit it, one (`create`, `update` or `delete`) except for an id
/// change (`cycle_id`, renewal): with the [`AtomicMove`] capability that
/// is one call too; without it, the manager creates the new entry, then
/// deletes the old one, then deletes the new one again if the old one was
/// no longer alive. That order never loses a session to a store failure in
/// the middle, and never moves a session that a logout ended.
///
/// # Example
///
/// A store over a `Mutex<HashMap>` (the shipped
/// [`MemoryStore`](crate::MemoryStore) is sharded and bounded):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use hyper_session::store::{Record, SessionStore, Update};
/// use hyper_session::{StoreError, StoreKey};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<StoreKey, Record>>);
///
/// fn now_ms() -> u64 {
///     std::time::UNIX_EPOCH.elapsed().unwrap().as_millis() as u64
/// }
///
/// impl SessionStore for MapStore {
///     async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
///         let map = self.0.lock().unwrap();
///         Ok(map.get(key).filter(|r| r.expires_at > now_ms()).cloned())
///     }
///     async fn create(&self, key: &StoreKey, record: &Record) -> Result<bool, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         if map.get(key).is_some_and(|r| r.expires_at > now_ms()) {
///             return Ok(false); // never overwrite a live session
///         }
///         map.insert(*key, record.clone());
///         Ok(true)
///     }
///     async fn update(&self, key: &StoreKey, update: &Update<'_>) -> Result<bool, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         match map.get_mut(key) {
///             Some(record) if record.expires_at > now_ms() => {
///                 update.apply_to(record);
///                 Ok(true)
///             }
///             _ => Ok(false), // never create
///         }
///     }
///     async fn delete(&self, key: &StoreKey) -> Result<bool, StoreError> {
///         let removed = self.0.lock().unwrap().remove(key);
///         Ok(removed.is_some_and(|r| r.expires_at > now_ms())) // was it alive?
///     }
///     fn is_shared(&self) -> bool {
///         false // lives and dies with this process
///     }
/// }
/// ```
///
/// Check it with the shared conformance suite (feature `conformance`):
/// `hyper_session::conformance::run(Arc::new(MapStore::default())).await`.
pub trait SessionStore: Send + Sync + 'static {
    /// The live record under `key`, or `None` (absent, expired, or a
    /// fragment a losing write left).
    fn load(
        &self,
        key: &StoreKey,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Stores `record` under `key` unless a live entry is there; returns
    /// whether it stored. Must never overwrite a live entry.
    fn create(
        &self,
        key: &StoreKey,
        record: &Record,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Merges `update` into the live entry under `key` (only the keys it
    /// names; each value replaces the old one whole); returns `false`, and
    /// leaves nothing behind, when there is no live entry. A session
    /// destroyed while a request was running is therefore never brought
    /// back by its commit. (A store that cannot tell at once may answer
    /// `true` while a concurrent write is still removing what it wrote for
    /// the ended session, as the Redis store may: what matters is that no
    /// later `load` returns it.)
    fn update(
        &self,
        key: &StoreKey,
        update: &Update<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes the entry under `key`, if any; returns whether a *live*
    /// session was ended (an expired entry or a fragment answers `false`).
    /// Of two concurrent deletes of one live entry, only one answers `true`.
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

    /// The optional capabilities this store offers; none by default.
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
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
    fn capabilities(&self) -> Capabilities<'_> {
        S::capabilities(self)
    }
}

/// The object-safe face of [`SessionStore`], so a manager can hold any
/// store. Capabilities are already object-safe and pass through
/// [`Capabilities`], so a new capability changes nothing here.
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
    fn capabilities(&self) -> Capabilities<'_>;
    /// The memory store itself, if this is one (see [`backend`]).
    fn into_memory(self: Box<Self>) -> Result<memory::MemoryStore, Box<dyn DynStore>>;
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
    fn capabilities(&self) -> Capabilities<'_> {
        SessionStore::capabilities(self)
    }
    fn into_memory(self: Box<Self>) -> Result<memory::MemoryStore, Box<dyn DynStore>> {
        backend::into_memory(*self).map_err(|store| Box::new(store) as Box<dyn DynStore>)
    }
}
