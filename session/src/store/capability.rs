//! Optional store capabilities: powers a store may offer beyond the four
//! required methods, discovered by the manager through
//! [`SessionStore::capabilities`](super::SessionStore::capabilities).
//!
//! Each capability is one small object-safe trait. A store that offers one
//! implements the trait and names itself in its `capabilities()`; a store
//! that does not is unaffected when a capability is added to this crate.
//! Asking the manager for a missing capability gives
//! [`StoreError::Unsupported`].

use std::fmt;

use crate::error::StoreError;
use crate::id::StoreKey;
use crate::owner::{Handle, Owner, SessionInfo};
use crate::store::{BoxFuture, Update};

/// Removes expired entries on demand.
///
/// Stores that reclaim entries by themselves (Redis expires keys; the
/// memory store runs a sweeper thread) may still offer it, so that
/// [`Sessions::sweep`](crate::Sessions::sweep) can be called from a
/// maintenance task.
pub trait Sweep: Send + Sync {
    /// Removes every entry past its `expires_at`; returns how many.
    fn sweep(&self) -> BoxFuture<'_, Result<u64, StoreError>>;
}

/// Moves a live session to a new key in one step, for `cycle_id` and
/// renewal.
///
/// Without it the manager creates the new entry, deletes the old one, and
/// deletes the new one again if the old one was no longer alive: three
/// calls. With it, one.
pub trait AtomicMove: Send + Sync {
    /// Moves the live entry under `from` to `to` and applies `update` to it
    /// (changed keys, the new expiry and `renewed_at`), as one atomic step:
    /// afterwards `from` is gone and `to` holds the session. Returns
    /// `false`, and leaves nothing under `to`, when `from` was not alive
    /// (absent, expired, ended by a logout, or a fragment). `to` is a fresh
    /// random key that no entry uses.
    fn move_to<'a>(
        &'a self,
        from: &'a StoreKey,
        to: &'a StoreKey,
        update: &'a Update<'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// The per-user session index: "who is signed in where".
///
/// A store that offers it keeps, for each user, which of its live sessions
/// are signed in as that user ([`Record::owner`](super::Record::owner),
/// [`Update::new_owner`](super::Update::new_owner)), and finds them without
/// scanning the store: the cost of listing or revoking grows with the
/// user's sessions, never with the store.
///
/// The rules every implementation keeps (the conformance suite checks
/// them):
/// - a listing never shows an ended session (destroyed, expired, revoked,
///   or moved away from: a session appears once, under its handle);
/// - a revoked session is ended as `delete` ends it: its in-flight
///   requests commit nothing, and no move brings it back, even one racing
///   the revocation;
/// - a failure is an error, never a reported success.
pub trait UserIndex: Send + Sync {
    /// The live sessions signed in as `user`, in no particular order.
    /// Entries of ended sessions found on the way are pruned.
    fn list<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>>;

    /// Ends the sessions of `user` that `which` selects; returns how many
    /// live sessions it ended.
    fn revoke<'a>(
        &'a self,
        user: &'a str,
        which: Revoke<'a>,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Called by the manager after it deleted `key`, a session signed in as
    /// `owner` (a logout), so that a store whose index is kept apart from
    /// the sessions can drop its entry now rather than at the next listing.
    /// The default does nothing.
    fn forget<'a>(
        &'a self,
        owner: &'a Owner,
        key: &'a StoreKey,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (owner, key);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Which of a user's sessions [`UserIndex::revoke`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revoke<'a> {
    /// The one with this handle.
    One(&'a Handle),
    /// All of them.
    All,
    /// All but the one with this handle ("log out other devices").
    AllBut(&'a Handle),
}

impl Revoke<'_> {
    /// Whether the session with `handle` is to be ended.
    ///
    /// ```
    /// use hyper_session::store::Revoke;
    /// use hyper_session::Handle;
    ///
    /// let mine = Handle::parse("0123456789abcdef0123456789abcdef").unwrap();
    /// let other = Handle::parse("fedcba9876543210fedcba9876543210").unwrap();
    /// assert!(Revoke::AllBut(&mine).selects(&other));
    /// assert!(!Revoke::AllBut(&mine).selects(&mine));
    /// assert!(Revoke::One(&mine).selects(&mine));
    /// ```
    pub fn selects(&self, handle: &Handle) -> bool {
        match self {
            Revoke::One(h) => *h == handle,
            Revoke::All => true,
            Revoke::AllBut(h) => *h != handle,
        }
    }
}

/// The optional capabilities of one store: what
/// [`SessionStore::capabilities`](super::SessionStore::capabilities) returns.
///
/// ```
/// use hyper_session::store::{BoxFuture, Capabilities, Sweep};
/// use hyper_session::StoreError;
///
/// struct MyStore;
///
/// impl Sweep for MyStore {
///     fn sweep(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
///         Box::pin(async { Ok(0) }) // DELETE ... WHERE expires_at <= now
///     }
/// }
///
/// // In `impl SessionStore for MyStore`:
/// // fn capabilities(&self) -> Capabilities<'_> { Capabilities::none().with_sweep(self) }
/// let store = MyStore;
/// let caps = Capabilities::none().with_sweep(&store);
/// assert!(caps.sweep().is_some());
/// assert!(caps.atomic_move().is_none());
/// ```
#[derive(Clone, Copy, Default)]
pub struct Capabilities<'a> {
    sweep: Option<&'a dyn Sweep>,
    atomic_move: Option<&'a dyn AtomicMove>,
    user_index: Option<&'a dyn UserIndex>,
}

impl<'a> Capabilities<'a> {
    /// No optional capability: the default of every store.
    pub const fn none() -> Self {
        Self {
            sweep: None,
            atomic_move: None,
            user_index: None,
        }
    }

    /// Offers [`Sweep`].
    #[must_use]
    pub fn with_sweep(mut self, sweep: &'a dyn Sweep) -> Self {
        self.sweep = Some(sweep);
        self
    }

    /// Offers [`AtomicMove`].
    #[must_use]
    pub fn with_atomic_move(mut self, mover: &'a dyn AtomicMove) -> Self {
        self.atomic_move = Some(mover);
        self
    }

    /// Offers [`UserIndex`].
    #[must_use]
    pub fn with_user_index(mut self, index: &'a dyn UserIndex) -> Self {
        self.user_index = Some(index);
        self
    }

    /// [`UserIndex`], if offered.
    pub fn user_index(&self) -> Option<&'a dyn UserIndex> {
        self.user_index
    }

    /// [`Sweep`], if offered.
    pub fn sweep(&self) -> Option<&'a dyn Sweep> {
        self.sweep
    }

    /// [`AtomicMove`], if offered.
    pub fn atomic_move(&self) -> Option<&'a dyn AtomicMove> {
        self.atomic_move
    }
}

impl fmt::Debug for Capabilities<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("sweep", &self.sweep.is_some())
            .field("atomic_move", &self.atomic_move.is_some())
            .field("user_index", &self.user_index.is_some())
            .finish()
    }
}

/// Fails with [`StoreError::Unsupported`] naming `capability` when `cap`
/// is `None`.
pub(crate) fn require<T>(cap: Option<T>, capability: &'static str) -> Result<T, StoreError> {
    cap.ok_or(StoreError::Unsupported { capability })
}
