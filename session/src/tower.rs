//! Sessions for services composed with tower: hyper-util's
//! `TowerToHyperService`, tonic, axum (feature `tower`).
//!
//! [`SessionLayer`] runs the request path of `#[with_session]` around an
//! inner service: the same [`SessionConfig`], the same manager, the same
//! skip headers and the same error response, through the same runtime
//! functions. The handler reaches the session through a [`SharedSession`]
//! in the request's extensions (with feature `axum`, an extractor).
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use hyper_session::{SessionConfig, SessionLayer, SharedSession};
//! use tower::{ServiceBuilder, ServiceExt as _};
//!
//! /// Checked at compile time, as the attribute's options are.
//! const APP: SessionConfig = SessionConfig::DEFAULT.with_secure(false).validated();
//!
//! async fn counter(req: Request<String>) -> Result<Response<String>, Infallible> {
//!     let session = req.extensions().get::<SharedSession>().expect("the layer is installed");
//!     let n = session.get::<u64>("n").ok().flatten().unwrap_or(0) + 1;
//!     let _ = session.insert("n", n);
//!     Ok(Response::new(n.to_string()))
//! }
//!
//! let service = ServiceBuilder::new()
//!     .layer(SessionLayer::new(&APP))
//!     .service_fn(counter);
//! let response = service.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.body(), "1");
//! assert!(response.headers()["set-cookie"].to_str()?.starts_with("sid="));
//! # Ok(())
//! # }
//! ```
//!
//! # The same as the attribute
//!
//! | `#[with_session(...)]` | layer |
//! | --- | --- |
//! | options, `config = PATH` | [`SessionLayer::new(&CONFIG)`](SessionLayer::new) |
//! | `manager = EXPR` | [`.with_manager(sessions)`](SessionLayer::with_manager) |
//! | `on_error = path` | [`.on_error(path)`](SessionLayer::on_error) |
//! | `session: &mut Session` | [`SharedSession`] from the request's extensions |
//!
//! As with the attribute, a response is committed whatever its status, and
//! an `Err` from the inner service commits nothing (and passes through
//! untouched).

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::SessionConfig;
use crate::error::{RequestError, SessionError};
use crate::id::Fingerprint;
use crate::manager::Sessions;
use crate::response::{commit, commit_now, failed, service_unavailable, ErrorBody};
use crate::session::Session;

/// A [`Layer`] that loads the session before the inner service and commits
/// it after, appending `Set-Cookie`; see the [module docs](self).
///
/// Holds only configuration, and clones cheaply: a `&'static` config, the
/// manager (one `Arc`) and the error hook.
///
/// # Example
///
/// ```
/// use hyper_session::{MemoryStore, RequestError, SessionConfig, SessionLayer, Sessions};
///
/// const APP: SessionConfig = SessionConfig::DEFAULT
///     .with_cookie_name("app")
///     .with_max_age(3600)
///     .validated();
///
/// fn teapot(_: &RequestError) -> http::Response<String> {
///     let mut response = http::Response::new("try again".to_owned());
///     *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
///     response
/// }
///
/// let sessions = Sessions::builder().store(MemoryStore::new()).build()?;
/// let layer = SessionLayer::new(&APP).with_manager(sessions).on_error(teapot);
/// # let _ = layer;
/// # Ok::<(), hyper_session::BuildError>(())
/// ```
#[derive(Clone)]
pub struct SessionLayer<H = ServiceUnavailable> {
    config: &'static SessionConfig,
    /// `None`: the process default, looked up per request as the attribute
    /// does, so that [`Sessions::install`] may come after the layer is built.
    manager: Option<Sessions>,
    on_error: H,
}

impl SessionLayer {
    /// A layer with these options, the process default manager and the
    /// default error response (503).
    ///
    /// Give it a `const` built with [`SessionConfig::validated`], and a bad
    /// option is a compile error, as in the attribute. `new` checks again,
    /// so a config that skipped `validated` stops the program here, at
    /// start-up; in a `const` (`const LAYER: SessionLayer = ...`), that
    /// check is itself a compile error.
    ///
    /// # Panics
    ///
    /// When the options are inconsistent (see [`SessionConfig::check`]).
    pub const fn new(config: &'static SessionConfig) -> Self {
        if let Err(problem) = config.check() {
            panic!("{}", problem.message());
        }
        Self {
            config,
            manager: None,
            on_error: ServiceUnavailable,
        }
    }
}

impl<H> SessionLayer<H> {
    /// Uses this manager instead of the process default (the attribute's
    /// `manager = EXPR`).
    pub fn with_manager(mut self, manager: Sessions) -> Self {
        self.manager = Some(manager);
        self
    }

