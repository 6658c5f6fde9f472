//! What a handler returns, how the session's outcome reaches the response,
//! and the response sent when the store fails.
//!
//! [`commit_now`], [`commit`] and [`failed`] are the end of the one request
//! path: the attribute's expansion (through `__private`) and the tower layer
//! both call them, so neither holds a copy of the commit logic.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use http::{Response, StatusCode};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt as _, Empty, Full};

use crate::config::SessionConfig;
use crate::error::RequestError;
use crate::manager::Sessions;
use crate::session::Session;

/// Step 5: commits the session if the handler (or inner service) produced a
/// response, whatever its status, and appends the session's `Set-Cookie` to
/// the response's own headers; an `Err` commits nothing and passes through
/// untouched. Step 6 when the store fails: the response is replaced by
/// `on_error`'s, and the failure is logged.
///
/// Works on the output where the caller holds it: passed in and returned,
/// it was one more copy, and room in the commit's future.
///
/// Call [`commit_now`] first: this is the commit that waits for the store,
/// for the commits that one leaves.
pub async fn commit<O: HandlerOutput>(
    manager: &Sessions,
    config: &SessionConfig,
    session: &mut Session,
    output: &mut O,
    on_error: impl FnOnce(&RequestError) -> Response<O::Body>,
) {
    if output.response_mut().is_none() {
        return;
    }
    let outcome = manager.commit_waiting(config, session).await;
    apply(outcome, output, on_error);
}

/// [`commit`] as a plain call where it cannot wait (the memory store, and
/// no logout or new id): done, and true; also true when the handler
/// returned an `Err` (nothing to commit). False when the caller must await
/// [`commit`] instead; nothing was done then.
pub fn commit_now<O: HandlerOutput>(
    manager: &Sessions,
    config: &SessionConfig,
    session: &mut Session,
    output: &mut O,
    on_error: impl FnOnce(&RequestError) -> Response<O::Body>,
) -> bool {
    if output.response_mut().is_none() {
        return true;
    }
    match manager.commit_now(config, session) {
        Some(outcome) => {
            apply(outcome, output, on_error);
            true
        }
        None => false,
    }
}

/// The commit's outcome on the response: its `Set-Cookie` appended to the
/// response's own headers, or the error response in its place.
fn apply<O: HandlerOutput>(
    outcome: Result<Option<HeaderValue>, RequestError>,
    output: &mut O,
    on_error: impl FnOnce(&RequestError) -> Response<O::Body>,
) {
    match outcome {
        Ok(Some(cookie)) => {
            if let Some(response) = output.response_mut() {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
        }
        Ok(None) => {}
        Err(error) => *output = O::from_response(failed(&error, on_error)),
    }
}

/// Step 6: logs why the session could not be loaded or saved, and builds
/// the error response.
pub fn failed<B>(
    error: &RequestError,
    on_error: impl FnOnce(&RequestError) -> Response<B>,
) -> Response<B> {
    tracing::error!(error = %error, "session could not be loaded or saved; sending the error response");
    on_error(error)
}

/// What a `#[with_session]` handler may return: `Response<B>` or
/// `Result<Response<B>, E>`. The session commits only on a response; an
/// `Err` commits nothing.
#[diagnostic::on_unimplemented(
    message = "a #[with_session] handler must return `Response<B>` or `Result<Response<B>, E>`, not `{Self}`",
    label = "this return type"
)]
pub trait HandlerOutput: Sized {
    /// The response body type.
    type Body;
    /// The response, if the handler succeeded.
    fn response_mut(&mut self) -> Option<&mut Response<Self::Body>>;
    /// Wraps a response the session layer made (the error response).
    fn from_response(response: Response<Self::Body>) -> Self;
}

impl<B> HandlerOutput for Response<B> {
    type Body = B;
    fn response_mut(&mut self) -> Option<&mut Response<B>> {
        Some(self)
    }
    fn from_response(response: Response<B>) -> Self {
        response
    }
}

impl<B, E> HandlerOutput for Result<Response<B>, E> {
    type Body = B;
    fn response_mut(&mut self) -> Option<&mut Response<B>> {
        self.as_mut().ok()
    }
    fn from_response(response: Response<B>) -> Self {
        Ok(response)
    }
}

/// Body types the default error response can be written in.
///
/// Implemented for the common hyper bodies; for another body type, either
/// implement this or give the attribute an `on_error = path` hook.
#[diagnostic::on_unimplemented(
    message = "the default session error response cannot build a `{Self}` body",
    note = "add `on_error = path::to::fn` to #[with_session], a `fn(&RequestError) -> Response<{Self}>`, or implement `hyper_session::ErrorBody` for it"
)]
pub trait ErrorBody {
    /// A body holding `message`, or an empty one if the type holds no data.
    fn from_message(message: &'static str) -> Self;
}

impl ErrorBody for Full<Bytes> {
    fn from_message(message: &'static str) -> Self {
        Full::new(Bytes::from_static(message.as_bytes()))
    }
}
impl ErrorBody for Empty<Bytes> {
    fn from_message(_: &'static str) -> Self {
        Empty::new()
    }
}
impl ErrorBody for String {
    fn from_message(message: &'static str) -> Self {
        message.to_owned()
    }
}
impl ErrorBody for Bytes {
    fn from_message(message: &'static str) -> Self {
        Bytes::from_static(message.as_bytes())
    }
}
impl ErrorBody for Vec<u8> {
    fn from_message(message: &'static str) -> Self {
        message.as_bytes().to_vec()
    }
}
impl<E: 'static> ErrorBody for BoxBody<Bytes, E> {
    fn from_message(message: &'static str) -> Self {
        Full::<Bytes>::from_message(message)
            .map_err(|never| match never {})
            .boxed()
    }
}
impl<E: 'static> ErrorBody for UnsyncBoxBody<Bytes, E> {
    fn from_message(message: &'static str) -> Self {
        Full::<Bytes>::from_message(message)
            .map_err(|never| match never {})
            .boxed_unsync()
    }
}

/// The default failure response: `503 Service Unavailable`,
/// `Retry-After: 1`, and a short plain-text body. The cause goes to the log,
/// not to the client.
///
/// # Example
///
/// ```
/// use http_body_util::Full;
/// use bytes::Bytes;
/// use hyper_session::{service_unavailable, RequestError, StoreError};
///
/// let error = RequestError::Store(StoreError::Timeout(Default::default()));
/// let response = service_unavailable::<Full<Bytes>>(&error);
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "1");
/// ```
pub fn service_unavailable<B: ErrorBody>(_error: &RequestError) -> Response<B> {
    let mut response = Response::new(B::from_message(
        "session store unavailable; try again shortly\n",
    ));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
