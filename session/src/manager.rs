//! The manager: keys, store and limits, and the request path built on them.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use crate::config::SessionConfig;
use crate::cookie::{self, Presented};
use crate::error::{ConfigError, StoreError};
use crate::expiry::{now_ms, Lifetime};
use crate::id::{SessionId, StoreKey};
use crate::session::{Action, Loaded, Origin, Session, DEFAULT_MAX_SESSION_BYTES};
use crate::signing::{Keys, Secret, Verified};
use crate::store::memory::MemoryStore;
use crate::store::{DynStore, Record, SessionStore, Update};

/// Default longest wait for one store call.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default longest cookie value read; ours are 87 bytes.
pub const DEFAULT_MAX_COOKIE_LEN: usize = 256;

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
/// # Ok::<(), hyper_session::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    store: Box<dyn DynStore>,
    /// Whether store calls can wait, and so run under `store_timeout`.
    may_block: bool,
    max_session_bytes: usize,
    max_cookie_len: usize,
    store_timeout: Duration,
}

static DEFAULT: OnceLock<Sessions> = OnceLock::new();

impl Sessions {
    /// Starts a builder.
    pub fn builder() -> SessionsBuilder {
        SessionsBuilder::default()
    }

    /// An in-memory store with a random per-process key: sessions die with
    /// the process anyway, so a random key loses nothing.
    ///
    /// # Errors
    ///
    /// Only if the OS random generator fails.
    pub fn in_memory() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// Makes this the manager of every handler without `manager = ...`.
    /// Call it once at start-up, before the first request.
    ///
    /// # Errors
    ///
    /// [`ConfigError::AlreadyInstalled`] if a default is already in use.
    pub fn install(self) -> Result<(), ConfigError> {
        DEFAULT.set(self).map_err(|_| ConfigError::AlreadyInstalled)
    }

