//! examples/axum.rs's `/session_test` on axum with tower-sessions: its
//! MemoryStore, or its Redis store when `SESSION_STORE=redis://...`; same
//! endpoint and cookie options. Other paths are 404, as in the example.

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_sessions::{Session, SessionManagerLayer, SessionStore};

async fn session_test(session: Session) -> Response {
    let n = session.get::<u64>("test_counter").await.ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("test_counter", n).await;
    load_twins::counter_json(n).into_response()
}

async fn run<S: SessionStore + Clone>(store: S) {
    let layer = SessionManagerLayer::new(store)
        .with_name("sid")
        .with_secure(false)
        .with_http_only(true);
    let app = Router::new().route("/session_test", get(session_test)).layer(layer);
    let listener = tokio::net::TcpListener::bind(load_twins::addr()).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

#[tokio::main]
async fn main() {
    match std::env::var("SESSION_STORE") {
        Ok(url) if url.starts_with("redis://") => {
            run(load_twins::tower_sessions_redis(&url).await).await;
        }
        _ => run(tower_sessions::MemoryStore::default()).await,
    }
}
