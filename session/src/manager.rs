//! The manager: keys, store and limits, and the request path built on them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use crate::config::SessionConfig;
use crate::cookie::{self, Presented, Valid};
use crate::error::{BuildError, RequestError, StoreError, StoreUrlError};
use crate::expiry::{now_ms, Lifetime};
use crate::id::{SessionId, StoreKey};
use crate::owner::{Handle, Owner, SessionInfo};
use crate::session::{Changes, Loaded, Plan, Session, DEFAULT_MAX_SESSION_BYTES};
use crate::signing::{Keys, Secret, Verified};
use crate::store::backend::Backend;
use crate::store::capability::require;
use crate::store::memory::{Change, MemoryStore};
use crate::store::{DynStore, Record, Revoke, SessionStore, Update, UserIndex};

/// Signing keys, a store and limits: everything decided at run time.
///
/// Cheap to clone (one `Arc`). Handlers use the process default unless the
/// attribute names another with `manager = EXPR`; the default is an
/// in-memory store with a random key, unless [`install`](Self::install)
/// replaced it at start-up.
///
/// # Example
///
/// ```
/// use hyper_session::{MemoryStore, Sessions};
///
/// let sessions = Sessions::builder()
///     .secret("an example secret, at least 32 bytes long")
///     .store(MemoryStore::new())
///     .build()?;
/// # let _ = sessions;
/// # Ok::<(), hyper_session::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    store: Backend,
    max_session_bytes: usize,
    max_cookie_len: usize,
}

static DEFAULT: OnceLock<Sessions> = OnceLock::new();

