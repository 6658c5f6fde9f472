//! The session a handler sees: typed values with per-key change tracking.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::data::SessionData;
use crate::error::SessionError;
use crate::id::{Fingerprint, SessionId, StoreKey};
use crate::owner::{check_len, Handle, Owner, MAX_LABEL_BYTES};
use crate::store::{Record, Update};

/// A user's session: typed key/value data kept on the server.
///
/// Values go through `serde_json`. Every method is synchronous and works on
/// the copy loaded for this request; the changes reach the store after the
/// handler returns `Ok`, and only the keys that changed are written, so two
/// concurrent requests of one user that change different keys both persist.
///
/// # Example
///
/// ```
/// use hyper_session::Session;
///
/// let mut session = Session::detached();
/// session.insert("user", "ada")?;
/// assert_eq!(session.get::<String>("user")?, Some("ada".to_owned()));
/// assert!(session.get::<u64>("user").is_err()); // a wrong type is an error, not None
/// session.remove("user");
/// assert!(session.is_empty());
/// # Ok::<(), hyper_session::SessionError>(())
/// ```
pub struct Session {
    /// The data, what this request changed of it, and the owner: all the
    /// commit reads, borrowed in place (the session is not moved again
    /// once loaded).
    changes: Changes,
    /// Bytes of keys plus serialized values, checked against `max_bytes`.
    size: usize,
    max_bytes: usize,
    origin: Origin,
    action: Action,
    /// Store keys of the other genuine values of our cookie this request
    /// carried (cookie tossing): a `destroy` ends them too.
    others: Vec<StoreKey>,
}

/// Where the session came from.
#[derive(Debug)]
pub(crate) enum Origin {
    /// Handling was skipped: nothing is loaded or saved.
    Detached,
    /// No usable cookie, or its session is gone: a new id is drawn at commit.
    /// `stale` says the request carried a cookie of ours (forged, or naming
    /// an ended session), which a `destroy` removes from the browser.
    New { stale: bool },
    /// Loaded from the store under the cookie's id.
    Loaded(Loaded),
}

#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) id: SessionId,
    pub(crate) key: StoreKey,
    pub(crate) created_at: u64,
    pub(crate) renewed_at: u64,
    pub(crate) expires_at: u64,
    /// The cookie was signed by an older key and must be re-issued.
    pub(crate) rotated: bool,
}

/// What the handler asked for besides data changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Keep,
    Cycle,
    Destroy,
}

/// The default size limit: 64 KiB of keys and serialized values.
pub const DEFAULT_MAX_SESSION_BYTES: usize = 64 * 1024;