    /// Answers with `hook`'s response when the session cannot be loaded or
    /// saved (the attribute's `on_error = path`): a function or closure
    /// `Fn(&RequestError) -> Response<B>`, `B` the inner service's body.
    pub fn on_error<E>(self, hook: E) -> SessionLayer<E> {
        SessionLayer {
            config: self.config,
            manager: self.manager,
            on_error: hook,
        }
    }

    /// The options this layer applies.
    pub fn config(&self) -> &'static SessionConfig {
        self.config
    }
}

impl<S, H: Clone> Layer<S> for SessionLayer<H> {
    type Service = SessionService<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The response a [`SessionLayer`] sends when the session cannot be loaded
/// or saved; implemented for [`ServiceUnavailable`] and for every
/// `Fn(&RequestError) -> Response<B>`.
pub trait ErrorResponse<B> {
    /// The response for `error`; the failure itself is logged already.
    fn error_response(&self, error: &RequestError) -> Response<B>;
}

/// The default error response: [`service_unavailable`] (503,
/// `Retry-After: 1`), for bodies that implement [`ErrorBody`]. For another
/// body type, give the layer a hook with [`SessionLayer::on_error`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceUnavailable;

impl<B: ErrorBody> ErrorResponse<B> for ServiceUnavailable {
    fn error_response(&self, error: &RequestError) -> Response<B> {
        service_unavailable(error)
    }
}

impl<B, F: Fn(&RequestError) -> Response<B>> ErrorResponse<B> for F {
    fn error_response(&self, error: &RequestError) -> Response<B> {
        self(error)
    }
}

/// The [`Service`] a [`SessionLayer`] wraps around `S`.
#[derive(Clone)]
pub struct SessionService<S, H = ServiceUnavailable> {
    inner: S,
    layer: SessionLayer<H>,
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
    H: ErrorResponse<ResBody> + Clone + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // `poll_ready` readied `self.inner`, not a clone of it: keep the
        // ready one for this request and leave the clone for the next.
        let clone = self.inner.clone();
        let mut inner = mem::replace(&mut self.inner, clone);
        let SessionLayer {
            config,
            manager,
            on_error,
        } = self.layer.clone();
        let hook = move |error: &RequestError| on_error.error_response(error);
        ResponseFuture {
            inner: Box::pin(async move {
                let manager = match manager {
                    Some(manager) => manager,
                    None => match Sessions::global() {
                        Ok(manager) => manager.clone(),
                        Err(error) => return Ok(failed(&error.into(), hook)),
                    },
                };
                let session = match manager.load(config, req.headers()).await {
                    Ok(session) => session,
                    Err(error) => return Ok(failed(&error, hook)),
                };
                let shared = SharedSession::new(session);
                let mut slot = EmptiedOnDrop(Some(shared.clone()));
                req.extensions_mut().insert(shared);
                let mut output = inner.call(req).await;
                // From here on the handle is empty: a write through a copy
                // kept elsewhere fails loudly instead of being lost.
                if let Some(mut session) = slot.take() {
                    if !commit_now(&manager, config, &mut session, &mut output, &hook) {
                        commit(&manager, config, &mut session, &mut output, hook).await;
                    }
                }
                output
            }),
        }
    }
}

/// Empties the handle when the request's future ends without reaching the
/// commit (cancelled by a client that went away, or a panic), so that
/// copies kept elsewhere fail loudly then too.
struct EmptiedOnDrop(Option<SharedSession>);

impl EmptiedOnDrop {
    /// Empties the handle now, for the commit; the drop then has nothing
    /// left to do (no second lock).
    fn take(&mut self) -> Option<Session> {
        self.0.take().and_then(|shared| shared.take())
    }
}

impl Drop for EmptiedOnDrop {
    fn drop(&mut self) {
        self.take();
    }
}

/// The future of a [`SessionService`].
///
/// Boxed inside: loading and committing are `async fn`s over the store's
/// own boxed futures, whose types cannot be named on stable Rust, so a
/// hand-written state machine would need two boxes where this needs one.
/// The name stays if the box goes.
pub struct ResponseFuture<T, E> {
    inner: Pin<Box<dyn Future<Output = Result<T, E>> + Send>>,
}