impl Sessions {
    /// Shortest secret accepted, in bytes (256 bits).
    pub const MIN_SECRET_LEN: usize = crate::signing::MIN_SECRET_LEN;
    /// Default largest session: 64 KiB of keys and serialized values.
    pub const DEFAULT_MAX_SESSION_BYTES: usize = DEFAULT_MAX_SESSION_BYTES;
    /// Default longest cookie value read; ours are 87 bytes.
    pub const DEFAULT_MAX_COOKIE_LEN: usize = 256;
    /// Default longest wait for one store call.
    pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);

    /// Starts a builder.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hyper_session::Sessions;
    ///
    /// let sessions = Sessions::builder()
    ///     .store_timeout(Duration::from_millis(500))
    ///     .build()?;
    /// # let _ = sessions;
    /// # Ok::<(), hyper_session::BuildError>(())
    /// ```
    pub fn builder() -> SessionsBuilder {
        SessionsBuilder::default()
    }

    /// An in-memory store with a random per-process key: sessions die with
    /// the process anyway, so a random key loses nothing.
    ///
    /// ```
    /// let sessions = hyper_session::Sessions::in_memory()?;
    /// # let _ = sessions;
    /// # Ok::<(), hyper_session::BuildError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only if the OS random generator fails.
    pub fn in_memory() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// Makes this the manager of every handler without `manager = ...`.
    /// Call it once at start-up, before the first request.
    ///
    /// ```
    /// use hyper_session::{BuildError, Sessions};
    ///
    /// Sessions::in_memory()?.install()?;
    /// // Too late for a second one: handlers may already use the first.
    /// let again = Sessions::in_memory()?.install();
    /// assert!(matches!(again, Err(BuildError::AlreadyInstalled)));
    /// # Ok::<(), BuildError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`BuildError::AlreadyInstalled`] if a default is already in use.
    pub fn install(self) -> Result<(), BuildError> {
        DEFAULT.set(self).map_err(|_| BuildError::AlreadyInstalled)
    }

    /// The process default: the installed manager, else an in-memory one.
    ///
    /// ```
    /// let sessions = hyper_session::Sessions::global()?;
    /// # let _ = sessions;
    /// # Ok::<(), hyper_session::BuildError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Only if the OS random generator fails while creating the default.
    pub fn global() -> Result<&'static Self, BuildError> {
        if let Some(sessions) = DEFAULT.get() {
            return Ok(sessions);
        }
        let fresh = Self::in_memory()?;
        // If another thread won the race, its manager is the one kept.
        Ok(DEFAULT.get_or_init(|| fresh))
    }

    /// Removes expired sessions from the store now, if the store can
    /// ([`Sweep`](crate::store::Sweep)); returns how many. The shipped stores
    /// also reclaim expired sessions by themselves.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sessions = hyper_session::Sessions::in_memory()?;
    /// assert_eq!(sessions.sweep().await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] if the store cannot sweep; otherwise
    /// what the store reports.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let caps = self.inner.store.capabilities();
        let sweep = require(caps.sweep(), "sweeping expired sessions")?;
        self.call(sweep.sweep()).await
    }

    /// The live sessions signed in as `user` (see
    /// [`Session::set_user`]), oldest first: for a "signed-in devices" page
    /// or an admin tool. Costs a few store commands per session of that
    /// user, whatever else the store holds.
    ///
    /// `last_seen` is when a request last wrote the session; a request
    /// that changes nothing writes only when the expiry refresh is due, so
    /// it may lag by up to the refresh step.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hyper_session::{SessionConfig, Sessions};
    ///
    /// let sessions = Sessions::in_memory()?;
    /// let config = SessionConfig::DEFAULT;
    /// let mut session = sessions.load(&config, &http::HeaderMap::new()).await?;
    /// session.set_user("ada")?;
    /// let handle = session.handle().cloned().unwrap();
    /// sessions.commit(&config, session).await?;
    ///
    /// let listed = sessions.user_sessions("ada").await?;
    /// assert_eq!(listed.len(), 1);
    /// assert_eq!(listed[0].handle, handle);
    /// assert!(sessions.user_sessions("bob").await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] if the store has no
    /// [`UserIndex`](crate::store::UserIndex); otherwise what the store
    /// reports (a store that is down is an error, never an empty list).
    pub async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let index = self.user_index()?;
        let mut listed = self.call(index.list(user)).await?;
        listed.sort_by(|a, b| (a.created_at, &a.handle).cmp(&(b.created_at, &b.handle)));
        Ok(listed)
    }

    /// Ends `user`'s session with `handle` at once: its next request is a
    /// fresh visitor, and a request of it in flight commits nothing.
    /// Returns `false` when `user` has no live session with that handle
    /// (someone else's handle included: the user id is part of the
    /// question, so a handle alone never reaches another user's session).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use hyper_session::{SessionConfig, Sessions};
    /// # let sessions = Sessions::in_memory()?;
    /// # let mut session = sessions.load(&SessionConfig::DEFAULT, &http::HeaderMap::new()).await?;
    /// # session.set_user("ada")?;
    /// # sessions.commit(&SessionConfig::DEFAULT, session).await?;
    /// let handle = sessions.user_sessions("ada").await?[0].handle.clone();
    /// assert!(!sessions.revoke("bob", &handle).await?); // not bob's
    /// assert!(sessions.revoke("ada", &handle).await?);
    /// assert!(sessions.user_sessions("ada").await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions): a revocation that may
    /// not have happened is an error, never `Ok`.
    pub async fn revoke(&self, user: &str, handle: &Handle) -> Result<bool, StoreError> {
        let index = self.user_index()?;
        Ok(self.call(index.revoke(user, Revoke::One(handle))).await? > 0)
    }

    /// Ends every session of `user` (after a password change, say);
    /// returns how many.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sessions = hyper_session::Sessions::in_memory()?;
    /// assert_eq!(sessions.revoke_all("ada").await?, 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`revoke`](Self::revoke).
    pub async fn revoke_all(&self, user: &str) -> Result<u64, StoreError> {
        let index = self.user_index()?;
        self.call(index.revoke(user, Revoke::All)).await
    }

    /// Ends every session of `user` but the one with handle `keep`
    /// ("log out other devices", with the requester's
    /// [`Session::handle`]); returns how many.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use hyper_session::{SessionConfig, Sessions};
    /// # let sessions = Sessions::in_memory()?;
    /// # let config = SessionConfig::DEFAULT;
    /// let mut session = sessions.load(&config, &http::HeaderMap::new()).await?;
    /// session.set_user("ada")?;
    /// let mine = session.handle().cloned().unwrap();
    /// sessions.commit(&config, session).await?;
    /// assert_eq!(sessions.revoke_others("ada", &mine).await?, 0);
    /// assert_eq!(sessions.user_sessions("ada").await?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`revoke`](Self::revoke).
    pub async fn revoke_others(&self, user: &str, keep: &Handle) -> Result<u64, StoreError> {
        let index = self.user_index()?;
        self.call(index.revoke(user, Revoke::AllBut(keep))).await
    }

    fn user_index(&self) -> Result<&dyn UserIndex, StoreError> {
        require(
            self.inner.store.capabilities().user_index(),
            "listing and revoking a user's sessions",
        )
    }

    /// Loads the session a request's cookies name (steps 1 to 3 of the
    /// request path). Invalid cookies give a new session, never an error.
    ///
    /// Of several values of our cookie (a planted one sent first, say),
    /// the first genuine one naming a live session wins; at most two are
    /// looked up in the store.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hyper_session::{SessionConfig, Sessions};
    ///
    /// let sessions = Sessions::in_memory()?;
    /// let session = sessions.load(&SessionConfig::DEFAULT, &http::HeaderMap::new()).await?;
    /// assert!(session.is_new());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The store failed or timed out.
    pub async fn load(
        &self,
        config: &SessionConfig,
        headers: &HeaderMap,
    ) -> Result<Session, RequestError> {
        match self.load_now(config, headers) {
            Some(done) => done,
            None => self.load_waiting(config, headers).await,
        }
    }

    /// [`load`](Self::load) from a store that never waits (the memory
    /// store), as a plain call; `None`, before anything is done, for any
    /// other store. The request path calls this first: a future built,
    /// polled and copied out of for a call that cannot wait cost a
    /// request 150 to 250 instructions (`benches/instructions.rs`).
    pub(crate) fn load_now(
        &self,
        config: &SessionConfig,
        headers: &HeaderMap,
    ) -> Option<Result<Session, RequestError>> {
        let Backend::Memory(memory) = &self.inner.store else {
            return None;
        };
        if skipped(config, headers) {
            return Some(Ok(Session::detached()));
        }
        let presented = self.presented(config, headers);
        let mut lookup = Lookup::new(&presented);
        while let Some((candidate, key, now)) = lookup.next() {
            match live(config, memory.load_at(&key, now), now) {
                Some(record) => {
                    return Some(Ok(self.loaded(candidate, key, record, lookup.rest())))
                }
                None => lookup.dead(key),
            }
        }
        Some(Ok(lookup.new_visitor(self)))
    }

    /// [`load`](Self::load) from any store, waiting for its answers.
    pub(crate) async fn load_waiting(
        &self,
        config: &SessionConfig,
        headers: &HeaderMap,
    ) -> Result<Session, RequestError> {
        if skipped(config, headers) {
            return Ok(Session::detached());
        }
        let presented = self.presented(config, headers);
        let mut lookup = Lookup::new(&presented);
        while let Some((candidate, key, now)) = lookup.next() {
            // As in `commit_waiting`: boxed, so that the load's future
            // holds a pointer, not the store call's state. Returned from
            // the loop, the record is never held across an await either.
            let record = Box::pin(self.inner.store.load(&key, now)).await?;
            match live(config, record, now) {
                Some(record) => return Ok(self.loaded(candidate, key, record, lookup.rest())),
                None => lookup.dead(key),
            }
        }
        Ok(lookup.new_visitor(self))
    }

    /// Step 2: the values of our cookie the request carried, checked.
    #[inline(always)]
    fn presented(&self, config: &SessionConfig, headers: &HeaderMap) -> Presented {
        let inner = &*self.inner;
        let presented = cookie::read(headers, config, &inner.keys, inner.max_cookie_len);
        if presented.invalid > 0 {
            warn_invalid_cookie(config.cookie_name(), presented.invalid);
        }
        presented
    }

    /// The session found under `key`.
    fn loaded(
        &self,
        (id, verified): &(SessionId, Verified),
        key: StoreKey,
        record: Record,
        others: Vec<StoreKey>,
    ) -> Session {
        tracing::debug!(session = %key.fingerprint(), "session loaded");
        let loaded = Loaded {
            id: id.clone(),
            key,
            created_at: record.created_at,
            renewed_at: record.renewed_at,
            expires_at: record.expires_at,
            rotated: *verified == Verified::Rotated,
        };
        let limit = self.inner.max_session_bytes;
        let session = Session::loaded(loaded, record, limit, others);
        if let Some(size) = session.over_limit() {
            // Concurrent requests each under the limit can grow a session
            // on a store that does not check at the merge (Redis).
            tracing::warn!(session = ?session.fingerprint(), size, limit, "stored session is over max_session_bytes; it may shrink but not grow");
        }
        session
    }

    /// Saves what the handler changed (step 5 of the request path) and
    /// returns the `Set-Cookie` to send, if any.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hyper_session::{SessionConfig, Sessions};
    ///
    /// let sessions = Sessions::in_memory()?;
    /// let config = SessionConfig::DEFAULT;
    /// let mut session = sessions.load(&config, &http::HeaderMap::new()).await?;
    /// session.insert("user", "ada")?;
    /// let set_cookie = sessions.commit(&config, session).await?;
    /// assert!(set_cookie.unwrap().to_str()?.starts_with("sid="));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The store failed or timed out; nothing of the session is lost that
    /// was stored before.
    pub async fn commit(
        &self,
        config: &SessionConfig,
        mut session: Session,
    ) -> Result<Option<HeaderValue>, RequestError> {
        match self.commit_now(config, &mut session) {
            Some(done) => done,
            None => self.commit_waiting(config, &mut session).await,
        }
    }

    /// [`commit`](Self::commit) to any store, waiting for its answers, of a
    /// session left where it is: the request path's own, which borrows the
    /// session from the request's future rather than moving it (about 300
    /// bytes) through every future on the way to the store. The session is
    /// spent afterwards.
    pub(crate) async fn commit_waiting(
        &self,
        config: &SessionConfig,
        session: &mut Session,
    ) -> Result<Option<HeaderValue>, RequestError> {
        match session.plan() {
            Plan::Nothing => Ok(None),
            // Logging out without a live session: nothing to delete but the
            // other genuine ids sent, and a dead cookie to remove.
            Plan::Forget { stale, others } => {
                self.end_all(others).await?;
                Ok(stale.then(|| cookie::removal(config)))
            }
            Plan::Create(changes) => {
                let now = now_ms();
                let expires_at = Lifetime::of(config).expires_at(now, now);
                let record = changes.take_record(now, now, expires_at);
                // Boxed with the record it writes, so that every request's
                // future holds a pointer, not that call's state.
                let id = Box::pin(async move { self.create(&record, now).await }).await?;
                Ok(Some(self.created(config, &id)))
            }
            // Logins, renewals and logouts are rare beside plain requests:
            // their futures are boxed, so that every request's future stays
            // small to move.
            Plan::Destroy {
                loaded,
                others,
                owner,
            } => Box::pin(self.destroy(config, loaded, others, owner)).await,
            Plan::Save {
                loaded,
                changes,
                cycle,
            } => {
                let now = now_ms();
                let (expires_at, refresh) = match save_timing(config, loaded, cycle, now) {
                    Timing::Write {
                        expires_at,
                        refresh,
                    } => (expires_at, refresh),
                    Timing::Move(life) => {
                        return Box::pin(self.cycle(config, changes, loaded, &life, now)).await
                    }
                };
                if !changes.is_empty() || refresh {
                    let update = update_of(changes, loaded, expires_at, now);
                    let store = &self.inner.store;
                    let key = &loaded.key;
                    // Boxed with its update, as above: held across the
                    // await, the update would take its room in every
                    // request's future.
                    let saved =
                        Box::pin(async move { store.update(key, &update, now).await }).await?;
                    log_save(loaded, changes, saved);
                    if !saved {
                        return Ok(None);
                    }
                }
                Ok(self.resend(config, loaded, refresh))
            }
        }
    }

    /// [`commit`](Self::commit) to a store that never waits (the memory
    /// store), as a plain call. `None`, before anything is done, for
    /// another store, and for the rare commits (a logout, a new id), whose
    /// code is written once, for every store. As with
    /// [`load_now`](Self::load_now), the request path calls this first. It
    /// calls the memory store as it is: a new session's keys move in, and
    /// the common save (one value) needs no update built for it.
    pub(crate) fn commit_now(
        &self,
        config: &SessionConfig,
        session: &mut Session,
    ) -> Option<Result<Option<HeaderValue>, RequestError>> {
        let Backend::Memory(memory) = &self.inner.store else {
            return None;
        };
        match session.plan() {
            Plan::Nothing => Some(Ok(None)),
            Plan::Create(changes) => {
                let now = now_ms();
                let expires_at = Lifetime::of(config).expires_at(now, now);
                let mut record = changes.take_record(now, now, expires_at);
                Some(
                    fresh_id(|key| memory.create_from(key, &mut record, now))
                        .map(|id| Some(self.created(config, &id))),
                )
            }
            Plan::Forget { .. } | Plan::Destroy { .. } => None,
            Plan::Save {
                loaded,
                changes,
                cycle,
            } => {
                let now = now_ms();
                let Timing::Write {
                    expires_at,
                    refresh,
                } = save_timing(config, loaded, cycle, now)
                else {
                    return None;
                };
                if !changes.is_empty() || refresh {
                    let key = &loaded.key;
                    let saved = match changes.only_value() {
                        Some((field, value)) => {
                            let change = Change::One {
                                key: field,
                                value,
                                expires_at,
                                seen_at: now,
                            };
                            memory.update_at(key, change, now)
                        }
                        None => {
                            let update = update_of(changes, loaded, expires_at, now);
                            memory.update_at(key, Change::Update(&update), now)
                        }
                    };
                    match saved {
                        Ok(saved) => {
                            log_save(loaded, changes, saved);
                            if !saved {
                                return Some(Ok(None));
                            }
                        }
                        Err(e) => return Some(Err(e.into())),
                    }
                }
                Some(Ok(self.resend(config, loaded, refresh)))
            }
        }
    }

    /// The `Set-Cookie` of a session just created under `id`.
    fn created(&self, config: &SessionConfig, id: &SessionId) -> HeaderValue {
        tracing::debug!(session = %id.store_key().fingerprint(), "session created");
        self.issue(config, id)
    }

    /// The `Set-Cookie` after a plain save, if the cookie must be sent
    /// again: signed with an older secret, or its `Max-Age` refreshed.
    fn resend(
        &self,
        config: &SessionConfig,
        loaded: &Loaded,
        refresh: bool,
    ) -> Option<HeaderValue> {
        let resend = loaded.rotated || (refresh && config.max_age() > 0);
        resend.then(|| self.issue(config, &loaded.id))
    }

    /// Ends a stored session, and every other genuine id its request
    /// carried.
    async fn destroy(
        &self,
        config: &SessionConfig,
        loaded: &Loaded,
        others: &[StoreKey],
        owner: Option<&Owner>,
    ) -> Result<Option<HeaderValue>, RequestError> {
        self.inner.store.delete(&loaded.key).await?;
        self.end_all(others).await?;
        if let Some(owner) = owner {
            self.forget(owner, &loaded.key).await;
        }
        tracing::debug!(session = %loaded.key.fingerprint(), "session destroyed");
        Ok(Some(cookie::removal(config)))
    }

    /// Moves the session to a new id; the old one stops working at once.
    ///
    /// With the store's [`AtomicMove`](crate::store::AtomicMove), one call
    /// moves the live entry and applies this request's changes. Without
    /// it: create the new entry (this request's view of the data), delete
    /// the old one, and delete the new one again if the old one was no
    /// longer alive. Either way a logout (or expiry) that won the race is
    /// final, and a store failure part-way leaves the original session
    /// loadable.
    async fn cycle(
        &self,
        config: &SessionConfig,
        changes: &mut Changes,
        loaded: &Loaded,
        life: &Lifetime,
        now: u64,
    ) -> Result<Option<HeaderValue>, RequestError> {
        let store = &self.inner.store;
        let expires_at = life.expires_at(loaded.created_at, now);
        let moved = if let Some(mover) = store.capabilities().atomic_move() {
            let id = SessionId::generate()?;
            let update = changes.update(expires_at, now).renewed_at(now);
            let to = id.store_key();
            self.call(mover.move_to(&loaded.key, &to, &update))
                .await?
                .then_some(id)
        } else {
            let record = changes.take_record(loaded.created_at, now, expires_at);
            let id = self.create(&record, now).await?;
            let to = id.store_key();
            if store.delete(&loaded.key).await? {
                Some(id)
            } else {
                // The old session had ended: the copy must not outlive it.
                // Its id was never sent to anyone, so even a failure here
                // leaves nothing reachable.
                store.delete(&to).await?;
                None
            }
        };
        match moved {
            Some(id) => {
                tracing::debug!(
                    from = %loaded.key.fingerprint(),
                    to = %id.store_key().fingerprint(),
                    "session id cycled"
                );
                Ok(Some(self.issue(config, &id)))
            }
            None => {
                tracing::debug!(session = %loaded.key.fingerprint(), "session ended during the request; not moved to a new id");
                Ok(None)
            }
        }
    }

    /// Drops a destroyed session's entry from the user index now, where the
    /// store keeps one apart. The session is already ended: a failure here
    /// only leaves an entry that the next listing prunes, so it is logged,
    /// not returned.
    async fn forget(&self, owner: &Owner, key: &StoreKey) {
        let Some(index) = self.inner.store.capabilities().user_index() else {
            return;
        };
        if let Err(e) = self.call(index.forget(owner, key)).await {
            tracing::debug!(session = %key.fingerprint(), error = %e, "user index entry of an ended session left for pruning");
        }
    }

    /// Ends the sessions of the other genuine ids a request carried.
    async fn end_all(&self, keys: &[StoreKey]) -> Result<(), StoreError> {
        for key in keys {
            self.inner.store.delete(key).await?;
        }
        Ok(())
    }

    /// Stores `record` under a fresh id. A collision of 256-bit random ids
    /// does not happen, but the store refuses to overwrite, so try again.
    /// [`fresh_id`] is the same for a store that never waits.
    async fn create(&self, record: &Record, now: u64) -> Result<SessionId, RequestError> {
        let store = &self.inner.store;
        for _ in 0..3 {
            let id = SessionId::generate()?;
            if Box::pin(store.create(&id.store_key(), record, now)).await? {
                return Ok(id);
            }
        }
        Err(ids_refused())
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    fn issue(&self, config: &SessionConfig, id: &SessionId) -> HeaderValue {
        cookie::issue(config, id, &self.inner.keys)
    }

    /// Runs a capability's store call under the store timeout.
    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.inner.store.timed(fut).await
    }
}

