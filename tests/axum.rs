//! `SessionLayer` in an axum `Router`, with the `SharedSession` extractor,
//! served by `axum::serve`: the shared scenarios, the extractor without the
//! layer, `#[with_session]` on an axum handler that takes the `Request`,
//! and examples/axum.rs held to the contract of examples/app.rs.

mod common;

#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/axum.rs"]
mod example;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_session::{with_session, Session, SessionError, SessionLayer, Sessions, SharedSession};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use common::layered::{self, Late, Server, CONFIG};
use common::lifecycle::{manager, Switchable, SECRET};
use common::{app_contract, browser, get_json, plain};

type Reply = Result<Json<Value>, SessionError>;

async fn count(session: SharedSession) -> Reply {
    Ok(Json(session.with(layered::count)?))
}

async fn login(session: SharedSession) -> Reply {
    Ok(Json(session.with(layered::login)?))
}

async fn me(session: SharedSession) -> Reply {
    Ok(Json(session.with(layered::me)?))
}

async fn logout(session: SharedSession) -> Reply {
    Ok(Json(session.with(layered::logout)?))
}

async fn write(session: SharedSession, Query(query): Query<HashMap<String, String>>) -> Reply {
    let key = query.get("key").map_or("none", String::as_str);
    Ok(Json(session.with(|s| layered::write(s, key))?))
}

async fn keys(session: SharedSession) -> Reply {
    Ok(Json(session.with(layered::keys)?))
}

async fn late(State(state): State<AppState>, session: SharedSession) -> Json<Value> {
    Json(layered::spawn_late_write(&state.late, session))
}

/// The attribute on an axum handler: it takes the whole `Request` (the
/// last extractor), and names the same manager and options as the layer.
#[with_session(config = CONFIG, manager = state.sessions)]
async fn macro_count(
    State(state): State<AppState>,
    session: &mut Session,
    _req: Request,
) -> Response {
    Json(layered::count(session)).into_response()
}

#[derive(Clone)]
struct AppState {
    sessions: Sessions,
    late: Arc<Late>,
}

async fn start() -> Server {
    let store = Arc::new(Switchable::default());
    let (late_write, results) = Late::new();
    let sessions = manager(&store, SECRET, None);
    let state = AppState {
        sessions: sessions.clone(),
        late: late_write.clone(),
    };
    let app = Router::new()
        .route("/count", get(count))
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/write", get(write))
        .route("/keys", get(keys))
        .route("/late", get(late))
        .layer(SessionLayer::new(&CONFIG).with_manager(sessions))
        // Routes added after `.layer` are not wrapped by it.
        .route("/macro", get(macro_count))
        .route("/unwrapped", get(count))
        .with_state(state);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base,
        store,
        late: late_write,
        results,
    }
}

layered_scenarios!();

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_500_naming_it() {
    let server = start().await;
    let response = plain()
        .get(format!("{}/unwrapped", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 500);
    let body = response.text().await.expect("text");
    assert!(body.contains("SessionLayer"), "{body}");
}

#[tokio::test]
async fn the_attribute_on_an_axum_handler_shares_the_sessions() {
    let server = start().await;
    let client = browser();
    let (layer, attribute) = (
        format!("{}/count", server.base),
        format!("{}/macro", server.base),
    );
    assert_eq!(get_json(&client, &layer).await, json!({ "n": 1 }));
    assert_eq!(get_json(&client, &attribute).await, json!({ "n": 2 }));
    assert_eq!(get_json(&client, &layer).await, json!({ "n": 3 }));
    // And on its own, it counts from a fresh session.
    assert_eq!(get_json(&browser(), &attribute).await, json!({ "n": 1 }));
}

/// examples/axum.rs on a fresh port, on its own in-memory manager.
async fn start_example() -> String {
    let app = example::router(Sessions::in_memory().expect("a manager"));
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn example_session_test_counts_and_the_skip_header_skips() {
    app_contract::session_test_counts_and_the_skip_header_skips(&start_example().await).await;
}

#[tokio::test]
async fn example_login_me_logout() {
    app_contract::login_me_logout(&start_example().await).await;
}

#[tokio::test]
async fn example_login_refuses_bad_names() {
    app_contract::login_refuses_bad_names(&start_example().await).await;
}

#[tokio::test]
async fn example_unknown_routes_are_404() {
    app_contract::unknown_routes_are_404(&start_example().await).await;
}

/// As examples/app.rs: a start-up error never repeats the store URL's
/// credentials.
#[tokio::test]
async fn example_a_bad_store_url_fails_at_start_up_without_its_password() {
    for url in [
        "mongodb://admin:hunter2@127.0.0.1:27017",
        "redis://admin:hunter2@127.0.0.1:1/0",
        "admin:hunter2@localhost",
    ] {
        std::env::set_var("SESSION_STORE", url);
        let err = example::sessions_from_env()
            .await
            .expect_err("no such store");
        std::env::remove_var("SESSION_STORE");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{url}: {text}");
        assert!(!text.is_empty());
    }
}