impl<T, E> Future for ResponseFuture<T, E> {
    type Output = Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// The session of one request, as a [`SessionLayer`] hands it to the inner
/// service: in the request's extensions, and with feature `axum` as an
/// extractor (`async fn h(session: SharedSession)`).
///
/// A cheap handle (one `Arc`) to the [`Session`] the layer loaded. Each
/// method locks it briefly, never across an `.await`. When the inner
/// service returns, the layer takes the session out to commit it: from
/// then on, every use of a handle kept elsewhere (in a spawned task, in a
/// streaming body) fails with [`SessionError::Committed`] and logs a
/// warning, rather than being lost without a trace; so does every use after
/// the request ended without a commit (an `Err`, a cancelled request).
///
/// # Example
///
/// ```
/// use hyper_session::{Session, SessionError, SharedSession};
///
/// // Helpers written for `#[with_session]` handlers work here too.
/// fn count(session: &mut Session) -> Result<u64, SessionError> {
///     let n = session.get::<u64>("n")?.unwrap_or(0) + 1;
///     session.insert("n", n)?;
///     Ok(n)
/// }
///
/// fn handler(session: &SharedSession) -> Result<u64, SessionError> {
///     session.insert("user", "ada")?;
///     session.with(count)?
/// }
/// # let _ = handler;
/// ```
#[derive(Clone)]
pub struct SharedSession(Arc<Mutex<Option<Session>>>);

impl SharedSession {
    fn new(session: Session) -> Self {
        // Put in place once the handle exists: built whole, the session
        // was copied three times on its way into the `Arc`.
        let shared = Self(Arc::new(Mutex::new(None)));
        *shared.lock() = Some(session);
        shared
    }

    /// Empties the handle, for the commit.
    fn take(&self) -> Option<Session> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Session>> {
        // A panic elsewhere while the lock was held leaves a session no
        // worse than a panicking `&mut Session` handler would: go on.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the session, under the lock: several operations at once,
    /// or a helper written for `&mut Session`. Do not use the same session
    /// handle inside `f` (the lock is not reentrant).
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the layer committed the session.
    pub fn with<R>(&self, f: impl FnOnce(&mut Session) -> R) -> Result<R, SessionError> {
        let mut slot = self.lock();
        match slot.as_mut() {
            Some(session) => Ok(f(session)),
            None => {
                drop(slot);
                tracing::warn!(
                    "session used after the response was sent (a handle kept in a spawned task or a response body): the change is lost; use the session before the handler returns"
                );
                Err(SessionError::Committed)
            }
        }
    }

    /// [`Session::get`]: reads `key` as a `T`.
    ///
    /// # Errors
    ///
    /// [`SessionError::WrongType`] when the stored value is not a `T`;
    /// [`SessionError::Committed`] after the commit.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.with(|s| s.get(key))?
    }

    /// [`Session::insert`]: stores `value` under `key`.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`], and [`SessionError::Committed`] after the
    /// commit.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        self.with(|s| s.insert(key, value))?
    }

    /// [`Session::remove`]: removes `key`; returns whether it was there.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn remove(&self, key: &str) -> Result<bool, SessionError> {
        self.with(|s| s.remove(key))
    }

    /// [`Session::contains`]: whether `key` holds a value.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn contains(&self, key: &str) -> Result<bool, SessionError> {
        self.with(|s| s.contains(key))
    }

    /// [`Session::keys`]: the keys, in no particular order.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn keys(&self) -> Result<Vec<String>, SessionError> {
        self.with(|s| s.keys().map(str::to_owned).collect())
    }

    /// [`Session::clear`]: removes every key this request can see.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn clear(&self) -> Result<(), SessionError> {
        self.with(Session::clear)
    }

    /// [`Session::cycle_id`]: moves the data to a new id at the commit; call
    /// it at login.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn cycle_id(&self) -> Result<(), SessionError> {
        self.with(Session::cycle_id)
    }

    /// [`Session::destroy`]: ends the session at the commit; call it at
    /// logout.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn destroy(&self) -> Result<(), SessionError> {
        self.with(Session::destroy)
    }

    /// [`Session::is_new`]: whether this request started without a stored
    /// session.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn is_new(&self) -> Result<bool, SessionError> {
        self.with(|s| s.is_new())
    }

    /// [`Session::fingerprint`]: a short, non-secret name for logs.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn fingerprint(&self) -> Result<Option<Fingerprint>, SessionError> {
        self.with(|s| s.fingerprint())
    }

    /// [`Session::expires_at`]: when the stored session ends if left idle.
    ///
    /// # Errors
    ///
    /// [`SessionError::Committed`] after the commit.
    pub fn expires_at(&self) -> Result<Option<SystemTime>, SessionError> {
        self.with(|s| s.expires_at())
    }
}

// The hook is often a closure, which has no `Debug`: not shown.
impl<H> fmt::Debug for SessionLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", self.config)
            .field("manager", &self.manager)
            .finish_non_exhaustive()
    }
}

impl<S: fmt::Debug, H> fmt::Debug for SessionService<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .field("cookie", &self.layer.config.cookie_name())
            .finish_non_exhaustive()
    }
}

impl<T, E> fmt::Debug for ResponseFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl fmt::Debug for SharedSession {
    // The session's own `Debug` shows no values and no id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.try_lock() {
            Ok(slot) => match &*slot {
                Some(session) => f.debug_tuple("SharedSession").field(session).finish(),
                None => f.write_str("SharedSession(<committed>)"),
            },
            Err(_) => f.write_str("SharedSession(<in use>)"),
        }
    }
}