/// Store loads one request may make: the first genuine value of our cookie,
/// and one more when the first names a dead session (a planted cookie sent
/// ahead of the real one).
const MAX_LOADS: usize = 2;

/// Step 1: a skip header says this request has no session.
fn skipped(config: &SessionConfig, headers: &HeaderMap) -> bool {
    let skipped = config.skip_headers().iter().any(|h| h.matches(headers));
    if skipped {
        tracing::debug!("session skipped: the request carries a skip header");
    }
    skipped
}

/// A record loaded for a request, unless it has ended. The limits are
/// derived only for a record to judge: a new visitor's request has none.
#[inline(always)]
fn live(config: &SessionConfig, record: Option<Record>, now: u64) -> Option<Record> {
    record.filter(|r| !Lifetime::of(config).ended(r.created_at, r.expires_at, now))
}

/// Step 3 apart from the store calls, shared by [`Sessions::load`] and
/// [`Sessions::load_now`]: which ids to look up, in order, and what a
/// record found under one means.
struct Lookup<'a> {
    valid: Valid<'a>,
    loads: usize,
    /// Genuine ids not (or no longer) live, and those past [`MAX_LOADS`]:
    /// a logout ends them too.
    others: Vec<StoreKey>,
    /// The clock, read once, and only when there is a session to judge.
    now: Option<u64>,
    /// The request carried our cookie: a new visitor's logout removes it.
    stale: bool,
}