impl Session {
    /// A session bound to no store: what a skipped request's handler gets,
    /// and handy in unit tests of code that takes `&mut Session`.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("cart", ["tea"])?; // works, but is never saved
    /// assert!(session.is_new());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn detached() -> Self {
        Self::with_origin(
            Origin::Detached,
            SessionData::default(),
            DEFAULT_MAX_SESSION_BYTES,
        )
    }

    pub(crate) fn new_visitor(max_bytes: usize, stale: bool, others: Vec<StoreKey>) -> Self {
        let mut session =
            Self::with_origin(Origin::New { stale }, SessionData::default(), max_bytes);
        session.others = others;
        session
    }

    pub(crate) fn loaded(
        loaded: Loaded,
        record: Record,
        max_bytes: usize,
        others: Vec<StoreKey>,
    ) -> Self {
        let mut session = Self::with_origin(Origin::Loaded(loaded), record.data, max_bytes);
        session.others = others;
        session.changes.owner = record.owner;
        session
    }

    fn with_origin(origin: Origin, data: SessionData, max_bytes: usize) -> Self {
        let size = data.iter().map(|(k, v)| k.len() + v.len()).sum();
        Self {
            changes: Changes {
                data,
                changed: ChangedKeys::default(),
                overwrites: false,
                owner: None,
                owner_changed: false,
            },
            size,
            max_bytes,
            origin,
            action: Action::Keep,
            others: Vec::new(),
        }
    }

    /// Reads `key` as a `T`.
    ///
    /// # Errors
    ///
    /// [`SessionError::WrongType`] when the stored value is not a `T`:
    /// a type mismatch is reported, never turned into `None`.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("visits", 3u32)?;
    /// assert_eq!(session.get::<u32>("visits")?, Some(3));
    /// assert_eq!(session.get::<u32>("absent")?, None);
    /// assert!(session.get::<String>("visits").is_err()); // not a String
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.changes
            .data
            .get(key)
            .map(|raw| {
                // serde's message quotes the stored value; keep the key and
                // the type only, so logging the error leaks no session data.
                serde_json::from_str(raw).map_err(|_| SessionError::WrongType {
                    key: key.to_owned(),
                    expected: std::any::type_name::<T>(),
                })
            })
            .transpose()
    }

    /// Stores `value` under `key`. Writing a value equal to the stored one is
    /// not a change and writes nothing.
    ///
    /// # Errors
    ///
    /// [`SessionError::Serialize`] if `value` cannot be serialized;
    /// [`SessionError::TooLarge`] if the session would outgrow the manager's
    /// `max_session_bytes` (the session is left unchanged).
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("user", "ada")?;
    /// session.insert("roles", vec!["admin"])?;
    /// assert_eq!(session.len(), 2);
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn insert<T: Serialize>(&mut self, key: &str, value: T) -> Result<(), SessionError> {
        let raw = serde_json::to_string(&value).map_err(|source| SessionError::Serialize {
            key: key.to_owned(),
            source,
        })?;
        // One lookup: the slot is replaced in place when the key is there.
        let (max_bytes, current) = (self.max_bytes, self.size);
        let fits = |size: usize| {
            // A session already over the limit (grown by concurrent
            // requests on a store that cannot check at the merge) may
            // still shrink.
            if size > max_bytes && size > current {
                Err(SessionError::TooLarge {
                    size,
                    limit: max_bytes,
                })
            } else {
                Ok(size)
            }
        };
        let replaced = match self.changes.data.get_mut(key) {
            Some(slot) if *slot == raw => return Ok(()),
            Some(slot) => {
                self.size = fits(current - slot.len() + raw.len())?;
                *slot = raw;
                true
            }
            None => {
                self.size = fits(current + key.len() + raw.len())?;
                self.changes.data.insert(key.to_owned(), raw);
                false
            }
        };
        self.mark(key, replaced);
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("flash", "saved")?;
    /// assert!(session.remove("flash"));
    /// assert!(!session.remove("flash"));
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn remove(&mut self, key: &str) -> bool {
        match self.changes.data.remove_entry(key) {
            Some((k, v)) => {
                self.size -= k.len() + v.len();
                self.mark(&k, false);
                true
            }
            None => false,
        }
    }

    /// Whether `key` holds a value.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("user", "ada")?;
    /// assert!(session.contains("user"));
    /// assert!(!session.contains("cart"));
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn contains(&self, key: &str) -> bool {
        self.changes.data.contains_key(key)
    }

    /// The keys, in no particular order.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("a", 1)?;
    /// session.insert("b", 2)?;
    /// let mut keys: Vec<&str> = session.keys().collect();
    /// keys.sort_unstable();
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.changes.data.keys().map(String::as_str)
    }

    /// Number of keys.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// assert_eq!(session.len(), 0);
    /// session.insert("a", 1)?;
    /// assert_eq!(session.len(), 1);
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.changes.data.len()
    }

    /// Whether the session holds no data.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// assert!(session.is_empty());
    /// session.insert("a", 1)?;
    /// assert!(!session.is_empty());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.changes.data.is_empty()
    }

    /// Removes every key this request can see. Keys another request adds
    /// concurrently survive: a clear is a removal of each known key.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.insert("a", 1)?;
    /// session.clear();
    /// assert!(session.is_empty());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn clear(&mut self) {
        let keys: Vec<String> = self.changes.data.drain().map(|(k, _)| k).collect();
        for k in &keys {
            self.mark(k, false);
        }
        self.size = 0;
    }

    /// Moves the data to a new id when the handler succeeds; the old id
    /// stops working at once. Call it at login, to defeat session fixation.
    ///
    /// The data is kept, so what a visitor put in the session before
    /// signing in (a cart, say) stays; to start clean, call
    /// [`clear`](Self::clear) first.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// // At login: start clean (no pre-login data kept), then a new id.
    /// let mut session = Session::detached();
    /// session.clear();
    /// session.cycle_id();
    /// session.insert("user", "ada")?;
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn cycle_id(&mut self) {
        if self.action != Action::Destroy {
            self.action = Action::Cycle;
            // A CSRF token bound to the session before login is not kept
            // past it (see `Sessions::csrf_token`).
            self.remove(crate::csrf::SESSION_KEY);
        }
    }

    /// Ends the session when the handler succeeds: the store entry is
    /// deleted and the cookie removed. Call it at logout.
    ///
    /// Anything inserted after `destroy` in the same request is dropped with
    /// the session: to greet a logged-out user with a message, put it in
    /// the response, not in the session.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// // At logout:
    /// let mut session = Session::detached();
    /// session.insert("user", "ada")?;
    /// session.destroy();
    /// assert!(session.is_empty());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn destroy(&mut self) {
        self.changes.data.clear();
        self.changes.changed.clear();
        self.size = 0;
        self.action = Action::Destroy;
    }

    /// Signs the session in as `user` (your user id, 1 to
    /// [`MAX_USER_BYTES`](crate::MAX_USER_BYTES) bytes) when the handler
    /// succeeds, so that [`Sessions::user_sessions`](crate::Sessions::user_sessions)
    /// lists it and [`Sessions::revoke`](crate::Sessions::revoke) can end it.
    ///
    /// Call it at login, together with [`cycle_id`](Self::cycle_id). The
    /// session gets a new [`handle`](Self::handle), which stays the same
    /// across `cycle_id` and renewal; signing in again as the same user
    /// keeps it. The association ends with the session.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// session.cycle_id();
    /// session.set_user("ada")?;
    /// assert_eq!(session.user(), Some("ada"));
    /// assert!(session.handle().is_some());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::TooLong`] or [`SessionError::Invalid`] for an empty
    /// or too long user id; [`SessionError::Random`] if the OS random
    /// generator fails.
    pub fn set_user(&mut self, user: &str) -> Result<(), SessionError> {
        if self.action == Action::Destroy {
            return Ok(());
        }
        if self.user() == Some(user) {
            return Ok(());
        }
        self.changes.owner = Some(Owner::sign_in(user)?);
        self.changes.owner_changed = true;
        Ok(())
    }

    /// The user the session is signed in as, if any.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// assert_eq!(Session::detached().user(), None);
    /// ```
    pub fn user(&self) -> Option<&str> {
        self.changes.owner.as_ref().map(|o| o.user.as_str())
    }

    /// The session's public handle, once it is signed in: the `handle` of
    /// its entry in [`Sessions::user_sessions`](crate::Sessions::user_sessions),
    /// so a page can mark "this device".
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// let mut session = Session::detached();
    /// assert!(session.handle().is_none());
    /// session.set_user("ada")?;
    /// let handle = session.handle().cloned();
    /// session.set_user("ada")?; // the same user: the same handle
    /// assert_eq!(session.handle(), handle.as_ref());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn handle(&self) -> Option<&Handle> {
        self.changes.owner.as_ref().map(|o| &o.handle)
    }

    /// Sets the label a listing shows for this signed-in session (a device
    /// or browser name), at most [`MAX_LABEL_BYTES`](crate::MAX_LABEL_BYTES)
    /// bytes.
    ///
    /// ```
    /// use hyper_session::{Session, SessionError};
    ///
    /// let mut session = Session::detached();
    /// assert!(matches!(session.set_label("Firefox"), Err(SessionError::NotSignedIn)));
    /// session.set_user("ada")?;
    /// session.set_label("Firefox on Linux")?;
    /// assert_eq!(session.label(), Some("Firefox on Linux"));
    /// assert!(session.set_label(&"x".repeat(257)).is_err());
    /// # Ok::<(), SessionError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SessionError::NotSignedIn`] before [`set_user`](Self::set_user);
    /// [`SessionError::TooLong`] past the limit (the label is unchanged).
    pub fn set_label(&mut self, label: &str) -> Result<(), SessionError> {
        check_len("label", label, MAX_LABEL_BYTES)?;
        let owner = self
            .changes
            .owner
            .as_mut()
            .ok_or(SessionError::NotSignedIn)?;
        if owner.label.as_deref() != Some(label) {
            owner.label = Some(label.to_owned());
            self.changes.owner_changed = true;
        }
        Ok(())
    }

    /// The label of this signed-in session, if set.
    pub fn label(&self) -> Option<&str> {
        self.changes.owner.as_ref().and_then(|o| o.label.as_deref())
    }

    /// Whether this request started without a stored session.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// assert!(Session::detached().is_new());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn is_new(&self) -> bool {
        !matches!(self.origin, Origin::Loaded(_))
    }

    /// A short, non-secret name of the stored session for logs: eight hex
    /// digits of the hash the store keys it by. `None` before it is stored.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// // Only a stored session has one; log it instead of the id.
    /// assert!(Session::detached().fingerprint().is_none());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        match &self.origin {
            Origin::Loaded(l) => Some(l.key.fingerprint()),
            _ => None,
        }
    }

    /// When the stored session ends if left idle, as the server enforces it.
    /// `None` before it is stored.
    ///
    /// ```
    /// use hyper_session::Session;
    ///
    /// assert!(Session::detached().expires_at().is_none());
    /// # Ok::<(), hyper_session::SessionError>(())
    /// ```
    pub fn expires_at(&self) -> Option<SystemTime> {
        match &self.origin {
            Origin::Loaded(l) => Some(UNIX_EPOCH + Duration::from_millis(l.expires_at)),
            _ => None,
        }
    }

    /// Records that `key` changed; `replaced`: a value it held was
    /// overwritten.
    fn mark(&mut self, key: &str, replaced: bool) {
        // A new session is written whole at its first commit, and a
        // detached one never: only a stored session's commit reads which
        // keys changed, so only it pays for the copy of the key.
        if matches!(self.origin, Origin::Loaded(_)) && !self.changes.changed.contains(key) {
            // A key's first change this request: the value it replaced
            // was the stored one.
            self.changes.overwrites |= replaced;
            self.changes.changed.push(key.to_owned());
        }
    }

    /// The session's size, if it was loaded over the limit.
    pub(crate) fn over_limit(&self) -> Option<usize> {
        (self.size > self.max_bytes).then_some(self.size)
    }

    /// What the commit must do, in one summary: the only thing the manager
    /// reads of a finished session. Borrows it: the session stays where the
    /// request's future holds it, instead of being copied into each future
    /// on the way to the store.
    pub(crate) fn plan(&mut self) -> Plan<'_> {
        let changes = &mut self.changes;
        match (&self.origin, self.action) {
            (Origin::Detached, _) => Plan::Nothing,
            (Origin::New { stale }, Action::Destroy) => Plan::Forget {
                stale: *stale,
                others: &self.others,
            },
            (Origin::New { .. }, _) if changes.data.is_empty() && changes.owner.is_none() => {
                Plan::Nothing
            }
            (Origin::New { .. }, _) => Plan::Create(changes),
            (Origin::Loaded(loaded), Action::Destroy) => Plan::Destroy {
                loaded,
                others: &self.others,
                owner: changes.owner.as_ref(),
            },
            (Origin::Loaded(loaded), action) => Plan::Save {
                loaded,
                changes,
                cycle: action == Action::Cycle,
            },
        }
    }
}

