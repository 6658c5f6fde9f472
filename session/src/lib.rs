//! Secure server-side sessions for raw [hyper] 1.x servers, through one
//! attribute macro.
//!
//! Only a signed random id lives in the cookie; the data lives on the server
//! in a [`SessionStore`]: in memory by default ([`MemoryStore`]), in Redis
//! for several processes, or in any store you write.
//!
//! # Usage
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response};
//! use hyper_session::{with_session, Session};
//!
//! #[with_session(cookie = "sid", secure = false)]
//! async fn counter(
//!     _req: Request<hyper::body::Incoming>,
//!     session: &mut Session,
//! ) -> Result<Response<Full<Bytes>>, Infallible> {
//!     let n = session.get::<u64>("n").ok().flatten().unwrap_or(0) + 1;
//!     let _ = session.insert("n", n);
//!     Ok(Response::new(Full::from(n.to_string())))
//! }
//!
//! // The handler is a plain `async fn(Request<Incoming>) -> ...` again:
//! let _service = hyper::service::service_fn(counter);
//! ```
//!
//! The attribute reads the cookie, verifies its HMAC-SHA256 tag in constant
//! time, loads the session (one store call at most, none without a valid
//! cookie), runs the body, then writes only the keys that changed and
//! appends `Set-Cookie` when the id is new or must be refreshed. A session
//! that was never written creates nothing: no store entry, no cookie.
//!
//! # Security
//!
//! - 256-bit ids from the OS CSPRNG; the store is keyed by their SHA-256,
//!   so a store dump hands out no live session.
//! - Tampered, oversized or unknown cookies give a fresh session with a
//!   server-drawn id: a client never chooses its id (no fixation).
//! - The server enforces idle and absolute timeouts itself.
//! - Secrets are at least 32 bytes and never appear in `Debug` or logs;
//!   logs name sessions by a [`Fingerprint`] only.
//!
//! # Stores
//!
//! [`MemoryStore`] is the default: bounded in sessions, bytes and bytes per
//! session, and its eviction keeps the visitors who come back through a
//! flood of new ones. `RedisStore` (feature `redis`) serves several
//! processes. Implement [`SessionStore`] for your own.
//!
//! # Performance
//!
//! In process, the layer adds about 0.25 µs to a request without a cookie
//! and about 1.25 µs to a returning visitor's (cookie check, one store
//! lookup, a delta commit); the memory store holds a million sessions in
//! about 300 MiB. The README has the measurements, side by side with bare
//! hyper and tower-sessions, and the commands that reproduce them
//! (`session/benches/`, `benches/load.sh`).
//!
//! [hyper]: https://docs.rs/hyper

#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]

mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod cookie;
mod error;
mod expiry;
mod id;
mod manager;
mod response;
mod session;
mod signing;
mod store;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// Turns an async handler that takes `&mut Session` into a plain hyper
/// handler; see the crate's README for every option.
#[doc(inline)]
pub use hyper_session_macros::with_session;

pub use config::{
    ConfigProblem, SameSite, SessionConfig, SkipHeader, DEFAULT_ABSOLUTE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, MAX_DURATION,
};
pub use error::{ConfigError, SessionError, StoreError};
pub use id::{Fingerprint, StoreKey};
pub use manager::{Sessions, SessionsBuilder, DEFAULT_MAX_COOKIE_LEN, DEFAULT_STORE_TIMEOUT};
pub use response::{service_unavailable, ErrorBody, HandlerOutput};
pub use session::{Session, DEFAULT_MAX_SESSION_BYTES};
pub use signing::{Secret, MIN_SECRET_LEN};
pub use store::memory::{MemoryStore, DEFAULT_CAPACITY, DEFAULT_MAX_BYTES};
#[cfg(feature = "redis")]
pub use store::redis::RedisStore;
pub use store::{Record, SessionStore, Update};