// The steps are inlined by force, here and in `presented` and `live`: as
// calls, the two loads cost about 70 instructions more a request
// (`benches/instructions.rs`).
impl<'a> Lookup<'a> {
    #[inline(always)]
    fn new(presented: &'a Presented) -> Self {
        Self {
            valid: presented.valid(),
            loads: 0,
            others: Vec::new(),
            now: None,
            stale: presented.any(),
        }
    }

    /// The next id to load, its store key, and the time to judge it at.
    #[inline(always)]
    fn next(&mut self) -> Option<(&'a (SessionId, Verified), StoreKey, u64)> {
        for candidate in self.valid.by_ref() {
            let key = candidate.0.store_key();
            if self.loads == MAX_LOADS {
                self.others.push(key);
                continue;
            }
            self.loads += 1;
            let now = *self.now.get_or_insert_with(now_ms);
            return Some((candidate, key, now));
        }
        None
    }

    /// The genuine ids not loaded yet, with those set aside: a logout
    /// ends them too.
    #[inline(always)]
    fn rest(self) -> Vec<StoreKey> {
        let mut others = self.others;
        others.extend(self.valid.map(|(id, _)| id.store_key()));
        others
    }

    /// The id just loaded names no live session.
    #[inline(always)]
    fn dead(&mut self, key: StoreKey) {
        tracing::debug!(session = %key.fingerprint(), "session cookie names no live session");
        self.others.push(key);
    }

