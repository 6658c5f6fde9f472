//! A small server-rendered site: a sign-in form, an account page with the
//! user's signed-in devices, flash messages and CSRF tokens. No JavaScript.
//!
//! ```text
//! cargo run --example web      # then open http://127.0.0.1:3000/
//! ```
//!
//! | route | does |
//! | --- | --- |
//! | `GET /` | the sign-in form (field `user`, 1 to 64 characters) |
//! | `POST /login` | signs in, new session id, flash "Signed in as NAME", 303 to `/account` |
//! | `GET /account` | "Signed in as NAME", the flash once, the user's devices; 303 to `/` if not signed in |
//! | `POST /sessions/revoke` | ends one of the user's other devices (field `handle`), 303 to `/account` |
//! | `POST /logout/others` | ends every other device, 303 to `/account` |
//! | `POST /logout` | ends the session, 303 to `/` with the removal cookie |
//!
//! Every form carries a CSRF token (field `csrf_token`); a POST without a
//! valid one answers 403 and changes nothing. Before sign-in the token is
//! a signed double-submit cookie, so the sign-in page creates no session.
//! HTML is escaped by maud. Pages that show session data send
//! `Cache-Control: no-store`, so the back button after a logout does not
//! show them from cache (and the account page asks again when Chrome
//! restores it from its back/forward cache: see `account`).
//!
//! Env: `ADDR` (default `127.0.0.1:3000`), `SESSION_SECRET`,
//! `SESSION_STORE` (and `SESSION_REDIS_CA`, `SESSION_REDIS_WAIT_MS`,
//! `SESSION_REDIS_DURABLE`), as in `examples/app.rs`.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE, USER_AGENT};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_session::{with_session, CsrfToken, Handle, Session, SessionConfig, Sessions};
use hyper_util::rt::TokioIo;
use maud::{html, Markup, DOCTYPE};
use tokio::net::TcpListener;

type Reply = Result<Response<Full<Bytes>>, Infallible>;

/// Plain HTTP on localhost, so not `Secure` (behind HTTPS, keep the default).
const WEB: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("sid")
    .with_secure(false)
    .with_idle_timeout(30 * 60);

const STYLE: &str =
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}\
.flash{background:#e6f4ea;border-left:4px solid #1e8e3e;padding:.5rem 1rem}\
li.device{margin:.6rem 0}li.device form,#others,#logout{display:inline-block;margin-left:.5rem}";

/// Reloads a page restored from the back/forward cache.
const RELOAD_IF_RESTORED: &str =
    "addEventListener('pageshow', function (e) { if (e.persisted) location.reload(); });";

/// Longest form body read.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The manager `main` installed (`global` fails only if none was and the
/// OS random generator fails while making one).
fn manager() -> Option<&'static Sessions> {
    Sessions::global().ok()
}

#[with_session(config = WEB)]
async fn home(req: Request<Incoming>, session: &mut Session) -> Reply {
    let Some(sessions) = manager() else {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
    };
    let Ok(token) = sessions.csrf_token(&WEB, session, req.headers()) else {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "no token"));
    };
    let flashes = session.take_flashes();
    let body = page(
        "Sign in",
        html! {
            (flash_list(&flashes))
            form method="post" action="/login" {
                label { "User name " input type="text" name="user" required minlength="1" maxlength="64"; }
                input type="hidden" name="csrf_token" value=(token.as_str());
                button type="submit" { "Sign in" }
            }
        },
    );
    Ok(with_token(html_page(body), &token))
}

#[with_session(config = WEB)]
async fn login(req: Request<Incoming>, session: &mut Session) -> Reply {
    let (parts, form) = match read_form(req).await {
        Ok(read) => read,
        Err(response) => return Ok(*response),
    };
    if let Err(refused) = check_csrf(session, &parts.headers, &form) {
        return Ok(*refused);
    }
    let user = field(&form, "user").unwrap_or_default();
    if !(1..=64).contains(&user.chars().count()) {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "a user name has 1 to 64 characters",
        ));
    }
    // A new id at login; the CSRF token bound to the old one goes with it.
    session.cycle_id();
    let signed_in = session
        .insert("user", user)
        .and_then(|()| session.set_user(user))
        .and_then(|()| session.flash(&format!("Signed in as {user}")));
    if signed_in.is_err() {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot sign in"));
    }
    if let Some(agent) = parts.headers.get(USER_AGENT) {
        // The device, as the account page lists it: the `User-Agent`, cut
        // to the longest label accepted.
        let agent = String::from_utf8_lossy(agent.as_bytes());
        let mut end = agent.len().min(hyper_session::MAX_LABEL_BYTES);
        while !agent.is_char_boundary(end) {
            end -= 1;
        }
        let _ = session.set_label(&agent[..end]);
    }
    Ok(see_other("/account"))
}