/// A finished session, as the commit sees it.
#[derive(Debug)]
pub(crate) enum Plan<'a> {
    /// Detached, or new and never written: no store call, no cookie.
    Nothing,
    /// `destroy` on a request without a live session; `stale` says the
    /// browser holds a dead cookie of ours, which the commit removes, and
    /// `others` are genuine ids it carried that were not loaded.
    Forget { stale: bool, others: &'a [StoreKey] },
    /// A new session with data (or signed in): store it under a fresh id.
    Create(&'a mut Changes),
    /// `destroy` on a stored session, and on every other genuine id the
    /// request carried; `owner` is who it was signed in as.
    Destroy {
        loaded: &'a Loaded,
        others: &'a [StoreKey],
        owner: Option<&'a Owner>,
    },
    /// A stored session: write the changed keys (if any), and move it to a
    /// new id when `cycle` (or when renewal is due).
    Save {
        loaded: &'a Loaded,
        changes: &'a mut Changes,
        cycle: bool,
    },
}

/// The keys a request changed, in order. Most requests change one key:
/// held inline, that one costs no list (`benches/instructions.rs`).
#[derive(Debug, Clone, Default)]
pub(crate) enum ChangedKeys {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl ChangedKeys {
    fn contains(&self, key: &str) -> bool {
        self.iter().any(|k| k == key)
    }

    fn push(&mut self, key: String) {
        *self = match std::mem::take(self) {
            Self::None => Self::One(key),
            Self::One(first) => Self::Many(vec![first, key]),
            Self::Many(mut keys) => {
                keys.push(key);
                Self::Many(keys)
            }
        };
    }

    fn clear(&mut self) {
        *self = Self::None;
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::None)
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::None => 0,
            Self::One(_) => 1,
            Self::Many(keys) => keys.len(),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&String>, &[String]) = match self {
            Self::None => (None, &[]),
            Self::One(key) => (Some(key), &[]),
            Self::Many(keys) => (None, keys),
        };
        one.into_iter().chain(many).map(String::as_str)
    }
}