    /// No genuine id named a live session.
    #[inline(always)]
    fn new_visitor(self, sessions: &Sessions) -> Session {
        Session::new_visitor(sessions.inner.max_session_bytes, self.stale, self.others)
    }
}

/// How a stored session's commit writes.
enum Timing {
    /// To a new id first (`cycle_id`, or renewal due), under these limits.
    Move(Lifetime),
    /// In place, with this expiry; `refresh` says the expiry moved on
    /// schedule (the cookie's `Max-Age` is sent again).
    Write { expires_at: u64, refresh: bool },
}

/// How a stored session's commit writes, and with what expiry. The limits
/// are derived only where a session is written or judged: a request that
/// changes nothing ends at `Plan::Nothing` without them.
///
/// A write moves the expiry on the same schedule as a read (once a quarter
/// of the idle window has passed), not at every commit: an unchanged
/// expiry lets PostgreSQL update the row in place (a HOT update: no index
/// is touched, as `expires_at` is indexed), and costs Redis nothing more.
/// A stricter limit of this handler still applies at once.
fn save_timing(config: &SessionConfig, loaded: &Loaded, cycle: bool, now: u64) -> Timing {
    let life = Lifetime::of(config);
    if cycle || life.renewal_due(loaded.renewed_at, now) {
        return Timing::Move(life);
    }
    let fresh = life.expires_at(loaded.created_at, now);
    let refresh = life.refresh_due(loaded.expires_at, fresh);
    let expires_at = if refresh {
        fresh
    } else {
        fresh.min(loaded.expires_at)
    };
    Timing::Write {
        expires_at,
        refresh,
    }
}