#[with_session(config = WEB)]
async fn account(req: Request<Incoming>, session: &mut Session) -> Reply {
    let (Some(user), Some(sessions)) = (session.user().map(str::to_owned), manager()) else {
        return Ok(see_other("/"));
    };
    let Ok(token) = sessions.csrf_token(&WEB, session, req.headers()) else {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "no token"));
    };
    let devices = match sessions.user_sessions(&user).await {
        Ok(devices) => devices,
        Err(e) => {
            tracing::warn!(error = %e, "listing sessions failed");
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "session store unavailable",
            ));
        }
    };
    let mine = session.handle().cloned();
    let flashes = session.take_flashes();
    let csrf = html! { input type="hidden" name="csrf_token" value=(token.as_str()); };
    let body = page(
        "Account",
        html! {
            p #who { "Signed in as " strong { (user) } }
            (flash_list(&flashes))
            h2 { "Signed-in devices" }
            ul #devices {
                @for device in &devices {
                    li.device data-handle=(device.handle.as_str()) {
                        (device.label.as_deref().unwrap_or("unknown device"))
                        @if Some(&device.handle) == mine.as_ref() {
                            " (this device)"
                        } @else {
                            form method="post" action="/sessions/revoke" {
                                (csrf)
                                input type="hidden" name="handle" value=(device.handle.as_str());
                                button type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
            form #others method="post" action="/logout/others" {
                (csrf)
                button type="submit" { "Sign out everywhere else" }
            }
            form #logout method="post" action="/logout" {
                (csrf)
                button type="submit" { "Sign out" }
            }
            // `no-store` keeps the page out of the HTTP cache, but Chrome
            // may still keep it in its back/forward cache and bring it back
            // after a logout (it evicts such pages only on cookie changes
            // made while they are cached, and the logout's change comes
            // with the very navigation that cached it). Asking the server
            // again on such a restore shows the signed-out page. The site
            // works without JavaScript; this only keeps stale pages away.
            script { (maud::PreEscaped(RELOAD_IF_RESTORED)) }
        },
    );
    Ok(html_page(body))
}

#[with_session(config = WEB)]
async fn revoke(req: Request<Incoming>, session: &mut Session) -> Reply {
    let (parts, form) = match read_form(req).await {
        Ok(read) => read,
        Err(response) => return Ok(*response),
    };
    if let Err(refused) = check_csrf(session, &parts.headers, &form) {
        return Ok(*refused);
    }
    let (Some(user), Some(sessions)) = (session.user().map(str::to_owned), manager()) else {
        return Ok(see_other("/"));
    };
    let handle = field(&form, "handle").and_then(Handle::parse);
    let message = match handle {
        Some(handle) if session.handle() != Some(&handle) => {
            match sessions.revoke(&user, &handle).await {
                Ok(true) => "Signed out one device",
                Ok(false) => "That device was already signed out",
                Err(e) => {
                    tracing::warn!(error = %e, "revoking a session failed");
                    return Ok(plain(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "session store unavailable",
                    ));
                }
            }
        }
        _ => "Use Sign out for this device",
    };
    let _ = session.flash(message);
    Ok(see_other("/account"))
}

#[with_session(config = WEB)]
async fn logout_others(req: Request<Incoming>, session: &mut Session) -> Reply {
    let (parts, form) = match read_form(req).await {
        Ok(read) => read,
        Err(response) => return Ok(*response),
    };
    if let Err(refused) = check_csrf(session, &parts.headers, &form) {
        return Ok(*refused);
    }
    let (Some(user), Some(mine), Some(sessions)) = (
        session.user().map(str::to_owned),
        session.handle().cloned(),
        manager(),
    ) else {
        return Ok(see_other("/"));
    };
    match sessions.revoke_others(&user, &mine).await {
        Ok(n) => {
            let _ = session.flash(&format!("Signed out {n} other device(s)"));
            Ok(see_other("/account"))
        }
        Err(e) => {
            tracing::warn!(error = %e, "revoking sessions failed");
            Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "session store unavailable",
            ))
        }
    }
}

