//! Sessions in axum handlers (feature `axum`; needs only `axum-core`).
//!
//! Install [`SessionLayer`] on the `Router`, then take a [`SharedSession`]
//! as a handler argument. [`SessionError`] renders as a 500, so handlers
//! can use `?`; a handler whose route the layer does not wrap gets
//! [`MissingSessionLayer`], a 500 that says so.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{routing::get, Router};
//! use hyper_session::{SessionConfig, SessionError, SessionLayer, SharedSession};
//! use tower::ServiceExt as _;
//!
//! const APP: SessionConfig = SessionConfig::DEFAULT.with_secure(false).validated();
//!
//! async fn counter(session: SharedSession) -> Result<String, SessionError> {
//!     let n = session.get::<u64>("n")?.unwrap_or(0) + 1;
//!     session.insert("n", n)?;
//!     Ok(n.to_string())
//! }
//!
//! let app = Router::new()
//!     .route("/", get(counter))
//!     .layer(SessionLayer::new(&APP));
//! let response = app.oneshot(http::Request::new(axum::body::Body::empty())).await?;
//! assert_eq!(response.status(), 200);
//! assert!(response.headers()["set-cookie"].to_str()?.starts_with("sid="));
//! # Ok(())
//! # }
//! ```
//!
//! `#[with_session]` works on axum handlers too, when they take the whole
//! `Request` (`axum::extract::Request`, as the last argument) and return a
//! response: the session is then the attribute's own, no layer needed.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::extract::Request;
//! use axum::response::Response;
//! use axum::{routing::get, Router};
//! use hyper_session::{with_session, Session};
//! use tower::ServiceExt as _;
//!
//! #[with_session(secure = false)]
//! async fn counter(_req: Request, session: &mut Session) -> Response {
//!     let n = session.get::<u64>("n").ok().flatten().unwrap_or(0) + 1;
//!     let _ = session.insert("n", n);
//!     Response::new(n.to_string().into())
//! }
//!
//! let app = Router::new().route("/", get(counter));
//! let response = app.oneshot(Request::new(axum::body::Body::empty())).await?;
//! assert!(response.headers()["set-cookie"].to_str()?.starts_with("sid="));
//! # Ok(())
//! # }
//! ```

use std::future::{ready, Future};

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::request::Parts;
use http::StatusCode;

use crate::error::SessionError;
use crate::response::ErrorBody;
#[cfg(doc)]
use crate::SessionLayer;
use crate::SharedSession;

/// The session of a request that a [`SessionLayer`] wraps.
impl<S> FromRequestParts<S> for SharedSession {
    type Rejection = MissingSessionLayer;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(
            parts
                .extensions
                .get::<SharedSession>()
                .cloned()
                .ok_or(MissingSessionLayer),
        )
    }
}

/// A handler asked for a [`SharedSession`] on a route that no
/// [`SessionLayer`] wraps. Renders as `500 Internal Server Error` with this
/// message; the fix is in the code, so it is also logged at ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", MISSING_LAYER)]
#[non_exhaustive]
pub struct MissingSessionLayer;

const MISSING_LAYER: &str = "this handler takes a SharedSession, but no hyper_session::SessionLayer wraps its route: add `.layer(SessionLayer::new(&CONFIG))` to the Router (after the routes it must cover)";

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!("{MISSING_LAYER}");
        plain_text(StatusCode::INTERNAL_SERVER_ERROR, MISSING_LAYER)
    }
}

/// A failed session operation in a handler: `500 Internal Server Error`.
/// The error is logged; the client sees a generic message, since even key
/// names may say more than it should know.
impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "session operation failed in a handler");
        plain_text(StatusCode::INTERNAL_SERVER_ERROR, "session error\n")
    }
}

/// So that the default error response (503) works with axum's `Router`.
impl ErrorBody for Body {
    fn from_message(message: &'static str) -> Self {
        Body::from(message)
    }
}

fn plain_text(status: StatusCode, message: &'static str) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