/// The store's update for a plain save.
fn update_of<'c>(changes: &'c Changes, loaded: &Loaded, expires_at: u64, now: u64) -> Update<'c> {
    let mut update = changes.update(expires_at, now);
    update.expiry_moved = expires_at != loaded.expires_at;
    update
}

/// Logs a plain save's outcome; `saved` is false when the session was
/// destroyed or expired while the request ran (a commit must not bring it
/// back, so its changes were dropped).
fn log_save(loaded: &Loaded, changes: &Changes, saved: bool) {
    if saved {
        tracing::debug!(session = %loaded.key.fingerprint(), changed = changes.changed(), "session saved");
    } else {
        tracing::debug!(session = %loaded.key.fingerprint(), "session ended during the request; changes dropped");
    }
}

/// [`Sessions::create`] for the memory store, as a plain call: `create`
/// stores the record under the key it is given, or says the key is taken.
fn fresh_id(
    mut create: impl FnMut(&StoreKey) -> Result<bool, StoreError>,
) -> Result<SessionId, RequestError> {
    for _ in 0..3 {
        let id = SessionId::generate()?;
        if create(&id.store_key())? {
            return Ok(id);
        }
    }
    Err(ids_refused())
}

/// Three fresh 256-bit random ids refused as taken: not a collision, a
/// broken store.
fn ids_refused() -> RequestError {
    StoreError::Corrupt(
        "the store refused three fresh random ids as taken; its `create` is broken".into(),
    )
    .into()
}