#[with_session(config = WEB)]
async fn logout(req: Request<Incoming>, session: &mut Session) -> Reply {
    let (parts, form) = match read_form(req).await {
        Ok(read) => read,
        Err(response) => return Ok(*response),
    };
    if let Err(refused) = check_csrf(session, &parts.headers, &form) {
        return Ok(*refused);
    }
    session.destroy();
    Ok(see_other("/"))
}

/// A response that ends a request early (boxed: responses are large).
type Refusal = Box<Response<Full<Bytes>>>;

/// 403 unless the form's token is this visitor's.
fn check_csrf(
    session: &Session,
    headers: &hyper::HeaderMap,
    form: &[(String, String)],
) -> Result<(), Refusal> {
    let Some(sessions) = manager() else {
        return Err(Box::new(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        )));
    };
    let presented = field(form, hyper_session::CSRF_FIELD);
    sessions
        .verify_csrf(&WEB, session, headers, presented)
        .map_err(|e| Box::new(plain(StatusCode::FORBIDDEN, &format!("Forbidden: {e}"))))
}

/// The request's head and its form fields (`application/x-www-form-urlencoded`).
async fn read_form(
    req: Request<Incoming>,
) -> Result<(hyper::http::request::Parts, Vec<(String, String)>), Refusal> {
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|_| Box::new(plain(StatusCode::PAYLOAD_TOO_LARGE, "form too large")))?
        .to_bytes();
    let form = form_urlencoded::parse(&bytes).into_owned().collect();
    Ok((parts, form))
}

fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn page(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · hyper-session" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { h1 { (title) } (content) }
        }
    }
}

fn flash_list(flashes: &[String]) -> Markup {
    html! {
        @for message in flashes {
            p.flash role="status" { (message) }
        }
    }
}

/// An HTML page that shows session data: never stored by the browser.
fn html_page(body: Markup) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(body.into_string()));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_token(mut response: Response<Full<Bytes>>, token: &CsrfToken) -> Response<Full<Bytes>> {
    if let Some(cookie) = token.set_cookie() {
        response.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    response
}

fn see_other(location: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static(location));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::from(format!("{text}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub async fn route(req: Request<Incoming>) -> Reply {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => home(req).await,
        (&Method::POST, "/login") => login(req).await,
        (&Method::GET, "/account") => account(req).await,
        (&Method::POST, "/sessions/revoke") => revoke(req).await,
        (&Method::POST, "/logout/others") => logout_others(req).await,
        (&Method::POST, "/logout") => logout(req).await,
        _ => Ok(plain(StatusCode::NOT_FOUND, "not found")),
    }
}

/// The session manager the environment asks for.
pub async fn sessions_from_env() -> Result<Sessions, Box<dyn Error>> {
    let mut builder = Sessions::builder();
    if let Ok(secret) = std::env::var("SESSION_SECRET") {
        builder = builder.secret(secret);
    }
    if let Some(ca) = std::env::var_os("SESSION_REDIS_CA").filter(|ca| !ca.is_empty()) {
        builder = builder.tls_ca_file(ca);
    }
    let store = std::env::var("SESSION_STORE").unwrap_or_default();
    // A cluster has replicas: a logout waits for one (500 ms at most), so
    // that a failover cannot bring the session back.
    let wait_ms = match std::env::var("SESSION_REDIS_WAIT_MS") {
        Ok(ms) => ms
            .parse::<u64>()
            .map_err(|e| format!("SESSION_REDIS_WAIT_MS={ms}: {e}"))?,
        Err(_) if store.contains("+cluster://") => 500,
        Err(_) => 0,
    };
    if wait_ms > 0 {
        builder = builder.replica_wait(std::time::Duration::from_millis(wait_ms));
    }
    if std::env::var("SESSION_REDIS_DURABLE").is_ok_and(|v| v == "1") {
        builder = builder.durable_commits(true);
    }
    Ok(builder.store_url(&store).await?.build()?)
}

async fn run() -> Result<(), Box<dyn Error>> {
    sessions_from_env().await?.install()?;
    let addr: SocketAddr = match std::env::var("ADDR") {
        Ok(addr) => addr.parse().map_err(|e| format!("ADDR={addr}: {e}"))?,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!("web example listening on http://{addr}/");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let conn =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(route));
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

#[allow(dead_code)]
#[tokio::main]
pub async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web: {e}");
            ExitCode::FAILURE
        }
    }
}