    /// The process default: the installed manager, else an in-memory one.
    ///
    /// # Errors
    ///
    /// Only if the OS random generator fails while creating the default.
    pub fn global() -> Result<&'static Self, ConfigError> {
        if let Some(sessions) = DEFAULT.get() {
            return Ok(sessions);
        }
        let fresh = Self::in_memory()?;
        // If another thread won the race, its manager is the one kept.
        Ok(DEFAULT.get_or_init(|| fresh))
    }

    /// Loads the session a request's cookies name (steps 1 to 3 of the
    /// request path). Invalid cookies give a new session, never an error.
    ///
    /// # Errors
    ///
    /// The store failed or timed out.
    pub async fn load(
        &self,
        config: &SessionConfig,
        headers: &HeaderMap,
    ) -> Result<Session, StoreError> {
        let inner = &*self.inner;
        if config.skip_headers().iter().any(|h| h.matches(headers)) {
            tracing::debug!("session skipped: the request carries a skip header");
            return Ok(Session::detached());
        }
        let (id, verified) = match cookie::read(headers, config, &inner.keys, inner.max_cookie_len)
        {
            Presented::Absent => return Ok(Session::new_visitor(inner.max_session_bytes, false)),
            Presented::Invalid => {
                tracing::warn!(
                    cookie = config.cookie_name(),
                    "session cookie is forged, altered or malformed; starting a new session"
                );
                return Ok(Session::new_visitor(inner.max_session_bytes, true));
            }
            Presented::Valid(id, verified) => (id, verified),
        };
        let key = id.store_key();
        let record = self.call(inner.store.load(&key)).await?;
        let now = now_ms();
        let life = Lifetime::of(config);
        match record {
            Some(record) if !life.ended(record.created_at, record.expires_at, now) => {
                tracing::debug!(session = %key.fingerprint(), "session loaded");
                let loaded = Loaded {
                    id,
                    key,
                    created_at: record.created_at,
                    renewed_at: record.renewed_at,
                    expires_at: record.expires_at,
                    rotated: verified == Verified::Rotated,
                };
                Ok(Session::loaded(loaded, record, inner.max_session_bytes))
            }
            _ => {
                tracing::debug!(
                    session = %key.fingerprint(),
                    "session cookie names no live session; starting a new session"
                );
                Ok(Session::new_visitor(inner.max_session_bytes, true))
            }
        }
    }

    /// Saves what the handler changed (step 5 of the request path) and
    /// returns the `Set-Cookie` to send, if any.
    ///
    /// # Errors
    ///
    /// The store failed or timed out; nothing of the session is lost that
    /// was stored before.
    pub async fn commit(
        &self,
        config: &SessionConfig,
        mut session: Session,
    ) -> Result<Option<HeaderValue>, StoreError> {
        let now = now_ms();
        let life = Lifetime::of(config);
        match (session.take_origin(), session.action()) {
            (Origin::Detached, _) => Ok(None),
            // Logging out with a cookie whose session already ended: there
            // is nothing to delete, but the browser should drop the cookie.
            (Origin::New { stale }, Action::Destroy) => {
                Ok(stale.then(|| cookie::set_cookie(config, None)))
            }
            (Origin::New { .. }, _) => {
                if session.is_empty() {
                    return Ok(None);
                }
                let record = Record {
                    data: session.take_data(),
                    created_at: now,
                    renewed_at: now,
                    expires_at: life.expires_at(now, now),
                };
                let id = self.create(&record).await?;
                tracing::debug!(session = %id.store_key().fingerprint(), "session created");
                Ok(Some(self.cookie_for(config, &id)))
            }
            (Origin::Loaded(loaded), Action::Destroy) => {
                self.call(self.inner.store.delete(&loaded.key)).await?;
                tracing::debug!(session = %loaded.key.fingerprint(), "session destroyed");
                Ok(Some(cookie::set_cookie(config, None)))
            }
            (Origin::Loaded(loaded), action) => {
                if action == Action::Cycle || life.renewal_due(loaded.renewed_at, now) {
                    let data = session.take_data();
                    return self.cycle(config, data, &loaded, &life, now).await;
                }
                let expires_at = life.expires_at(loaded.created_at, now);
                let refresh = life.refresh_due(loaded.expires_at, expires_at);
                if session.is_modified() || refresh {
                    let mut update = Update {
                        expires_at,
                        ..Update::default()
                    };
                    for (key, value) in session.changes() {
                        match value {
                            Some(value) => update.set.push((key, value)),
                            None => update.remove.push(key),
                        }
                    }
                    let saved = self
                        .call(self.inner.store.update(&loaded.key, &update))
                        .await?;
                    if !saved {
                        // Destroyed or expired while this request ran: a
                        // commit must not bring it back.
                        tracing::debug!(session = %loaded.key.fingerprint(), "session ended during the request; changes dropped");
                        return Ok(None);
                    }
                    tracing::debug!(session = %loaded.key.fingerprint(), changed = update.set.len() + update.remove.len(), "session saved");
                }
                let resend = loaded.rotated || (refresh && config.max_age() > 0);
                Ok(resend.then(|| self.cookie_for(config, &loaded.id)))
            }
        }
    }

    /// Moves the session to a new id; the old one stops working at once.
    ///
    /// The old entry is deleted first, and the move happens only if it was
    /// still there: a logout (or expiry) that won the race is final, never
    /// undone by a login or renewal committing after it. The new entry holds
    /// this request's view of the data; a concurrent request's change to
    /// other keys, committed between this request's load and this move, is
    /// not carried over.
    async fn cycle(
        &self,
        config: &SessionConfig,
        data: std::collections::HashMap<String, String>,
        loaded: &Loaded,
        life: &Lifetime,
        now: u64,
    ) -> Result<Option<HeaderValue>, StoreError> {
        if !self.call(self.inner.store.delete(&loaded.key)).await? {
            tracing::debug!(session = %loaded.key.fingerprint(), "session ended during the request; not moved to a new id");
            return Ok(None);
        }
        let record = Record {
            data,
            created_at: loaded.created_at,
            renewed_at: now,
            expires_at: life.expires_at(loaded.created_at, now),
        };
        let id = self.create(&record).await?;
        tracing::debug!(
            from = %loaded.key.fingerprint(),
            to = %id.store_key().fingerprint(),
            "session id cycled"
        );
        Ok(Some(self.cookie_for(config, &id)))
    }

    /// Stores `record` under a fresh id. A collision of 256-bit random ids
    /// does not happen, but the store refuses to overwrite, so try again.
    async fn create(&self, record: &Record) -> Result<SessionId, StoreError> {
        for _ in 0..3 {
            let id = SessionId::generate()?;
            let key: StoreKey = id.store_key();
            if self.call(self.inner.store.create(&key, record)).await? {
                return Ok(id);
            }
        }
        Err(StoreError::Corrupt(
            "the store refused three fresh random ids as taken; its `create` is broken".into(),
        ))
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    fn cookie_for(&self, config: &SessionConfig, id: &SessionId) -> HeaderValue {
        cookie::set_cookie(config, Some(&cookie::value(id, config, &self.inner.keys)))
    }

    /// Runs one store call under the store timeout, unless the store says
    /// its calls never wait (the memory store), which saves the timer.
    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if !self.inner.may_block {
            return fut.await;
        }
        let limit = self.inner.store_timeout;
        tokio::time::timeout(limit, fut)
            .await
            .unwrap_or(Err(StoreError::Timeout(limit)))
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("keys", &self.inner.keys)
            .field("max_session_bytes", &self.inner.max_session_bytes)
            .field("store_timeout", &self.inner.store_timeout)
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
    /// [`ConfigError::SecretTooShort`] for a secret under 32 bytes;
    /// [`ConfigError::SecretRequired`] for a shared store without a secret.
    pub fn build(self) -> Result<Sessions, ConfigError> {
        let store = self.store.unwrap_or_else(|| Box::new(MemoryStore::new()));
        let current = match self.secret {
            Some(bytes) => Secret::new(bytes)?,
            None if store.is_shared() => return Err(ConfigError::SecretRequired),
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
                may_block: store.may_block(),
                store,
                max_session_bytes: self.max_session_bytes.unwrap_or(DEFAULT_MAX_SESSION_BYTES),
                max_cookie_len: self.max_cookie_len.unwrap_or(DEFAULT_MAX_COOKIE_LEN),
                store_timeout: self.store_timeout.unwrap_or(DEFAULT_STORE_TIMEOUT),
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
