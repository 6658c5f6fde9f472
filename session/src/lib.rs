//! Secure server-side sessions for raw [hyper] 1.x servers, through one
//! attribute macro.
//!
//! Only a signed random id lives in the cookie; the data lives on the server
//! in a [`SessionStore`](store::SessionStore): in memory by default ([`MemoryStore`]), in Redis
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
//! # With tower and axum
//!
//! Feature `tower` adds `SessionLayer`, the same sessions for services
//! composed with tower (hyper-util's `TowerToHyperService`, tonic, axum):
//! the same [`SessionConfig`] (a `const`, checked at compile time), the same
//! manager, skip headers and error response, through the same load and
//! commit as the attribute. The inner service finds a `SharedSession` in the
//! request's extensions; feature `axum` makes it an extractor,
//! `async fn handler(session: SharedSession)`. The `tower` and `axum`
//! modules show both, with examples that run.
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
//! processes, also a managed Redis over TLS with an ACL user, and a Redis
//! Cluster (one hash slot per session; logouts that wait for a replica, so
//! a failover cannot undo them); `PgStore` (feature `postgres`) keeps
//! sessions in the application's own PostgreSQL, and `SqliteStore`
//! (feature `sqlite`) in a file that survives restarts. Implement
//! [`SessionStore`](store::SessionStore) for your own.
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

#[cfg(feature = "axum")]
pub mod axum;
mod base64url;
mod config;
// Built for the crate's own unit tests too, so that `cargo test` checks the
// memory store against the suite whatever features are on.
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod cookie;
pub mod csrf;
mod data;
mod error;
mod expiry;
mod flash;
mod id;
mod manager;
mod owner;
mod response;
mod session;
mod sha256;
mod signing;
pub mod store;
#[cfg(feature = "tower")]
pub mod tower;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[doc(hidden)]
#[path = "bench_hooks.rs"]
pub mod __bench;

/// The README's Rust blocks, compiled and run as doctests so that the
/// README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

#[doc = include_str!("docs/with_session.md")]
#[doc(inline)]
pub use hyper_session_macros::with_session;

pub use config::{InvalidConfig, SameSite, SessionConfig, SkipHeader};
pub use csrf::{csrf_header, CsrfError, CsrfToken, CSRF_FIELD, CSRF_HEADER};
pub use error::{BuildError, RequestError, SessionError, StoreError, StoreUrlError};
pub use id::{Fingerprint, StoreKey};
pub use manager::{Sessions, SessionsBuilder};
pub use owner::{Handle, SessionInfo, MAX_LABEL_BYTES, MAX_USER_BYTES};
pub use response::{service_unavailable, ErrorBody, HandlerOutput};
pub use session::Session;
/// The `sqlx` this crate's SQL stores are built on, to make a pool of the
/// same version for `PgStore::from_pool` or `SqliteStore::from_pool`.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sqlx;
pub use store::memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use store::postgres::{PgStore, PgStoreBuilder};
#[cfg(feature = "redis")]
pub use store::redis::{RedisConfig, RedisStore};
#[cfg(feature = "sqlite")]
pub use store::sqlite::{SqliteStore, SqliteStoreBuilder};
#[cfg(feature = "tower")]
pub use tower::{SessionLayer, SharedSession};