/// The data of a stored session after the handler, and which keys changed.
#[derive(Debug)]
pub(crate) struct Changes {
    data: SessionData,
    changed: ChangedKeys,
    /// A key this request changed held a value when the session was
    /// loaded, and was written over ([`Update::overwrites`]).
    overwrites: bool,
    owner: Option<Owner>,
    owner_changed: bool,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.changed.is_empty() && !self.owner_changed
    }

    /// How many keys changed.
    pub(crate) fn changed(&self) -> usize {
        self.changed.len()
    }

    /// The one value written, when that is the whole change (no key
    /// removed, the owner unchanged): the common commit, which the memory
    /// store applies without an [`Update`].
    pub(crate) fn only_value(&self) -> Option<(&str, &str)> {
        match &self.changed {
            ChangedKeys::One(key) if !self.owner_changed => self
                .data
                .get_key_value(key.as_str())
                .map(|(k, v)| (k.as_str(), v.as_str())),
            _ => None,
        }
    }

    /// The store update at `now`: each changed key written, or removed if
    /// gone, and the owner.
    pub(crate) fn update(&self, expires_at: u64, now: u64) -> Update<'_> {
        let mut update = Update::at(expires_at, now).owned_by(self.owner.as_ref());
        update.owner_changed = self.owner_changed;
        update.set = Vec::with_capacity(self.changed.len());
        for key in self.changed.iter() {
            match self.data.get(key) {
                Some(value) => update.set.push((key, value)),
                None => update.remove.push(key),
            }
        }
        update.overwrites = self.overwrites && !update.set.is_empty();
        update
    }

    /// The whole session as a record, for a store that has to write it
    /// whole; takes the data and owner out (the commit is their last use).
    pub(crate) fn take_record(&mut self, created_at: u64, now: u64, expires_at: u64) -> Record {
        let data = std::mem::take(&mut self.data);
        Record::new(data, created_at, now, expires_at).with_owner(self.owner.take())
    }
}

