//! Error types, one per concern.

use std::error::Error as StdError;

/// Building a [`Sessions`](crate::Sessions) manager failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The secret is shorter than [`Sessions::MIN_SECRET_LEN`](crate::Sessions::MIN_SECRET_LEN).
    #[error("the session secret is {len} bytes; it must be at least 32 bytes (generate one with `openssl rand -base64 48`)")]
    SecretTooShort {
        /// Length of the secret given.
        len: usize,
    },
    /// A shared store was given without a secret.
    #[error("a shared session store needs an explicit secret, the same in every process: call `.secret(...)` on the builder (a random per-process key would reject every other process's cookies)")]
    SecretRequired,
    /// The OS random generator failed while drawing a per-process key.
    #[error("the OS random generator failed while drawing a signing key: {0}")]
    Random(String),
    /// [`Sessions::install`](crate::Sessions::install) came too late.
    #[error("the default session manager is already in use; call `Sessions::install` once, at start-up, before serving requests")]
    AlreadyInstalled,
}

/// A session operation in a handler failed.
///
/// Messages name the key and the problem, never a stored value: session
/// data may be personal, and errors end up in logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The stored value does not deserialize into the type asked for.
    #[error("session value `{key}` is not a `{expected}`; read it as the type it was stored as")]
    WrongType {
        /// The key read.
        key: String,
        /// The Rust type asked for.
        expected: &'static str,
    },
    /// The value could not be serialized.
    #[error("session value `{key}` could not be serialized: {source}")]
    Serialize {
        /// The key written.
        key: String,
        /// What serde said (about the value's type, not its content).
        source: serde_json::Error,
    },
    /// The session would grow past the manager's size limit.
    #[error("session would be {size} bytes, above the limit of {limit} bytes; store less, or raise `max_session_bytes` on the manager")]
    TooLarge {
        /// Size the insert would have reached.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The session was used through the tower layer's `SharedSession`
    /// after the layer had committed it with the response (a handle kept in
    /// a spawned task or a streaming body), or after the request ended
    /// without a commit (the service failed, or the request was cancelled).
    #[error("the session was already saved with the response (or the request ended without saving it), so this use of it cannot take effect; use the session before the handler returns, not in a spawned task or a response body")]
    Committed,
    /// A user id or label is longer than its limit.
    #[error(
        "the session's {what} is {len} bytes, above the limit of {limit} bytes; use a shorter one"
    )]
    TooLong {
        /// What was too long: `"user id"` or `"label"`.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A user id or label was refused.
    #[error("the session's {what} was refused: {problem}")]
    Invalid {
        /// What was refused.
        what: &'static str,
        /// Why.
        problem: &'static str,
    },
    /// A label was set on a session that is not signed in.
    #[error("a label can only be set on a signed-in session; call `set_user` first")]
    NotSignedIn,
    /// The OS random generator failed while drawing a session handle.
    #[error("the OS random generator failed while drawing a session handle: {0}")]
    Random(String),
}

/// A session store failed; the request gets the error response (503 by default).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed or could not be reached.
    #[error("session store backend error: {0}")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
    /// The store did not answer within the manager's `store_timeout`.
    #[error("session store did not answer within {0:?}; is it running and reachable?")]
    Timeout(std::time::Duration),
    /// The store holds data this library did not write.
    #[error("session store returned malformed data: {0}")]
    Corrupt(String),
    /// The store lacks an optional capability the caller asked for.
    #[error("this session store does not support {capability}; use a store that does (see the Stores section of the hyper-session docs)")]
    Unsupported {
        /// The capability, e.g. `"sweeping expired sessions"`.
        capability: &'static str,
    },
    /// The store refused a session larger than its per-session limit or its
    /// whole byte budget; what was stored before is unchanged.
    #[error("session would be {size} bytes, above the store's limit of {limit} bytes; store less in the session, or raise the store's limit")]
    TooLarge {
        /// Size the session would have reached, in bytes of keys and values.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Backend(err.into())
    }
}

/// A request's session could not be loaded or saved; the request gets the
/// error response (503 by default, or the handler's `on_error`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The store failed or timed out.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random generator failed, so no session id could be drawn.
    #[error("the OS random generator failed, so no session id could be drawn: {0}")]
    Random(String),
    /// The process's default manager could not be built.
    #[error("the default session manager could not be built: {0}")]
    Manager(#[from] BuildError),
}

/// A `SESSION_STORE`-style URL could not be turned into a store; see
/// [`SessionsBuilder::store_url`](crate::SessionsBuilder::store_url).
///
/// No message repeats the URL: it may hold a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// The scheme is not one this crate knows.
    #[error(
        "unknown session store scheme `{scheme}`; expected `memory`, `redis://`, `rediss://`, `valkey://`, `valkeys://` (each also with `+cluster`, e.g. `redis+cluster://`), `postgres://`, `postgresql://` or `sqlite://`"
    )]
    UnknownScheme {
        /// The scheme given (the part before `://`).
        scheme: String,
    },
    /// The scheme is known, but its store was not compiled in.
    #[error("session store scheme `{scheme}` needs the `{feature}` feature of hyper-session; enable it in Cargo.toml (or run the examples with `--features {feature}`)")]
    FeatureDisabled {
        /// The scheme given.
        scheme: &'static str,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// The store could not be reached or refused the connection.
    #[error("cannot open the session store: {0}")]
    Connect(#[source] StoreError),
}