/// Logs forged or altered cookies at WARN at most once per
/// [`WARN_EVERY_MS`], with how many it stands for, so that a client
/// sending garbage cannot flood the logs.
fn warn_invalid_cookie(cookie: &'static str, count: usize) {
    static NEXT_WARN_MS: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let count = count as u64;
    let now = now_ms();
    let next = NEXT_WARN_MS.load(Ordering::Relaxed);
    if now < next
        || NEXT_WARN_MS
            .compare_exchange(
                next,
                now + WARN_EVERY_MS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
    {
        SUPPRESSED.fetch_add(count, Ordering::Relaxed);
        return;
    }
    let events = SUPPRESSED.swap(0, Ordering::Relaxed) + count;
    tracing::warn!(
        cookie,
        events,
        "session cookie values that are forged, altered or malformed were ignored (new sessions started); logged at most once per 10 s"
    );
}

const WARN_EVERY_MS: u64 = 10_000;

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("keys", &self.inner.keys)
            .field("max_session_bytes", &self.inner.max_session_bytes)
            .field("store_timeout", &self.inner.store.timeout())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Sessions`] manager; see [`Sessions::builder`].
#[derive(Default)]
pub struct SessionsBuilder {
    secret: Option<Vec<u8>>,
    older: Vec<Vec<u8>>,
    store: Option<Box<dyn DynStore>>,
    max_session_bytes: Option<usize>,
    max_cookie_len: Option<usize>,
    store_timeout: Option<Duration>,
    url_options: crate::store::url::UrlOptions,
}

impl SessionsBuilder {
    /// The key that signs cookies, at least 32 bytes. Required with a
    /// shared store; without one, a random per-process key is drawn.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// A previous key, still accepted so that rotating keys logs nobody
    /// out; cookies it signed are re-issued under the current key. Call it
    /// once per old key, newest first.
    pub fn older_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.older.push(secret.as_ref().to_vec());
        self
    }

    /// Where sessions live; a [`MemoryStore`] if not set.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Opens the store a URL names, as the examples read `SESSION_STORE`:
    /// `memory` (or an empty string), `redis://`, `rediss://`, `valkey://`
    /// and `valkeys://`, and a Redis Cluster with
    /// `redis+cluster://host:port[,host:port...]` or `rediss+cluster://`
    /// (feature `redis`; see [`tls_ca_file`](Self::tls_ca_file),
    /// [`replica_wait`](Self::replica_wait) and `RedisStore::builder`);
    /// `postgres://` and `postgresql://` (feature `postgres`), and
    /// `sqlite://relative/path.db` or `sqlite:///absolute/path.db` (feature
    /// `sqlite`; the file is created if missing). The SQL stores' tables
    /// are created if missing (`migrate`). A scheme whose feature is off,
    /// or an unknown one, is refused with an error that says what to do.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use hyper_session::{Sessions, StoreUrlError};
    ///
    /// let sessions = Sessions::builder().store_url("memory").await?.build()?;
    /// # let _ = sessions;
    /// let err = Sessions::builder().store_url("mongodb://u:hunter2@db").await.unwrap_err();
    /// assert!(matches!(err, StoreUrlError::UnknownScheme { .. }));
    /// assert!(!err.to_string().contains("hunter2")); // credentials are never echoed
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreUrlError`]: an unknown or disabled scheme, or a store that
    /// cannot be reached now. No message repeats the URL's credentials.
    pub async fn store_url(mut self, url: &str) -> Result<Self, StoreUrlError> {
        self.store = Some(crate::store::url::open(url, &self.url_options).await?);
        Ok(self)
    }

    /// A private certificate authority (a PEM file) that TLS stores opened
    /// by a later [`store_url`](Self::store_url) verify the server against,
    /// instead of the system's roots: for `rediss://` with a private CA.
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.url_options.tls_ca_file = Some(path.into());
        self
    }

    /// For a store opened by a later [`store_url`](Self::store_url) whose
    /// deployment has replicas (Redis with replicas, a Redis Cluster): a
    /// logout waits until a replica has it, at most `timeout`, and fails
    /// (503, retryable) if none confirms, so that it stays final across a
    /// failover. See `RedisConfig::wait_for_replica`. Stores that do not
    /// replicate (memory) ignore it.
    pub fn replica_wait(mut self, timeout: Duration) -> Self {
        self.url_options.replica_wait = Some(timeout);
        self
    }

    /// For a store opened by a later [`store_url`](Self::store_url): every
    /// commit, not only logouts, waits for a replica as
    /// [`replica_wait`](Self::replica_wait) says, so that no answered write
    /// is lost in a failover. See `RedisConfig::durable_commits`.
    pub fn durable_commits(mut self, on: bool) -> Self {
        self.url_options.durable_commits = on;
        self
    }

    /// Largest session, in bytes of keys plus serialized values
    /// (default 64 KiB); an `insert` past it fails.
    pub fn max_session_bytes(mut self, bytes: usize) -> Self {
        self.max_session_bytes = Some(bytes);
        self
    }

    /// Longest cookie value read (default 256); longer ones are ignored.
    pub fn max_cookie_len(mut self, len: usize) -> Self {
        self.max_cookie_len = Some(len);
        self
    }

    /// Longest wait for one store call (default 2 s); past it the request
    /// gets the error response.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = Some(timeout);
        self
    }

    /// Checks the configuration and builds the manager.
    ///
    /// # Errors
    ///
    /// [`BuildError::SecretTooShort`] for a secret under 32 bytes;
    /// [`BuildError::SecretRequired`] for a shared store without a secret.
    pub fn build(self) -> Result<Sessions, BuildError> {
        let store = self.store.unwrap_or_else(|| Box::new(MemoryStore::new()));
        let store = Backend::new(
            store,
            self.store_timeout
                .unwrap_or(Sessions::DEFAULT_STORE_TIMEOUT),
        );
        let current = match self.secret {
            Some(bytes) => Secret::new(bytes)?,
            None if store.is_shared() => return Err(BuildError::SecretRequired),
            None => Secret::random()?,
        };
        let older = self
            .older
            .into_iter()
            .map(Secret::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sessions {
            inner: Arc::new(Inner {
                keys: Keys::new(&current, &older),
                store,
                max_session_bytes: self
                    .max_session_bytes
                    .unwrap_or(Sessions::DEFAULT_MAX_SESSION_BYTES),
                max_cookie_len: self
                    .max_cookie_len
                    .unwrap_or(Sessions::DEFAULT_MAX_COOKIE_LEN),
            }),
        })
    }
}

impl fmt::Debug for SessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsBuilder")
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("older_secrets", &self.older.len())
            .finish_non_exhaustive()
    }
}