impl fmt::Debug for Session {
    // Values may be personal data and the id is a credential: show neither.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("fingerprint", &self.fingerprint())
            .field("keys", &self.changes.data.keys().collect::<Vec<_>>())
            .field("changed", &self.changes.changed.iter().collect::<Vec<_>>())
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session as loaded from the store, with no data.
    fn stored() -> Session {
        stored_with(SessionData::default())
    }

    fn stored_with(data: SessionData) -> Session {
        let id = crate::id::SessionId::from_bytes([7; 32]);
        let loaded = Loaded {
            key: id.store_key(),
            id,
            created_at: 1,
            renewed_at: 1,
            expires_at: u64::MAX,
            rotated: false,
        };
        Session::with_origin(Origin::Loaded(loaded), data, 4096)
    }

    /// Whether a commit writes over a value the session was loaded with:
    /// a new key written twice, or a removed key, does not.
    #[test]
    fn writes_over_loaded_values_are_told_apart() {
        let with_n = || {
            let mut data = SessionData::default();
            data.insert("n".to_owned(), "1".to_owned());
            stored_with(data)
        };
        let overwrites = |s: &Session| s.changes.update(7, 1).overwrites;

        let mut s = with_n();
        s.insert("m", 1).expect("fits");
        s.insert("m", 2).expect("fits");
        assert!(!overwrites(&s), "a new key, twice");
        s.insert("n", 2).expect("fits");
        assert!(overwrites(&s), "the loaded value of n");

        let mut s = with_n();
        s.insert("n", 1).expect("fits");
        assert!(!overwrites(&s), "the same value: no change at all");
        assert!(s.remove("n"));
        s.insert("n", 3).expect("fits");
        assert!(!overwrites(&s), "removed first: written as new");

        let mut s = with_n();
        s.insert("n", 2).expect("fits");
        assert!(s.remove("n"));
        assert!(!overwrites(&s), "nothing left to write");
    }

