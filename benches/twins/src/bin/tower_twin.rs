//! examples/counter.rs on tower-sessions: its MemoryStore, its Redis store
//! when `SESSION_STORE=redis://...`, or its sqlx PostgreSQL store
//! (tower-sessions-sqlx-store) when `SESSION_STORE=postgres://...`; same
//! endpoint and cookie options.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_sessions::{Session, SessionManagerLayer, SessionStore};

async fn session_test(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/session_test" {
        return load_twins::not_found();
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return load_twins::not_found();
    };
    let n = session.get::<u64>("test_counter").await.ok().flatten().unwrap_or(0) + 1;
    let _ = session.insert("test_counter", n).await;
    Ok(load_twins::counter_json(n))
}

async fn run<S: SessionStore + Clone>(store: S) {
    let layer = SessionManagerLayer::new(store)
        .with_name("sid")
        .with_secure(false)
        .with_http_only(true);
    let service = ServiceBuilder::new().layer(layer).service_fn(session_test);
    load_twins::serve(TowerToHyperService::new(service)).await;
}

#[tokio::main]
async fn main() {
    match std::env::var("SESSION_STORE") {
        Ok(url) if url.starts_with("redis://") => {
            run(load_twins::tower_sessions_redis(&url).await).await;
        }
        Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            // The same pool settings as hyper-session's `PgStore::connect`,
            // so that the stores are compared, not the pool options.
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(std::time::Duration::from_secs(1))
                .test_before_acquire(false)
                .connect(&url)
                .await
                .expect("postgres connect");
            let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
            store.migrate().await.expect("tower-sessions migration");
            run(store).await;
        }
        _ => run(tower_sessions::MemoryStore::default()).await,
    }
}
