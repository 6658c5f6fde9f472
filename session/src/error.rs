//! Error types, one per concern.

use std::error::Error as StdError;

/// Building a [`Sessions`](crate::Sessions) manager failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The secret is shorter than 32 bytes.
    #[error("the session secret is {len} bytes; it must be at least 32 bytes (generate one with `openssl rand -base64 48`)")]
    SecretTooShort {
        /// Length of the secret given.
        len: usize,
    },
    /// A shared store was given without a secret.
    #[error("a shared session store needs an explicit secret, the same in every process: call `.secret(...)` on the builder (a random per-process key would reject every other process's cookies)")]
    SecretRequired,
    /// The OS random generator failed.
    #[error("the OS random generator failed: {0}")]
    Random(String),
    /// [`Sessions::install`](crate::Sessions::install) came too late.
    #[error("the default session manager is already in use; call `Sessions::install` once, at start-up, before serving requests")]
    AlreadyInstalled,
}

/// A session operation in a handler failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The stored value does not deserialize into the type asked for.
    #[error("session value `{key}` does not have the requested type: {source}")]
    WrongType {
        /// The key read.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The value could not be serialized.
    #[error("session value `{key}` could not be serialized: {source}")]
    Serialize {
        /// The key written.
        key: String,
        /// What serde said.
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
