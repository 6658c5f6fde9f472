//! Instructions per returning-visitor request of each front door, in
//! process (no sockets): the seed's counter as an axum `Router`
//!
//! - `plain`: no sessions (the baseline);
//! - `identity`: no sessions, and a layer that does nothing: what axum's
//!   wrapping of a layered route costs by itself;
//! - `tower`: tower-sessions' layer and its MemoryStore;
//! - `layer`: our `SessionLayer` and the `SharedSession` extractor;
//! - `attribute`: our `#[with_session]` on a handler taking the `Request`;
//! - `identity-around`, `tower-around`, `layer-around`: the same three
//!   layers wrapped around the whole `Router` (`Layer::layer(router)`, as
//!   axum's docs show for middleware that must run before routing), where
//!   axum adds no wrapping of its own;
//! - `extension-around`: no sessions, axum's `Extension` layer around the
//!   Router handing an `Arc` to an `Extension` extractor: what passing any
//!   per-request value from a layer to a handler costs by itself, through
//!   the request's extensions.
//!
//! `front_doors MODE N` serves one new visitor, then N requests that carry
//! its cookie (kept up to date from `Set-Cookie`), through
//! `ServiceExt::oneshot` on a clone of the Router, body collected. Run it
//! under callgrind for two values of N and divide the difference of the
//! totals: start-up cost cancels out (benches/front_doors.sh does that).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::BodyExt as _;
use hyper_session::{with_session, SessionConfig, SessionError, SessionLayer, Sessions, SharedSession};
use tower::layer::layer_fn;
use tower::{Layer as _, Service, ServiceExt as _};

/// The seed's options, as examples/counter.rs gives them to the attribute.
const SEED: SessionConfig = SessionConfig::DEFAULT
    .with_cookie_name("sid")
    .with_http_only(true)
    .with_secure(false)
    .with_max_age(0)
    .validated();

const SECRET: &str = "front-door-measurement-secret-long-enough-1234";

async fn plain() -> Response {
    load_twins::counter_json(1).into_response()
}

async fn extension_plain(Extension(_handed): Extension<Arc<Mutex<u64>>>) -> Response {
    load_twins::counter_json(1).into_response()
}

async fn tower_sessions_counter(session: tower_sessions::Session) -> Response {
    let n = session.get::<u64>("test_counter").await.ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("test_counter", n).await;
    load_twins::counter_json(n).into_response()
}

async fn layer_counter(session: SharedSession) -> Result<Response, SessionError> {
    let n = session.get::<u64>("test_counter")?.unwrap_or(0) + 1;
    session.insert("test_counter", n)?;
    Ok(load_twins::counter_json(n).into_response())
}

#[with_session(config = SEED)]
async fn attribute_counter(_req: Request, session: &mut hyper_session::Session) -> Response {
    let n = session.get::<u64>("test_counter").ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("test_counter", n);
    load_twins::counter_json(n).into_response()
}

/// A manager of our own (the attribute's is installed as the default).
fn sessions() -> Sessions {
    Sessions::builder().secret(SECRET).build().expect("manager")
}

fn router(mode: &str) -> Router {
    match mode {
        "plain" => Router::new().route("/session_test", get(plain)),
        // What axum itself adds for any layer on a route: its wrappers.
        "identity" => Router::new()
            .route("/session_test", get(plain))
            .layer(layer_fn(|inner| inner)),
        "tower" => router("tower-bare").layer(tower_sessions_layer()),
        "tower-bare" => Router::new().route("/session_test", get(tower_sessions_counter)),
        "layer" => router("layer-bare").layer(SessionLayer::new(&SEED).with_manager(sessions())),
        "extension-bare" => Router::new().route("/session_test", get(extension_plain)),
        "layer-bare" => Router::new().route("/session_test", get(layer_counter)),
        "attribute" => {
            sessions().install().expect("first install");
            Router::new().route("/session_test", get(attribute_counter))
        }
        other => panic!("mode {other}: expected plain, identity, tower, layer, attribute, or one of the first three with -around"),
    }
}

async fn visit<S>(app: &S, cookie: &mut Option<String>) -> u64
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    let mut req = Request::get("/session_test");
    if let Some(c) = cookie.as_deref() {
        req = req.header("cookie", c);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    if let Some(set) = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
        *cookie = set.split(';').next().map(str::to_owned);
    }
    let body = response.into_body().collect().await.expect("body").to_bytes();
    std::str::from_utf8(&body)
        .ok()
        .and_then(|b| b.trim_start_matches("{\"test_counter\":").trim_end_matches('}').parse().ok())
        .expect("a counter body")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, n] = args.as_slice() else {
        eprintln!("usage: front_doors plain|identity|tower|layer|attribute|identity-around|extension-around|tower-around|layer-around N");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let last = runtime.block_on(async {
        // The layered modes wrapped around the whole Router: the same
        // layers, without axum's wrapping of a layered route.
        match mode.as_str() {
            "identity-around" => serve(layer_fn(|inner| inner).layer(router("plain")), n).await,
            "tower-around" => serve(tower_sessions_layer().layer(router("tower-bare")), n).await,
            "layer-around" => {
                serve(SessionLayer::new(&SEED).with_manager(sessions()).layer(router("layer-bare")), n).await
            }
            "extension-around" => serve(Extension(Arc::new(Mutex::new(0u64))).layer(router("extension-bare")), n).await,
            mode => serve(router(mode), n).await,
        }
    });
    // The sessions really counted (plain has none: always 1).
    assert!(mode.starts_with("plain") || mode.starts_with("identity") || mode.starts_with("extension") || last == n + 1, "{mode}: counted {last}, not {}", n + 1);
    println!("{mode} {n} requests, last counter {last}");
}

/// One new visitor, then `n` returning visits; the last counter.
async fn serve<S>(app: S, n: u64) -> u64
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    let mut cookie = None;
    visit(&app, &mut cookie).await;
    let mut last = 0;
    for _ in 0..n {
        last = visit(&app, &mut cookie).await;
    }
    last
}

fn tower_sessions_layer() -> tower_sessions::SessionManagerLayer<tower_sessions::MemoryStore> {
    tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_name("sid")
        .with_secure(false)
        .with_http_only(true)
}