    #[test]
    fn equal_writes_are_not_changes() {
        let mut s = stored();
        s.insert("n", 1).expect("fits");
        s.changes.changed.clear();
        s.insert("n", 1).expect("fits");
        assert!(s.changes.changed.is_empty());
        s.insert("n", 2).expect("fits");
        assert_eq!(s.changes.changed.iter().collect::<Vec<_>>(), ["n"]);
    }

    #[test]
    fn changed_keys_keep_their_order_and_no_duplicates() {
        for first in ["n2", "a key longer than a String's 24 bytes"] {
            let mut s = stored();
            s.insert(first, 1).expect("fits");
            s.insert(first, 2).expect("fits");
            assert_eq!(s.changes.changed.iter().collect::<Vec<_>>(), [first]);
            s.insert("n", 1).expect("fits");
            s.insert(first, 3).expect("fits");
            assert_eq!(s.changes.changed.iter().collect::<Vec<_>>(), [first, "n"]);
        }
    }

    #[test]
    fn removals_and_clear_are_tracked() {
        let mut s = stored();
        s.insert("a", 1).expect("fits");
        s.insert("b", 2).expect("fits");
        assert!(s.remove("a"));
        assert!(!s.remove("a"));
        s.clear();
        let update = s.changes.update(7, 1);
        let mut removed = update.remove.clone();
        removed.sort_unstable();
        assert_eq!(removed, ["a", "b"]);
        assert!(update.set.is_empty());
        assert_eq!(s.size, 0);
    }

    #[test]
    fn the_size_limit_refuses_and_leaves_the_session_unchanged() {
        let mut s = Session::with_origin(Origin::New { stale: false }, SessionData::default(), 20);
        s.insert("k", "short").expect("fits");
        let err = s.insert("big", "x".repeat(30)).expect_err("too big");
        assert!(
            matches!(err, SessionError::TooLarge { limit: 20, .. }),
            "{err}"
        );
        assert!(!s.contains("big"));
        // Replacing a value frees its old size first.
        s.insert("k", "another").expect("fits");
    }

    #[test]
    fn a_session_over_the_limit_may_shrink_but_not_grow() {
        let data = SessionData::from_iter([("big".to_owned(), "x".repeat(40))]);
        let mut s = Session::with_origin(Origin::New { stale: false }, data, 20);
        assert!(s.insert("more", 1).is_err(), "growing past the limit");
        s.insert("big", "small").expect("shrinking is allowed");
        assert!(s.size <= 20);
    }

    #[test]
    fn wrong_types_are_errors() {
        let mut s = Session::detached();
        s.insert("name", "ada").expect("fits");
        let err = s.get::<u32>("name").expect_err("a string is not a u32");
        assert!(matches!(
            err,
            SessionError::WrongType {
                expected: "u32",
                ..
            }
        ));
        assert!(
            !err.to_string().contains("ada"),
            "the error must not quote the stored value: {err}"
        );
        assert_eq!(s.get::<u32>("missing").expect("absent is fine"), None);
    }
}
